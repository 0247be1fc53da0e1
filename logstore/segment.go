package logstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// SegmentOptions configure one partition's segment log.
type SegmentOptions struct {
	FS        vfs.FS // nil = vfs.Default
	Dir       string // partition directory, created if missing
	Topic     string
	Partition int32
	Config    TopicConfig
	Offloader Offloader        // nil = NopOffloader{}
	Logger    *slog.Logger     // nil = slog.Default()
	Now       func() time.Time // nil = time.Now
	// QueueSize bounds the group-commit queue (0 = 1024). When it is full,
	// Append blocks until the writer catches up.
	QueueSize int
	// IndexIntervalBytes is the most log bytes between two offset index
	// entries (0 = DefaultIndexIntervalBytes).
	IndexIntervalBytes int
	// Remote reads offloaded segments (the block cache over the object
	// store). nil: local copies of a tiered topic are never evicted.
	Remote RemoteReader
	// RemoteReadTimeout bounds one remote read (0 = DefaultRemoteReadTimeout).
	RemoteReadTimeout time.Duration
}

// SegmentLockFileName is the lock file an open segment log holds in its
// directory.
const SegmentLockFileName = "LOCK"

// DefaultSegmentQueueSize is the group-commit queue depth when
// SegmentOptions.QueueSize is 0.
const DefaultSegmentQueueSize = 1024

// EnsureDefaults fills zero fields with their defaults.
func (o *SegmentOptions) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Offloader == nil {
		o.Offloader = NopOffloader{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultSegmentQueueSize
	}
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.RemoteReadTimeout <= 0 {
		o.RemoteReadTimeout = DefaultRemoteReadTimeout
	}
	o.Config = segmentConfigDefaults(o.Config)
}

// segmentConfigDefaults replaces zero roll and flush values (a TopicConfig
// built by hand) with the defaults; zero retention values are meaningful and
// stay.
func segmentConfigDefaults(c TopicConfig) TopicConfig {
	if c.Mode == "" {
		c.Mode = ModePersistent
	}
	if c.Engine == "" {
		c.Engine = EngineSegment
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = DefaultFlushMessages
	}
	if c.FlushMs < 0 {
		c.FlushMs = 0
	}
	return c
}

// Validate checks the options after EnsureDefaults.
func (o *SegmentOptions) Validate() error {
	if o.Dir == "" {
		return fmt.Errorf("%w: segment log needs a directory", ErrInvalidConfig)
	}
	if o.Partition < 0 {
		return fmt.Errorf("%w: negative partition %d", ErrInvalidConfig, o.Partition)
	}
	return validateSegmentConfig(o.Config)
}

func validateSegmentConfig(c TopicConfig) error {
	if c.SegmentBytes <= FileHeaderSize || c.SegmentBytes > MaxSegmentBytes {
		return fmt.Errorf("%w: %s=%d out of range (%d, %d]", ErrInvalidConfig, KeySegmentBytes, c.SegmentBytes, FileHeaderSize, int64(MaxSegmentBytes))
	}
	return nil
}

