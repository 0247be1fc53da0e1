package logstore

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// noTimestamp is a segment's max timestamp before its first batch: below
// every batch timestamp (Kafka uses -1 for "none", which must still count
// as a raise so that a non-empty segment always has a time index entry).
const noTimestamp = math.MinInt64

// noteBatch records a committed batch at pos in the segment's size, offsets
// and in-memory indexes. interval is the index interval in bytes. The caller
// holds both writeMu and mu, or owns the segment alone (recovery).
func (s *segment) noteBatch(pos int64, h BatchHeader, interval int64) {
	rel := uint32(h.BaseOffset - s.base)
	if s.sinceIndex >= interval {
		s.index = append(s.index, IndexEntry{RelOffset: rel, Position: uint32(pos)})
		s.sinceIndex = 0
	}
	s.sinceIndex += int64(h.Size())
	if h.MaxTimestamp > s.maxTS {
		s.tindex = append(s.tindex, TimeIndexEntry{Timestamp: h.MaxTimestamp, RelOffset: rel})
		s.maxTS = h.MaxTimestamp
	}
	s.size = pos + int64(h.Size())
	s.next = h.NextOffset()
	if s.batches >= 0 {
		s.batches++
	}
	s.appended++
	s.indexDirty = true
}

// resetIndexes empties a segment's indexes before a rebuild. New slices, not
// re-slices: a reader may still hold the old ones.
func (s *segment) resetIndexes() {
	s.index, s.tindex = nil, nil
	s.maxTS = noTimestamp
	s.sinceIndex = 0
	s.batches = 0
	s.size = FileHeaderSize
	s.next = s.base
	s.indexDirty = true
}

// lookupIndex returns the position and base offset of the last indexed batch
// whose base offset is <= offset, or the first batch's position when none is.
func lookupIndex(idx []IndexEntry, base, offset int64) (int64, int64) {
	rel := offset - base
	i := sort.Search(len(idx), func(i int) bool { return int64(idx[i].RelOffset) > rel })
	if i == 0 {
		return FileHeaderSize, base
	}
	return int64(idx[i-1].Position), base + int64(idx[i-1].RelOffset)
}

// lastEntryAtOrBefore returns the last entry whose position is <= pos.
func lastEntryAtOrBefore(idx []IndexEntry, pos int64) (IndexEntry, bool) {
	i := sort.Search(len(idx), func(i int) bool { return int64(idx[i].Position) > pos })
	if i == 0 {
		return IndexEntry{}, false
	}
	return idx[i-1], true
}

// lookupTimeIndex returns the relative offset of the first entry whose
// timestamp is >= ts.
func lookupTimeIndex(t []TimeIndexEntry, ts int64) (uint32, bool) {
	i := sort.Search(len(t), func(i int) bool { return t[i].Timestamp >= ts })
	if i == len(t) {
		return 0, false
	}
	return t[i].RelOffset, true
}

// EncodeIndex returns a whole .index file.
func EncodeIndex(base int64, entries []IndexEntry) []byte {
	b := make([]byte, 0, FileHeaderSize+len(entries)*IndexEntrySize)
	b = append(b, EncodeFileHeader(IndexMagic, base)...)
	for _, e := range entries {
		b = AppendIndexEntry(b, e)
	}
	return b
}

// EncodeTimeIndex returns a whole .timeindex file.
func EncodeTimeIndex(base int64, entries []TimeIndexEntry) []byte {
	b := make([]byte, 0, FileHeaderSize+len(entries)*TimeIndexEntrySize)
	b = append(b, EncodeFileHeader(TimeIndexMagic, base)...)
	for _, e := range entries {
		b = AppendTimeIndexEntry(b, e)
	}
	return b
}

