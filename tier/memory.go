package tier

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Memory is an ObjectStore held in memory, for tests. Objects are copied in
// and out, so callers may reuse their buffers.
type Memory struct {
	mu struct {
		sync.Mutex
		objects map[string]memObject
		etag    uint64
	}
}

type memObject struct {
	data    []byte
	crc     uint32
	modTime time.Time
	etag    string
}

var _ ObjectStore = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := &Memory{}
	m.mu.objects = make(map[string]memObject)
	return m
}

// Put implements ObjectStore.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	data, err := readAllSized(r, size)
	if err != nil {
		return fmt.Errorf("tier: memory put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.etag++
	m.mu.objects[key] = memObject{
		data:    data,
		crc:     CRC32C(data),
		modTime: time.Now().UTC(),
		etag:    fmt.Sprintf("\"m%d\"", m.mu.etag),
	}
	return nil
}

// Get implements ObjectStore; whole-object reads verify the CRC32C.
func (m *Memory) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	o, err := m.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	size := int64(len(o.data))
	n, err := checkRange(key, off, length, size)
	if err != nil {
		return nil, err
	}
	rc := io.NopCloser(bytes.NewReader(o.data[off : off+n]))
	if wholeObject(off, length, size) {
		return newVerifyReader(rc, key, o.crc, size), nil
	}
	return rc, nil
}

// Head implements ObjectStore.
func (m *Memory) Head(ctx context.Context, key string) (ObjectInfo, error) {
	o, err := m.lookup(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: int64(len(o.data)), LastModified: o.modTime, ETag: o.etag}, nil
}

// List implements ObjectStore.
func (m *Memory) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	out := make([]ObjectInfo, 0)
	for k, o := range m.mu.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ObjectInfo{Key: k, Size: int64(len(o.data)), LastModified: o.modTime, ETag: o.etag})
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements ObjectStore.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.mu.objects, key)
	m.mu.Unlock()
	return nil
}

// Corrupt flips one bit of the stored object at byte off without updating
// its checksum, so tests can see ErrCorrupt on the next whole-object Get.
func (m *Memory) Corrupt(key string, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.mu.objects[key]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if off < 0 || off >= int64(len(o.data)) {
		return fmt.Errorf("%w: %q: corrupt offset %d", ErrRange, key, off)
	}
	data := bytes.Clone(o.data)
	data[off] ^= 0x01
	o.data = data
	m.mu.objects[key] = o
	return nil
}

func (m *Memory) lookup(ctx context.Context, key string) (memObject, error) {
	if err := ValidateKey(key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, err
	}
	m.mu.Lock()
	o, ok := m.mu.objects[key]
	m.mu.Unlock()
	if !ok {
		return memObject{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return o, nil
}

// readAllSized reads r to its end; when size >= 0 it insists on exactly
// size bytes.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("short body (want %d bytes): %w", size, err)
	}
	var one [1]byte
	if n, _ := r.Read(one[:]); n != 0 {
		return nil, fmt.Errorf("body longer than size %d", size)
	}
	return buf, nil
}
