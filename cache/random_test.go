package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"strata/tier"
)

// TestRandomConcurrent runs random readers (ranges, sequential scans,
// plans), invalidations, and a store failing 5% of requests against a small
// cache whose every level and budget is under pressure. Every byte returned
// must be the object's, and every error a retriable store error.
func TestRandomConcurrent(t *testing.T) {
	const bs = 1000
	st := newTestStore(t)
	st.SetErrorRate(0.05)
	objs := map[string][]byte{}
	var keys []string
	for i, size := range []int{1, 999, 1000, 4321, 20 * bs, 17*bs + 3} {
		key := fmt.Sprintf("obj/%d", i)
		objs[key] = pattern(key, size)
		st.set(key, objs[key])
		keys = append(keys, key)
	}
	c := openTest(t, Options{
		Store: st, BlockSize: bs, L1Bytes: 8 * bs, PlanBytes: 3 * bs,
		L2Dir: t.TempDir(), L2Bytes: 10 * (bs + 100),
		PrefetchBytes: 5 * bs, PrefetchConcurrency: 3, Readahead: 3,
	})
	check := func(key string, p []byte, off int64, n int, err error) {
		obj := objs[key]
		if err != nil && !errors.Is(err, io.EOF) {
			if !errors.Is(err, tier.ErrUnavailable) {
				t.Errorf("%s at %d: %v, want a retriable error", key, off, err)
			}
			return
		}
		want := obj[min(off, int64(len(obj))):min(off+int64(len(p)), int64(len(obj)))]
		if n != len(want) || !bytes.Equal(p[:n], want) {
			t.Errorf("%s at %d len %d: got %d bytes, want %d (or different bytes)", key, off, len(p), n, len(want))
		}
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			ctx := context.Background()
			for range 150 {
				key := keys[r.IntN(len(keys))]
				size := int64(len(objs[key]))
				switch op := r.IntN(10); {
				case op < 5:
					off := r.Int64N(size + 10)
					p := make([]byte, r.IntN(3*bs))
					n, err := c.ReadAt(ctx, key, p, off)
					check(key, p, off, n, err)
				case op < 7:
					p := make([]byte, 300)
					for off := int64(0); off < size; off += 300 {
						n, err := c.ReadAt(ctx, key, p, off)
						check(key, p, off, n, err)
					}
				case op < 9:
					var plan []BlockRef
					for _, i := range r.Perm(int(numBlocks(size, bs))) {
						plan = append(plan, BlockRef{key, int64(i)})
					}
					id := fmt.Sprint("g", g)
					c.SetPlan(id, plan)
					p := make([]byte, bs)
					for _, b := range plan {
						n, err := c.ReadAt(ctx, key, p, b.Index*bs)
						check(key, p, b.Index*bs, n, err)
					}
					c.DropPlan(id)
				default:
					c.Invalidate(key)
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.L1Hits == 0 || s.L2Hits == 0 || s.StoreFetches == 0 || s.PrefetchIssued == 0 {
		t.Errorf("some path never ran: %+v", s)
	}
	t.Logf("%+v", s)
}
