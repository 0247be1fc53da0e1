package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// LiteOptions configures the lite engine's database.
type LiteOptions struct {
	// FS is the file system; nil means vfs.Default.
	FS vfs.FS
	// Dir is the pebble directory, normally <data>/lite.
	Dir string
	// Logger receives pebble's messages (info at debug level); nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the broker clock for LogAppendTime; nil means time.Now.
	// Flush timers always run on the real clock.
	Now func() time.Time
}

// EnsureDefaults fills the unset fields.
func (o *LiteOptions) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate checks the options.
func (o *LiteOptions) Validate() error {
	if o.Dir == "" {
		return errors.New("logstore: LiteOptions.Dir is empty")
	}
	return nil
}

// LiteDB is the lite engine: one pebble database that holds every lite
// partition, so that a partition costs a few keys instead of a directory of
// files. An open LiteLog is a small struct with no goroutine; the database
// has one background goroutine that syncs the WAL for flush.ms.
type LiteDB struct {
	opts LiteOptions
	pdb  *pebble.DB

	// gate is held shared by every operation that uses pdb and exclusively
	// by Close, so pebble is never called after it is closed (pebble panics).
	// Lock order: gate, then LiteLog.mu, then LiteDB.mu, then timer.
	gate   sync.RWMutex
	closed atomic.Bool

	mu struct {
		sync.Mutex
		open map[liteID]*LiteLog
	}

	// timer holds the earliest flush.ms deadline of a NoSync write.
	timer struct {
		sync.Mutex
		deadline time.Time
	}
	wake chan struct{} // deadline moved earlier; capacity 1, a full channel already wakes the syncer
	stop chan struct{}
	done chan struct{}
}

type liteID struct {
	seq       uint64
	partition int32
}

// OpenLiteDB opens (creating if needed) the lite database in opts.Dir.
func OpenLiteDB(opts LiteOptions) (*LiteDB, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := opts.FS.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: lite: %w", err)
	}
	pdb, err := pebble.Open(opts.Dir, &pebble.Options{
		FS:                 opts.FS,
		Logger:             litePebbleLogger{opts.Logger},
		FormatMajorVersion: pebble.FormatNewest,
	})
	if err != nil {
		return nil, fmt.Errorf("logstore: lite: open %s: %w", opts.Dir, err)
	}
	if err := liteInitFormat(pdb); err != nil {
		_ = pdb.Close()
		return nil, fmt.Errorf("logstore: lite: %s: %w", opts.Dir, err)
	}
	db := &LiteDB{
		opts: opts,
		pdb:  pdb,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	db.mu.open = make(map[liteID]*LiteLog)
	go db.syncLoop()
	return db, nil
}

// liteInitFormat checks the format key, writing it into a new database.
func liteInitFormat(pdb *pebble.DB) error {
	v, closer, err := pdb.Get(liteFormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := pdb.NewIter(nil)
		if err != nil {
			return err
		}
		empty := !it.First()
		if err := it.Close(); err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: lite database has keys but no format key", ErrCorrupt)
		}
		return pdb.Set(liteFormatKey, liteFormatValue(), pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return liteCheckFormat(v)
}

// enter admits an operation that uses pdb; exit ends it.
func (db *LiteDB) enter() error {
	db.gate.RLock()
	if db.closed.Load() {
		db.gate.RUnlock()
		return ErrClosed
	}
	return nil
}

func (db *LiteDB) exit() { db.gate.RUnlock() }

// OpenLog opens a lite partition, reading its offsets from its meta key. It
// costs one point read and no goroutine. A partition is opened once at a
// time; a second OpenLog before Close is an error.
func (db *LiteDB) OpenLog(topicSeq uint64, partition int32, cfg TopicConfig) (Log, error) {
	if partition < 0 {
		return nil, fmt.Errorf("%w: lite partition %d", ErrUnknownPartition, partition)
	}
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.exit()
	id := liteID{topicSeq, partition}
	db.mu.Lock()
	defer db.mu.Unlock()
	if _, ok := db.mu.open[id]; ok {
		return nil, fmt.Errorf("logstore: lite log %d/%d is already open", topicSeq, partition)
	}
	l := &LiteLog{db: db, prefix: litePrefix(topicSeq, partition)}
	v, closer, err := db.pdb.Get(l.prefix[:])
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("logstore: lite log %d/%d: %w", topicSeq, partition, err)
	default:
		m, derr := liteDecodeMeta(v)
		_ = closer.Close()
		if derr != nil {
			return nil, fmt.Errorf("logstore: lite log %d/%d: %w", topicSeq, partition, derr)
		}
		l.mu.meta = m
		l.mu.hw = m.HW
	}
	l.setConfigLocked(cfg)
	db.mu.open[id] = l
	return l, nil
}