// SegmentLog is the segment engine: one partition stored as a directory of
// segment files (see doc.go, "Segment engine"). It implements Log.
//
// Concurrency. Appends go through a bounded queue to one writer goroutine
// that batches them into one write and one fsync (groupcommit.go). Reads
// take mu only to find and pin segment files, then read without locks.
//
// Lock order: appendGate before writeMu before mu. writeMu is held by the
// writer goroutine while it writes a group, and by every operation that
// changes the segment list or a segment's bytes (roll, truncate, retention,
// delete-records, close); it serialises writes to the files and to the
// checkpoint. mu guards the fields readers see. sharedFile reference counts
// are atomic and need no lock.
type SegmentLog struct {
	opts SegmentOptions
	fs   vfs.FS
	dir  string
	log  *slog.Logger

	// appendGate lets Close wait for Appends that are inside the queue
	// send: Append holds it for reading, Close for writing.
	appendGate sync.RWMutex
	gateClosed bool // guarded by appendGate

	lock     io.Closer // the directory's LOCK file, held until Close
	queue    chan *appendReq
	wake     chan struct{} // Reconfigure pokes the writer to re-read flush.ms
	writerWG sync.WaitGroup

	writeMu sync.Mutex
	// Fields owned by the writer (read and written with writeMu held).
	w struct {
		unsynced  int64 // messages written but not fsynced
		dirtySync bool  // bytes written since the last fsync
		// checkpointStale is set from open until the first checkpoint
		// write: the file on disk may still say "clean", so it must be
		// rewritten before the first byte is appended. Deferring it to
		// then spares idle partitions two fsyncs each at startup.
		checkpointStale bool
		// inlineBuf is the write buffer of Appends committed in their own
		// goroutine (tryInline); the writer goroutine keeps its own.
		inlineBuf []byte
	}

	// Counters for Stats (remote reads served, local copies evicted).
	remoteReads atomic.Int64
	evictions   atomic.Int64

	mu struct {
		sync.Mutex
		segs []*segment // sorted by base offset; the last is active
		// remote are the segments whose local copies were evicted (tiered
		// topics), sorted, all below segs[0]. See remote.go.
		remote []*segment
		hw     int64 // high watermark: offset after the last committed batch
		lso    int64 // log start offset
		cfg    TopicConfig
		closed bool
		// poison is the write or fsync error that stopped the log. After a
		// failed fsync the kernel may have dropped the dirty pages, so the
		// bytes on disk are unknown; only recovery (reopen) can tell.
		poison error
	}
}

var _ Log = (*SegmentLog)(nil)

// segment is one .log file and its in-memory indexes.
type segment struct {
	base int64
	path string // the .log file

	// The fields below change only with SegmentLog.writeMu and .mu held, so
	// they may be read with either.
	file   *sharedFile
	size   int64 // committed bytes of the .log file, header included
	next   int64 // offset after the last committed batch
	maxTS  int64 // largest batch max timestamp; -1 when empty
	index  []IndexEntry
	tindex []TimeIndexEntry
	// batches counts the batches held; -1 until known (a segment trusted by
	// a clean restart is not scanned; Stats counts it once).
	batches int64
	// appended counts noteBatch calls, so Stats can add the batches
	// appended while it counted an unknown segment.
	appended int64
	// sinceIndex counts log bytes appended since the last index entry.
	sinceIndex int64
	// rollBase is when the segment got its first append (ms), for segment.ms.
	rollBase int64
	// indexDirty is set when the in-memory indexes differ from the files.
	indexDirty bool
	// remote is set for a segment whose local copy was evicted: it has no
	// file, path is its object key, and it never changes.
	remote *remoteInfo
}

// sharedFile is a file handle shared by the log and its readers: it closes
// when the last reference goes, so retention or truncation never closes a
// file that a ReadResult still points into.
type sharedFile struct {
	f    vfs.File
	rw   bool // opened for writing
	refs atomic.Int64
}

func newSharedFile(f vfs.File, rw bool) *sharedFile {
	s := &sharedFile{f: f, rw: rw}
	s.refs.Store(1)
	return s
}

func (s *sharedFile) ref() { s.refs.Add(1) }

func (s *sharedFile) unref() {
	switch n := s.refs.Add(-1); {
	case n == 0:
		_ = s.f.Close()
	case n < 0:
		panic("logstore: segment file released twice")
	}
}

// OpenSegmentLog opens (creating if needed) the segment log in opts.Dir and
// runs recovery (recovery.go) before it returns.
func OpenSegmentLog(opts SegmentOptions) (*SegmentLog, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l := &SegmentLog{
		opts:  opts,
		fs:    opts.FS,
		dir:   opts.Dir,
		log:   opts.Logger.With("topic", opts.Topic, "partition", opts.Partition),
		queue: make(chan *appendReq, opts.QueueSize),
		wake:  make(chan struct{}, 1),
	}
	l.mu.cfg = opts.Config
	if err := ensureDir(l.fs, l.dir); err != nil {
		return nil, err
	}
	// One process, one writer: a second OpenSegmentLog of the directory
	// (here or in another process) fails instead of interleaving writes.
	lock, err := l.fs.Lock(l.fs.PathJoin(l.dir, SegmentLockFileName))
	if err != nil {
		return nil, fmt.Errorf("logstore: segment log %s is in use: %w", l.dir, err)
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.writerWG.Add(1)
	go l.writer()
	return l, nil
}

// Dir is the partition directory.
func (l *SegmentLog) Dir() string { return l.dir }

// HighWatermark is the offset the next appended record will get.
func (l *SegmentLog) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.hw
}

