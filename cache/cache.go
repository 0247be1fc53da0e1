package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"

	"strata/tier"
)

const (
	// prefetchQueueLen bounds the prefetch queue. Full policy: drop the
	// request and count it (strata_cache_prefetch_dropped_total).
	prefetchQueueLen = 1024
	// l2QueueLen bounds the L2 write-behind queue. Full policy: drop the
	// write and count it (strata_cache_l2_writes_dropped_total); the block
	// stays in L1 and the store.
	l2QueueLen = 64
	// pendingTTL is how long a prefetched, unread block holds prefetch
	// budget before the budget is reclaimed (the block counts as wasted).
	pendingTTL = 30 * time.Second
)

// ErrClosed is returned by reads on a closed Cache.
var ErrClosed = errors.New("cache: closed")

// entry is one cached block.
type entry struct {
	ref  BlockRef
	gen  uint64 // the object's generation when fetched; stale after Invalidate
	data []byte
}

// object is the per-key state: size from Head, generation, readahead.
type object struct {
	size    int64
	gen     uint64
	streams []*stream // sequential readers, at most maxStreams
}

// maxStreams bounds the sequential readers tracked per object. Full policy:
// the least recently used stream is replaced.
const maxStreams = 4

// stream is one sequential reader's place in an object.
type stream struct {
	lastIdx int64  // last block read
	run     int64  // consecutive blocks read in order so far
	used    uint64 // Cache.mu.tick of its last read
}

// pending is a prefetch that holds budget: queued, in flight, or fetched
// and unread (staged: e is set). A staged block waits outside ristretto and
// the plan pool until its first read, so neither can evict it before use;
// that read moves it into L1 proper.
type pending struct {
	e         *entry
	bytes     int64
	readahead bool      // for a sequential reader (else for a plan)
	issued    bool      // a worker started fetching it
	done      time.Time // zero until fetched
}

// Cache is a read-through block cache over an object store: L1 memory (a
// Belady-managed plan pool and ristretto), L2 a local directory, L3 the store.
// Every method is safe for concurrent use.
type Cache struct {
	opts  Options
	store tier.ObjectStore
	l1    *ristretto.Cache[string, *entry] // nil when PlanBytes == L1Bytes
	l2    *l2Dir                           // nil when L2Dir == ""
	sf    singleflight.Group
	st    counters
	m     *metrics

	ctx       context.Context // cancelled by Close; shared fetches run under it
	cancel    context.CancelFunc
	prefetchq chan BlockRef
	l2q       chan *entry
	wg        sync.WaitGroup

	// Lock order: c.mu, then l2Dir.mu. Never call into ristretto while
	// holding c.mu: its eviction callback takes c.mu.
	mu struct {
		sync.Mutex
		closed  bool
		nextGen uint64
		tick    uint64
		// invalidations counts Invalidate calls; a Head that started
		// before one is not kept.
		invalidations uint64
		objects       map[string]*object
		pool          map[BlockRef]*entry
		poolBytes     int64
		plans         map[string]*plan
		pending       map[BlockRef]*pending
		pendingBytes  int64
		// recent holds the last blocks put into ristretto, in a ring of
		// recentCap, so that the next reads of a block just fetched hit
		// even while ristretto's admission is pending (it is asynchronous)
		// or refused it. Full policy: overwrite the oldest.
		recent    map[BlockRef]*entry
		recentQ   []BlockRef
		recentAt  int
		recentCap int
	}
}