// DeleteLog removes every key of a partition (data and meta) with one
// range deletion. The partition must not be open.
func (db *LiteDB) DeleteLog(topicSeq uint64, partition int32) error {
	if partition < 0 {
		return fmt.Errorf("%w: lite partition %d", ErrUnknownPartition, partition)
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.exit()
	db.mu.Lock()
	_, open := db.mu.open[liteID{topicSeq, partition}]
	db.mu.Unlock()
	if open {
		return fmt.Errorf("logstore: lite log %d/%d is open; close it before deleting", topicSeq, partition)
	}
	p := litePrefix(topicSeq, partition)
	if err := db.pdb.DeleteRange(p[:], litePrefixEnd(topicSeq, partition), pebble.Sync); err != nil {
		return fmt.Errorf("logstore: lite delete %d/%d: %w", topicSeq, partition, err)
	}
	return nil
}

// Flush writes the memtable to sstables (tools and benchmarks use it to
// measure what the data costs on disk).
func (db *LiteDB) Flush() error {
	if err := db.enter(); err != nil {
		return err
	}
	defer db.exit()
	return db.pdb.Flush()
}

// Close syncs and closes the database. Logs still open return ErrClosed
// from then on.
func (db *LiteDB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	// Stop the syncer before taking the gate: it may be inside enter.
	close(db.stop)
	<-db.done
	db.gate.Lock()
	defer db.gate.Unlock()
	err := db.pdb.LogData(nil, pebble.Sync)
	return errors.Join(err, db.pdb.Close())
}

// syncWAL makes every write so far durable: pebble syncs the WAL, and
// concurrent syncs share one fsync.
func (db *LiteDB) syncWAL() error {
	return db.pdb.LogData(nil, pebble.Sync)
}

// scheduleSync asks the syncer to sync the WAL by deadline d.
func (db *LiteDB) scheduleSync(d time.Time) {
	db.timer.Lock()
	earlier := db.timer.deadline.IsZero() || d.Before(db.timer.deadline)
	if earlier {
		db.timer.deadline = d
	}
	db.timer.Unlock()
	if earlier {
		select {
		case db.wake <- struct{}{}:
		default:
		}
	}
}

// syncLoop is the one background goroutine: it syncs the WAL when the
// earliest flush.ms deadline passes.
func (db *LiteDB) syncLoop() {
	defer close(db.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		db.timer.Lock()
		d := db.timer.deadline
		db.timer.Unlock()
		var fire <-chan time.Time
		if !d.IsZero() {
			timer.Reset(time.Until(d))
			fire = timer.C
		}
		select {
		case <-db.stop:
			timer.Stop()
			return
		case <-db.wake:
			timer.Stop()
			continue
		case <-fire:
		}
		db.timer.Lock()
		db.timer.deadline = time.Time{}
		db.timer.Unlock()
		if err := db.enter(); err != nil {
			return
		}
		if err := db.syncWAL(); err != nil {
			db.opts.Logger.Error("lite: periodic WAL sync failed", "dir", db.opts.Dir, "err", err)
		}
		db.exit()
	}
}

// litePebbleLogger sends pebble's messages to slog.
type litePebbleLogger struct{ l *slog.Logger }

func (p litePebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p litePebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by pebble on an unrecoverable error and must not return.
func (p litePebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic("logstore: lite: pebble: " + msg)
}

// LiteLog is one lite partition. Its keys are prefix (the meta key) and
// prefix|baseOffset for each batch.
//
// Appends build a pebble batch (the batches under their data keys plus the
// new meta) under mu, so keys are written in offset order, then wait for
// the WAL sync outside mu so that concurrent appends to one partition share
// an fsync. The high watermark moves when the sync returns; because the WAL
// is synced in order, that also covers every earlier append.
type LiteLog struct {
	db     *LiteDB
	prefix [liteMetaKeyLen]byte

	mu struct {
		sync.Mutex
		// cond is made on first use (most lite logs never need one); it
		// wakes waiters for inflight to reach 0 and for blocked to clear.
		cond   *sync.Cond
		closed bool
		err    error // sticky: a failed WAL sync leaves the log unusable
		// meta is the state as of the last applied batch: meta.HW is the
		// next offset to assign, ahead of hw while syncs are in flight.
		meta liteMeta
		hw   int64 // published high watermark: readable, acknowledged
		// inflight counts appends applied but waiting for their sync;
		// blocked counts operations waiting for inflight to drain (new
		// appends wait for them, so they cannot starve).
		inflight, blocked int32
		unsynced          int64 // records written without sync since the last sync
		flushMessages     int64
		flushMs           int64
		retentionBytes    int64
		retentionMs       int64
	}
}

var _ Log = (*LiteLog)(nil)

func (l *LiteLog) setConfigLocked(cfg TopicConfig) {
	l.mu.flushMessages = cfg.FlushMessages
	l.mu.flushMs = cfg.FlushMs
	l.mu.retentionBytes = cfg.RetentionBytes
	l.mu.retentionMs = cfg.RetentionMs
}

func (l *LiteLog) condLocked() *sync.Cond {
	if l.mu.cond == nil {
		l.mu.cond = sync.NewCond(&l.mu.Mutex)
	}
	return l.mu.cond
}

func (l *LiteLog) broadcastLocked() {
	if l.mu.cond != nil {
		l.mu.cond.Broadcast()
	}
}

// usableLocked reports why the log cannot be used, if it cannot.
func (l *LiteLog) usableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.mu.err
}

// quiesceLocked waits until no append is in flight, holding off new ones
// meanwhile. On return mu is held and meta.HW == hw.
func (l *LiteLog) quiesceLocked() {
	if l.mu.inflight == 0 {
		return
	}
	l.mu.blocked++
	for l.mu.inflight > 0 {
		l.condLocked().Wait()
	}
	l.mu.blocked--
	l.broadcastLocked()
}

// end is the first key after the partition's keys.
func (l *LiteLog) end() []byte {
	k, _ := liteDecodeKey(l.prefix[:])
	return litePrefixEnd(k.Seq, k.Partition)
}

func (l *LiteLog) dataKey(offset int64) []byte {
	return liteDataKey(make([]byte, 0, liteDataKeyLen), l.prefix, offset)
}

// Append validates batches, then stores them with their base offsets in
// one pebble batch together with the partition's new meta. With
// flush.messages=1 the write is synced (group-committed by pebble's WAL)
// before Append returns; otherwise it is written without sync, synced once
// flush.messages records are unsynced, and, with flush.ms > 0, by the
// database's syncer within flush.ms.
func (l *LiteLog) Append(batches []byte) (AppendResult, error) {
	hs, err := memSplitBatches(batches)
	if err != nil {
		return AppendResult{}, err
	}
	if err := l.db.enter(); err != nil {
		return AppendResult{}, err
	}
	defer l.db.exit()
	now := l.db.opts.Now().UnixMilli()

	l.mu.Lock()
	defer l.mu.Unlock()
	for l.mu.blocked > 0 {
		l.condLocked().Wait()
	}
	if err := l.usableLocked(); err != nil {
		return AppendResult{}, err
	}
	base := l.mu.meta.HW
	pb := l.db.pdb.NewBatchWithSize(len(batches) + len(hs)*(liteDataKeyLen+16) + 64)
	defer pb.Close()
	records := int64(0)
	off, pos := base, 0
	for _, h := range hs {
		op := pb.SetDeferred(liteDataKeyLen, h.Size())
		liteDataKey(op.Key[:0], l.prefix, off)
		copy(op.Value, batches[pos:pos+h.Size()])
		SetBaseOffset(op.Value, off)
		if err := op.Finish(); err != nil {
			return AppendResult{}, err
		}
		off += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
		records += int64(h.NumRecords)
	}
	meta := l.mu.meta
	meta.HW = off
	meta.Bytes += int64(len(batches))
	meta.Batches += int64(len(hs))
	if err := pb.Set(l.prefix[:], meta.appendTo(nil), nil); err != nil {
		return AppendResult{}, err
	}

	sync := l.mu.flushMessages <= 1 || l.mu.unsynced+records >= l.mu.flushMessages
	if !sync {
		if err := l.db.pdb.Apply(pb, pebble.NoSync); err != nil {
			return AppendResult{}, fmt.Errorf("logstore: lite append: %w", err)
		}
		l.mu.meta = meta
		l.mu.unsynced += records
		// Without sync nothing stronger than "written" is promised, so the
		// new batches are readable at once.
		l.mu.hw = max(l.mu.hw, off)
		if l.mu.flushMs > 0 {
			l.db.scheduleSync(time.Now().Add(time.Duration(l.mu.flushMs) * time.Millisecond))
		}
		return memAppendResult(hs, base, now), nil
	}
	if err := l.db.pdb.ApplyNoSyncWait(pb, pebble.Sync); err != nil {
		return AppendResult{}, fmt.Errorf("logstore: lite append: %w", err)
	}
	l.mu.meta = meta
	l.mu.unsynced = 0
	l.mu.inflight++
	l.mu.Unlock()
	err = pb.SyncWait()
	l.mu.Lock()
	l.mu.inflight--
	if err != nil {
		// The batch is in the memtable but may not be on disk; refuse
		// further use rather than acknowledge a later write over it.
		l.mu.err = fmt.Errorf("logstore: lite WAL sync: %w", err)
		l.broadcastLocked()
		return AppendResult{}, l.mu.err
	}
	l.mu.hw = max(l.mu.hw, off)
	if l.mu.inflight == 0 {
		l.broadcastLocked()
	}
	return memAppendResult(hs, base, now), nil
}

// Read returns whole batches from the one containing offset, copied out of
// pebble into one chunk.
func (l *LiteLog) Read(offset int64, maxBytes int) (*ReadResult, error) {
	if err := l.db.enter(); err != nil {
		return nil, err
	}
	defer l.db.exit()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	lso, hw := l.mu.meta.LSO, l.mu.hw
	if offset < lso || offset > hw {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, lso, hw)
	}
	if offset == hw {
		l.mu.Unlock()
		return NewReadResult(nil, offset, hw, lso, nil), nil
	}
	// The iterator is created under mu, so it sees the partition exactly as
	// lso and hw describe it, whatever changes after.
	it, err := l.db.pdb.NewIter(&pebble.IterOptions{LowerBound: l.dataKey(0), UpperBound: l.dataKey(hw)})
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer it.Close()

	var buf []byte
	next := offset
	for ok := it.SeekLT(l.dataKey(offset + 1)); ok; ok = it.Next() {
		h, v, err := l.batchAt(it)
		if err != nil {
			return nil, err
		}
		if next == offset && h.NextOffset() <= offset {
			return nil, fmt.Errorf("%w: lite log %x: offset %d missing (batch [%d, %d) before it)", ErrCorrupt, l.prefix, offset, h.BaseOffset, h.NextOffset())
		}
		if h.BaseOffset != next && next != offset {
			return nil, fmt.Errorf("%w: lite log %x: batch at %d, expected %d", ErrCorrupt, l.prefix, h.BaseOffset, next)
		}
		if len(buf) > 0 && len(buf)+len(v) > maxBytes {
			break
		}
		buf = append(buf, v...)
		next = h.NextOffset()
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: lite log %x: no batch holds offset %d below the high watermark %d", ErrCorrupt, l.prefix, offset, hw)
	}
	return NewReadResult([]Chunk{{Data: buf}}, next, hw, lso, nil), nil
}