// ReadIndexFiles reads and checks the .index and .timeindex files of the
// segment with the given base in dir against its .log file of logSize bytes
// holding offsets [base, next). It fails with ErrCorrupt (naming the file)
// when either is damaged or does not fit the log, and with an error
// satisfying os.IsNotExist when one is missing.
func ReadIndexFiles(fs vfs.FS, dir string, base, logSize, next int64) ([]IndexEntry, []TimeIndexEntry, error) {
	ipath := fs.PathJoin(dir, SegmentFileName(base, IndexExt))
	b, err := readWholeFile(fs, ipath)
	if err != nil {
		return nil, nil, err
	}
	ibase, idx, err := DecodeIndex(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ipath, err)
	}
	if ibase != base {
		return nil, nil, fmt.Errorf("%w: %s: header base offset %d, want %d", ErrCorrupt, ipath, ibase, base)
	}
	if n := len(idx); n > 0 && (int64(idx[n-1].Position) >= logSize || base+int64(idx[n-1].RelOffset) >= next) {
		return nil, nil, fmt.Errorf("%w: %s: last entry (%d, %d) lies past the log (size %d, next offset %d)",
			ErrCorrupt, ipath, idx[n-1].RelOffset, idx[n-1].Position, logSize, next)
	}
	tpath := fs.PathJoin(dir, SegmentFileName(base, TimeIndexExt))
	b, err = readWholeFile(fs, tpath)
	if err != nil {
		return nil, nil, err
	}
	tbase, tidx, err := DecodeTimeIndex(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tpath, err)
	}
	if tbase != base {
		return nil, nil, fmt.Errorf("%w: %s: header base offset %d, want %d", ErrCorrupt, tpath, tbase, base)
	}
	n := len(tidx)
	if n > 0 && base+int64(tidx[n-1].RelOffset) >= next {
		return nil, nil, fmt.Errorf("%w: %s: last entry offset %d lies past the log's next offset %d", ErrCorrupt, tpath, base+int64(tidx[n-1].RelOffset), next)
	}
	if (n == 0) != (logSize == FileHeaderSize) {
		return nil, nil, fmt.Errorf("%w: %s: %d entries for a log of %d bytes", ErrCorrupt, tpath, n, logSize)
	}
	return idx, tidx, nil
}

// checkIndexTail verifies a loaded index against the .log file without a
// full scan: the batch at the last entry must carry the offset the entry
// claims, and the batch headers from there must end exactly at size, with
// the next offset the log expects. This catches an index left from before a
// truncation and a segment that ends short of the next one (a gap). The
// walk covers about one index interval.
func checkIndexTail(f vfs.File, path string, base int64, idx []IndexEntry, size, next int64) error {
	pos, off := int64(FileHeaderSize), base
	if n := len(idx); n > 0 {
		pos, off = int64(idx[n-1].Position), base+int64(idx[n-1].RelOffset)
	}
	head := make([]byte, BatchHeaderSize)
	for first := true; pos < size; first = false {
		h, err := readBatchHeader(f, pos, head)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if first && h.BaseOffset != off {
			return fmt.Errorf("%w: %s: index entry points at byte %d, whose batch has offset %d, want %d", ErrCorrupt, path, pos, h.BaseOffset, off)
		}
		pos += int64(h.Size())
		off = h.NextOffset()
	}
	if pos != size || off != next {
		return fmt.Errorf("%w: %s: batches end at byte %d offset %d, want byte %d offset %d", ErrCorrupt, path, pos, off, size, next)
	}
	return nil
}

// writeIndexFiles replaces the segment's index files with its in-memory
// indexes, durably (write, fsync, rename). The caller syncs the directory.
func (l *SegmentLog) writeIndexFiles(s *segment) error {
	if err := writeFileAtomic(l.fs, l.fs.PathJoin(l.dir, SegmentFileName(s.base, IndexExt)), EncodeIndex(s.base, s.index)); err != nil {
		return err
	}
	if err := writeFileAtomic(l.fs, l.fs.PathJoin(l.dir, SegmentFileName(s.base, TimeIndexExt)), EncodeTimeIndex(s.base, s.tindex)); err != nil {
		return err
	}
	s.indexDirty = false
	return nil
}

// removeIndexFiles deletes a segment's index files (missing is fine).
func (l *SegmentLog) removeIndexFiles(base int64) error {
	for _, ext := range []string{IndexExt, TimeIndexExt} {
		if err := l.fs.Remove(l.fs.PathJoin(l.dir, SegmentFileName(base, ext))); err != nil && !os.IsNotExist(err) && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// tmpExt marks a file being written by writeFileAtomic; recovery removes
// leftovers.
const tmpExt = ".tmp"

// writeFileAtomic writes data to path through a temporary file that is
// fsynced and renamed over path, so a crash leaves the old or the new file,
// never a mix. The caller syncs the directory when the rename must survive
// a crash.
func writeFileAtomic(fs vfs.FS, path string, data []byte) error {
	tmp := path + tmpExt
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fs.Rename(tmp, path)
}

// syncDir fsyncs a directory so that creates, renames and removes in it
// survive a crash.
func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// readWholeFile reads a small file (an index or the checkpoint).
func readWholeFile(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxSegmentBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrCorrupt, path, st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return nil, err
	}
	return b, nil
}
