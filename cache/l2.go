package cache

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// l2Dir is the second level: one entry file per block in a flat directory,
// bounded by the bytes of its files, evicted least recently used first.
type l2Dir struct {
	dir string
	max int64
	log *slog.Logger
	st  *counters

	mu struct {
		sync.Mutex
		index map[BlockRef]*list.Element // of *l2Item
		lru   *list.List                 // front: most recently used
		bytes int64
	}
}

type l2Item struct {
	ref  BlockRef
	size int64 // file size: header and data
}

// entryName is the file name of a block's entry. Distinct blocks may share a
// name only if their keys' 64-bit hashes collide; the header names the
// block, so a collision reads as a miss, never as wrong data.
func entryName(ref BlockRef) string {
	h := fnv.New64a()
	_, _ = io.WriteString(h, ref.Key)
	return fmt.Sprintf("%016x-%d%s", h.Sum64(), ref.Index, entryFileSuffix)
}

// openL2 opens (creating) dir and rebuilds the index from the entry headers:
// temp files of unfinished writes are removed, and so is every entry whose
// header is corrupt, whose size does not match its header (torn), or whose
// name does not match its block. The data CRC is checked on each read.
func openL2(dir string, max int64, log *slog.Logger, st *counters) (*l2Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: l2: %w", err)
	}
	l := &l2Dir{dir: dir, max: max, log: log, st: st}
	l.mu.index = make(map[BlockRef]*list.Element)
	l.mu.lru = list.New()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: l2: %w", err)
	}
	type found struct {
		item  *l2Item
		mtime time.Time
	}
	var all []found
	buf := make([]byte, entryFixedLen+maxEntryKeyLen)
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(path)
			continue
		}
		if !de.Type().IsRegular() || !strings.HasSuffix(name, entryFileSuffix) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		h, err := readEntryHeader(path, buf)
		if err == nil && info.Size() != int64(h.headerLen())+int64(h.DataLen) {
			err = fmt.Errorf("%w: file %d bytes, header says %d (torn)", ErrCorrupt, info.Size(), h.headerLen()+int(h.DataLen))
		}
		if err == nil && entryName(BlockRef{h.Key, h.Index}) != name {
			err = fmt.Errorf("%w: entry for %q block %d under name %s", ErrCorrupt, h.Key, h.Index, name)
		}
		if err != nil {
			log.Warn("cache: dropping L2 entry", "file", path, "err", err)
			st.l2Corrupt.Add(1)
			_ = os.Remove(path)
			continue
		}
		all = append(all, found{&l2Item{ref: BlockRef{h.Key, h.Index}, size: info.Size()}, info.ModTime()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mtime.Before(all[j].mtime) })
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range all {
		l.mu.index[f.item.ref] = l.mu.lru.PushFront(f.item)
		l.mu.bytes += f.item.size
	}
	l.evictLocked()
	st.l2Resident.Store(l.mu.bytes)
	return l, nil
}

// readEntryHeader reads and decodes the header of the entry file at path,
// using buf (room for the longest header).
func readEntryHeader(path string, buf []byte) (entryHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return entryHeader{}, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf[:entryFixedLen])
	if err != nil {
		return entryHeader{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if klen := int(binary.LittleEndian.Uint16(buf[10:])); klen > 0 {
		m, err := io.ReadFull(f, buf[entryFixedLen:entryFixedLen+klen])
		n += m
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return entryHeader{}, err
		}
	}
	return decodeHeader(buf[:n])
}

// get returns the block's data if L2 holds a sound entry for it. A corrupt
// or torn entry is removed and reads as a miss.
func (l *l2Dir) get(ref BlockRef) ([]byte, bool) {
	l.mu.Lock()
	e, ok := l.mu.index[ref]
	if ok {
		l.mu.lru.MoveToFront(e)
	}
	l.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(l.dir, entryName(ref)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.forget(ref, e)
			return nil, false
		}
		l.log.Warn("cache: L2 read failed", "key", ref.Key, "block", ref.Index, "err", err)
		return nil, false
	}
	h, data, err := decodeEntry(b)
	if err == nil && (h.Key != ref.Key || h.Index != ref.Index) {
		err = fmt.Errorf("%w: holds %q block %d", ErrCorrupt, h.Key, h.Index)
	}
	if err != nil {
		l.log.Warn("cache: dropping L2 entry", "key", ref.Key, "block", ref.Index, "err", err)
		l.st.l2Corrupt.Add(1)
		l.remove(ref)
		return nil, false
	}
	return data, true
}

// forget drops e from the index if it is still ref's element.
func (l *l2Dir) forget(ref BlockRef, e *list.Element) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.mu.index[ref]; ok && cur == e {
		l.dropLocked(e)
	}
}

// put writes the block's entry (temp file, then rename) and evicts the
// least recently used entries past the byte bound. Without fsync a crash
// may leave a torn entry; the size and CRC checks find it.
func (l *l2Dir) put(ref BlockRef, data []byte) error {
	buf := appendEntry(make([]byte, 0, entryFixedLen+len(ref.Key)+len(data)), ref.Key, ref.Index, data)
	name := filepath.Join(l.dir, entryName(ref))
	f, err := os.CreateTemp(l.dir, "put-*.tmp")
	if err != nil {
		return fmt.Errorf("cache: l2 put: %w", err)
	}
	_, werr := f.Write(buf)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("cache: l2 put: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Rename(f.Name(), name); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("cache: l2 put: %w", err)
	}
	if e, ok := l.mu.index[ref]; ok {
		l.mu.bytes -= e.Value.(*l2Item).size
		l.mu.lru.Remove(e)
	}
	l.mu.index[ref] = l.mu.lru.PushFront(&l2Item{ref: ref, size: int64(len(buf))})
	l.mu.bytes += int64(len(buf))
	l.evictLocked()
	l.st.l2Resident.Store(l.mu.bytes)
	return nil
}

// evictLocked removes least recently used entries until within the bound.
func (l *l2Dir) evictLocked() {
	for l.mu.bytes > l.max {
		e := l.mu.lru.Back()
		if e == nil {
			return
		}
		l.dropLocked(e)
		l.st.evictions[levelL2].Add(1)
	}
}

// dropLocked removes e's file and index entry.
func (l *l2Dir) dropLocked(e *list.Element) {
	it := e.Value.(*l2Item)
	_ = os.Remove(filepath.Join(l.dir, entryName(it.ref)))
	delete(l.mu.index, it.ref)
	l.mu.lru.Remove(e)
	l.mu.bytes -= it.size
	l.st.l2Resident.Store(l.mu.bytes)
}

// remove drops ref's entry, if any.
func (l *l2Dir) remove(ref BlockRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.mu.index[ref]; ok {
		l.dropLocked(e)
	}
}

// removeKey drops every entry of key.
func (l *l2Dir) removeKey(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ref, e := range l.mu.index {
		if ref.Key == key {
			l.dropLocked(e)
		}
	}
}

// usage returns the entry count and bytes.
func (l *l2Dir) usage() (int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.index), l.mu.bytes
}