// batchAt decodes the iterator's current entry: the batch header and the
// value (valid until the iterator moves). The key's offset must be the
// batch's stored base offset.
func (l *LiteLog) batchAt(it *pebble.Iterator) (BatchHeader, []byte, error) {
	k, err := liteDecodeKey(it.Key())
	if err != nil {
		return BatchHeader{}, nil, err
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return BatchHeader{}, nil, err
	}
	h, err := ParseBatchHeader(v)
	if err != nil || h.Size() != len(v) || h.BaseOffset != k.Offset || k.Kind != liteKeyData {
		return BatchHeader{}, nil, fmt.Errorf("%w: lite log %x: bad batch under key %x (%v)", ErrCorrupt, l.prefix, it.Key(), err)
	}
	return h, v, nil
}

// scan calls fn for each batch from the one containing from (or the first
// batch) up to the published high watermark, under mu. fn returns false to
// stop.
func (l *LiteLog) scanLocked(from int64, fn func(h BatchHeader) bool) error {
	it, err := l.db.pdb.NewIter(&pebble.IterOptions{LowerBound: l.dataKey(0), UpperBound: l.dataKey(l.mu.hw)})
	if err != nil {
		return err
	}
	ok := it.SeekLT(l.dataKey(from + 1))
	if !ok {
		ok = it.First()
	}
	for ; ok; ok = it.Next() {
		h, _, err := l.batchAt(it)
		if err != nil {
			_ = it.Close()
			return err
		}
		if !fn(h) {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// HighWatermark is the offset the next appended record gets, once the
// appends in flight are acknowledged.
func (l *LiteLog) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.hw
}

// LogStartOffset is the first readable offset.
func (l *LiteLog) LogStartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.meta.LSO
}

// OffsetForTime scans the partition's batch headers for the first batch
// whose max timestamp is >= ts (lite partitions are small; there is no time
// index). The answer is raised to the log start offset.
func (l *LiteLog) OffsetForTime(ts int64) (int64, error) {
	if err := l.db.enter(); err != nil {
		return 0, err
	}
	defer l.db.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return 0, err
	}
	found := l.mu.hw
	err := l.scanLocked(l.mu.meta.LSO, func(h BatchHeader) bool {
		if h.MaxTimestamp >= ts {
			found = max(h.BaseOffset, l.mu.meta.LSO)
			return false
		}
		return true
	})
	return found, err
}

