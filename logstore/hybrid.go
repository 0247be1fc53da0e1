package logstore

import (
	"errors"
	"fmt"
	"sync"
)

// Hybrid write-behind queue bounds (bytes of batches acknowledged but not
// yet appended behind). The queue holds half the memory bound, clamped to
// these limits, so that unwritten batches normally stay in the memory front.
const (
	HybridMinQueueBytes = 64 << 10
	HybridMaxQueueBytes = 64 << 20
)

// HybridLog is storage.mode=hybrid: appends are acknowledged once they are
// in a MemoryLog, and one background writer copies them, in order, to a
// durable log behind it (a SegmentLog in production; any Log works). A
// crash loses what the writer had not yet appended and the log behind had
// not yet synced: at most the queue plus the last flush.ms.
//
// Offsets are the same in both logs: the memory front starts at the log
// behind's high watermark, and the writer checks that the log behind gives
// every batch the offset the memory front gave it.
//
// The write-behind queue is bounded in bytes (half the memory bound, within
// [HybridMinQueueBytes, HybridMaxQueueBytes]); its full policy is "block
// the producer": Append waits until the writer has made room. One append
// larger than the bound is admitted into an empty queue.
//
// Reads at or above the memory window are served from memory; reads below
// it go to the log behind (waiting for the writer if the batch was dropped
// from memory before it was written) and continue into memory if the log
// behind ends before maxBytes. The log start offset is the log behind's:
// Truncate, DeleteRecordsBefore and ApplyRetention act on both logs, after
// draining the queue where offsets must agree.
//
// Lock order: HybridLog.mu, then MemoryLog.mu. Read, OffsetForTime and
// Sync call the log behind without mu, concurrently with the writer's
// appends (a Log is safe for concurrent use). Truncate, DeleteRecordsBefore
// and ApplyRetention drain the queue and hold mu (so appends wait) while
// they change the log behind: they never overlap a write behind.
type HybridLog struct {
	mem    *MemoryLog
	behind Log

	mu struct {
		sync.Mutex
		closed bool
		err    error // sticky: the writer failed; the data is still readable from memory
		queue  []hybridItem
		// queuedBytes and queuedBatches count what is acknowledged but not
		// yet appended behind, including what the writer is appending now.
		queuedBytes, queuedBatches int64
		limit                      int64
		written                    int64 // every offset below is in the log behind
		writing                    bool  // the writer holds items taken off the queue
		stopping                   bool
		blocked                    int32 // operations draining the queue; appends wait
	}
	work     *sync.Cond // the writer waits for items
	progress *sync.Cond // appenders and drainers wait for the writer
	done     chan struct{}
}

type hybridItem struct {
	data      []byte // stored batches, base offsets assigned
	base, end int64
	batches   int
}

var _ Log = (*HybridLog)(nil)

// hybridWriteChunk caps the bytes of one Append behind, so that the writer
// hands queued appends over in group-commit sized pieces.
const hybridWriteChunk = 4 << 20

// OpenHybridLog puts the empty memory log mem in front of behind, starting
// at behind's high watermark, and starts the writer. The hybrid log owns
// both from then on and closes both on Close.
func OpenHybridLog(mem *MemoryLog, behind Log) (*HybridLog, error) {
	if st := mem.Stats(); st.HighWatermark != 0 || st.Batches != 0 {
		return nil, fmt.Errorf("logstore: hybrid: the memory log must be empty (it holds [%d, %d))", st.LogStartOffset, st.HighWatermark)
	}
	hw := behind.HighWatermark()
	if err := mem.resetAt(hw); err != nil {
		return nil, fmt.Errorf("logstore: hybrid: %w", err)
	}
	h := &HybridLog{mem: mem, behind: behind, done: make(chan struct{})}
	h.work = sync.NewCond(&h.mu.Mutex)
	h.progress = sync.NewCond(&h.mu.Mutex)
	h.mu.written = hw
	mem.mu.Lock()
	h.mu.limit = hybridQueueLimit(mem.mu.cfg)
	mem.mu.Unlock()
	go h.writeBehind()
	return h, nil
}

func hybridQueueLimit(cfg TopicConfig) int64 {
	return min(max(cfg.MemoryBound()/2, HybridMinQueueBytes), HybridMaxQueueBytes)
}

// usableLocked reports why the log cannot be used, if it cannot. A log
// being closed refuses new work, so the writer's last drain is final.
func (h *HybridLog) usableLocked() error {
	if h.mu.closed || h.mu.stopping {
		return ErrClosed
	}
	return h.mu.err
}

// writeBehind is the single writer: it takes every queued item and appends
// them behind in order, a chunk at a time.
func (h *HybridLog) writeBehind() {
	defer close(h.done)
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for len(h.mu.queue) == 0 && !h.mu.stopping {
			h.work.Wait()
		}
		if len(h.mu.queue) == 0 {
			return
		}
		items := h.mu.queue
		h.mu.queue = nil
		h.mu.writing = true
		h.mu.Unlock()
		err := h.appendBehind(items)
		h.mu.Lock()
		h.mu.writing = false
		for _, it := range items {
			if err != nil && it.end > h.mu.written {
				break
			}
			h.mu.queuedBytes -= int64(len(it.data))
			h.mu.queuedBatches -= int64(it.batches)
		}
		h.progress.Broadcast()
		if err != nil {
			h.mu.err = fmt.Errorf("logstore: hybrid write-behind: %w", err)
			return
		}
	}
}

