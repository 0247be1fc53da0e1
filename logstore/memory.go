package logstore

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// MemoryLog is a Log held in RAM only (storage.mode=memory, and the front of
// a hybrid log). It is bounded by cfg.MemoryBound() bytes: when an append
// pushes it over the bound, the oldest batches are dropped (the log start
// offset moves past them) and counted in Dropped. The newest batch is never
// dropped, so one batch larger than the bound is still kept. Everything is
// lost on restart.
//
// Stored batches are immutable once appended, so Read hands out sub-slices
// of them without copying; Append copies the caller's bytes because a
// network reader may reuse its buffer.
type MemoryLog struct {
	now func() time.Time

	mu struct {
		sync.Mutex
		closed bool
		cfg    TopicConfig
		// batches are oldest first and dense: batches[i+1].base == batches[i].next.
		batches []memBatch
		lso, hw int64
		bytes   int64
		// dropped counts batches and bytes dropped by the memory bound (not
		// by retention, DeleteRecordsBefore or Truncate).
		droppedBatches, droppedBytes int64
	}
}

type memBatch struct {
	data       []byte
	base, next int64
	maxTS      int64
}

// NewMemoryLog returns an empty memory log starting at offset 0. now (nil
// means time.Now) supplies the broker time reported as LogAppendTime.
func NewMemoryLog(cfg TopicConfig, now func() time.Time) *MemoryLog {
	if now == nil {
		now = time.Now
	}
	m := &MemoryLog{now: now}
	m.mu.cfg = cfg
	return m
}

var _ Log = (*MemoryLog)(nil)

// memSplitBatches validates concatenated batches (all of them, before
// anything is stored, so that Append is all-or-nothing) and returns their
// headers.
func memSplitBatches(batches []byte) ([]BatchHeader, error) {
	if len(batches) == 0 {
		return nil, fmt.Errorf("%w: no batches to append", ErrInvalidBatch)
	}
	var hs []BatchHeader
	err := SplitBatches(batches, func(_ []byte, h BatchHeader) error {
		hs = append(hs, h)
		return nil
	})
	return hs, err
}

// memAppendResult fills an AppendResult for batches stored from base.
func memAppendResult(hs []BatchHeader, base, now int64) AppendResult {
	res := AppendResult{BaseOffset: base, LogAppendTime: now, Batches: len(hs)}
	off := base
	for _, h := range hs {
		res.Records += int(h.NumRecords)
		res.LastOffset = off + int64(h.LastOffsetDelta)
		off = res.LastOffset + 1
	}
	return res
}

// memRetentionDrops reports whether the oldest batch (size bytes, max
// timestamp maxTS) of a log holding total bytes is past retention at now.
// It applies Kafka's rules batch by batch: retention.ms drops a batch whose
// newest record is older than the limit; retention.bytes drops the oldest
// batch while the rest alone still reach the limit. The caller never asks
// about the last batch.
func memRetentionDrops(cfg TopicConfig, now, total, size, maxTS int64) bool {
	if cfg.RetentionMs >= 0 && now-maxTS > cfg.RetentionMs {
		return true
	}
	return cfg.RetentionBytes >= 0 && total-size >= cfg.RetentionBytes
}

// Append validates and copies batches, assigns their base offsets, and
// drops the oldest batches if the log is over its memory bound.
func (m *MemoryLog) Append(batches []byte) (AppendResult, error) {
	hs, err := memSplitBatches(batches)
	if err != nil {
		return AppendResult{}, err
	}
	res, _, err := m.appendValidated(batches, hs)
	return res, err
}

// appendValidated stores batches already validated into hs and returns the
// stored copy (base offsets assigned), which the hybrid writer sends behind.
func (m *MemoryLog) appendValidated(batches []byte, hs []BatchHeader) (AppendResult, []byte, error) {
	buf := make([]byte, len(batches))
	copy(buf, batches)
	now := m.now().UnixMilli()

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return AppendResult{}, nil, ErrClosed
	}
	base := m.mu.hw
	off, pos := base, 0
	for _, h := range hs {
		b := buf[pos : pos+h.Size()]
		SetBaseOffset(b, off)
		next := off + int64(h.LastOffsetDelta) + 1
		m.mu.batches = append(m.mu.batches, memBatch{data: b, base: off, next: next, maxTS: h.MaxTimestamp})
		m.mu.bytes += int64(len(b))
		off, pos = next, pos+h.Size()
	}
	m.mu.hw = off
	bound := m.mu.cfg.MemoryBound()
	n := 0
	for n < len(m.mu.batches)-1 && m.mu.bytes > bound {
		m.mu.bytes -= int64(len(m.mu.batches[n].data))
		m.mu.droppedBytes += int64(len(m.mu.batches[n].data))
		m.mu.droppedBatches++
		n++
	}
	m.dropLocked(n)
	return memAppendResult(hs, base, now), buf, nil
}

// dropLocked removes the n oldest batches and moves the log start offset
// past them. The caller has already adjusted mu.bytes.
func (m *MemoryLog) dropLocked(n int) {
	if n == 0 {
		return
	}
	next := m.mu.batches[n-1].next
	clear(m.mu.batches[:n]) // let the dropped bytes be collected
	m.mu.batches = m.mu.batches[n:]
	m.mu.lso = max(m.mu.lso, next)
}

// find returns the index of the batch that contains offset, which must be
// in [first batch base, hw).
func (m *MemoryLog) find(offset int64) int {
	return sort.Search(len(m.mu.batches), func(i int) bool { return m.mu.batches[i].next > offset })
}