// commitLocked writes pb (a change made with appends quiesced) with sync,
// and installs meta.
func (l *LiteLog) commitLocked(pb *pebble.Batch, meta liteMeta) error {
	if err := pb.Set(l.prefix[:], meta.appendTo(nil), nil); err != nil {
		return err
	}
	if err := l.db.pdb.Apply(pb, pebble.Sync); err != nil {
		return fmt.Errorf("logstore: lite: %w", err)
	}
	l.mu.meta = meta
	l.mu.hw = meta.HW
	l.mu.unsynced = 0
	return nil
}

// Truncate removes the batches at and after offset, a batch base offset
// in [LSO, HW].
func (l *LiteLog) Truncate(offset int64) error {
	if err := l.db.enter(); err != nil {
		return err
	}
	defer l.db.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quiesceLocked()
	if err := l.usableLocked(); err != nil {
		return err
	}
	meta := l.mu.meta
	if offset < meta.LSO || offset > meta.HW {
		return fmt.Errorf("%w: truncate to %d, log holds [%d, %d]", ErrOffsetOutOfRange, offset, meta.LSO, meta.HW)
	}
	if offset == meta.HW {
		return nil
	}
	var boundary error
	err := l.scanLocked(offset, func(h BatchHeader) bool {
		if h.BaseOffset < offset {
			boundary = fmt.Errorf("%w: %d is inside the batch [%d, %d)", ErrNotBatchBoundary, offset, h.BaseOffset, h.NextOffset())
			return false
		}
		meta.Bytes -= int64(h.Size())
		meta.Batches--
		return true
	})
	if err != nil {
		return err
	}
	if boundary != nil {
		return boundary
	}
	meta.HW = offset
	pb := l.db.pdb.NewBatch()
	defer pb.Close()
	if err := pb.DeleteRange(l.dataKey(offset), l.end(), nil); err != nil {
		return err
	}
	return l.commitLocked(pb, meta)
}

