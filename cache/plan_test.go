package cache

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestBelady runs testdata/belady: demand reads against a plan pool (the
// whole of L1, no prefetching) with each step's hit or miss and pool
// contents worked out by hand from Belady's rule. Blocks are letters: A is
// block 0 of one object, B block 1, and so on. Commands:
//
//	open pool=N            a cache whose L1 is a plan pool of N blocks
//	plan id=P              input: the plan's blocks, e.g. "A B C A"
//	advance id=P pos=N
//	drop id=P
//	read X Y ...           one line per read: hit or miss, and the pool after
//	stats                  plan evictions
func TestBelady(t *testing.T) {
	const bs = 10
	var c *Cache
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	letters := func(s []string) []BlockRef {
		var refs []BlockRef
		for _, l := range s {
			refs = append(refs, BlockRef{"o", int64(l[0] - 'A')})
		}
		return refs
	}
	datadriven.RunTest(t, "testdata/belady", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "open":
			var pool int64
			d.ScanArgs(t, "pool", &pool)
			if c != nil {
				c.Close()
			}
			st := newTestStore(t)
			st.set("o", pattern("o", 26*bs))
			var err error
			c, err = Open(Options{Store: st, BlockSize: bs, L1Bytes: pool * bs, PlanBytes: pool * bs, DisablePrefetch: true})
			if err != nil {
				return err.Error()
			}
			return "ok"
		case "plan":
			var id string
			d.ScanArgs(t, "id", &id)
			c.SetPlan(id, letters(strings.Fields(d.Input)))
			return "ok"
		case "advance":
			var id string
			var pos int
			d.ScanArgs(t, "id", &id)
			d.ScanArgs(t, "pos", &pos)
			c.Advance(id, pos)
			return "ok"
		case "drop":
			var id string
			d.ScanArgs(t, "id", &id)
			c.DropPlan(id)
			return "ok"
		case "read":
			var out strings.Builder
			p := make([]byte, bs)
			for _, arg := range d.CmdArgs {
				ref := letters([]string{arg.Key})[0]
				hits := c.Stats().L1Hits
				if _, err := c.ReadAt(context.Background(), "o", p, ref.Index*bs); err != nil {
					return err.Error()
				}
				result := "miss"
				if c.Stats().L1Hits > hits {
					result = "hit "
				}
				c.mu.Lock()
				var pool []string
				for r := range c.mu.pool {
					pool = append(pool, string(rune('A'+r.Index)))
				}
				c.mu.Unlock()
				sort.Strings(pool)
				fmt.Fprintf(&out, "%s %s  pool: %s\n", arg.Key, result, strings.Join(pool, " "))
			}
			return out.String()
		case "stats":
			s := c.Stats()
			return fmt.Sprintf("hits=%d misses=%d plan-evictions=%d", s.L1Hits, s.L1Misses, s.PlanEvictions)
		}
		t.Fatalf("unknown command %q", d.Cmd)
		return ""
	})
}