// Read returns whole batches from the one containing offset, up to maxBytes
// (at least one batch). The chunks share the stored bytes, which are never
// modified.
func (m *MemoryLog) Read(offset int64, maxBytes int) (*ReadResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	if offset < m.mu.lso || offset > m.mu.hw {
		return nil, fmt.Errorf("%w: offset %d, log holds [%d, %d)", ErrOffsetOutOfRange, offset, m.mu.lso, m.mu.hw)
	}
	return m.readLocked(offset, maxBytes, true), nil
}

// readLocked collects batches from the one containing offset while they fit
// in maxBytes; with atLeastOne the first batch is taken regardless. It
// returns an empty result when offset is not held (at or past hw, or below
// the oldest batch).
func (m *MemoryLog) readLocked(offset int64, maxBytes int, atLeastOne bool) *ReadResult {
	var chunks []Chunk
	next, size := offset, 0
	if len(m.mu.batches) > 0 && offset >= m.mu.batches[0].base {
		for i := m.find(offset); i < len(m.mu.batches); i++ {
			b := m.mu.batches[i]
			if size+len(b.data) > maxBytes && (size > 0 || !atLeastOne) {
				break
			}
			chunks = append(chunks, Chunk{Data: b.data})
			size += len(b.data)
			next = b.next
		}
	}
	return NewReadResult(chunks, next, m.mu.hw, m.mu.lso, nil)
}

// HighWatermark is the offset the next appended record gets.
func (m *MemoryLog) HighWatermark() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.hw
}

// LogStartOffset is the first readable offset.
func (m *MemoryLog) LogStartOffset() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.lso
}

// OffsetForTime returns the base offset of the first batch whose max
// timestamp is >= ts (raised to the log start offset when that batch
// straddles it), or HW if there is none.
func (m *MemoryLog) OffsetForTime(ts int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return 0, ErrClosed
	}
	for _, b := range m.mu.batches {
		if b.maxTS >= ts {
			return max(b.base, m.mu.lso), nil
		}
	}
	return m.mu.hw, nil
}

// Truncate removes every batch at or after offset, a batch base offset in
// [LSO, HW].
func (m *MemoryLog) Truncate(offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	if offset < m.mu.lso || offset > m.mu.hw {
		return fmt.Errorf("%w: truncate to %d, log holds [%d, %d]", ErrOffsetOutOfRange, offset, m.mu.lso, m.mu.hw)
	}
	if offset == m.mu.hw {
		return nil
	}
	i := m.find(offset)
	if m.mu.batches[i].base != offset {
		return fmt.Errorf("%w: %d is inside the batch [%d, %d)", ErrNotBatchBoundary, offset, m.mu.batches[i].base, m.mu.batches[i].next)
	}
	for _, b := range m.mu.batches[i:] {
		m.mu.bytes -= int64(len(b.data))
	}
	clear(m.mu.batches[i:])
	m.mu.batches = m.mu.batches[:i]
	m.mu.hw = offset
	return nil
}

// resetAt empties the log and makes offset both its start and its high
// watermark. Hybrid uses it to start the memory front where the log behind
// ends, and to truncate below the memory window.
func (m *MemoryLog) resetAt(offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	clear(m.mu.batches)
	m.mu.batches = m.mu.batches[:0]
	m.mu.bytes = 0
	m.mu.lso, m.mu.hw = offset, offset
	return nil
}

// windowStart is the base offset of the oldest batch held, or HW if none.
func (m *MemoryLog) windowStart() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mu.batches) == 0 {
		return m.mu.hw
	}
	return m.mu.batches[0].base
}

// DeleteRecordsBefore moves the log start offset to offset (at most HW) and
// frees the batches wholly below it.
func (m *MemoryLog) DeleteRecordsBefore(offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	if offset > m.mu.hw {
		return fmt.Errorf("%w: delete before %d, high watermark is %d", ErrOffsetOutOfRange, offset, m.mu.hw)
	}
	if offset <= m.mu.lso {
		return nil
	}
	n := 0
	for n < len(m.mu.batches) && m.mu.batches[n].next <= offset {
		m.mu.bytes -= int64(len(m.mu.batches[n].data))
		n++
	}
	m.dropLocked(n)
	m.mu.lso = offset
	return nil
}

// ApplyRetention drops the oldest batches past retention.ms or
// retention.bytes, never the newest one, and returns the log start offset.
func (m *MemoryLog) ApplyRetention(now int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return 0, ErrClosed
	}
	n := 0
	for n < len(m.mu.batches)-1 {
		b := m.mu.batches[n]
		if !memRetentionDrops(m.mu.cfg, now, m.mu.bytes, int64(len(b.data)), b.maxTS) {
			break
		}
		m.mu.bytes -= int64(len(b.data))
		n++
	}
	m.dropLocked(n)
	return m.mu.lso, nil
}

// Reconfigure applies a changed config; a lower memory bound takes effect
// at the next append.
func (m *MemoryLog) Reconfigure(cfg TopicConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	m.mu.cfg = cfg
	return nil
}

// Sync does nothing: a memory log is never durable.
func (m *MemoryLog) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	return nil
}

// Stats reports the bytes and batches held.
func (m *MemoryLog) Stats() LogStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return LogStats{
		Engine:         EngineMemory,
		LogStartOffset: m.mu.lso,
		HighWatermark:  m.mu.hw,
		Bytes:          m.mu.bytes,
		Batches:        int64(len(m.mu.batches)),
	}
}

// Dropped reports the batches and bytes dropped because the log was over
// its memory bound.
func (m *MemoryLog) Dropped() (batches, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.droppedBatches, m.mu.droppedBytes
}

// Close frees the batches. Further calls return ErrClosed.
func (m *MemoryLog) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	m.mu.closed = true
	m.mu.batches = nil
	m.mu.bytes = 0
	return nil
}