// appendBehind appends items behind, concatenating neighbours up to
// hybridWriteChunk so that one fsync covers many acknowledged appends. It
// advances written (under mu) after each successful chunk.
func (h *HybridLog) appendBehind(items []hybridItem) error {
	for len(items) > 0 {
		n, size := 1, len(items[0].data)
		for n < len(items) && size+len(items[n].data) <= hybridWriteChunk {
			size += len(items[n].data)
			n++
		}
		buf := items[0].data
		if n > 1 {
			buf = make([]byte, 0, size)
			for _, it := range items[:n] {
				buf = append(buf, it.data...)
			}
		}
		res, err := h.behind.Append(buf)
		if err != nil {
			return err
		}
		if res.BaseOffset != items[0].base || res.LastOffset+1 != items[n-1].end {
			return fmt.Errorf("%w: the log behind stored [%d, %d], memory assigned [%d, %d)",
				ErrCorrupt, res.BaseOffset, res.LastOffset, items[0].base, items[n-1].end)
		}
		h.mu.Lock()
		h.mu.written = items[n-1].end
		h.progress.Broadcast() // readers waiting for these offsets
		h.mu.Unlock()
		items = items[n:]
	}
	return nil
}

// Append validates batches, stores them in memory, queues them for the
// writer, and returns. It blocks while the queue is full.
func (h *HybridLog) Append(batches []byte) (AppendResult, error) {
	hs, err := memSplitBatches(batches)
	if err != nil {
		return AppendResult{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.mu.blocked > 0 || (h.mu.queuedBytes > 0 && h.mu.queuedBytes+int64(len(batches)) > h.mu.limit) {
		if err := h.usableLocked(); err != nil {
			return AppendResult{}, err
		}
		h.progress.Wait()
	}
	if err := h.usableLocked(); err != nil {
		return AppendResult{}, err
	}
	res, stored, err := h.mem.appendValidated(batches, hs)
	if err != nil {
		return AppendResult{}, err
	}
	h.mu.queue = append(h.mu.queue, hybridItem{data: stored, base: res.BaseOffset, end: res.LastOffset + 1, batches: len(hs)})
	h.mu.queuedBytes += int64(len(stored))
	h.mu.queuedBatches += int64(len(hs))
	h.work.Signal()
	return res, nil
}

// waitWrittenLocked waits until every offset below target is in the log
// behind.
func (h *HybridLog) waitWrittenLocked(target int64) error {
	for h.mu.written < target {
		if err := h.usableLocked(); err != nil {
			return err
		}
		h.progress.Wait()
	}
	return h.usableLocked()
}

// drainLocked waits until the queue is empty and the writer idle, holding
// off new appends meanwhile.
func (h *HybridLog) drainLocked() error {
	h.mu.blocked++
	defer func() {
		h.mu.blocked--
		h.progress.Broadcast()
	}()
	for len(h.mu.queue) > 0 || h.mu.writing {
		if err := h.usableLocked(); err != nil {
			return err
		}
		h.progress.Wait()
	}
	return h.usableLocked()
}

// Read serves offsets in the memory window from memory and older ones from
// the log behind, continuing into memory where the log behind ends.
func (h *HybridLog) Read(offset int64, maxBytes int) (*ReadResult, error) {
	h.mu.Lock()
	err := h.usableLocked()
	h.mu.Unlock()
	if err != nil && errors.Is(err, ErrClosed) {
		return nil, err
	}
	lso, hw := h.behind.LogStartOffset(), h.mem.HighWatermark()
	if offset < lso || offset > hw {
		return nil, fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, lso, hw)
	}
	if offset >= h.mem.windowStart() {
		r, err := h.mem.Read(offset, maxBytes)
		if err == nil {
			r.LogStartOffset = lso
			return r, nil
		}
		if !errors.Is(err, ErrOffsetOutOfRange) {
			return nil, err
		}
		// Dropped from memory since windowStart: it is (or will be) behind.
	}
	h.mu.Lock()
	err = h.waitWrittenLocked(offset + 1)
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r, err := h.behind.Read(offset, maxBytes)
	if err != nil {
		return nil, err
	}
	chunks, next, size := r.Chunks, r.NextOffset, r.Size()
	releases := []func(){r.Close}
	// Go on while batches fit: the log behind may end a read early (at its
	// high watermark, or where its engine stops), and newer batches may be
	// in memory.
	for size < int64(maxBytes) && next < hw {
		if next >= h.mem.windowStart() {
			h.mem.mu.Lock()
			more := h.mem.readLocked(next, maxBytes-int(size), false)
			h.mem.mu.Unlock()
			chunks = append(chunks[:len(chunks):len(chunks)], more.Chunks...)
			next = more.NextOffset
			hw = max(hw, more.HighWatermark)
			break
		}
		h.mu.Lock()
		err := h.waitWrittenLocked(next + 1)
		h.mu.Unlock()
		if err != nil {
			break
		}
		more, err := h.behind.Read(next, maxBytes-int(size))
		if err != nil || more.Size() == 0 || size+more.Size() > int64(maxBytes) {
			// Only a first batch may exceed the limit, and this one is not first.
			if more != nil {
				more.Close()
			}
			break
		}
		chunks = append(chunks[:len(chunks):len(chunks)], more.Chunks...)
		next, size = more.NextOffset, size+more.Size()
		releases = append(releases, more.Close)
	}
	release := func() {
		for _, f := range releases {
			f()
		}
	}
	return NewReadResult(chunks, next, max(hw, next), lso, release), nil
}

// HighWatermark is the memory front's: every acknowledged append counts.
func (h *HybridLog) HighWatermark() int64 { return h.mem.HighWatermark() }

// LogStartOffset is the log behind's.
func (h *HybridLog) LogStartOffset() int64 { return h.behind.LogStartOffset() }

// OffsetForTime waits for the writer to catch up with the acknowledged
// appends and asks the log behind, which then holds every batch.
func (h *HybridLog) OffsetForTime(ts int64) (int64, error) {
	h.mu.Lock()
	err := h.waitWrittenLocked(h.mem.HighWatermark())
	h.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return h.behind.OffsetForTime(ts)
}

// Truncate drains the queue and truncates both logs.
func (h *HybridLog) Truncate(offset int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.drainLocked(); err != nil {
		return err
	}
	lso, hw := h.behind.LogStartOffset(), h.mem.HighWatermark()
	if offset < lso || offset > hw {
		return fmt.Errorf("%w: truncate to %d, log holds [%d, %d]", ErrOffsetOutOfRange, offset, lso, hw)
	}
	if offset == hw {
		return nil
	}
	// The log behind holds every batch now, so it checks the boundary.
	if err := h.behind.Truncate(offset); err != nil {
		return err
	}
	h.mu.written = offset
	if offset >= h.mem.LogStartOffset() {
		return h.mem.Truncate(offset)
	}
	return h.mem.resetAt(offset)
}

// DeleteRecordsBefore drains the queue and moves both logs' start offset.
func (h *HybridLog) DeleteRecordsBefore(offset int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.drainLocked(); err != nil {
		return err
	}
	if hw := h.mem.HighWatermark(); offset > hw {
		return fmt.Errorf("%w: delete before %d, high watermark is %d", ErrOffsetOutOfRange, offset, hw)
	}
	if err := h.behind.DeleteRecordsBefore(offset); err != nil {
		return err
	}
	if offset > h.mem.LogStartOffset() {
		return h.mem.DeleteRecordsBefore(offset)
	}
	return nil
}

// ApplyRetention applies retention to the log behind (which holds the
// history) and drops what it deleted from the memory front too. The memory
// front is otherwise bounded only by its memory bound.
func (h *HybridLog) ApplyRetention(now int64) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.drainLocked(); err != nil {
		return 0, err
	}
	lso, err := h.behind.ApplyRetention(now)
	if err != nil {
		return 0, err
	}
	if lso > h.mem.LogStartOffset() {
		if err := h.mem.DeleteRecordsBefore(lso); err != nil {
			return 0, err
		}
	}
	return lso, nil
}

