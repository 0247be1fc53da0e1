package logstore

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestHybridWriteBehindThenReopen appends through a hybrid log over a
// segment log on disk, closes it, and checks that the segment log alone
// holds every acknowledged batch byte for byte; then that a new hybrid log
// over it serves the old batches from behind and appends after them.
func TestHybridWriteBehindThenReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := engConfig()
	openBehind := func() *SegmentLog {
		l, err := OpenSegmentLog(SegmentOptions{Dir: dir, Topic: "h", Partition: 0, Config: cfg})
		engMust(t, err)
		return l
	}
	h, err := OpenHybridLog(NewMemoryLog(cfg, nil), openBehind())
	engMust(t, err)
	var acked []byte
	for i := range 60 {
		b := engSimpleBatch(t, 1+i%4, int64(i))
		res, err := h.Append(b)
		engMust(t, err)
		SetBaseOffset(b, res.BaseOffset)
		acked = append(acked, b...)
	}
	hw := h.HighWatermark()
	engMust(t, h.Close())

	behind := openBehind()
	if behind.HighWatermark() != hw {
		t.Fatalf("segment log behind ends at %d, the hybrid log acknowledged up to %d", behind.HighWatermark(), hw)
	}
	if got := liteReadAll(t, behind); !bytes.Equal(got, acked) {
		t.Fatalf("segment log behind holds %d bytes that differ from the %d acknowledged", len(got), len(acked))
	}

	h, err = OpenHybridLog(NewMemoryLog(cfg, nil), behind)
	engMust(t, err)
	if h.HighWatermark() != hw || h.LogStartOffset() != 0 {
		t.Fatalf("reopened hybrid: hw %d lso %d, want %d and 0", h.HighWatermark(), h.LogStartOffset(), hw)
	}
	more := engSimpleBatch(t, 2, 1000)
	res, err := h.Append(more)
	engMust(t, err)
	if res.BaseOffset != hw {
		t.Fatalf("append after reopen got base %d, want %d", res.BaseOffset, hw)
	}
	SetBaseOffset(more, hw)
	acked = append(acked, more...)
	if got := liteReadAll(t, h); !bytes.Equal(got, acked) {
		t.Fatalf("reopened hybrid reads %d bytes that differ from the %d acknowledged", len(got), len(acked))
	}
	engMust(t, h.Close())
}

// hybridGateLog is a log behind whose appends wait for the gate to open,
// or fail with failErr once set.
type hybridGateLog struct {
	Log
	gate chan struct{}

	mu struct {
		sync.Mutex
		failErr error
		calls   int
	}
}

func (g *hybridGateLog) Append(b []byte) (AppendResult, error) {
	<-g.gate
	g.mu.Lock()
	g.mu.calls++
	err := g.mu.failErr
	g.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	return g.Log.Append(b)
}

// TestHybridQueueFullBlocks checks the queue's full policy: with the writer
// stuck, appends are acknowledged until the queue holds its bound, then
// Append blocks until the writer makes room.
func TestHybridQueueFullBlocks(t *testing.T) {
	cfg := engConfig()
	cfg.RetentionBytes = 2 * HybridMinQueueBytes // queue bound: HybridMinQueueBytes
	behind := &hybridGateLog{Log: NewMemoryLog(engConfig(), nil), gate: make(chan struct{})}
	h, err := OpenHybridLog(NewMemoryLog(cfg, nil), behind)
	engMust(t, err)
	batch := engBenchBatch(t) // ~16 KiB
	n := 0
	for h.QueuedBytes()+int64(len(batch)) <= HybridMinQueueBytes {
		_, err := h.Append(batch)
		engMust(t, err)
		n++
	}
	done := make(chan error)
	go func() {
		_, err := h.Append(batch)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Append returned (%v) with %d bytes queued; it should block", err, h.QueuedBytes())
	case <-time.After(100 * time.Millisecond):
	}
	close(behind.gate)
	engMust(t, <-done)
	engMust(t, h.Sync())
	if h.QueuedBytes() != 0 || behind.HighWatermark() != h.HighWatermark() {
		t.Errorf("after Sync: %d bytes queued, behind at %d, hybrid at %d", h.QueuedBytes(), behind.HighWatermark(), h.HighWatermark())
	}
	if got, want := liteReadAll(t, behind), liteReadAll(t, h); !bytes.Equal(got, want) || len(got) != (n+1)*len(batch) {
		t.Errorf("behind holds %d bytes, hybrid %d, want %d", len(got), len(want), (n+1)*len(batch))
	}
	engMust(t, h.Close())
}

