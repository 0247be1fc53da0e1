package dataset

import (
	"container/list"
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
)

// windows shares decoded windows between the readers of one read order:
// the ranks of a job (same dataset generation, seed, epoch and columns)
// read every window, so the first to ask loads it and the others take the
// same rows. An entry is referenced by the readers holding it; unreferenced
// entries stay in an idle list, least recently released first out, within
// idleBytes (the full policy: evict the oldest idle windows), so a rank
// that lags a little still finds the window.
type windows struct {
	ctx       context.Context // loads run under it: one reader giving up does not fail the others
	cancel    context.CancelFunc
	idleBytes int64
	loads     atomic.Int64 // windows loaded (decoded), for tests and benchmarks
	mu        struct {
		sync.Mutex
		m         map[windowKey]*window_
		idle      *list.List // of *window_, front = most recently released
		idleBytes int64
	}
}

type windowKey struct {
	dataset     string
	gen         int64
	seed, epoch int64
	columns     string
	wi          int
}

// window_ is one shared window (the name avoids order.go's window).
type window_ struct {
	key  windowKey
	done chan struct{} // closed when l or err is set
	l    *loaded
	err  error
	refs int // guarded by windows.mu
	size int64
	idle *list.Element // in windows.mu.idle while refs == 0 and loaded
}

func newWindows(idleBytes int64) *windows {
	w := &windows{idleBytes: idleBytes}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.mu.m = map[windowKey]*window_{}
	w.mu.idle = list.New()
	return w
}

func keyOf(r *resolved, wi int) windowKey {
	cols := make([]string, len(r.cols))
	for i, c := range r.cols {
		cols[i] = strconv.Itoa(c)
	}
	return windowKey{dataset: r.d.Name, gen: r.d.CreatedMs, seed: r.req.Seed, epoch: r.req.Epoch, columns: strings.Join(cols, ","), wi: wi}
}

// acquire returns the window of key, starting load if no reader has it;
// the caller releases it.
func (w *windows) acquire(key windowKey, load func(context.Context) (*loaded, error)) *window_ {
	w.mu.Lock()
	if e, ok := w.mu.m[key]; ok {
		if e.idle != nil {
			w.mu.idle.Remove(e.idle)
			e.idle = nil
			w.mu.idleBytes -= e.size
		}
		e.refs++
		w.mu.Unlock()
		return e
	}
	e := &window_{key: key, done: make(chan struct{}), refs: 1}
	w.mu.m[key] = e
	w.mu.Unlock()
	w.loads.Add(1)
	go func() {
		l, err := load(w.ctx)
		var size int64
		if err == nil {
			size = l.size()
		}
		w.mu.Lock()
		e.l, e.err, e.size = l, err, size
		close(e.done)
		if err != nil {
			delete(w.mu.m, key) // the next acquire tries again
		} else if e.refs == 0 {
			w.idleLocked(e)
		}
		w.mu.Unlock()
	}()
	return e
}

// release drops a reference; an unreferenced loaded window goes idle.
func (w *windows) release(e *window_) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	select {
	case <-e.done:
		if e.err == nil {
			w.idleLocked(e)
		}
	default: // still loading: the loader makes it idle
	}
}

func (w *windows) idleLocked(e *window_) {
	e.idle = w.mu.idle.PushFront(e)
	w.mu.idleBytes += e.size
	for w.mu.idleBytes > w.idleBytes && w.mu.idle.Len() > 0 {
		old := w.mu.idle.Remove(w.mu.idle.Back()).(*window_)
		old.idle = nil
		w.mu.idleBytes -= old.size
		delete(w.mu.m, old.key)
		old.l.release()
	}
}

// close cancels running loads and frees the idle windows.
func (w *windows) close() {
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.mu.idle.Len() > 0 {
		old := w.mu.idle.Remove(w.mu.idle.Back()).(*window_)
		delete(w.mu.m, old.key)
		old.l.release()
	}
	w.mu.idleBytes = 0
}

// size is the bytes of the window's buffers.
func (l *loaded) size() int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, r := range l.recs {
		for _, c := range r.Columns() {
			walk(c.Data())
		}
	}
	return n
}