// DeleteRecordsBefore moves the log start offset to offset (at most HW) and
// deletes the batches wholly below it. The new start is synced, so it
// survives a restart.
func (l *LiteLog) DeleteRecordsBefore(offset int64) error {
	if err := l.db.enter(); err != nil {
		return err
	}
	defer l.db.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quiesceLocked()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if offset > l.mu.meta.HW {
		return fmt.Errorf("%w: delete before %d, high watermark is %d", ErrOffsetOutOfRange, offset, l.mu.meta.HW)
	}
	if offset <= l.mu.meta.LSO {
		return nil
	}
	return l.dropBeforeLocked(offset, func(h BatchHeader, _ liteMeta) bool { return h.NextOffset() <= offset })
}

// dropBeforeLocked deletes the oldest batches while drop says so, then sets
// the log start offset to max(lso, first kept base). With lso > 0 it is
// DeleteRecordsBefore's target, which may lie inside the first kept batch.
func (l *LiteLog) dropBeforeLocked(lso int64, drop func(h BatchHeader, m liteMeta) bool) error {
	meta := l.mu.meta
	cut := meta.HW
	err := l.scanLocked(0, func(h BatchHeader) bool {
		if !drop(h, meta) {
			cut = h.BaseOffset
			return false
		}
		meta.Bytes -= int64(h.Size())
		meta.Batches--
		return true
	})
	if err != nil {
		return err
	}
	meta.LSO = max(meta.LSO, lso, cut)
	if meta == l.mu.meta {
		return nil
	}
	pb := l.db.pdb.NewBatch()
	defer pb.Close()
	if err := pb.DeleteRange(l.dataKey(0), l.dataKey(cut), nil); err != nil {
		return err
	}
	return l.commitLocked(pb, meta)
}

