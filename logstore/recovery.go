package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Checkpoint file of a segment log directory (see doc.go, "Recovery").
const (
	CheckpointFileName = "checkpoint"
	CheckpointVersion  = 1
	CheckpointSize     = 64
)

// CheckpointMagic starts the checkpoint file.
var CheckpointMagic = [8]byte{'S', 'T', 'R', 'A', 'T', 'C', 'K', 'P'}

// Checkpoint is what a segment log keeps in its checkpoint file: the
// clean-shutdown marker, the recovery point and the log start offset.
type Checkpoint struct {
	// Clean is set by Close after everything is fsynced and the index
	// files are written; it is cleared (the file rewritten) on open, so a
	// crash after open never looks clean.
	Clean bool
	// LogStartOffset is the log start offset, moved by DeleteRecordsBefore
	// and retention; it is persisted here before any file is deleted.
	LogStartOffset int64
	// RecoveryPoint is the base offset of the first segment that recovery
	// must scan: every segment below it was fsynced and sealed.
	RecoveryPoint int64
	// EndOffset is the high watermark when the file was written.
	EndOffset int64
	// ActiveBase and ActiveSize identify the active segment and its size
	// at a clean shutdown; a clean restart trusts them only if they match.
	ActiveBase int64
	ActiveSize int64
}

const checkpointFlagClean = 1

// EncodeCheckpoint returns the 64-byte checkpoint file.
func EncodeCheckpoint(c Checkpoint) []byte {
	b := make([]byte, CheckpointSize)
	copy(b, CheckpointMagic[:])
	binary.BigEndian.PutUint32(b[8:], CheckpointVersion)
	if c.Clean {
		binary.BigEndian.PutUint32(b[12:], checkpointFlagClean)
	}
	binary.BigEndian.PutUint64(b[16:], uint64(c.LogStartOffset))
	binary.BigEndian.PutUint64(b[24:], uint64(c.RecoveryPoint))
	binary.BigEndian.PutUint64(b[32:], uint64(c.EndOffset))
	binary.BigEndian.PutUint64(b[40:], uint64(c.ActiveBase))
	binary.BigEndian.PutUint64(b[48:], uint64(c.ActiveSize))
	binary.BigEndian.PutUint32(b[56:], crc32.Checksum(b[:56], crc32c))
	return b
}

