package logstore

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Group commit. Append validates its batches in the caller's goroutine (CRC
// and framing are CPU work that parallelises), then queues a request on a
// bounded channel and waits. One writer goroutine takes every request that
// is queued, gives the batches their offsets, copies them into one buffer,
// writes it with one WriteAt and, when the flush policy asks, fsyncs once
// for the whole group. The queue's full-policy is to block the appender.
//
// Flush policy (per topic, re-read for every group):
//   - flush.messages=1: a group is fsynced before the high watermark moves
//     and before any of its Appends return.
//   - flush.messages=N>1: Appends return after the write; the writer
//     fsyncs once N messages are unsynced.
//   - flush.ms=T>0: the writer also fsyncs at least every T ms while
//     there are unsynced bytes.
//
// A failed write or fsync poisons the log: the failing Appends return the
// error, nothing is acknowledged, and every later Append or Sync fails until
// the log is reopened and recovery has found what is really on disk (after
// a failed fsync Linux may have dropped the dirty pages, so retrying the
// fsync could falsely report success).

const (
	// maxGroupBytes caps the bytes one group writes, so one huge queue
	// drain does not hold the writer (and readers' HW) for long.
	maxGroupBytes = 8 << 20
	// maxGroupReqs caps the requests in one group.
	maxGroupReqs = 256
	// maxRetainedBuf caps the write buffer a log keeps between groups.
	maxRetainedBuf = 1 << 20
	// maxRelOffset is the most a batch base may lie above its segment
	// base: index entries hold the relative offset in a uint32; Kafka
	// rolls at the int32 limit and so do we.
	maxRelOffset = math.MaxInt32
)

// appendReq is one Append (or Sync, when isSync) waiting for the writer.
type appendReq struct {
	data    []byte
	hdrs    []BatchHeader
	records int
	isSync  bool

	done chan struct{}
	res  AppendResult
	err  error
}

func (r *appendReq) finish(err error) {
	r.err = err
	close(r.done)
}

// lastRel is the request's last record offset relative to base if it were
// appended at next.
func (r *appendReq) span() int64 {
	var n int64
	for _, h := range r.hdrs {
		n += int64(h.LastOffsetDelta) + 1
	}
	return n
}

// Append validates and appends batches (see Log.Append).
func (l *SegmentLog) Append(batches []byte) (AppendResult, error) {
	if len(batches) == 0 {
		return AppendResult{}, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	if len(batches) > MaxSegmentBytes-FileHeaderSize {
		return AppendResult{}, fmt.Errorf("%w: append of %d bytes is larger than a segment can hold", ErrInvalidBatch, len(batches))
	}
	r := &appendReq{data: batches, done: make(chan struct{})}
	err := SplitBatches(batches, func(_ []byte, h BatchHeader) error {
		r.hdrs = append(r.hdrs, h)
		r.records += int(h.NumRecords)
		return nil
	})
	if err != nil {
		return AppendResult{}, err
	}
	if inline, err := l.tryInline(r); inline || err != nil {
		if err != nil {
			return AppendResult{}, err
		}
		return r.res, r.err
	}
	if err := l.enqueue(r); err != nil {
		return AppendResult{}, err
	}
	<-r.done
	return r.res, r.err
}

// tryInline commits r in the caller's goroutine when nothing else is
// queued and no group is being written. Handing a lone Append to the
// writer goroutine and waking the caller again costs two scheduler
// hand-offs, a measurable share of an fsynced 16 KiB append. When another
// commit holds writeMu, r goes through the queue, so concurrent Appends
// still share one write and one fsync. It reports whether r was handled.
func (l *SegmentLog) tryInline(r *appendReq) (bool, error) {
	l.appendGate.RLock()
	defer l.appendGate.RUnlock()
	if l.gateClosed {
		return true, ErrClosed
	}
	if len(l.queue) > 0 || !l.writeMu.TryLock() {
		return false, nil
	}
	defer l.writeMu.Unlock()
	l.w.inlineBuf = l.commitGroupLocked([]*appendReq{r}, l.w.inlineBuf)
	return true, nil
}

// Sync makes every appended batch durable.
func (l *SegmentLog) Sync() error {
	r := &appendReq{isSync: true, done: make(chan struct{})}
	if err := l.enqueue(r); err != nil {
		return err
	}
	<-r.done
	return r.err
}

func (l *SegmentLog) enqueue(r *appendReq) error {
	l.appendGate.RLock()
	defer l.appendGate.RUnlock()
	if l.gateClosed {
		return ErrClosed
	}
	if err := l.poisoned(); err != nil {
		return err
	}
	l.queue <- r // blocks while the queue is full
	return nil
}

// poisoned returns the error that stopped the log, wrapped, or nil.
func (l *SegmentLog) poisoned() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.poison != nil {
		return fmt.Errorf("logstore: segment log %s refuses writes until reopened after: %w", l.dir, l.mu.poison)
	}
	return nil
}