// LogStartOffset is the first readable offset.
func (l *SegmentLog) LogStartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.lso
}

// Config returns the topic config in force.
func (l *SegmentLog) Config() TopicConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.cfg
}

// Reconfigure applies changed retention, roll and flush values. The
// storage mode and engine cannot change.
func (l *SegmentLog) Reconfigure(cfg TopicConfig) error {
	cfg = segmentConfigDefaults(cfg)
	if err := validateSegmentConfig(cfg); err != nil {
		return err
	}
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	old := l.mu.cfg
	if cfg.Mode != old.Mode || cfg.Engine != old.Engine {
		l.mu.Unlock()
		return fmt.Errorf("%w: %s and %s cannot change on an open log (%s/%s -> %s/%s)",
			ErrInvalidConfig, KeyStorageMode, KeyStorageEngine, old.Mode, old.Engine, cfg.Mode, cfg.Engine)
	}
	l.mu.cfg = cfg
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats reports sizes and offsets. Batch counts of segments that a clean
// restart did not scan are counted here once, by walking batch headers.
func (l *SegmentLog) Stats() LogStats {
	l.mu.Lock()
	st := LogStats{Engine: EngineSegment, LogStartOffset: l.mu.lso, HighWatermark: l.mu.hw, Segments: len(l.mu.segs),
		RemoteSegments: len(l.mu.remote), RemoteReads: l.remoteReads.Load(), Evictions: l.evictions.Load()}
	for _, s := range l.mu.remote {
		st.RemoteBytes += s.size - FileHeaderSize
	}
	type uncounted struct {
		s        *segment
		f        *sharedFile
		size     int64
		appended int64
	}
	var unknown []uncounted
	for _, s := range l.mu.segs {
		st.Bytes += s.size - FileHeaderSize
		if s.batches >= 0 {
			st.Batches += s.batches
			continue
		}
		s.file.ref()
		unknown = append(unknown, uncounted{s, s.file, s.size, s.appended})
	}
	l.mu.Unlock()
	for _, u := range unknown {
		n, err := countBatches(u.f.f, u.size)
		u.f.unref()
		if err != nil {
			l.log.Warn("counting batches", "segment", u.s.path, "err", err)
			continue
		}
		st.Batches += n
		l.mu.Lock()
		// Appends after the snapshot were counted by noteBatch; Truncate
		// sets an exact count, so a known count is left alone.
		if u.s.batches < 0 && u.s.file == u.f {
			u.s.batches = n + u.s.appended - u.appended
		}
		l.mu.Unlock()
	}
	return st
}

// countBatches walks batch headers from the file header to size.
func countBatches(f vfs.File, size int64) (int64, error) {
	var n int64
	head := make([]byte, BatchHeaderSize)
	for pos := int64(FileHeaderSize); pos < size; n++ {
		h, err := readBatchHeader(f, pos, head)
		if err != nil {
			return n, err
		}
		pos += int64(h.Size())
	}
	return n, nil
}

// readBatchHeader reads and parses the batch header at pos.
func readBatchHeader(f io.ReaderAt, pos int64, buf []byte) (BatchHeader, error) {
	if _, err := f.ReadAt(buf[:BatchHeaderSize], pos); err != nil {
		return BatchHeader{}, err
	}
	h, err := ParseBatchHeader(buf[:BatchHeaderSize])
	if err != nil {
		return h, fmt.Errorf("%w: batch header at byte %d: %w", ErrCorrupt, pos, err)
	}
	return h, nil
}

// findSegment returns the index of the segment holding offset: the last one
// whose base is <= offset. mu must be held.
func (l *SegmentLog) findSegment(offset int64) int {
	segs := l.mu.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })
	return max(i-1, 0)
}

