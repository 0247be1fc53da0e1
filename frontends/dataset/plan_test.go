package dataset

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"strata/cache"
	"strata/meta"
	"strata/tier"
)

// TestReadPlanPrefetches: a read hands the epoch's block order to the
// cache, which fetches the next shards ahead of the reader: with a slow
// store, blocks are prefetched and then read from memory.
func TestReadPlanPrefetches(t *testing.T) {
	f := startS3(t)
	for i := range 32 {
		f.put(t, fmt.Sprintf("plan/r%02d", i), []byte(strings.Repeat(fmt.Sprintf("%02d", i), 40<<10)))
	}
	slow := tier.NewFaulty(f.store)
	svc := newService(t, Options{OpenStore: opener(slow), LoadConcurrency: 2,
		Cache: cache.Options{BlockSize: 32 << 10, L1Bytes: 64 << 20, PrefetchBytes: 8 << 20, PrefetchConcurrency: 16}})
	ctx := context.Background()
	name := testName(f, "plan")
	if _, err := svc.Create(ctx, CreateRequest{Name: name, Source: f.source("plan"), Format: meta.FormatRaw}, nil); err != nil {
		t.Fatal(err)
	}
	slow.SetLatency(20 * time.Millisecond)
	rd, err := svc.Open(ctx, Request{Dataset: name, Epoch: 1, WorldSize: 1, BatchRows: 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for {
		rec, err := rd.Next(ctx)
		if err != nil {
			break
		}
		n += int(rec.NumRows())
		rec.Release()
		time.Sleep(5 * time.Millisecond) // the training step
	}
	if n != 32 {
		t.Fatalf("read %d samples, want 32", n)
	}
	st, ok := svc.CacheStats(f.source("plan"))
	if !ok {
		t.Fatal("no cache for the source")
	}
	t.Logf("cache: %+v", st)
	if st.PrefetchIssued == 0 || st.PrefetchUsed == 0 {
		t.Fatalf("the plan prefetched nothing useful: issued %d used %d", st.PrefetchIssued, st.PrefetchUsed)
	}
}

// TestReadPlanHorizon: over more windows than one plan covers, the plan is
// rebuilt as the read goes, and the read is complete.
func TestReadPlanHorizon(t *testing.T) {
	st := tier.NewMemory()
	ctx := context.Background()
	const n = (planWindows + 30) * DefaultWindowShards
	for i := range n {
		data := fmt.Sprintf("sample %d", i)
		if err := st.Put(ctx, fmt.Sprintf("hz/%04d", i), strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	svc := newService(t, Options{OpenStore: opener(st)})
	if _, err := svc.Create(ctx, CreateRequest{Name: "horizon", Source: "s3://b/hz/", Format: meta.FormatRaw, Replace: true}, nil); err != nil {
		t.Fatal(err)
	}
	rd, err := svc.Open(ctx, Request{Dataset: "horizon", WorldSize: 1, BatchRows: 100}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]bool{}
	plans := map[int]bool{}
	for {
		rec, err := rd.Next(ctx)
		if err != nil {
			break
		}
		for i := range int(rec.NumRows()) {
			seen[rec.Column(0).ValueStr(i)] = true
		}
		rec.Release()
		plans[rd.planFrom] = true
		if len(rd.planStart) > planWindows {
			t.Fatalf("a plan of %d windows", len(rd.planStart))
		}
	}
	if len(seen) != n {
		t.Fatalf("read %d distinct samples, want %d", len(seen), n)
	}
	if len(plans) < 2 {
		t.Fatalf("the plan was never rebuilt over %d windows", n/DefaultWindowShards)
	}
}