// poison stops the log after a failed write or fsync. writeMu is held.
func (l *SegmentLog) poison(err error) error {
	l.mu.Lock()
	if l.mu.poison == nil {
		l.mu.poison = err
		l.log.Error("segment log poisoned: appends refused until reopen", "dir", l.dir, "err", err)
	}
	l.mu.Unlock()
	return l.poisoned()
}

// writer is the group-commit goroutine. It exits when Close closes the queue
// and every queued request is done.
func (l *SegmentLog) writer() {
	defer l.writerWG.Done()
	var ticker *time.Ticker
	var tick <-chan time.Time
	curMs := int64(-1)
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	group := make([]*appendReq, 0, maxGroupReqs)
	var buf []byte
	for {
		if ms := l.Config().FlushMs; ms != curMs {
			if ticker != nil {
				ticker.Stop()
				ticker, tick = nil, nil
			}
			if ms > 0 {
				ticker = time.NewTicker(time.Duration(ms) * time.Millisecond)
				tick = ticker.C
			}
			curMs = ms
		}
		select {
		case r, ok := <-l.queue:
			if !ok {
				return
			}
			group = append(group[:0], r)
			n := len(r.data)
			open := true
		drain:
			for len(group) < maxGroupReqs && n < maxGroupBytes {
				select {
				case r, ok := <-l.queue:
					if !ok {
						open = false
						break drain
					}
					group = append(group, r)
					n += len(r.data)
				default:
					break drain
				}
			}
			buf = l.commitGroup(group, buf)
			clear(group)
			if !open {
				return
			}
		case <-tick:
			l.writeMu.Lock()
			if l.w.dirtySync && l.poisoned() == nil {
				if err := l.syncActive(); err != nil {
					_ = l.poison(err)
				}
			}
			l.writeMu.Unlock()
		case <-l.wake:
		}
	}
}

// syncActive fsyncs the active segment. writeMu is held.
func (l *SegmentLog) syncActive() error {
	l.mu.Lock()
	s := l.mu.segs[len(l.mu.segs)-1]
	l.mu.Unlock()
	if err := s.file.f.SyncData(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.path, err)
	}
	l.w.unsynced, l.w.dirtySync = 0, false
	return nil
}

// run is the part of a group bound for one segment.
type run struct {
	reqs []*appendReq
	buf  []byte
}

// commitGroup writes one group and answers its requests. It returns buf for
// reuse.
func (l *SegmentLog) commitGroup(group []*appendReq, buf []byte) []byte {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.commitGroupLocked(group, buf)
}

// commitGroupLocked is commitGroup with writeMu held.
func (l *SegmentLog) commitGroupLocked(group []*appendReq, buf []byte) []byte {
	cfg := l.Config()
	now := l.opts.Now().UnixMilli()
	l.mu.Lock()
	active := l.mu.segs[len(l.mu.segs)-1]
	l.mu.Unlock()
	poisonErr := l.poisoned()
	if l.w.checkpointStale && poisonErr == nil {
		// Clear a clean-shutdown marker before the first byte changes.
		if err := l.writeCheckpoint(false); err != nil {
			poisonErr = l.poison(err)
		}
	}

	cur := run{buf: buf[:0]}
	next := active.next
	var syncs []*appendReq
	for _, r := range group {
		if poisonErr != nil {
			r.finish(poisonErr)
			continue
		}
		if r.isSync {
			syncs = append(syncs, r)
			continue
		}
		if next > math.MaxInt64-r.span() {
			r.finish(fmt.Errorf("%w: offsets would pass the int64 limit at %d", ErrInvalidBatch, next))
			continue
		}
		pending := active.size + int64(len(cur.buf))
		if needRoll(active, pending, int64(len(r.data)), next+r.span()-1, cfg, now) {
			if err := l.commitRun(active, &cur, cfg, now); err != nil {
				poisonErr = err
				r.finish(err)
				continue
			}
			s, err := l.roll(active, now)
			if err != nil {
				poisonErr = l.poison(err)
				r.finish(poisonErr)
				continue
			}
			active, next = s, s.next
		}
		start := len(cur.buf)
		cur.buf = append(cur.buf, r.data...)
		pos := start
		for i := range r.hdrs {
			h := &r.hdrs[i]
			SetBaseOffset(cur.buf[pos:], next)
			h.BaseOffset = next
			next = h.NextOffset()
			pos += h.Size()
		}
		r.res = AppendResult{
			BaseOffset:    r.hdrs[0].BaseOffset,
			LastOffset:    next - 1,
			LogAppendTime: now,
			Batches:       len(r.hdrs),
			Records:       r.records,
		}
		cur.reqs = append(cur.reqs, r)
	}
	if poisonErr == nil {
		if err := l.commitRun(active, &cur, cfg, now); err != nil {
			poisonErr = err
		}
	}
	for _, r := range syncs {
		if poisonErr == nil && l.w.dirtySync {
			if err := l.syncActive(); err != nil {
				poisonErr = l.poison(err)
			}
		}
		r.finish(poisonErr)
	}
	if cap(cur.buf) > maxRetainedBuf {
		return nil // a burst's big buffer is not kept per partition
	}
	return cur.buf[:0]
}