// TestHybridWriterFailure checks that a failed write behind is reported by
// the next Append, Sync and Close, while acknowledged data stays readable.
func TestHybridWriterFailure(t *testing.T) {
	behind := &hybridGateLog{Log: NewMemoryLog(engConfig(), nil), gate: make(chan struct{})}
	close(behind.gate)
	h, err := OpenHybridLog(NewMemoryLog(engConfig(), nil), behind)
	engMust(t, err)
	_, err = h.Append(engSimpleBatch(t, 1, 1))
	engMust(t, err)
	engMust(t, h.Sync())
	diskFull := errors.New("disk full")
	behind.mu.Lock()
	behind.mu.failErr = diskFull
	behind.mu.Unlock()
	_, err = h.Append(engSimpleBatch(t, 1, 2))
	engMust(t, err) // acknowledged from memory
	if err := h.Sync(); !errors.Is(err, diskFull) {
		t.Errorf("Sync after a failed write behind = %v, want it", err)
	}
	if _, err := h.Append(engSimpleBatch(t, 1, 3)); !errors.Is(err, diskFull) {
		t.Errorf("Append after a failed write behind = %v, want it", err)
	}
	r, err := h.Read(0, 1<<20)
	engMust(t, err)
	if r.NextOffset != 2 {
		t.Errorf("read after the failure ends at %d, want 2", r.NextOffset)
	}
	r.Close()
	if err := h.Close(); !errors.Is(err, diskFull) {
		t.Errorf("Close = %v, want the write-behind error", err)
	}
}

// TestHybridRetention checks that retention runs on the log behind and
// that the memory front follows its new start offset.
func TestHybridRetention(t *testing.T) {
	bcfg := engConfig()
	bcfg.RetentionMs = 1000
	behind := NewMemoryLog(bcfg, nil)
	h, err := OpenHybridLog(NewMemoryLog(engConfig(), nil), behind)
	engMust(t, err)
	for i := range 5 {
		_, err := h.Append(engSimpleBatch(t, 1, int64(1000*i)))
		engMust(t, err)
	}
	lso, err := h.ApplyRetention(4500)
	engMust(t, err)
	// Batches with timestamps 0..3000 are more than 1000 ms old at 4500.
	if lso != 4 || h.LogStartOffset() != 4 || behind.LogStartOffset() != 4 {
		t.Errorf("after retention: returned %d, hybrid lso %d, behind lso %d; want 4", lso, h.LogStartOffset(), behind.LogStartOffset())
	}
	if _, err := h.Read(3, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read below the new start = %v, want ErrOffsetOutOfRange", err)
	}
	if st := h.Stats(); st.Engine != ModeHybrid || st.HighWatermark != 5 || st.LogStartOffset != 4 || st.Batches != 1 {
		t.Errorf("stats %+v", st)
	}
	engMust(t, h.Close())
}

// TestHybridOpenRules checks that the memory front must be empty and that
// it starts at the log behind's high watermark.
func TestHybridOpenRules(t *testing.T) {
	mem := NewMemoryLog(engConfig(), nil)
	_, err := mem.Append(engSimpleBatch(t, 1, 1))
	engMust(t, err)
	if _, err := OpenHybridLog(mem, NewMemoryLog(engConfig(), nil)); err == nil {
		t.Error("OpenHybridLog accepted a non-empty memory log")
	}
	fs := vfs.NewMem()
	behind, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: "p", Topic: "t", Config: engConfig()})
	engMust(t, err)
	for range 3 {
		_, err := behind.Append(engSimpleBatch(t, 2, 1))
		engMust(t, err)
	}
	h, err := OpenHybridLog(NewMemoryLog(engConfig(), nil), behind)
	engMust(t, err)
	res, err := h.Append(engSimpleBatch(t, 1, 1))
	engMust(t, err)
	if res.BaseOffset != 6 {
		t.Errorf("first hybrid append got base %d, want 6 (the log behind's high watermark)", res.BaseOffset)
	}
	engMust(t, h.Close())
	if err := h.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}
