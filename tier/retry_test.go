package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fastRetry(attempts int) RetryOptions {
	return RetryOptions{MaxAttempts: attempts, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, Timeout: time.Second}
}

func TestRetryOptions(t *testing.T) {
	var o RetryOptions
	o.EnsureDefaults()
	if err := o.Validate(); err != nil || o.MaxAttempts != 5 {
		t.Fatalf("%+v %v", o, err)
	}
	bad := RetryOptions{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Millisecond, Timeout: time.Second}
	if bad.Validate() == nil {
		t.Fatal("MaxDelay < BaseDelay accepted")
	}
	r := WithRetry(NewMemory(), RetryOptions{BaseDelay: 10 * time.Millisecond, MaxDelay: 80 * time.Millisecond})
	for attempt := 1; attempt < 40; attempt++ {
		limit := min(10*time.Millisecond<<min(attempt-1, 20), 80*time.Millisecond)
		for range 20 {
			if d := r.backoff(attempt); d < 0 || d >= limit {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", attempt, d, limit)
			}
		}
	}
}

func TestRetryFaulty(t *testing.T) {
	ctx := context.Background()
	newStores := func(attempts int) (*Faulty, *Retrying) {
		f := NewFaulty(NewMemory())
		return f, WithRetry(f, fastRetry(attempts))
	}
	data := randBytes(1, 10000)

	t.Run("ForcedFailuresThenSuccess", func(t *testing.T) {
		f, r := newStores(5)
		mustPut(t, f, "k", data)
		f.ResetCounters()
		for _, op := range []string{OpGet, OpHead, OpList, OpDelete, OpPut} {
			f.FailNext(op, 2, nil)
		}
		if got, err := readObject(ctx, r, "k", 0, -1); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get: %v", err)
		}
		if _, err := r.Head(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.List(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := r.Put(ctx, "k2", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, "k2"); err != nil {
			t.Fatal(err)
		}
		for _, op := range []string{OpGet, OpHead, OpList, OpDelete, OpPut} {
			if n, fails := f.Requests(op), f.Failures(op); n != 3 || fails != 2 {
				t.Errorf("%s: %d requests, %d failures; want 3, 2", op, n, fails)
			}
		}
	})

	t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) {
		f, r := newStores(4)
		f.SetDown(true)
		_, err := r.Head(ctx, "k")
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrInjected) {
			t.Fatalf("head while down: %v", err)
		}
		if n := f.Requests(OpHead); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
	})

	t.Run("DownThenBack", func(t *testing.T) {
		f, _ := newStores(1)
		mustPut(t, f, "k", data)
		r := WithRetry(f, RetryOptions{MaxAttempts: 100, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond, Timeout: time.Second})
		f.SetDown(true)
		time.AfterFunc(150*time.Millisecond, func() { f.SetDown(false) })
		start := time.Now()
		got, err := readObject(ctx, r, "k", 0, -1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get across an outage: %v", err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("succeeded after %v, while the store was down", d)
		}
		if f.Failures(OpGet) < 2 {
			t.Fatalf("only %d failed attempts", f.Failures(OpGet))
		}
	})

	t.Run("PermanentErrorsNotRetried", func(t *testing.T) {
		f, r := newStores(5)
		if _, err := r.Get(ctx, "missing", 0, -1); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		f.FailNext(OpHead, 1, fmt.Errorf("%w: forced", ErrRange))
		if _, err := r.Head(ctx, "x"); !errors.Is(err, ErrRange) {
			t.Fatal(err)
		}
		if f.Requests(OpGet) != 1 || f.Requests(OpHead) != 1 {
			t.Fatalf("retried: %d gets, %d heads", f.Requests(OpGet), f.Requests(OpHead))
		}
		mem := f.Unwrap().(*Memory)
		mustPut(t, mem, "c", data)
		mem.Corrupt("c", 5)
		if _, err := readObject(ctx, r, "c", 0, -1); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("corrupt: %v", err)
		}
		if f.Requests(OpGet) != 2 {
			t.Fatalf("corrupt object retried: %d gets", f.Requests(OpGet))
		}
	})

	t.Run("PutRetriedOnlyWhenSeekable", func(t *testing.T) {
		f, r := newStores(5)
		f.FailNext(OpPut, 2, nil)
		br := bytes.NewReader(data)
		br.Seek(100, io.SeekStart) // Put rewinds to where the reader stood
		if err := r.Put(ctx, "s", br, int64(len(data)-100)); err != nil {
			t.Fatal(err)
		}
		if got, _ := readObject(ctx, r, "s", 0, -1); !bytes.Equal(got, data[100:]) {
			t.Fatal("retried put stored the wrong bytes")
		}
		f.ResetCounters()
		f.FailNext(OpPut, 1, nil)
		if err := r.Put(ctx, "n", onlyReader{bytes.NewReader(data)}, -1); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("non-seekable put: %v", err)
		}
		if n := f.Requests(OpPut); n != 1 {
			t.Fatalf("non-seekable put tried %d times", n)
		}
	})

	t.Run("AttemptTimeout", func(t *testing.T) {
		f := NewFaulty(NewMemory())
		r := WithRetry(f, RetryOptions{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Timeout: 30 * time.Millisecond})
		f.SetHang(true)
		start := time.Now()
		_, err := r.Head(ctx, "k")
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung head: %v", err)
		}
		if d := time.Since(start); d > time.Second || f.Requests(OpHead) != 3 {
			t.Fatalf("%d attempts in %v", f.Requests(OpHead), d)
		}
		// A store that hangs and then answers: the later attempt wins.
		f.SetHang(false)
		mustPut(t, f, "k", data)
		f.SetHang(true)
		time.AfterFunc(40*time.Millisecond, func() { f.SetHang(false) })
		r2 := WithRetry(f, RetryOptions{MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Timeout: 30 * time.Millisecond})
		if _, err := r2.Head(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("HonoursContext", func(t *testing.T) {
		f := NewFaulty(NewMemory())
		r := WithRetry(f, RetryOptions{MaxAttempts: 1000, BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second, Timeout: time.Second})
		f.SetDown(true)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Head(cctx, "k")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("head: %v", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("returned %v after the deadline", d)
		}
	})

	t.Run("SlowStore", func(t *testing.T) {
		f, r := newStores(3)
		mustPut(t, f, "k", data)
		f.SetLatency(30 * time.Millisecond)
		start := time.Now()
		if _, err := r.Head(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Fatalf("latency not applied: %v", d)
		}
	})

	t.Run("ErrorRate", func(t *testing.T) {
		f, _ := newStores(1)
		mustPut(t, f, "k", data)
		r := WithRetry(f, fastRetry(30))
		f.SetErrorRate(0.5)
		for i := range 50 {
			if _, err := r.Head(ctx, "k"); err != nil {
				t.Fatalf("head %d: %v", i, err)
			}
		}
		if f.Failures(OpHead) == 0 {
			t.Fatal("no injected failures at rate 0.5")
		}
		f.Heal()
		f.ResetCounters()
		r.Head(ctx, "k")
		if f.Failures(OpHead) != 0 {
			t.Fatal("Heal left faults")
		}
	})
}

// cutStore cuts the bodies of its first cuts Gets after `after` bytes
// with an ErrUnavailable, or stalls them (until the request's context
// ends) when stall is set, and records every Get's range.
type cutStore struct {
	ObjectStore
	after int
	cuts  atomic.Int32
	stall bool
	mu    sync.Mutex
	gets  [][2]int64
}

func (c *cutStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets = append(c.gets, [2]int64{off, length})
	c.mu.Unlock()
	rc, err := c.ObjectStore.Get(ctx, key, off, length)
	if err != nil || c.cuts.Add(-1) < 0 {
		return rc, err
	}
	return &cutReader{rc: rc, left: c.after, stall: c.stall, ctx: ctx}, nil
}

type cutReader struct {
	rc    io.ReadCloser
	left  int
	stall bool
	ctx   context.Context
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		if c.stall {
			<-c.ctx.Done()
			return 0, c.ctx.Err()
		}
		return 0, fmt.Errorf("%w: connection cut", ErrUnavailable)
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= n
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }

func TestRetryResumesBody(t *testing.T) {
	ctx := context.Background()
	data := randBytes(9, 100000)
	for _, c := range []struct {
		name        string
		off, length int64
		stall       bool
		wantReopen  [2]int64
	}{
		{"Whole", 0, -1, false, [2]int64{0, -1}}, // re-read from 0, skip, verify
		{"Ranged", 1000, 50000, false, [2]int64{11000, 40000}},
		{"ToEnd", 1000, -1, false, [2]int64{11000, -1}},
		{"Stalled", 0, -1, true, [2]int64{0, -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := NewMemory()
			mustPut(t, mem, "k", data)
			cs := &cutStore{ObjectStore: mem, after: 10000, stall: c.stall}
			cs.cuts.Store(2)
			opts := fastRetry(5)
			if c.stall {
				opts.Timeout = 50 * time.Millisecond
			}
			got, err := readObject(ctx, WithRetry(cs, opts), "k", c.off, c.length)
			end := int64(len(data))
			if c.length >= 0 {
				end = c.off + c.length
			}
			if err != nil || !bytes.Equal(got, data[c.off:end]) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if len(cs.gets) != 3 || cs.gets[1] != c.wantReopen {
				t.Fatalf("gets %v, want the second at %v", cs.gets, c.wantReopen)
			}
		})
	}
	t.Run("GivesUp", func(t *testing.T) {
		mem := NewMemory()
		mustPut(t, mem, "k", data)
		cs := &cutStore{ObjectStore: mem, after: 10}
		cs.cuts.Store(100)
		_, err := readObject(ctx, WithRetry(cs, fastRetry(3)), "k", 0, -1)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("WholeResumeStillVerifies", func(t *testing.T) {
		mem := NewMemory()
		mustPut(t, mem, "k", data)
		cs := &cutStore{ObjectStore: mem, after: 10000}
		cs.cuts.Store(1)
		rc, err := WithRetry(cs, fastRetry(5)).Get(ctx, "k", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		buf := make([]byte, 5000)
		io.ReadFull(rc, buf)
		mem.Corrupt("k", 90000) // the rest will come from a changed object
		if _, err := io.ReadAll(rc); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("resumed whole read of a changed object: %v, want ErrCorrupt", err)
		}
	})
}