// needRoll reports whether a request must go to a new segment. An empty
// segment always takes the request, so an append larger than segment.bytes
// still lands (alone) in one segment: Appends are never split.
func needRoll(s *segment, pending, size, lastOffset int64, cfg TopicConfig, now int64) bool {
	if pending <= FileHeaderSize {
		return false
	}
	return pending+size > cfg.SegmentBytes ||
		(s.rollBase != 0 && now-s.rollBase >= cfg.SegmentMs) ||
		lastOffset-s.base > maxRelOffset
}

// commitRun writes a run to segment s, fsyncs it when the policy says so,
// publishes it (indexes, HW) and answers its requests. On a write or fsync
// error it poisons the log and fails the run. writeMu is held.
func (l *SegmentLog) commitRun(s *segment, cur *run, cfg TopicConfig, now int64) error {
	if len(cur.reqs) == 0 {
		return nil
	}
	reqs, buf := cur.reqs, cur.buf
	cur.reqs, cur.buf = nil, cur.buf[:0]
	fail := func(err error) error {
		err = l.poison(err)
		for _, r := range reqs {
			r.finish(err)
		}
		return err
	}
	n, err := s.file.f.WriteAt(buf, s.size)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fail(fmt.Errorf("write %s at byte %d: %w", s.path, s.size, err))
	}
	l.w.dirtySync = true
	for _, r := range reqs {
		l.w.unsynced += int64(r.records)
	}
	perAppend := cfg.FlushMessages <= 1
	if perAppend {
		if err := l.syncActive(); err != nil {
			return fail(err)
		}
	}
	interval := int64(l.opts.IndexIntervalBytes)
	l.mu.Lock()
	pos := s.size
	for _, r := range reqs {
		for _, h := range r.hdrs {
			s.noteBatch(pos, h, interval)
			pos += int64(h.Size())
		}
	}
	if s.rollBase == 0 {
		s.rollBase = now
	}
	l.mu.hw = s.next
	l.mu.Unlock()
	for _, r := range reqs {
		r.finish(nil)
	}
	if !perAppend && l.w.unsynced >= cfg.FlushMessages {
		// The Appends are answered already: flush.messages>1 promises the
		// write, not the fsync. A failure still poisons the log.
		if err := l.syncActive(); err != nil {
			_ = l.poison(err)
		}
	}
	return nil
}

// roll seals the active segment and starts a new one at its next offset:
// fsync the old file, write its index files, create the new file (header,
// fsync, directory fsync), then move the recovery point in the checkpoint
// and announce the sealed segment. writeMu is held.
func (l *SegmentLog) roll(old *segment, now int64) (*segment, error) {
	if err := old.file.f.SyncData(); err != nil {
		return nil, fmt.Errorf("fsync %s: %w", old.path, err)
	}
	l.w.unsynced, l.w.dirtySync = 0, false
	if err := l.writeIndexFiles(old); err != nil {
		// Index files are derived data; recovery rebuilds them.
		l.log.Warn("writing index files at roll", "segment", old.path, "err", err)
	}
	s, err := l.createSegment(old.next)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, s)
	l.mu.Unlock()
	if err := l.writeCheckpoint(false); err != nil {
		l.log.Warn("writing checkpoint at roll; recovery will scan from an older segment", "err", err)
	}
	l.opts.Offloader.SegmentSealed(l.sealed(old))
	l.log.Debug("rolled segment", "sealed", old.path, "next", s.path, "now", now)
	return s, nil
}

func isNopOffloader(o Offloader) bool {
	switch o.(type) {
	case NopOffloader, *NopOffloader:
		return true
	}
	return false
}

// sealed describes a sealed segment for the offloader. l.mu is not held.
func (l *SegmentLog) sealed(s *segment) SealedSegment {
	return SealedSegment{
		Topic:        l.opts.Topic,
		Partition:    l.opts.Partition,
		BaseOffset:   s.base,
		LastOffset:   s.next - 1,
		Size:         s.size,
		Path:         s.path,
		MaxTimestamp: max(s.maxTS, -1),
		Tiered:       l.Config().Mode == ModeTiered,
	}
}

// createSegment creates an empty segment file at base, durably (header
// written and fsynced, directory fsynced), and drops stale index files.
func (l *SegmentLog) createSegment(base int64) (*segment, error) {
	if err := l.removeIndexFiles(base); err != nil {
		return nil, err
	}
	path := l.fs.PathJoin(l.dir, SegmentFileName(base, SegmentExt))
	f, err := l.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(EncodeFileHeader(SegmentMagic, base), 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write %s header: %w", path, err)
	}
	if err := f.SyncData(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("fsync %s: %w", l.dir, err)
	}
	return &segment{
		base: base, path: path, file: newSharedFile(f, true),
		size: FileHeaderSize, next: base, maxTS: noTimestamp, indexDirty: true,
	}, nil
}