// Read returns whole batches starting with the one holding offset, up to
// maxBytes (the first batch whole regardless). The chunks are ranges of the
// segment files, pinned until the result is closed.
func (l *SegmentLog) Read(offset int64, maxBytes int) (*ReadResult, error) {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	hw, lso := l.mu.hw, l.mu.lso
	if offset < lso || offset > hw {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, lso, hw)
	}
	if offset == hw {
		l.mu.Unlock()
		return NewReadResult(nil, offset, hw, lso, nil), nil
	}
	if r := l.remoteFor(offset); r != nil {
		l.mu.Unlock()
		return l.readRemote(r, offset, maxBytes, hw, lso)
	}
	// Pin the segments the read can reach: the one holding offset, then
	// the following ones until their bytes cover maxBytes (the first one's
	// bytes before offset do not count, so it is left out of the sum).
	var views []segView
	budget := int64(max(maxBytes, 0))
	first := l.findSegment(offset)
	for i := first; i < len(l.mu.segs); i++ {
		s := l.mu.segs[i]
		if s.size == FileHeaderSize {
			continue
		}
		s.file.ref()
		views = append(views, localView(s))
		if i == first {
			continue
		}
		if budget -= s.size - FileHeaderSize; budget <= 0 {
			break
		}
	}
	l.mu.Unlock()

	release := func() {
		for _, v := range views {
			v.file.unref()
		}
	}
	chunks, next, used, err := readViews(views, offset, int64(max(maxBytes, 0)))
	if err != nil {
		release()
		return nil, err
	}
	// Unpin the segments the read did not reach.
	for _, v := range views[used:] {
		v.file.unref()
	}
	views = views[:used]
	return NewReadResult(chunks, next, hw, lso, release), nil
}

// segView is a read's snapshot of one segment.
type segView struct {
	s     *segment
	file  *sharedFile // nil for a remote segment
	ra    io.ReaderAt // the bytes: file.f, or the object through the cache
	size  int64
	next  int64
	index []IndexEntry
	// hintNext/hintPos: a known batch boundary (offset, position) to start
	// a lookup from when it is past the index entry (remote segments).
	hintNext, hintPos int64
}

// localView snapshots local segment s; mu is held and the caller has
// pinned s.file.
func localView(s *segment) segView {
	return segView{s: s, file: s.file, ra: s.file.f, size: s.size, next: s.next, index: s.index}
}

// readViews turns pinned segment snapshots into chunks. It returns the
// chunks, the offset after the last batch, and how many views it used.
func readViews(views []segView, offset, maxBytes int64) ([]Chunk, int64, int, error) {
	var chunks []Chunk
	var total int64
	next := offset
	head := make([]byte, BatchHeaderSize)
	used := 0
	for vi, v := range views {
		start := int64(FileHeaderSize)
		if vi == 0 {
			pos, err := findBatchPos(v, offset, head, false)
			if err != nil {
				return nil, 0, 0, err
			}
			start = pos
		}
		if start >= v.size {
			continue
		}
		used = vi + 1
		end, endNext, err := batchesEnd(v, start, maxBytes-total, total == 0, head)
		if err != nil {
			return nil, 0, 0, err
		}
		if end > start {
			chunks = append(chunks, Chunk{File: v.file.f, Pos: start, Len: end - start})
			total += end - start
			next = endNext
		}
		if end < v.size || total >= maxBytes {
			break
		}
	}
	return chunks, next, used, nil
}

// findBatchPos returns the position of the batch holding offset in v (with
// exact, the batch that starts at offset; ErrNotBatchBoundary otherwise).
// offset == v.next gives v.size.
func findBatchPos(v segView, offset int64, head []byte, exact bool) (int64, error) {
	if offset >= v.next {
		return v.size, nil
	}
	pos, _ := lookupIndex(v.index, v.s.base, offset)
	if v.hintPos > pos && v.hintNext > v.s.base && v.hintNext <= offset && v.hintPos < v.size {
		pos = v.hintPos
	}
	for pos < v.size {
		h, err := readBatchHeader(v.ra, pos, head)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", v.s.path, err)
		}
		if h.LastOffset() >= offset {
			if exact && h.BaseOffset != offset {
				return 0, fmt.Errorf("%w: offset %d is inside the batch [%d, %d]", ErrNotBatchBoundary, offset, h.BaseOffset, h.LastOffset())
			}
			return pos, nil
		}
		pos += int64(h.Size())
	}
	return 0, fmt.Errorf("%w: %s: offset %d not found below byte %d", ErrCorrupt, v.s.path, offset, v.size)
}

