package cache

import (
	"strconv"
	"time"
)

// observe records a read of blocks [first, last] of key before they are
// fetched: it advances the reader's stream and the plans, and schedules the
// blocks to fetch ahead.
func (c *Cache) observe(key string, first, last, size int64) {
	c.mu.Lock()
	o, ok := c.mu.objects[key]
	if !ok {
		c.mu.Unlock()
		return
	}
	s, newBlock := c.streamLocked(o, key, first, last)
	for _, p := range c.mu.plans {
		for i := first; i <= last; i++ {
			p.observe(BlockRef{key, i})
		}
	}
	var want []target
	if newBlock {
		want = c.targetsLocked(s, key, size)
	}
	c.mu.Unlock()
	c.schedule(want)
}

// streamLocked finds the stream a read of [first, last] continues (its
// first block is the stream's last block or the next one), or starts a new
// one, replacing the least recently used when maxStreams are tracked; the
// replaced stream's unread readahead is released as wasted. newBlock
// reports whether the read reached a block the stream had not read.
func (c *Cache) streamLocked(o *object, key string, first, last int64) (s *stream, newBlock bool) {
	c.mu.tick++
	for _, cand := range o.streams {
		if first == cand.lastIdx+1 || first == cand.lastIdx {
			s = cand
			break
		}
	}
	switch {
	case s == nil:
		s = &stream{run: last - first + 1}
		if len(o.streams) < maxStreams {
			o.streams = append(o.streams, s)
		} else {
			lru := 0
			for i, cand := range o.streams {
				if cand.used < o.streams[lru].used {
					lru = i
				}
			}
			old := o.streams[lru]
			for i := old.lastIdx + 1; i <= old.lastIdx+int64(c.opts.Readahead); i++ {
				ref := BlockRef{key, i}
				if p, ok := c.mu.pending[ref]; ok && p.readahead {
					c.releaseLocked(ref, wasted)
				}
			}
			o.streams[lru] = s
		}
		newBlock = true
	case first == s.lastIdx+1:
		s.run += last - first + 1
		newBlock = true
	default: // first == s.lastIdx
		s.run += last - first
		newBlock = last != s.lastIdx
	}
	s.lastIdx, s.used = last, c.mu.tick
	return s, newBlock
}

// Prefetch asks for bytes [off, off+n) of key to be fetched ahead, as
// readahead, within the prefetch budget. It returns at once: the size
// lookup (Head, on first use of key) and the fetches run in the
// background, and failures are only counted. A reader about to cross from
// one object into the next (a log consumer at the end of a segment object)
// calls it, since readahead follows one object.
func (c *Cache) Prefetch(key string, off, n int64) {
	if c.opts.DisablePrefetch || n <= 0 {
		return
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1) // under mu, before Close's Wait: Close sets closed first
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		size, _, err := c.object(c.ctx, key)
		if err != nil {
			return
		}
		first, last, _, ok := blockSpan(off, n, size, c.opts.BlockSize)
		if !ok {
			return
		}
		want := make([]target, 0, last-first+1)
		for i := first; i <= last; i++ {
			want = append(want, target{BlockRef{key, i}, true})
		}
		c.schedule(want)
	}()
}

// refill schedules prefetches after a read of key up to block last has
// consumed prefetched blocks and so freed budget.
func (c *Cache) refill(key string, last, size int64) {
	if c.opts.DisablePrefetch {
		return
	}
	c.mu.Lock()
	var want []target
	if o, ok := c.mu.objects[key]; ok {
		var s *stream
		for _, cand := range o.streams {
			if cand.lastIdx == last {
				s = cand
			}
		}
		want = c.targetsLocked(s, key, size)
	}
	c.mu.Unlock()
	c.schedule(want)
}

// targetsLocked lists the blocks to fetch ahead: the next Readahead blocks
// of s if it is a sequential stream (s may be nil), then the next blocks of
// every plan.
func (c *Cache) targetsLocked(s *stream, key string, size int64) []target {
	if c.opts.DisablePrefetch {
		return nil
	}
	var want []target
	if s != nil && s.run >= seqRun {
		n := numBlocks(size, c.opts.BlockSize)
		for i := s.lastIdx + 1; i <= s.lastIdx+int64(c.opts.Readahead) && i < n; i++ {
			want = append(want, target{BlockRef{key, i}, true})
		}
	}
	for _, p := range c.mu.plans {
		want = append(want, c.planTargetsLocked(p)...)
	}
	return want
}

// seqRun is the run of consecutive blocks that makes a stream sequential.
// Three, not two: with several streams per object a random reader would
// otherwise often look sequential (a read next to any recent one).
const seqRun = 3

// target is a block to prefetch and why.
type target struct {
	ref       BlockRef
	readahead bool // for a sequential reader (else for a plan)
}