// DecodeCheckpoint parses a checkpoint file, failing with ErrCorrupt on a
// bad size, magic, version, flags, CRC or negative field.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	if len(b) != CheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint is %d bytes, want %d", ErrCorrupt, len(b), CheckpointSize)
	}
	if [8]byte(b[:8]) != CheckpointMagic {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint has bad magic %q", ErrCorrupt, b[:8])
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != CheckpointVersion {
		return Checkpoint{}, fmt.Errorf("%w: unsupported checkpoint version %d", ErrCorrupt, v)
	}
	if got, want := crc32.Checksum(b[:56], crc32c), binary.BigEndian.Uint32(b[56:]); got != want {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint CRC32C mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	flags := binary.BigEndian.Uint32(b[12:])
	if flags&^checkpointFlagClean != 0 || binary.BigEndian.Uint32(b[60:]) != 0 {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint has unknown flags %#x", ErrCorrupt, flags)
	}
	c := Checkpoint{
		Clean:          flags&checkpointFlagClean != 0,
		LogStartOffset: int64(binary.BigEndian.Uint64(b[16:])),
		RecoveryPoint:  int64(binary.BigEndian.Uint64(b[24:])),
		EndOffset:      int64(binary.BigEndian.Uint64(b[32:])),
		ActiveBase:     int64(binary.BigEndian.Uint64(b[40:])),
		ActiveSize:     int64(binary.BigEndian.Uint64(b[48:])),
	}
	if c.LogStartOffset < 0 || c.RecoveryPoint < 0 || c.EndOffset < 0 || c.ActiveBase < 0 || c.ActiveSize < 0 {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint has a negative field", ErrCorrupt)
	}
	return c, nil
}

// ReadCheckpoint reads dir's checkpoint file. A missing file gives an error
// satisfying errors.Is(err, os.ErrNotExist).
func ReadCheckpoint(fs vfs.FS, dir string) (Checkpoint, error) {
	path := fs.PathJoin(dir, CheckpointFileName)
	b, err := readWholeFile(fs, path)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// writeCheckpoint durably replaces the checkpoint with the log's state.
// Unless clean, the recovery point is the active segment's base. writeMu
// is held (or the log is not yet shared).
func (l *SegmentLog) writeCheckpoint(clean bool) error {
	l.mu.Lock()
	active := l.mu.segs[len(l.mu.segs)-1]
	c := Checkpoint{
		Clean:          clean,
		LogStartOffset: l.mu.lso,
		RecoveryPoint:  active.base,
		EndOffset:      l.mu.hw,
		ActiveBase:     active.base,
		ActiveSize:     active.size,
	}
	l.mu.Unlock()
	if clean {
		c.RecoveryPoint = c.EndOffset
	}
	return l.storeCheckpoint(c)
}

func (l *SegmentLog) storeCheckpoint(c Checkpoint) error {
	if err := writeFileAtomic(l.fs, l.fs.PathJoin(l.dir, CheckpointFileName), EncodeCheckpoint(c)); err != nil {
		return fmt.Errorf("write checkpoint in %s: %w", l.dir, err)
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return fmt.Errorf("fsync %s: %w", l.dir, err)
	}
	l.w.checkpointStale = false
	return nil
}

// ensureDir creates dir and any missing parents durably: each new
// directory's parent is fsynced, or a crash could lose the whole partition
// directory along with its fsynced files.
func ensureDir(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	var created []string
	for d := dir; ; {
		if _, err := fs.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		parent := fs.PathDir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(fs, fs.PathDir(d)); err != nil {
			return fmt.Errorf("fsync %s: %w", fs.PathDir(d), err)
		}
	}
	return nil
}

func isNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || os.IsNotExist(err)
}

// recover builds the in-memory state from the directory. See doc.go,
// "Recovery", for the rules; in short: a clean checkpoint whose active
// segment matches skips every scan; otherwise segments from the recovery
// point on are scanned with ScanSegment, a torn or corrupt tail is cut at
// the last good batch, and every later segment is deleted. Segments below
// the recovery point were fsynced when they were sealed, so they are
// trusted: only their headers and index files are checked, and a damaged
// one found there fails the open rather than silently dropping data.
func (l *SegmentLog) recover() error {
	fs := l.fs
	if err := ensureDir(fs, l.dir); err != nil {
		return err
	}
	names, err := fs.List(l.dir)
	if err != nil {
		return err
	}
	var bases []int64
	hasLog := map[int64]bool{}
	var indexes []string
	for _, name := range names {
		if strings.HasSuffix(name, tmpExt) {
			// An atomic write that did not finish: the old file stands.
			if err := fs.Remove(fs.PathJoin(l.dir, name)); err != nil && !isNotExist(err) {
				return err
			}
			continue
		}
		base, ext, ok := ParseSegmentFileName(name)
		if !ok {
			continue
		}
		switch ext {
		case SegmentExt:
			bases = append(bases, base)
			hasLog[base] = true
		case IndexExt, TimeIndexExt:
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		if base, _, _ := ParseSegmentFileName(name); !hasLog[base] {
			if err := fs.Remove(fs.PathJoin(l.dir, name)); err != nil && !isNotExist(err) {
				return err
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	cp, cpErr := ReadCheckpoint(fs, l.dir)
	hasCP := cpErr == nil
	if cpErr != nil && !isNotExist(cpErr) {
		if !errors.Is(cpErr, ErrCorrupt) {
			return cpErr
		}
		l.log.Warn("ignoring damaged checkpoint; scanning every segment", "err", cpErr)
	}

	var segs []*segment
	for _, base := range bases {
		path := fs.PathJoin(l.dir, SegmentFileName(base, SegmentExt))
		f, err := fs.Open(path)
		if err != nil {
			closeSegs(segs)
			return err
		}
		st, err := f.Stat()
		if err != nil {
			_ = f.Close()
			closeSegs(segs)
			return err
		}
		segs = append(segs, &segment{base: base, path: path, file: newSharedFile(f, false), size: st.Size(), next: -1, maxTS: noTimestamp, batches: -1})
	}
	// From here on the log owns the files: l.closeFiles releases them.
	l.mu.segs = segs

	lso := int64(0)
	scanFrom := 0
	if hasCP {
		lso = cp.LogStartOffset
		n := len(segs)
		if cp.Clean && n > 0 && segs[n-1].base == cp.ActiveBase && segs[n-1].size == cp.ActiveSize && cp.EndOffset >= cp.ActiveBase {
			scanFrom = n
		} else {
			scanFrom = max(sort.Search(n, func(i int) bool { return segs[i].base > cp.RecoveryPoint })-1, 0)
		}
	}
	for i := 0; i < scanFrom; i++ {
		next := cp.EndOffset
		if i+1 < len(segs) {
			next = segs[i+1].base
		}
		if err := l.loadTrusted(segs[i], next); err != nil {
			return err
		}
	}
	cut, cutBase, err := l.scanTail(segs, scanFrom)
	if err != nil {
		return err
	}
	if cut < len(segs) {
		drop := segs[cut:]
		segs = segs[:cut]
		l.mu.segs = segs
		for _, s := range drop {
			l.log.Warn("recovery deletes segment after the last good batch", "segment", s.path)
			if err := l.deleteSegmentFiles(s); err != nil {
				return err
			}
		}
	}
	// Whole segments below the log start offset were being deleted when the
	// process stopped; finish the job. If the whole log lies below it (a
	// torn tail took what the start offset pointed into), start afresh there.
	for len(segs) > 0 && (len(segs) > 1 && segs[0].next <= lso || segs[len(segs)-1].next < lso) {
		s := segs[0]
		segs = segs[1:]
		l.mu.segs = segs
		if err := l.deleteSegmentFiles(s); err != nil {
			return err
		}
		l.notifyDeleted(s.base)
	}
	l.mu.segs = segs
	first := int64(-1)
	if len(segs) > 0 {
		first = segs[0].base
	}
	remote, err := l.loadRemote(first, lso)
	if err != nil {
		return err
	}
	l.mu.remote = remote
	if len(segs) == 0 {
		start := max(lso, cutBase)
		if n := len(remote); n > 0 {
			start = max(start, remote[n-1].next)
		}
		s, err := l.createSegment(start)
		if err != nil {
			return err
		}
		segs = append(segs, s)
		l.mu.segs = segs
	}
	if len(remote) > 0 {
		lso = max(lso, remote[0].base)
	} else {
		lso = max(lso, segs[0].base)
	}
	active := segs[len(segs)-1]
	if err := l.openActive(active, scanFrom < len(segs)); err != nil {
		return err
	}
	if active.rollBase == 0 && active.size > FileHeaderSize {
		// Kafka's rule: time-based roll counts from the first batch's
		// timestamp when the first append time is unknown.
		active.rollBase = l.opts.Now().UnixMilli()
		if len(active.tindex) > 0 && active.tindex[0].Timestamp > 0 {
			active.rollBase = min(active.rollBase, active.tindex[0].Timestamp)
		}
	}
	l.mu.lso = lso
	l.mu.hw = active.next
	if err := syncDir(fs, l.dir); err != nil {
		return err
	}
	// The clean marker is cleared before the first append (commitGroup).
	l.w.checkpointStale = true
	if !isNopOffloader(l.opts.Offloader) {
		// A crash between roll and upload must not lose the upload.
		for _, s := range segs[:len(segs)-1] {
			if !l.opts.Offloader.IsOffloaded(l.opts.Topic, l.opts.Partition, s.base) {
				l.opts.Offloader.SegmentSealed(l.sealed(s))
			}
		}
	}
	l.log.Debug("segment log open", "dir", l.dir, "segments", len(segs), "lso", lso, "hw", active.next,
		"clean", scanFrom == len(segs) && len(bases) > 0, "scanned", len(bases)-scanFrom)
	return nil
}

// loadTrusted sets up a segment below the recovery point (or every segment
// of a clean restart) without scanning it: check the header and load the
// index files, rebuilding them by a scan if they are missing or damaged.
func (l *SegmentLog) loadTrusted(s *segment, next int64) error {
	hdr := make([]byte, FileHeaderSize)
	if s.size < FileHeaderSize {
		return fmt.Errorf("%w: %s: %d bytes, no complete header", ErrCorrupt, s.path, s.size)
	}
	if _, err := s.file.f.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	base, err := DecodeFileHeader(hdr, SegmentMagic)
	if base != s.base {
		err = fmt.Errorf("%w: header base offset %d does not match the file name", ErrCorrupt, base)
	}
	if err != nil {
		return fmt.Errorf("%s at byte 0: %w", s.path, err)
	}
	if next < s.base {
		return fmt.Errorf("%w: %s: segment ends at offset %d, below its base", ErrCorrupt, s.path, next)
	}
	s.next = next
	idx, tidx, err := ReadIndexFiles(l.fs, l.dir, s.base, s.size, next)
	if err == nil {
		err = checkIndexTail(s.file.f, s.path, s.base, idx, s.size, next)
	}
	if err == nil {
		s.index, s.tindex = idx, tidx
		if n := len(tidx); n > 0 {
			s.maxTS = tidx[n-1].Timestamp
		}
		s.sinceIndex = s.size - FileHeaderSize
		if n := len(idx); n > 0 {
			s.sinceIndex = s.size - int64(idx[n-1].Position)
		}
		return nil
	}
	if !isNotExist(err) && !errors.Is(err, ErrCorrupt) {
		return err
	}
	l.log.Warn("rebuilding index files", "segment", s.path, "reason", err)
	size := s.size
	if _, end, scanNext, err := l.scanSegment(s); err != nil || end != size || scanNext != next {
		if err == nil {
			err = fmt.Errorf("%w: %s: scan ends at byte %d offset %d, want byte %d offset %d", ErrCorrupt, s.path, end, scanNext, size, next)
		}
		return fmt.Errorf("segment below the recovery point is damaged or followed by a gap (run strata log verify): %w", err)
	}
	if err := l.writeIndexFiles(s); err != nil {
		l.log.Warn("writing rebuilt index files", "segment", s.path, "err", err)
	}
	return nil
}

// scanSegment rebuilds s's in-memory indexes from its .log file with
// ScanSegment and returns what ScanSegment returned. After an error, s holds
// the batches before validEnd.
func (l *SegmentLog) scanSegment(s *segment) (base, validEnd, next int64, err error) {
	size := s.size // the file's size; resetIndexes zeroes the committed size
	s.resetIndexes()
	interval := int64(l.opts.IndexIntervalBytes)
	base, validEnd, next, err = ScanSegment(s.file.f, size, func(pos int64, h BatchHeader, _ []byte) error {
		s.noteBatch(pos, h, interval)
		return nil
	})
	if err != nil && validEnd < FileHeaderSize {
		return base, validEnd, next, fmt.Errorf("%s at byte 0: %w", s.path, err)
	}
	if base != s.base {
		return base, 0, next, fmt.Errorf("%w: %s at byte 0: header base offset %d does not match the file name", ErrCorrupt, s.path, base)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", s.path, err)
	}
	return base, validEnd, next, err
}

// scanTail scans segs[from:], cutting at the first damage. It returns how
// many segments survive and, when none from the scan does, the offset the
// log continues at.
func (l *SegmentLog) scanTail(segs []*segment, from int) (int, int64, error) {
	for i := from; i < len(segs); i++ {
		s := segs[i]
		diskSize := s.size
		_, validEnd, _, err := l.scanSegment(s)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return 0, 0, err // an I/O error is not a torn tail
		}
		if err == nil && i > 0 && s.base != segs[i-1].next {
			err = fmt.Errorf("%w: %s: base offset %d does not follow the previous segment's end %d", ErrCorrupt, s.path, s.base, segs[i-1].next)
			validEnd = 0
		}
		if err != nil && validEnd < FileHeaderSize {
			l.log.Warn("recovery drops a segment with a bad header", "segment", s.path, "err", err)
			cutBase := s.base
			if i > 0 {
				cutBase = segs[i-1].next
			}
			return i, cutBase, nil
		}
		if err != nil {
			l.log.Warn("recovery truncates a torn or corrupt tail", "segment", s.path, "valid_end", validEnd, "size", diskSize, "err", err)
			if err := l.truncateSegmentFile(s, validEnd); err != nil {
				return 0, 0, err
			}
			// s is the active segment now; its index files are rewritten
			// at roll or close, and stale ones must not outlive the cut.
			if err := l.removeIndexFiles(s.base); err != nil {
				return 0, 0, err
			}
			return i + 1, 0, nil
		}
		if i+1 < len(segs) {
			if err := l.writeIndexFiles(s); err != nil {
				l.log.Warn("writing rebuilt index files", "segment", s.path, "err", err)
			}
		}
	}
	return len(segs), 0, nil
}

// openActive reopens the active segment for writing. After a scan it also
// fsyncs it: the scanned bytes may have been in the page cache only.
func (l *SegmentLog) openActive(s *segment, scanned bool) error {
	if err := l.reopenRW(s); err != nil {
		return err
	}
	if scanned {
		if err := s.file.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.path, err)
		}
	}
	return nil
}

// reopenRW gives s a read-write handle. Only recovery calls it, before any
// reader exists, so the handle's count still covers every pin.
func (l *SegmentLog) reopenRW(s *segment) error {
	if s.file.rw {
		return nil
	}
	f, err := l.fs.OpenReadWrite(s.path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := s.file
	s.file = newSharedFile(f, true)
	l.mu.Unlock()
	old.unref()
	return nil
}

type truncater interface{ Truncate(size int64) error }

// truncateSegmentFile cuts s's .log file to size bytes, durably, and leaves
// s with a read-write handle. A file that readers still pin, or that cannot
// be truncated in place, is replaced by a copy of its first size bytes (a
// new inode), so pinned readers keep the old bytes. Every handle of the
// file's inode is s.file, so its count covers every pin.
// writeMu is held (or the log is not yet shared).
func (l *SegmentLog) truncateSegmentFile(s *segment, size int64) error {
	l.mu.Lock()
	if s.file.refs.Load() == 1 && !s.file.rw {
		// Nobody else holds the handle (and mu keeps new readers out), so
		// a read-write handle may replace it.
		if f, err := l.fs.OpenReadWrite(s.path, vfs.WriteCategoryUnspecified); err == nil {
			old := s.file
			s.file = newSharedFile(f, true)
			old.unref()
		}
	}
	if t, ok := s.file.f.(truncater); ok && s.file.rw && s.file.refs.Load() == 1 {
		err := t.Truncate(size)
		if err == nil {
			err = s.file.f.Sync()
		}
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("truncate %s to %d bytes: %w", s.path, size, err)
		}
		return nil
	}
	src := s.file
	src.ref()
	l.mu.Unlock()
	defer src.unref()
	tmp := s.path + tmpExt
	nf, err := l.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for pos := int64(0); pos < size; {
		n := int(min(int64(len(buf)), size-pos))
		if _, err := src.f.ReadAt(buf[:n], pos); err != nil {
			_ = nf.Close()
			return fmt.Errorf("copy %s: %w", s.path, err)
		}
		if _, err := nf.Write(buf[:n]); err != nil {
			_ = nf.Close()
			return fmt.Errorf("copy %s: %w", s.path, err)
		}
		pos += int64(n)
	}
	if err := nf.Sync(); err != nil {
		_ = nf.Close()
		return err
	}
	if err := l.fs.Rename(tmp, s.path); err != nil {
		_ = nf.Close()
		return err
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		_ = nf.Close()
		return err
	}
	l.mu.Lock()
	old := s.file
	s.file = newSharedFile(nf, true)
	l.mu.Unlock()
	old.unref()
	return nil
}

// deleteSegmentFiles removes a segment's files and drops the log's
// reference to its handle; pinned readers keep the (unlinked) file open.
func (l *SegmentLog) deleteSegmentFiles(s *segment) error {
	s.file.unref()
	for _, ext := range []string{SegmentExt, IndexExt, TimeIndexExt} {
		if err := l.fs.Remove(l.fs.PathJoin(l.dir, SegmentFileName(s.base, ext))); err != nil && !isNotExist(err) {
			return err
		}
	}
	return nil
}

// closeFiles drops the log's reference to every segment file and releases
// the directory lock.
func (l *SegmentLog) closeFiles() {
	l.mu.Lock()
	segs := l.mu.segs
	l.mu.segs = nil
	l.mu.Unlock()
	closeSegs(segs)
	if l.lock != nil {
		_ = l.lock.Close()
		l.lock = nil
	}
}

func closeSegs(segs []*segment) {
	for _, s := range segs {
		s.file.unref()
	}
}