// Reconfigure applies cfg to both logs and resizes the queue bound.
func (h *HybridLog) Reconfigure(cfg TopicConfig) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usableLocked(); err != nil {
		return err
	}
	if err := h.mem.Reconfigure(cfg); err != nil {
		return err
	}
	h.mu.limit = hybridQueueLimit(cfg)
	h.progress.Broadcast()
	return h.behind.Reconfigure(cfg)
}

// Sync waits until every acknowledged append is behind and syncs the log
// behind.
func (h *HybridLog) Sync() error {
	h.mu.Lock()
	err := h.waitWrittenLocked(h.mem.HighWatermark())
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return h.behind.Sync()
}

// Stats reports the log behind's storage plus what is queued for it.
func (h *HybridLog) Stats() LogStats {
	st := h.behind.Stats()
	h.mu.Lock()
	st.Bytes += h.mu.queuedBytes
	st.Batches += h.mu.queuedBatches
	h.mu.Unlock()
	st.Engine = ModeHybrid
	st.HighWatermark = h.mem.HighWatermark()
	return st
}

// QueuedBytes is the size of the acknowledged appends not yet behind.
func (h *HybridLog) QueuedBytes() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.queuedBytes
}

// Close drains the queue into the log behind, stops the writer and closes
// both logs.
func (h *HybridLog) Close() error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.mu.stopping = true
	h.work.Signal()
	h.mu.Unlock()
	<-h.done // the writer empties the queue (or fails) before it exits

	h.mu.Lock()
	h.mu.closed = true
	werr := h.mu.err
	h.progress.Broadcast()
	h.mu.Unlock()
	return errors.Join(werr, h.behind.Close(), h.mem.Close())
}