// batchesEnd returns the end of the longest run of whole batches from start
// that fits in budget (at least one batch when atLeastOne), and the offset
// after it. It jumps with the offset index and walks headers only for the
// last few batches.
func batchesEnd(v segView, start, budget int64, atLeastOne bool, head []byte) (int64, int64, error) {
	if v.size-start <= budget {
		return v.size, v.next, nil
	}
	limit := start + budget
	pos, next := start, int64(-1)
	// Jump to the last indexed batch that starts at or before limit.
	if e, ok := lastEntryAtOrBefore(v.index, limit); ok && int64(e.Position) > start {
		pos, next = int64(e.Position), v.s.base+int64(e.RelOffset)
	}
	for pos < v.size {
		h, err := readBatchHeader(v.ra, pos, head)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", v.s.path, err)
		}
		end := pos + int64(h.Size())
		if end > limit && !(atLeastOne && pos == start) {
			if next < 0 {
				next = h.BaseOffset
			}
			return pos, next, nil
		}
		pos, next = end, h.NextOffset()
	}
	return pos, v.next, nil
}

// OffsetForTime returns the base offset of the first batch whose max
// timestamp is >= ts (never below the log start offset), or HW if none.
func (l *SegmentLog) OffsetForTime(ts int64) (int64, error) {
	head := make([]byte, BatchHeaderSize)
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	hw, from := l.mu.hw, l.mu.lso
	remote := l.mu.remote
	l.mu.Unlock()
	if len(remote) > 0 {
		off, ok, err := l.remoteOffsetForTime(remote, from, ts, head)
		if err != nil || ok {
			return off, err
		}
		from = max(from, remote[len(remote)-1].next)
	}
	for {
		l.mu.Lock()
		var v segView
		found := false
		var rel uint32
		for _, s := range l.mu.segs {
			if s.size == FileHeaderSize || s.next <= from || s.maxTS < ts {
				continue
			}
			// The time index names the first batch whose max timestamp
			// reached ts, because an entry is added at every raise.
			r, ok := lookupTimeIndex(s.tindex, ts)
			if !ok {
				l.mu.Unlock()
				return 0, fmt.Errorf("%w: %s: time index has no entry for %d below max timestamp %d", ErrCorrupt, s.path, ts, s.maxTS)
			}
			s.file.ref()
			v = localView(s)
			rel, found = r, true
			break
		}
		l.mu.Unlock()
		if !found {
			return hw, nil
		}
		if off := v.s.base + int64(rel); off >= from {
			v.file.unref()
			return off, nil
		}
		// The segment's first match lies below from (the log start
		// offset): walk its batches from the one holding from.
		off, ok, err := walkForTime(v, from, ts, head)
		v.file.unref()
		if err != nil || ok {
			return off, err
		}
		from = v.next
	}
}

// remoteOffsetForTime is OffsetForTime over the remote segments: it walks
// the batch headers of the first one whose max timestamp reaches ts.
func (l *SegmentLog) remoteOffsetForTime(remote []*segment, from, ts int64, head []byte) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.RemoteReadTimeout)
	defer cancel()
	for _, s := range remote {
		if s.next <= from || s.maxTS < ts {
			continue
		}
		off, ok, err := walkForTime(l.remoteView(ctx, s), max(from, s.base), ts, head)
		if err != nil || ok {
			return off, ok, err
		}
	}
	return 0, false, nil
}

// walkForTime finds, by reading batch headers, the first batch of v at or
// after offset from whose max timestamp is >= ts.
func walkForTime(v segView, from, ts int64, head []byte) (int64, bool, error) {
	pos, err := findBatchPos(v, from, head, false)
	if err != nil {
		return 0, false, err
	}
	for pos < v.size {
		h, err := readBatchHeader(v.ra, pos, head)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", v.s.path, err)
		}
		if h.MaxTimestamp >= ts {
			return max(h.BaseOffset, from), true, nil
		}
		pos += int64(h.Size())
	}
	return 0, false, nil
}