// schedule queues prefetches of the blocks not resident or pending, in
// order, while the prefetch budget allows.
func (c *Cache) schedule(targets []target) {
	for _, tg := range targets {
		ref := tg.ref
		c.mu.Lock()
		_, isPending := c.mu.pending[ref]
		_, inPool := c.mu.pool[ref]
		c.mu.Unlock()
		if isPending || inPool {
			continue
		}
		if c.l1 != nil {
			if _, ok := c.l1.Get(l1Key(ref)); ok {
				continue
			}
		}
		c.mu.Lock()
		if c.mu.closed {
			c.mu.Unlock()
			return
		}
		if _, ok := c.mu.pending[ref]; ok {
			c.mu.Unlock()
			continue
		}
		bytes := c.opts.BlockSize
		if o, ok := c.mu.objects[ref.Key]; ok {
			bytes = blockLen(o.size, c.opts.BlockSize, ref.Index)
			if bytes == 0 {
				c.mu.Unlock()
				continue
			}
		}
		if c.mu.pendingBytes+bytes > c.opts.PrefetchBytes {
			c.reclaimLocked()
		}
		if c.mu.pendingBytes+bytes > c.opts.PrefetchBytes {
			c.mu.Unlock()
			return
		}
		c.mu.pending[ref] = &pending{bytes: bytes, readahead: tg.readahead}
		c.mu.pendingBytes += bytes
		c.mu.Unlock()
		select {
		case c.prefetchq <- ref:
		default:
			c.st.prefetchDropped.Add(1)
			c.mu.Lock()
			c.releaseLocked(ref, cancelled) // dropped, not fetched: not waste
			c.mu.Unlock()
		}
	}
}

// reclaimLocked releases the budget of prefetched blocks unread for
// pendingTTL.
func (c *Cache) reclaimLocked() {
	now := time.Now()
	for ref, p := range c.mu.pending {
		if !p.done.IsZero() && now.Sub(p.done) > pendingTTL {
			c.releaseLocked(ref, wasted)
		}
	}
}

// outcome is how a prefetch ended, for the counters.
type outcome int

const (
	used      outcome = iota // read by a reader
	wasted                   // fetched and evicted, skipped or expired unread
	cancelled                // never fetched (queue full, already resident)
)

// releaseLocked returns ref's prefetch budget and counts the outcome.
func (c *Cache) releaseLocked(ref BlockRef, how outcome) {
	p, ok := c.mu.pending[ref]
	if !ok {
		return
	}
	delete(c.mu.pending, ref)
	c.mu.pendingBytes -= p.bytes
	switch how {
	case used:
		c.st.prefetchUsed.Add(1)
	case wasted:
		c.st.prefetchWasted.Add(1)
	}
}

// consumed notes a demand read of ref that missed L1. A staged prefetch of
// it is used: it moves into L1 and is returned. One in flight is used too
// (the read joins its flight); one still queued is cancelled, so that the
// worker does not fetch the block again after the read's own flight.
func (c *Cache) consumed(ref BlockRef, gen uint64) *entry {
	c.mu.Lock()
	p, ok := c.mu.pending[ref]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	e := p.e
	switch {
	case e != nil && e.gen == gen:
		c.releaseLocked(ref, used)
	case e != nil:
		c.releaseLocked(ref, wasted) // of an older generation
		e = nil
	case p.issued:
		c.releaseLocked(ref, used)
	default:
		c.releaseLocked(ref, cancelled)
	}
	c.mu.Unlock()
	if e != nil {
		c.insertL1(e)
	}
	return e
}

// prefetchWorker fetches queued blocks until Close.
func (c *Cache) prefetchWorker() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case ref := <-c.prefetchq:
			c.prefetch(ref)
		}
	}
}

// prefetch fetches one block into L1 through the single-flight path.
func (c *Cache) prefetch(ref BlockRef) {
	size, gen, err := c.object(c.ctx, ref.Key)
	if err != nil {
		c.mu.Lock()
		c.releaseLocked(ref, wasted)
		c.mu.Unlock()
		return
	}
	if c.l1Get(ref, gen) != nil {
		c.mu.Lock()
		c.releaseLocked(ref, cancelled) // already resident: nothing fetched
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	p, ok := c.mu.pending[ref]
	if ok {
		p.issued = true
	}
	c.mu.Unlock()
	if !ok {
		return // a demand read took it over meanwhile
	}
	c.st.prefetchIssued.Add(1)
	blen := blockLen(size, c.opts.BlockSize, ref.Index)
	v, err, _ := c.sf.Do(l1Key(ref)+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		return c.fill(ref, gen, blen, false)
	})
	c.mu.Lock()
	if p, ok = c.mu.pending[ref]; !ok {
		c.mu.Unlock()
		if err == nil {
			// A demand read took the block over while in flight.
			c.insertL1(v.(*entry))
		}
		return
	}
	if err != nil {
		c.releaseLocked(ref, wasted)
	} else {
		p.e, p.done = v.(*entry), time.Now()
	}
	c.mu.Unlock()
}
