package tier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// RetryOptions configure WithRetry.
type RetryOptions struct {
	// MaxAttempts per operation, the first included (default 5).
	MaxAttempts int
	// BaseDelay is the backoff before the second attempt (default 50 ms);
	// it doubles per attempt up to MaxDelay (default 5 s). Each sleep is
	// drawn uniformly from [0, backoff) ("full jitter").
	BaseDelay, MaxDelay time.Duration
	// Timeout bounds one attempt (default 30 s): for Head, List, Delete
	// and the opening of a Get, the whole call; for Put, the call plus one
	// Timeout per 8 MiB of a known size; for reading a Get's body, each
	// Read (a stalled connection, not a slow consumer).
	Timeout time.Duration
}

// EnsureDefaults fills unset fields.
func (o *RetryOptions) EnsureDefaults() {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.BaseDelay == 0 {
		o.BaseDelay = 50 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
}

// Validate checks the options after EnsureDefaults.
func (o *RetryOptions) Validate() error {
	if o.MaxAttempts < 1 || o.BaseDelay < 0 || o.MaxDelay < o.BaseDelay || o.Timeout <= 0 {
		return fmt.Errorf("tier: retry options: %+v", *o)
	}
	return nil
}

// Retrying is an ObjectStore that retries another one's ErrUnavailable
// failures; see WithRetry.
type Retrying struct {
	store ObjectStore
	opts  RetryOptions
}

var _ ObjectStore = (*Retrying)(nil)

// WithRetry wraps store so that failures marked ErrUnavailable (throttling,
// 5xx, timeouts, connection errors) are retried with exponential backoff
// and full jitter, each attempt under its own timeout (an attempt that
// times out counts as ErrUnavailable), for at most MaxAttempts attempts and
// never past ctx. Other errors (ErrNotFound, ErrRange, ErrCorrupt,
// ErrInvalidKey, ...) return at once.
//
// Put is retried only when its reader can be read again: an io.Seeker
// (*os.File, *bytes.Reader, *strings.Reader, ...) is sought back to where
// it stood; any other reader gets a single attempt.
//
// A Get whose body fails mid-read with ErrUnavailable is resumed: the
// remainder is fetched again from where it stopped. A whole-object read is
// resumed by reading the object again from its start and skipping what was
// delivered, so the store still verifies the whole object's checksum.
//
// Options are defaulted with EnsureDefaults; invalid options panic.
func WithRetry(store ObjectStore, opts RetryOptions) *Retrying {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Retrying{store: store, opts: opts}
}

// Unwrap returns the wrapped store.
func (r *Retrying) Unwrap() ObjectStore { return r.store }

// backoff returns the jittered sleep before attempt+1 (attempt counts
// from 1).
func (r *Retrying) backoff(attempt int) time.Duration {
	d := r.opts.BaseDelay << min(attempt-1, 30)
	if d > r.opts.MaxDelay || d <= 0 {
		d = r.opts.MaxDelay
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// do runs fn until it succeeds, fails for good, or attempts run out.
func (r *Retrying) do(ctx context.Context, timeout time.Duration, fn func(ctx context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = fn(actx)
		timedOut := actx.Err() == context.DeadlineExceeded
		cancel()
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (last error: %v)", cerr, err)
		}
		if timedOut && !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: attempt timed out after %v: %w", ErrUnavailable, timeout, err)
		}
		if !errors.Is(err, ErrUnavailable) || attempt >= r.opts.MaxAttempts {
			if attempt > 1 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		if serr := sleepCtx(ctx, r.backoff(attempt)); serr != nil {
			return fmt.Errorf("%w (last error: %v)", serr, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Put implements ObjectStore; see WithRetry for when it retries.
func (r *Retrying) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	timeout := r.opts.Timeout
	if size > 0 {
		timeout += time.Duration(size/(8<<20)) * r.opts.Timeout
	}
	seeker, ok := body.(io.Seeker)
	if !ok {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := r.store.Put(actx, key, body, size)
		if err != nil && ctx.Err() == nil && actx.Err() == context.DeadlineExceeded && !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: attempt timed out after %v: %w", ErrUnavailable, timeout, err)
		}
		return err
	}
	start, err := seeker.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("tier: put %q: %w", key, err)
	}
	first := true
	return r.do(ctx, timeout, func(actx context.Context) error {
		if !first {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("tier: put %q: rewind: %w", key, err)
			}
		}
		first = false
		return r.store.Put(actx, key, body, size)
	})
}

// Head implements ObjectStore.
func (r *Retrying) Head(ctx context.Context, key string) (ObjectInfo, error) {
	var info ObjectInfo
	err := r.do(ctx, r.opts.Timeout, func(actx context.Context) error {
		var err error
		info, err = r.store.Head(actx, key)
		return err
	})
	return info, err
}

// List implements ObjectStore.
func (r *Retrying) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := r.do(ctx, r.opts.Timeout, func(actx context.Context) error {
		var err error
		out, err = r.store.List(actx, prefix)
		return err
	})
	return out, err
}

// Delete implements ObjectStore.
func (r *Retrying) Delete(ctx context.Context, key string) error {
	return r.do(ctx, r.opts.Timeout, func(actx context.Context) error {
		return r.store.Delete(actx, key)
	})
}

// Get implements ObjectStore; the body resumes after a mid-read failure.
func (r *Retrying) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	rr := &retryReader{r: r, ctx: ctx, key: key, off: off, length: length}
	if err := rr.open(); err != nil {
		return nil, err
	}
	return rr, nil
}

