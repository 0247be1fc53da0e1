package logstore

import (
	"fmt"
	"slices"
	"sort"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// SegmentFileInfo describes one segment as VerifySegmentDir found it.
type SegmentFileInfo struct {
	Base         int64
	Next         int64 // offset after the last batch
	Size         int64 // .log bytes, header included
	Batches      int64
	MaxTimestamp int64 // -1 when the segment is empty
	// IndexEntries and TimeIndexEntries count the index files' entries;
	// IndexMissing is set when either file is absent (recovery rebuilds
	// it; not an error).
	IndexEntries     int
	TimeIndexEntries int
	IndexMissing     bool
}

// SegmentDirInfo is what VerifySegmentDir reports for a partition directory.
type SegmentDirInfo struct {
	Segments []SegmentFileInfo
	// Checkpoint is the decoded checkpoint file, nil when there is none.
	Checkpoint *Checkpoint
	// LogStartOffset and HighWatermark are what an open would report.
	LogStartOffset int64
	HighWatermark  int64
}

// VerifySegmentDir checks a segment log directory without changing it: every
// batch's CRC32C and framing (ScanSegment), offset continuity within and
// between segments, every index file entry against the batches it points
// at, and the checkpoint's checksum. It returns the first problem as an
// error wrapping ErrCorrupt that names the file and byte position, along
// with what it gathered up to there. It is for tools (strata log verify and
// stats); the log itself recovers instead of failing.
func VerifySegmentDir(fs vfs.FS, dir string) (SegmentDirInfo, error) {
	var info SegmentDirInfo
	names, err := fs.List(dir)
	if err != nil {
		return info, err
	}
	var bases []int64
	for _, name := range names {
		if base, ext, ok := ParseSegmentFileName(name); ok && ext == SegmentExt {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	cp, err := ReadCheckpoint(fs, dir)
	switch {
	case err == nil:
		info.Checkpoint = &cp
		info.LogStartOffset = cp.LogStartOffset
	case !isNotExist(err):
		return info, err
	}
	for i, base := range bases {
		si, err := verifySegment(fs, dir, base)
		info.Segments = append(info.Segments, si)
		if err != nil {
			return info, err
		}
		if i > 0 {
			if prev := info.Segments[i-1]; prev.Next != base {
				return info, fmt.Errorf("%w: %s at byte 0: base offset %d does not follow the previous segment's end %d",
					ErrCorrupt, fs.PathJoin(dir, SegmentFileName(base, SegmentExt)), base, prev.Next)
			}
		}
	}
	if n := len(info.Segments); n > 0 {
		info.LogStartOffset = max(info.LogStartOffset, info.Segments[0].Base)
		info.HighWatermark = info.Segments[n-1].Next
	}
	return info, nil
}

func verifySegment(fs vfs.FS, dir string, base int64) (SegmentFileInfo, error) {
	si := SegmentFileInfo{Base: base, Next: base, MaxTimestamp: -1}
	path := fs.PathJoin(dir, SegmentFileName(base, SegmentExt))
	f, err := fs.Open(path)
	if err != nil {
		return si, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return si, err
	}
	si.Size = st.Size()
	starts := map[int64]int64{} // batch position -> base offset
	var raises []TimeIndexEntry
	maxTS := int64(noTimestamp)
	hbase, validEnd, next, err := ScanSegment(f, si.Size, func(pos int64, h BatchHeader, _ []byte) error {
		starts[pos] = h.BaseOffset
		si.Batches++
		if h.MaxTimestamp > maxTS {
			maxTS = h.MaxTimestamp
			raises = append(raises, TimeIndexEntry{Timestamp: maxTS, RelOffset: uint32(h.BaseOffset - base)})
		}
		return nil
	})
	if err != nil && validEnd < FileHeaderSize {
		return si, fmt.Errorf("%s at byte 0: %w", path, err)
	}
	if err != nil {
		return si, fmt.Errorf("%s: %w", path, err)
	}
	if hbase != base {
		return si, fmt.Errorf("%w: %s at byte 16: header base offset %d does not match the file name", ErrCorrupt, path, hbase)
	}
	si.Next = next
	if maxTS != noTimestamp {
		si.MaxTimestamp = max(maxTS, -1)
	}
	idx, tidx, err := ReadIndexFiles(fs, dir, base, si.Size, next)
	if isNotExist(err) {
		si.IndexMissing = true
		return si, nil
	}
	if err != nil {
		return si, err
	}
	si.IndexEntries, si.TimeIndexEntries = len(idx), len(tidx)
	ipath := fs.PathJoin(dir, SegmentFileName(base, IndexExt))
	for i, e := range idx {
		if off, ok := starts[int64(e.Position)]; !ok || off != base+int64(e.RelOffset) {
			return si, fmt.Errorf("%w: %s at byte %d: entry (%d, %d) does not point at the batch with that offset",
				ErrCorrupt, ipath, FileHeaderSize+i*IndexEntrySize, e.RelOffset, e.Position)
		}
	}
	if !slices.Equal(tidx, raises) {
		tpath := fs.PathJoin(dir, SegmentFileName(base, TimeIndexExt))
		i := 0
		for i < len(tidx) && i < len(raises) && tidx[i] == raises[i] {
			i++
		}
		return si, fmt.Errorf("%w: %s at byte %d: entry %d does not match the batches' max timestamps",
			ErrCorrupt, tpath, FileHeaderSize+i*TimeIndexEntrySize, i)
	}
	return si, nil
}
