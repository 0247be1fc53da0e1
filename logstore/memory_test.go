package logstore

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestMemoryAppendCopies checks that the log keeps its own copy of the
// appended bytes, and that bytes handed to a reader never change, even
// when the log is truncated and appended to at the same offsets.
func TestMemoryAppendCopies(t *testing.T) {
	m := NewMemoryLog(engConfig(), func() time.Time { return time.UnixMilli(42) })
	in := engSimpleBatch(t, 2, 100)
	orig := bytes.Clone(in)
	res, err := m.Append(in)
	engMust(t, err)
	if res.LogAppendTime != 42 || res.Records != 2 || res.LastOffset != 1 {
		t.Errorf("append result %+v", res)
	}
	clear(in) // a network reader reusing its buffer
	r, err := m.Read(0, 1<<20)
	engMust(t, err)
	held, _ := r.Bytes()
	if !bytes.Equal(held, orig) {
		t.Fatal("the stored batch changed with the caller's buffer")
	}
	heldCopy := bytes.Clone(held)
	engMust(t, m.Truncate(0))
	_, err = m.Append(engSimpleBatch(t, 3, 999))
	engMust(t, err)
	if !bytes.Equal(held, heldCopy) {
		t.Fatal("bytes handed to a reader changed after Truncate and Append")
	}
	r.Close()
}

// TestMemoryBoundReconfigure checks that a lower bound applies from the
// next append and is counted in Dropped.
func TestMemoryBoundReconfigure(t *testing.T) {
	m := NewMemoryLog(engConfig(), nil)
	for i := range 10 {
		_, err := m.Append(engSimpleBatch(t, 1, int64(i)))
		engMust(t, err)
	}
	if st := m.Stats(); st.Batches != 10 || st.LogStartOffset != 0 {
		t.Fatalf("before: %+v", st)
	}
	size := int64(len(engSimpleBatch(t, 1, 0)))
	cfg := engConfig()
	cfg.RetentionBytes = 3*size + size/2 // room for three batches
	engMust(t, m.Reconfigure(cfg))
	_, err := m.Append(engSimpleBatch(t, 1, 10))
	engMust(t, err)
	st := m.Stats()
	if st.Batches != 3 || st.LogStartOffset != 8 || st.Bytes != 3*size || st.HighWatermark != 11 {
		t.Errorf("after lowering the bound: %+v, want 3 batches from offset 8", st)
	}
	if b, n := m.Dropped(); b != 8 || n != 8*size {
		t.Errorf("Dropped() = %d batches, %d bytes; want 8, %d", b, n, 8*size)
	}
	if _, err := m.Read(7, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read of a dropped offset = %v, want ErrOffsetOutOfRange", err)
	}
}

// TestMemoryConcurrent appends from several goroutines into a small bound
// while readers read from the moving start, and checks that every read is
// a run of valid, dense batches inside [LSO, HW] and that held plus dropped
// batches account for every append.
func TestMemoryConcurrent(t *testing.T) {
	cfg := engConfig()
	cfg.RetentionBytes = 4 << 10
	m := NewMemoryLog(cfg, nil)
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := m.Append(engSimpleBatch(t, 1+i%3, int64(w))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := m.Read(m.LogStartOffset(), 2048)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // dropped between the two calls
				}
				if err != nil {
					t.Error(err)
					return
				}
				data, _ := r.Bytes()
				next := int64(-1)
				err = SplitBatches(data, func(_ []byte, h BatchHeader) error {
					if next >= 0 && h.BaseOffset != next {
						t.Errorf("batch at %d after one ending at %d", h.BaseOffset, next)
					}
					next = h.NextOffset()
					return nil
				})
				if err != nil || r.NextOffset > r.HighWatermark {
					t.Errorf("read: %v, next %d, hw %d", err, r.NextOffset, r.HighWatermark)
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	st := m.Stats()
	dropped, _ := m.Dropped()
	if st.Batches+dropped != writers*perWriter {
		t.Errorf("%d held + %d dropped batches, want %d", st.Batches, dropped, writers*perWriter)
	}
	if st.Bytes > cfg.RetentionBytes {
		t.Errorf("%d bytes held over the bound %d", st.Bytes, cfg.RetentionBytes)
	}
	engMust(t, m.Close())
	if _, err := m.Append(engSimpleBatch(t, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}

// BenchmarkMemoryAppend appends 16 KiB batches of 1 KiB records.
func BenchmarkMemoryAppend(b *testing.B) {
	batch := engBenchBatch(b)
	cfg := engConfig()
	cfg.RetentionBytes = 64 << 20
	m := NewMemoryLog(cfg, nil)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
}

// engBenchBatch is one uncompressed batch of sixteen 1 KiB records.
func engBenchBatch(tb testing.TB) []byte {
	recs := make([]Record, 16)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i)}, 1024-8)
		recs[i] = Record{Timestamp: int64(i), Key: []byte("key-0001"), Value: v}
	}
	b, err := EncodeBatch(recs, CompressionNone)
	engMust(tb, err)
	return b
}