// retryReader reads a Get's body and reopens it after an ErrUnavailable.
type retryReader struct {
	r      *Retrying
	ctx    context.Context
	key    string
	off    int64 // requested start
	length int64 // requested length (-1: to the end)
	done   int64 // bytes delivered to the caller
	fails  int   // mid-body failures so far

	rc     io.ReadCloser      // nil between a failure and the reopen
	cancel context.CancelFunc // cancels rc's request
	closed bool
}

// open (re)opens the body at off+done; a whole-object read restarts at
// its beginning and skips what was delivered so the store verifies it.
func (rr *retryReader) open() error {
	off, length, skip := rr.off+rr.done, rr.length, int64(0)
	if rr.length > 0 {
		length = rr.length - rr.done
	}
	if rr.off == 0 && rr.length < 0 {
		off, skip = 0, rr.done
	}
	return rr.r.do(rr.ctx, rr.r.opts.Timeout, func(actx context.Context) error {
		// The body outlives this attempt's deadline: open it under a
		// context that is cancelled by a stall timer or Close instead.
		bctx, cancel := context.WithCancel(rr.ctx)
		stop := context.AfterFunc(actx, func() {
			if actx.Err() == context.DeadlineExceeded {
				cancel()
			}
		})
		rc, err := rr.r.store.Get(bctx, rr.key, off, length)
		if !stop() && err == nil {
			rc.Close() // the deadline passed as the body arrived
			err = fmt.Errorf("%w: get %q: attempt timed out", ErrUnavailable, rr.key)
		}
		if err != nil {
			cancel()
			if actx.Err() == context.DeadlineExceeded && !errors.Is(err, ErrUnavailable) {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return err
		}
		if skip > 0 {
			if _, err := io.CopyN(io.Discard, rc, skip); err != nil {
				rc.Close()
				cancel()
				return classifyReadErr(err)
			}
		}
		rr.rc, rr.cancel = rc, cancel
		return nil
	})
}

func classifyReadErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: body cut: %w", ErrUnavailable, err)
	}
	return err
}

func (rr *retryReader) Read(p []byte) (int, error) {
	if rr.closed {
		return 0, errors.New("tier: read after close")
	}
	for {
		if rr.rc == nil {
			if err := sleepCtx(rr.ctx, rr.r.backoff(rr.fails)); err != nil {
				return 0, err
			}
			if err := rr.open(); err != nil {
				return 0, err
			}
		}
		var stalled atomic.Bool
		cancel := rr.cancel // a late timer cancels only this body
		t := time.AfterFunc(rr.r.opts.Timeout, func() {
			stalled.Store(true)
			cancel()
		})
		n, err := rr.rc.Read(p)
		t.Stop()
		rr.done += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		if cerr := rr.ctx.Err(); cerr != nil {
			return n, fmt.Errorf("%w (last error: %v)", cerr, err)
		}
		if stalled.Load() {
			err = fmt.Errorf("%w: read stalled for %v: %w", ErrUnavailable, rr.r.opts.Timeout, err)
		} else if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrCorrupt) {
			err = classifyReadErr(err)
		}
		if !errors.Is(err, ErrUnavailable) {
			return n, err
		}
		rr.fails++
		if rr.fails >= rr.r.opts.MaxAttempts {
			return n, fmt.Errorf("%w (after %d resumed reads)", err, rr.fails)
		}
		rr.closeBody()
		if n > 0 {
			return n, nil // deliver what arrived; the next Read reopens
		}
	}
}

func (rr *retryReader) closeBody() {
	if rr.rc != nil {
		rr.rc.Close()
		rr.cancel()
		rr.rc = nil
	}
}

// Close implements io.Closer.
func (rr *retryReader) Close() error {
	if rr.closed {
		return nil
	}
	rr.closed = true
	if rr.rc == nil {
		return nil
	}
	err := rr.rc.Close()
	rr.cancel()
	rr.rc = nil
	return err
}
