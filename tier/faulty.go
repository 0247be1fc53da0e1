package tier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Operation names for Faulty.
const (
	OpPut    = "put"
	OpGet    = "get"
	OpHead   = "head"
	OpList   = "list"
	OpDelete = "delete"
)

// ErrInjected is what Faulty's random failures and its down switch wrap
// (together with ErrUnavailable).
var ErrInjected = errors.New("tier: injected fault")

// Faulty wraps an ObjectStore and injects faults, for tests: latency per
// request, a down switch, random failures at a rate, forced failures of the
// next n requests of an operation, and hangs until the request's context
// ends (timeouts). It counts requests per operation. The zero settings
// inject nothing; every method is safe for concurrent use.
type Faulty struct {
	store ObjectStore
	mu    struct {
		sync.Mutex
		latency  time.Duration
		down     bool
		hang     bool
		rate     float64
		failNext map[string][]error
		requests map[string]int64
		failures map[string]int64
	}
}

var _ ObjectStore = (*Faulty)(nil)

// NewFaulty wraps store.
func NewFaulty(store ObjectStore) *Faulty {
	f := &Faulty{store: store}
	f.mu.failNext = make(map[string][]error)
	f.mu.requests = make(map[string]int64)
	f.mu.failures = make(map[string]int64)
	return f
}

// SetLatency adds d before every request (honouring the request's ctx).
func (f *Faulty) SetLatency(d time.Duration) {
	f.mu.Lock()
	f.mu.latency = d
	f.mu.Unlock()
}

// SetDown makes every request fail with ErrUnavailable while down is true.
func (f *Faulty) SetDown(down bool) {
	f.mu.Lock()
	f.mu.down = down
	f.mu.Unlock()
}

// SetHang makes every request block until its context ends (a store that
// stopped answering), while hang is true.
func (f *Faulty) SetHang(hang bool) {
	f.mu.Lock()
	f.mu.hang = hang
	f.mu.Unlock()
}

// SetErrorRate makes each request fail with ErrUnavailable with
// probability p (0 to 1).
func (f *Faulty) SetErrorRate(p float64) {
	f.mu.Lock()
	f.mu.rate = p
	f.mu.Unlock()
}

// FailNext makes the next n requests of op (OpPut, OpGet, ...) fail with
// err (nil: an injected ErrUnavailable).
func (f *Faulty) FailNext(op string, n int, err error) {
	if err == nil {
		err = fmt.Errorf("%w: %w: forced %s failure", ErrUnavailable, ErrInjected, op)
	}
	f.mu.Lock()
	for range n {
		f.mu.failNext[op] = append(f.mu.failNext[op], err)
	}
	f.mu.Unlock()
}

// Heal clears every fault: no latency, up, no hang, no error rate, no
// forced failures. Counters are kept.
func (f *Faulty) Heal() {
	f.mu.Lock()
	f.mu.latency, f.mu.down, f.mu.hang, f.mu.rate = 0, false, false, 0
	clear(f.mu.failNext)
	f.mu.Unlock()
}

// Requests returns how many requests of op reached Faulty.
func (f *Faulty) Requests(op string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.requests[op]
}

// Failures returns how many requests of op Faulty failed.
func (f *Faulty) Failures(op string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.failures[op]
}

// ResetCounters zeroes the request and failure counters.
func (f *Faulty) ResetCounters() {
	f.mu.Lock()
	clear(f.mu.requests)
	clear(f.mu.failures)
	f.mu.Unlock()
}

// Unwrap returns the wrapped store.
func (f *Faulty) Unwrap() ObjectStore { return f.store }

// before counts the request and applies the faults; a non-nil error
// fails it.
func (f *Faulty) before(ctx context.Context, op string) error {
	f.mu.Lock()
	f.mu.requests[op]++
	latency, down, hang, rate := f.mu.latency, f.mu.down, f.mu.hang, f.mu.rate
	var forced error
	if q := f.mu.failNext[op]; len(q) > 0 {
		forced = q[0]
		f.mu.failNext[op] = q[1:]
	}
	f.mu.Unlock()

	fail := func(err error) error {
		f.mu.Lock()
		f.mu.failures[op]++
		f.mu.Unlock()
		return err
	}
	if latency > 0 {
		if err := sleepCtx(ctx, latency); err != nil {
			return fail(err)
		}
	}
	switch {
	case hang:
		<-ctx.Done()
		return fail(fmt.Errorf("%w: %w: %s hung: %w", ErrUnavailable, ErrInjected, op, ctx.Err()))
	case down:
		return fail(fmt.Errorf("%w: %w: store down", ErrUnavailable, ErrInjected))
	case forced != nil:
		return fail(forced)
	case rate > 0 && rand.Float64() < rate:
		return fail(fmt.Errorf("%w: %w: random %s failure", ErrUnavailable, ErrInjected, op))
	}
	return ctx.Err()
}

// Put implements ObjectStore.
func (f *Faulty) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := f.before(ctx, OpPut); err != nil {
		return err
	}
	return f.store.Put(ctx, key, r, size)
}

// Get implements ObjectStore.
func (f *Faulty) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := f.before(ctx, OpGet); err != nil {
		return nil, err
	}
	return f.store.Get(ctx, key, off, length)
}

// Head implements ObjectStore.
func (f *Faulty) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := f.before(ctx, OpHead); err != nil {
		return ObjectInfo{}, err
	}
	return f.store.Head(ctx, key)
}

// List implements ObjectStore.
func (f *Faulty) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := f.before(ctx, OpList); err != nil {
		return nil, err
	}
	return f.store.List(ctx, prefix)
}

// Delete implements ObjectStore.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	if err := f.before(ctx, OpDelete); err != nil {
		return err
	}
	return f.store.Delete(ctx, key)
}