// Open starts a cache: it rebuilds L2's index from its directory and starts
// the prefetch workers and the L2 writer.
func Open(opts Options) (*Cache, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{opts: opts, store: opts.Store}
	c.mu.objects = make(map[string]*object)
	c.mu.pool = make(map[BlockRef]*entry)
	c.mu.plans = make(map[string]*plan)
	c.mu.pending = make(map[BlockRef]*pending)
	c.mu.recent = make(map[BlockRef]*entry)
	c.mu.recentCap = int(max(2, min(64, opts.L1Bytes/8/opts.BlockSize)))
	if rb := opts.L1Bytes - max(0, opts.PlanBytes); rb > 0 {
		l1, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
			NumCounters:        10 * max(100, rb/opts.BlockSize),
			MaxCost:            rb,
			BufferItems:        64,
			IgnoreInternalCost: true,
			OnEvict:            func(it *ristretto.Item[*entry]) { c.l1Dropped(it.Value) },
			OnReject:           func(it *ristretto.Item[*entry]) { c.l1Dropped(it.Value) },
		})
		if err != nil {
			return nil, fmt.Errorf("cache: l1: %w", err)
		}
		c.l1 = l1
	}
	if opts.L2Dir != "" {
		l2, err := openL2(opts.L2Dir, opts.L2Bytes, opts.Logger, &c.st)
		if err != nil {
			if c.l1 != nil {
				c.l1.Close()
			}
			return nil, err
		}
		c.l2 = l2
	}
	c.m = newMetrics(&c.st)
	if opts.Registerer != nil {
		if err := c.m.register(opts.Registerer); err != nil {
			if c.l1 != nil {
				c.l1.Close()
			}
			return nil, fmt.Errorf("cache: metrics: %w", err)
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.prefetchq = make(chan BlockRef, prefetchQueueLen)
	c.l2q = make(chan *entry, l2QueueLen)
	for range opts.PrefetchConcurrency {
		c.wg.Go(c.prefetchWorker)
	}
	if c.l2 != nil {
		c.wg.Go(c.l2Writer)
	}
	return c, nil
}

// Close stops the workers, finishes queued L2 writes, and releases memory.
// In-flight reads fail with a context error.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.l1 != nil {
		c.l1.Close()
	}
	if c.opts.Registerer != nil {
		c.m.unregister(c.opts.Registerer)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats { return c.st.snapshot() }

// BlockSize returns the cache's block size.
func (c *Cache) BlockSize() int64 { return c.opts.BlockSize }

// Size returns the object's size, from Head on first use and cached after.
func (c *Cache) Size(ctx context.Context, key string) (int64, error) {
	size, _, err := c.object(ctx, key)
	return size, err
}

// object returns key's size and generation, calling Head once per key (and
// once for concurrent callers).
func (c *Cache) object(ctx context.Context, key string) (int64, uint64, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return 0, 0, ErrClosed
	}
	if o, ok := c.mu.objects[key]; ok {
		c.mu.Unlock()
		return o.size, o.gen, nil
	}
	// A Head in flight across an Invalidate is not joined by later readers.
	epoch := c.mu.invalidations
	c.mu.Unlock()
	ch := c.sf.DoChan("\x00head\x00"+strconv.FormatUint(epoch, 10)+"\x00"+key, func() (any, error) {
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.FetchTimeout)
		defer cancel()
		info, err := c.store.Head(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("cache: head %q: %w", key, err)
		}
		return info.Size, nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	if res.Err != nil {
		return 0, 0, res.Err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.mu.objects[key]; ok {
		return o.size, o.gen, nil
	}
	if c.mu.invalidations != epoch {
		// Invalidated meanwhile: use the size once, keep nothing.
		return res.Val.(int64), 0, nil
	}
	if len(c.mu.objects) >= c.opts.MaxObjects {
		for k := range c.mu.objects { // full policy: drop an arbitrary object's state
			delete(c.mu.objects, k)
			break
		}
	}
	c.mu.nextGen++
	o := &object{size: res.Val.(int64), gen: c.mu.nextGen}
	c.mu.objects[key] = o
	return o.size, o.gen, nil
}

// Invalidate forgets everything cached about key: its size, its blocks in
// every level, and prefetches of it. Reads already in flight may return the
// old bytes; later reads see the store's object.
func (c *Cache) Invalidate(key string) {
	c.mu.Lock()
	c.mu.invalidations++
	delete(c.mu.objects, key)
	for ref, e := range c.mu.pool {
		if ref.Key == key {
			delete(c.mu.pool, ref)
			c.mu.poolBytes -= int64(len(e.data))
		}
	}
	c.st.planResident.Store(c.mu.poolBytes)
	for ref := range c.mu.recent {
		if ref.Key == key {
			delete(c.mu.recent, ref)
		}
	}
	for ref := range c.mu.pending {
		if ref.Key == key {
			c.releaseLocked(ref, wasted)
		}
	}
	c.mu.Unlock()
	// Ristretto entries of key are stale by generation and age out.
	if c.l2 != nil {
		c.l2.removeKey(key)
	}
}

// ReadAt reads len(p) bytes of the object at key from off, through the
// cache. Like io.ReaderAt it returns io.EOF with n < len(p) at the object's
// end. Store failures are returned wrapped (errors.Is(err,
// tier.ErrUnavailable) for a retriable one) and are not cached.
func (c *Cache) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("cache: read %q: negative offset %d", key, off)
	}
	size, gen, err := c.object(ctx, key)
	if err != nil {
		return 0, err
	}
	bs := c.opts.BlockSize
	first, last, n, ok := blockSpan(off, int64(len(p)), size, bs)
	if !ok {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	c.observe(key, first, last, size)
	usedBefore := c.st.prefetchUsed.Load()
	copyBlock := func(idx int64, data []byte) {
		bstart := idx * bs
		from := max(off, bstart)
		to := min(off+n, bstart+int64(len(data)))
		copy(p[from-off:to-off], data[from-bstart:to-bstart])
	}
	if first == last {
		data, err := c.block(ctx, BlockRef{key, first}, gen, blockLen(size, bs, first))
		if err != nil {
			return 0, err
		}
		copyBlock(first, data)
	} else {
		// Blocks of one read are fetched concurrently; n is bounded by
		// len(p), so the goroutines are too.
		errs := make([]error, last-first+1)
		var wg sync.WaitGroup
		for idx := first; idx <= last; idx++ {
			wg.Go(func() {
				data, err := c.block(ctx, BlockRef{key, idx}, gen, blockLen(size, bs, idx))
				if err != nil {
					errs[idx-first] = err
					return
				}
				copyBlock(idx, data)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				// Bytes before the first failed block are valid.
				return int(max(0, (first+int64(i))*bs-off)), err
			}
		}
	}
	if c.st.prefetchUsed.Load() != usedBefore {
		c.refill(key, last, size) // budget was freed
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// Reader returns an io.ReaderAt over the object at key that reads through
// the cache under ctx.
func (c *Cache) Reader(ctx context.Context, key string) *ObjectReader {
	return &ObjectReader{c: c, ctx: ctx, key: key}
}

// ObjectReader is an io.ReaderAt over one object, reading through a Cache.
type ObjectReader struct {
	c   *Cache
	ctx context.Context
	key string
}

var _ io.ReaderAt = (*ObjectReader)(nil)

// ReadAt implements io.ReaderAt.
func (r *ObjectReader) ReadAt(p []byte, off int64) (int, error) {
	return r.c.ReadAt(r.ctx, r.key, p, off)
}

// Size returns the object's size.
func (r *ObjectReader) Size() (int64, error) { return r.c.Size(r.ctx, r.key) }

func l1Key(ref BlockRef) string { return ref.Key + "\x00" + strconv.FormatInt(ref.Index, 10) }

// block returns the block's bytes from the first level that has them.
func (c *Cache) block(ctx context.Context, ref BlockRef, gen uint64, blen int64) ([]byte, error) {
	e := c.l1Get(ref, gen)
	if e == nil {
		e = c.consumed(ref, gen)
	}
	if e != nil {
		c.st.hits[levelL1].Add(1)
		c.st.bytes[levelL1].Add(int64(len(e.data)))
		return e.data, nil
	}
	c.st.misses[levelL1].Add(1)
	ch := c.sf.DoChan(l1Key(ref)+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		return c.fill(ref, gen, blen, true)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*entry).data, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fill loads a block missing from L1, from L2 or else the store, and
// inserts it into L1 if insert (a prefetch stages it instead) and, from the
// store, into L2. Run once per block at a time.
func (c *Cache) fill(ref BlockRef, gen uint64, blen int64, insert bool) (*entry, error) {
	if e := c.l1Get(ref, gen); e != nil {
		return e, nil
	}
	if c.l2 != nil {
		t := time.Now()
		data, ok := c.l2.get(ref)
		if ok && int64(len(data)) == blen {
			c.m.fetch.WithLabelValues("l2").Observe(time.Since(t).Seconds())
			c.st.hits[levelL2].Add(1)
			c.st.bytes[levelL2].Add(blen)
			e := &entry{ref: ref, gen: gen, data: data}
			if insert {
				c.insertL1(e)
			}
			return e, nil
		}
		c.st.misses[levelL2].Add(1)
	}
	t := time.Now()
	c.st.storeGets.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.FetchTimeout)
	defer cancel()
	rc, err := c.store.Get(ctx, ref.Key, ref.Index*c.opts.BlockSize, blen)
	if err != nil {
		return nil, fmt.Errorf("cache: fetch %q block %d: %w", ref.Key, ref.Index, timedOut(ctx, err))
	}
	data := make([]byte, blen)
	_, err = io.ReadFull(rc, data)
	cerr := rc.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		err = timedOut(ctx, err)
		// A short body from a connection that ended early is the store's
		// trouble (ErrUnavailable, retriable); from a whole response it
		// means the object changed.
		if (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) && !errors.Is(err, tier.ErrUnavailable) {
			err = fmt.Errorf("%w: object shorter than its size (changed without Invalidate?): %w", tier.ErrCorrupt, err)
		}
		return nil, fmt.Errorf("cache: fetch %q block %d: %w", ref.Key, ref.Index, err)
	}
	c.m.fetch.WithLabelValues("store").Observe(time.Since(t).Seconds())
	c.st.hits[levelL3].Add(1)
	c.st.bytes[levelL3].Add(blen)
	e := &entry{ref: ref, gen: gen, data: data}
	if insert {
		c.insertL1(e)
	}
	if c.l2 != nil {
		select {
		case c.l2q <- e:
		default:
			c.st.l2WriteDropped.Add(1)
		}
	}
	return e, nil
}

// timedOut marks err retriable when the fetch ran out of FetchTimeout (a
// slow store, not a wrong one).
func timedOut(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, tier.ErrUnavailable) {
		return fmt.Errorf("%w: fetch timed out: %w", tier.ErrUnavailable, err)
	}
	return err
}

// l1Get looks the block up in the plan pool, then ristretto; a ristretto hit
// that a plan will read again moves to the pool.
func (c *Cache) l1Get(ref BlockRef, gen uint64) *entry {
	c.mu.Lock()
	if e, ok := c.mu.pool[ref]; ok {
		if e.gen == gen {
			c.mu.Unlock()
			return e
		}
		delete(c.mu.pool, ref)
		c.mu.poolBytes -= int64(len(e.data))
		c.st.planResident.Store(c.mu.poolBytes)
	}
	e, ok := c.mu.recent[ref]
	c.mu.Unlock()
	if !ok && c.l1 != nil {
		e, ok = c.l1.Get(l1Key(ref))
	}
	if !ok || e.gen != gen {
		return nil
	}
	c.mu.Lock()
	admitted, demoted := false, []*entry(nil)
	if c.nextUseLocked(ref) != never {
		admitted, demoted = c.poolAdmitLocked(e)
	}
	c.mu.Unlock()
	if admitted {
		c.l1.Del(l1Key(ref))
	}
	for _, d := range demoted {
		c.l1Set(d)
	}
	return e
}

// insertL1 places a fetched block: the plan pool if a plan reads it again
// and Belady admits it, else ristretto. A block of an invalidated object is
// dropped.
func (c *Cache) insertL1(e *entry) {
	c.mu.Lock()
	if o, ok := c.mu.objects[e.ref.Key]; !ok || o.gen != e.gen {
		c.mu.Unlock()
		return
	}
	admitted, demoted := c.poolAdmitLocked(e)
	c.mu.Unlock()
	for _, d := range demoted {
		c.l1Set(d)
	}
	if !admitted && c.l1 != nil {
		c.l1Set(e)
		c.mu.Lock()
		c.addRecentLocked(e)
		c.mu.Unlock()
	}
}

// addRecentLocked puts e in the recent ring, overwriting the oldest.
func (c *Cache) addRecentLocked(e *entry) {
	if _, ok := c.mu.recent[e.ref]; ok {
		c.mu.recent[e.ref] = e
		return
	}
	if len(c.mu.recentQ) < c.mu.recentCap {
		c.mu.recentQ = append(c.mu.recentQ, e.ref)
	} else {
		old := c.mu.recentQ[c.mu.recentAt]
		delete(c.mu.recent, old)
		c.mu.recentQ[c.mu.recentAt] = e.ref
		c.mu.recentAt = (c.mu.recentAt + 1) % c.mu.recentCap
	}
	c.mu.recent[e.ref] = e
}

// l1Set offers e to ristretto; a block ristretto cannot take is dropped.
func (c *Cache) l1Set(e *entry) {
	if c.l1 == nil || !c.l1.Set(l1Key(e.ref), e, int64(len(e.data))) {
		c.st.evictions[levelL1].Add(1)
	}
}

// l1Dropped counts a block ristretto evicted or refused.
func (c *Cache) l1Dropped(*entry) { c.st.evictions[levelL1].Add(1) }

// l2Writer writes fetched blocks to L2 behind the reads; on Close it
// finishes the queued writes.
func (c *Cache) l2Writer() {
	write := func(e *entry) {
		if err := c.l2.put(e.ref, e.data); err != nil {
			c.opts.Logger.Warn("cache: L2 write failed", "key", e.ref.Key, "block", e.ref.Index, "err", err)
			return
		}
		c.mu.Lock()
		o, ok := c.mu.objects[e.ref.Key]
		stale := !ok || o.gen != e.gen
		c.mu.Unlock()
		if stale {
			c.l2.remove(e.ref)
		}
	}
	for {
		select {
		case e := <-c.l2q:
			write(e)
		case <-c.ctx.Done():
			for {
				select {
				case e := <-c.l2q:
					write(e)
				default:
					return
				}
			}
		}
	}
}