// ApplyRetention deletes the oldest batches past retention.ms or
// retention.bytes, never the newest batch, and returns the log start offset.
func (l *LiteLog) ApplyRetention(now int64) (int64, error) {
	if err := l.db.enter(); err != nil {
		return 0, err
	}
	defer l.db.exit()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quiesceLocked()
	if err := l.usableLocked(); err != nil {
		return 0, err
	}
	cfg := TopicConfig{RetentionBytes: l.mu.retentionBytes, RetentionMs: l.mu.retentionMs}
	total := l.mu.meta.Bytes
	if l.mu.meta.Batches <= 1 || cfg.RetentionMs < 0 && (cfg.RetentionBytes < 0 || total < cfg.RetentionBytes) {
		// Nothing can go: skip the scan (a retention pass visits every log).
		return l.mu.meta.LSO, nil
	}
	hw := l.mu.meta.HW
	err := l.dropBeforeLocked(0, func(h BatchHeader, _ liteMeta) bool {
		if h.NextOffset() >= hw || !memRetentionDrops(cfg, now, total, int64(h.Size()), h.MaxTimestamp) {
			return false
		}
		total -= int64(h.Size())
		return true
	})
	return l.mu.meta.LSO, err
}

// Reconfigure applies changed retention and flush keys.
func (l *LiteLog) Reconfigure(cfg TopicConfig) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	l.setConfigLocked(cfg)
	return nil
}

// Sync syncs the database's WAL, which makes every lite write durable.
func (l *LiteLog) Sync() error {
	if err := l.db.enter(); err != nil {
		return err
	}
	defer l.db.exit()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	l.mu.unsynced = 0
	l.mu.Unlock()
	return l.db.syncWAL()
}

// Stats reports the partition's offsets, bytes and batches (kept exact in
// its meta key).
func (l *LiteLog) Stats() LogStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LogStats{
		Engine:         EngineLite,
		LogStartOffset: l.mu.meta.LSO,
		HighWatermark:  l.mu.hw,
		Bytes:          l.mu.meta.Bytes,
		Batches:        l.mu.meta.Batches,
	}
}

// Close waits for appends in flight, syncs unsynced writes, and releases
// the partition so it can be opened again or deleted.
func (l *LiteLog) Close() error {
	if err := l.db.enter(); err != nil {
		return err
	}
	defer l.db.exit()
	l.mu.Lock()
	l.quiesceLocked()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.mu.closed = true
	needSync := l.mu.unsynced > 0
	l.broadcastLocked()
	l.mu.Unlock()

	k, _ := liteDecodeKey(l.prefix[:])
	l.db.mu.Lock()
	delete(l.db.mu.open, liteID{k.Seq, k.Partition})
	l.db.mu.Unlock()
	if needSync {
		return l.db.syncWAL()
	}
	return nil
}
