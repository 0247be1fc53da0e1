package cache

import (
	"math"
	"sort"
)

const (
	// never is the next-use distance of a block no active plan reads again.
	never = math.MaxInt64
	// inferWindow is how far ahead of a plan's position a read may land and
	// still advance the plan to it (a reader that skipped a few blocks).
	inferWindow = 64
	// maxPlanScan caps the plan entries one prefetch pass looks at.
	maxPlanScan = 4096
)

// plan is one reader's ordered future: blocks[pos:] are still to be read.
type plan struct {
	blocks []BlockRef
	pos    int
	where  map[BlockRef][]int // ascending positions of each block in blocks
}

func newPlan(blocks []BlockRef) *plan {
	p := &plan{blocks: append([]BlockRef(nil), blocks...), where: make(map[BlockRef][]int)}
	for i, b := range p.blocks {
		p.where[b] = append(p.where[b], i)
	}
	return p
}

// nextUse is the number of plan steps until b is read again: 0 if it is the
// very next block, never if the plan does not read it again.
func (p *plan) nextUse(b BlockRef) int64 {
	ps := p.where[b]
	i := sort.SearchInts(ps, p.pos)
	if i == len(ps) {
		return never
	}
	return int64(ps[i] - p.pos)
}

// observe moves the plan to b when b is planned within inferWindow of
// the position; it reports whether the position moved. The plan stops AT
// b, not past it: a reader often reads one block several times in a row
// (a Parquet reader: each column chunk in it), and b stays the block in
// use, next-use distance 0, until the reader reads a later planned block.
func (p *plan) observe(b BlockRef) bool {
	ps := p.where[b]
	i := sort.SearchInts(ps, p.pos)
	if i == len(ps) || ps[i] >= p.pos+inferWindow {
		return false
	}
	moved := ps[i] != p.pos
	p.pos = ps[i]
	return moved
}

// nextUseLocked is Belady's key: the least next-use distance of b over all
// active plans.
func (c *Cache) nextUseLocked(b BlockRef) int64 {
	d := int64(never)
	for _, p := range c.mu.plans {
		d = min(d, p.nextUse(b))
	}
	return d
}

// furthestLocked returns the pool resident whose next use is furthest away
// (ties broken by key, then index, for determinism).
func (c *Cache) furthestLocked() (*entry, int64) {
	var victim *entry
	vd := int64(-1)
	for ref, e := range c.mu.pool {
		d := c.nextUseLocked(ref)
		if d > vd || (d == vd && (ref.Key < victim.ref.Key || (ref.Key == victim.ref.Key && ref.Index < victim.ref.Index))) {
			victim, vd = e, d
		}
	}
	return victim, vd
}

// poolAdmitLocked offers e to the plan pool. A block no plan reads again is
// refused. Otherwise residents are evicted furthest-next-use first while the
// pool is over its bound and the victim is needed later than e; if e itself
// would be the furthest, it is refused (Belady's bypass). Refused and evicted
// entries are returned for ristretto (the caller sets them outside c.mu).
func (c *Cache) poolAdmitLocked(e *entry) (admitted bool, demoted []*entry) {
	size := int64(len(e.data))
	if c.opts.PlanBytes < size {
		return false, nil
	}
	if old, ok := c.mu.pool[e.ref]; ok {
		c.mu.pool[e.ref] = e
		c.mu.poolBytes += size - int64(len(old.data))
		c.st.planResident.Store(c.mu.poolBytes)
		return true, nil
	}
	d := c.nextUseLocked(e.ref)
	if d == never {
		return false, nil
	}
	for c.mu.poolBytes+size > c.opts.PlanBytes {
		victim, vd := c.furthestLocked()
		if vd <= d {
			return false, demoted
		}
		delete(c.mu.pool, victim.ref)
		c.mu.poolBytes -= int64(len(victim.data))
		c.st.planEvicts.Add(1)
		demoted = append(demoted, victim)
	}
	c.mu.pool[e.ref] = e
	c.mu.poolBytes += size
	c.st.planResident.Store(c.mu.poolBytes)
	return true, demoted
}

// SetPlan installs (or replaces) the plan id: the ordered blocks a reader
// will read. The cache prefetches ahead of the plan's position within the
// prefetch budget and keeps the blocks the active plans need soonest.
func (c *Cache) SetPlan(id string, blocks []BlockRef) {
	p := newPlan(blocks)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.plans[id] = p
	want := c.planTargetsLocked(p)
	c.mu.Unlock()
	c.schedule(want)
}

// Advance sets plan id's position: blocks[:pos] have been read. Reads also
// advance a plan by themselves (a read of a block planned within the next
// 64 positions moves the position to it), so Advance is for readers that
// skip ahead.
func (c *Cache) Advance(id string, pos int) {
	c.mu.Lock()
	p, ok := c.mu.plans[id]
	if !ok {
		c.mu.Unlock()
		return
	}
	p.pos = max(0, min(pos, len(p.blocks)))
	want := c.planTargetsLocked(p)
	c.mu.Unlock()
	c.schedule(want)
}

// DropPlan removes plan id; its blocks fall back to ristretto's policy as
// they are evicted from the plan pool.
func (c *Cache) DropPlan(id string) {
	c.mu.Lock()
	delete(c.mu.plans, id)
	c.mu.Unlock()
}

// planTargetsLocked lists the plan's next blocks that fit the prefetch
// budget's free bytes, in plan order.
func (c *Cache) planTargetsLocked(p *plan) []target {
	if c.opts.DisablePrefetch {
		return nil
	}
	free := c.opts.PrefetchBytes - c.mu.pendingBytes
	var want []target
	seen := make(map[BlockRef]bool)
	for i := p.pos; i < len(p.blocks) && i < p.pos+maxPlanScan && free > 0; i++ {
		b := p.blocks[i]
		if seen[b] {
			continue
		}
		seen[b] = true
		if _, ok := c.mu.pending[b]; ok {
			continue
		}
		if _, ok := c.mu.pool[b]; ok {
			continue
		}
		free -= c.opts.BlockSize
		want = append(want, target{ref: b})
	}
	return want
}
