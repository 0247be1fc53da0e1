package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/tier"
)

// memStore is the tests' ObjectStore: objects in a map, with injectable
// latency per request, a down switch, and counted Gets.
type memStore struct {
	latency atomic.Int64 // nanoseconds added to every request
	down    atomic.Bool  // every request fails with tier.ErrUnavailable
	gets    atomic.Int64
	heads   atomic.Int64

	mu struct {
		sync.Mutex
		objects map[string][]byte
	}
}

var _ tier.ObjectStore = (*memStore)(nil)

func newMemStore() *memStore {
	s := &memStore{}
	s.mu.objects = make(map[string][]byte)
	return s
}

// set stores b under key without copying (benchmarks share one buffer
// between keys).
func (s *memStore) set(key string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.objects[key] = b
}

func (s *memStore) wait(ctx context.Context) error {
	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.down.Load() {
		return fmt.Errorf("memstore: down: %w", tier.ErrUnavailable)
	}
	return nil
}

func (s *memStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.set(key, b)
	return nil
}

func (s *memStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	s.gets.Add(1)
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	b, ok := s.mu.objects[key]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("memstore: %q: %w", key, tier.ErrNotFound)
	}
	if off < 0 || off >= int64(len(b)) {
		return nil, fmt.Errorf("memstore: %q at %d: %w", key, off, tier.ErrRange)
	}
	end := int64(len(b))
	if length >= 0 {
		end = min(end, off+length)
	}
	return io.NopCloser(bytes.NewReader(b[off:end])), nil
}

func (s *memStore) Head(ctx context.Context, key string) (tier.ObjectInfo, error) {
	s.heads.Add(1)
	if err := s.wait(ctx); err != nil {
		return tier.ObjectInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.mu.objects[key]
	if !ok {
		return tier.ObjectInfo{}, fmt.Errorf("memstore: %q: %w", key, tier.ErrNotFound)
	}
	return tier.ObjectInfo{Key: key, Size: int64(len(b))}, nil
}

func (s *memStore) List(ctx context.Context, prefix string) ([]tier.ObjectInfo, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tier.ObjectInfo
	for k, b := range s.mu.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, tier.ObjectInfo{Key: k, Size: int64(len(b))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *memStore) Delete(ctx context.Context, key string) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.objects, key)
	return nil
}
