package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/tier"
)

// pattern returns n deterministic bytes that differ between keys.
func pattern(key string, n int) []byte {
	seed := uint64(len(key))
	for _, c := range key {
		seed = seed*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func openTest(t testing.TB, opts Options) *Cache {
	t.Helper()
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func readAll(t *testing.T, c *Cache, key string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	n, err := c.ReadAt(context.Background(), key, b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read %q: n=%d err=%v", key, n, err)
	}
	return b[:n]
}

// prefetched reports whether a prefetch of ref has completed and not yet
// been read.
func prefetched(c *Cache, ref BlockRef) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.mu.pending[ref]
	return ok && !p.done.IsZero()
}

func TestBlockMath(t *testing.T) {
	const bs = 10
	for _, tc := range []struct {
		off, n, size         int64
		first, last, clamped int64
		ok                   bool
	}{
		{off: 0, n: 10, size: 100, first: 0, last: 0, clamped: 10, ok: true},
		{off: 0, n: 11, size: 100, first: 0, last: 1, clamped: 11, ok: true},
		{off: 9, n: 2, size: 100, first: 0, last: 1, clamped: 2, ok: true},
		{off: 10, n: 10, size: 100, first: 1, last: 1, clamped: 10, ok: true},
		{off: 95, n: 10, size: 100, first: 9, last: 9, clamped: 5, ok: true},
		{off: 0, n: 1000, size: 95, first: 0, last: 9, clamped: 95, ok: true},
		{off: 100, n: 1, size: 100},
		{off: 5, n: 0, size: 100},
		{off: -1, n: 5, size: 100},
		{off: 0, n: 5, size: 0},
	} {
		first, last, clamped, ok := blockSpan(tc.off, tc.n, tc.size, bs)
		if first != tc.first || last != tc.last || clamped != tc.clamped || ok != tc.ok {
			t.Errorf("blockSpan(%d, %d, %d) = %d, %d, %d, %v; want %d, %d, %d, %v",
				tc.off, tc.n, tc.size, first, last, clamped, ok, tc.first, tc.last, tc.clamped, tc.ok)
		}
	}
	for _, tc := range []struct{ size, idx, want int64 }{
		{100, 0, 10}, {100, 9, 10}, {100, 10, 0}, {95, 9, 5}, {95, -1, 0}, {0, 0, 0},
	} {
		if got := blockLen(tc.size, bs, tc.idx); got != tc.want {
			t.Errorf("blockLen(%d, %d) = %d, want %d", tc.size, tc.idx, got, tc.want)
		}
	}
	for _, tc := range []struct{ size, want int64 }{{0, 0}, {1, 1}, {10, 1}, {11, 2}, {100, 10}} {
		if got := numBlocks(tc.size, bs); got != tc.want {
			t.Errorf("numBlocks(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	st := newTestStore(t)
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error, "" for valid
	}{
		{"defaults", Options{Store: st}, ""},
		{"no store", Options{}, "a store is required"},
		{"block too big", Options{Store: st, BlockSize: 2 << 30}, "BlockSize"},
		{"l1 below a block", Options{Store: st, BlockSize: 1 << 20, L1Bytes: 1 << 10}, "L1Bytes"},
		{"plan above l1", Options{Store: st, L1Bytes: 8 << 20, PlanBytes: 16 << 20, BlockSize: 1 << 20}, "PlanBytes"},
		{"l2 below a block", Options{Store: st, L2Dir: "x", L2Bytes: 1}, "L2Bytes"},
		{"concurrency", Options{Store: st, PrefetchConcurrency: -1}, "PrefetchConcurrency"},
		{"readahead", Options{Store: st, Readahead: -2}, "Readahead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.EnsureDefaults()
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid options rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestReadPaths reads ranges through the cache (first from the store, then
// from L1) and compares with the object's bytes.
func TestReadPaths(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seg", 1000)
	st.set("seg", obj)
	c := openTest(t, Options{Store: st, BlockSize: 64, L1Bytes: 1 << 20, DisablePrefetch: true})
	ctx := context.Background()
	for _, tc := range []struct {
		off, n  int64
		wantN   int
		wantEOF bool
	}{
		{0, 64, 64, false},
		{10, 100, 100, false},
		{60, 300, 300, false},
		{990, 10, 10, false},
		{990, 20, 10, true},
		{1000, 5, 0, true},
		{2000, 5, 0, true},
		{0, 0, 0, false},
	} {
		for pass := range 2 {
			p := make([]byte, tc.n)
			n, err := c.ReadAt(ctx, "seg", p, tc.off)
			if n != tc.wantN || errors.Is(err, io.EOF) != tc.wantEOF || (err != nil && !errors.Is(err, io.EOF)) {
				t.Fatalf("pass %d ReadAt(off=%d, n=%d) = %d, %v; want %d, eof=%v", pass, tc.off, tc.n, n, err, tc.wantN, tc.wantEOF)
			}
			if n > 0 && !bytes.Equal(p[:n], obj[tc.off:tc.off+int64(n)]) {
				t.Fatalf("pass %d ReadAt(off=%d, n=%d): wrong bytes", pass, tc.off, tc.n)
			}
			c.l1.Wait()
		}
	}
	s := c.Stats()
	if s.StoreFetches != 7 { // blocks 0..5 and 15, each fetched once
		t.Errorf("store fetches = %d, want 7", s.StoreFetches)
	}
	if s.L1Hits == 0 || s.L1BytesRead == 0 {
		t.Errorf("no L1 hits on the second pass: %+v", s)
	}
	if _, err := c.ReadAt(ctx, "missing", make([]byte, 1), 0); !errors.Is(err, tier.ErrNotFound) {
		t.Errorf("missing object: err = %v, want tier.ErrNotFound", err)
	}
	if got, err := io.ReadAll(io.NewSectionReader(c.Reader(ctx, "seg"), 0, 1000)); err != nil || !bytes.Equal(got, obj) {
		t.Errorf("Reader: %d bytes, err %v", len(got), err)
	}
}

// TestL2SurvivesRestart: blocks written to L2 are served after a restart
// with the store down, and an L2 hit is promoted to L1.
func TestL2SurvivesRestart(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seg", 500)
	st.set("seg", obj)
	dir := t.TempDir()
	opts := Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, L2Dir: dir, L2Bytes: 1 << 20, DisablePrefetch: true}
	c := openTest(t, opts)
	readAll(t, c, "seg", 500)
	c.Close() // finishes the L2 writes

	c2 := openTest(t, opts)
	if n, b := c2.l2.usage(); n != 5 || b != 5*(entryFixedLen+3+100) {
		t.Fatalf("after restart L2 holds %d entries, %d bytes; want 5, %d", n, b, 5*(entryFixedLen+3+100))
	}
	if _, err := c2.Size(context.Background(), "seg"); err != nil { // Head, then the store goes away
		t.Fatal(err)
	}
	st.SetDown(true)
	gets := st.gets()
	if got := readAll(t, c2, "seg", 500); !bytes.Equal(got, obj) {
		t.Fatal("wrong bytes from L2")
	}
	c2.l1.Wait()
	if got := readAll(t, c2, "seg", 500); !bytes.Equal(got, obj) {
		t.Fatal("wrong bytes from L1")
	}
	s := c2.Stats()
	if st.gets() != gets || s.L2Hits != 5 || s.L1Hits != 5 {
		t.Fatalf("store gets %d (want %d), stats %+v; want 5 L2 hits then 5 L1 hits", st.gets(), gets, s)
	}
}

// TestL2TornAndCorrupt: a torn entry is dropped when L2 opens; an entry
// whose data fails its CRC is dropped when read; both blocks are refetched.
func TestL2TornAndCorrupt(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seg", 300)
	st.set("seg", obj)
	dir := t.TempDir()
	opts := Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, L2Dir: dir, L2Bytes: 1 << 20, DisablePrefetch: true}
	c := openTest(t, opts)
	readAll(t, c, "seg", 300)
	c.Close()

	torn := filepath.Join(dir, entryName(BlockRef{"seg", 0}))
	if err := os.Truncate(torn, entryFixedLen+3+50); err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(dir, entryName(BlockRef{"seg", 1}))
	b, err := os.ReadFile(flipped)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(flipped, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "put-123.tmp"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sound entry under another block's name, and a file too short for
	// a header.
	b2, err := os.ReadFile(filepath.Join(dir, entryName(BlockRef{"seg", 2})))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, entryName(BlockRef{"seg", 7})), b2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, entryName(BlockRef{"other", 0})), []byte("STRAT"), 0o644); err != nil {
		t.Fatal(err)
	}

	c2 := openTest(t, opts)
	if n, _ := c2.l2.usage(); n != 2 {
		t.Fatalf("L2 holds %d entries after open, want 2 (the torn one dropped)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "put-123.tmp")); !os.IsNotExist(err) {
		t.Fatalf("temp file survived open: %v", err)
	}
	if s := c2.Stats(); s.L2Corrupt != 3 {
		t.Fatalf("L2Corrupt = %d after open, want 3 (torn, misnamed, short)", s.L2Corrupt)
	}
	gets := st.gets()
	if got := readAll(t, c2, "seg", 300); !bytes.Equal(got, obj) {
		t.Fatal("wrong bytes")
	}
	s := c2.Stats()
	if s.L2Corrupt != 4 || s.L2Hits != 1 || st.gets()-gets != 2 {
		t.Fatalf("L2Corrupt %d L2Hits %d store gets %d; want 4, 1, 2", s.L2Corrupt, s.L2Hits, st.gets()-gets)
	}
	c2.Close()
	c3 := openTest(t, opts) // the refetched blocks were written back
	if n, _ := c3.l2.usage(); n != 3 {
		t.Fatalf("L2 holds %d entries, want 3", n)
	}
}

func TestL2Bounded(t *testing.T) {
	st := newTestStore(t)
	st.set("seg", pattern("seg", 1000))
	entry := int64(entryFixedLen + 3 + 100)
	opts := Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, L2Dir: t.TempDir(), L2Bytes: 4 * entry, DisablePrefetch: true}
	c := openTest(t, opts)
	readAll(t, c, "seg", 1000)
	c.Close()
	c2 := openTest(t, opts)
	if n, b := c2.l2.usage(); n != 4 || b != 4*entry {
		t.Fatalf("L2 holds %d entries, %d bytes; want 4, %d", n, b, 4*entry)
	}
	if s := c.Stats(); s.L2Evictions != 6 {
		t.Fatalf("L2 evictions %d, want 6", s.L2Evictions)
	}
}

// TestSingleflight: N concurrent readers of one cold block make one Get.
func TestSingleflight(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seg", 4096)
	st.set("seg", obj)
	st.SetLatency(20 * time.Millisecond)
	c := openTest(t, Options{Store: st, BlockSize: 4096, L1Bytes: 1 << 20, DisablePrefetch: true})
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			p := make([]byte, 100)
			if _, err := c.ReadAt(context.Background(), "seg", p, 1000); err != nil || !bytes.Equal(p, obj[1000:1100]) {
				t.Errorf("read: %v", err)
			}
		})
	}
	wg.Wait()
	if g, h := st.gets(), st.Requests(tier.OpHead); g != 1 || h != 1 {
		t.Fatalf("store Gets %d, Heads %d; want 1 and 1", g, h)
	}
}

// TestStoreErrorsRetriable: a down store's error reaches the reader as
// tier.ErrUnavailable and is not cached; the next read succeeds.
func TestStoreErrorsRetriable(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seg", 300)
	st.set("seg", obj)
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, DisablePrefetch: true})
	ctx := context.Background()
	st.SetDown(true)
	p := make([]byte, 300)
	if _, err := c.ReadAt(ctx, "seg", p, 0); !errors.Is(err, tier.ErrUnavailable) {
		t.Fatalf("head with the store down: err = %v, want tier.ErrUnavailable", err)
	}
	st.SetDown(false)
	if _, err := c.Size(ctx, "seg"); err != nil {
		t.Fatal(err)
	}
	st.SetDown(true)
	if _, err := c.ReadAt(ctx, "seg", p, 0); !errors.Is(err, tier.ErrUnavailable) {
		t.Fatalf("get with the store down: err = %v, want tier.ErrUnavailable", err)
	}
	st.SetDown(false)
	if n, err := c.ReadAt(ctx, "seg", p, 0); err != nil || n != 300 || !bytes.Equal(p, obj) {
		t.Fatalf("after recovery: n=%d err=%v", n, err)
	}
}

func TestReadCancelled(t *testing.T) {
	st := newTestStore(t)
	st.set("seg", pattern("seg", 100))
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, DisablePrefetch: true})
	if _, err := c.Size(context.Background(), "seg"); err != nil {
		t.Fatal(err)
	}
	st.SetLatency(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.ReadAt(ctx, "seg", make([]byte, 10), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

// TestStoreHangs: a store that hangs fails readers at their own deadline and
// the shared fetch at FetchTimeout, as retriable; once the store answers
// again, so does the cache.
func TestStoreHangs(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seg", 100)
	st.set("seg", obj)
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, FetchTimeout: 100 * time.Millisecond, DisablePrefetch: true})
	if _, err := c.Size(context.Background(), "seg"); err != nil {
		t.Fatal(err)
	}
	st.SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	p := make([]byte, 100)
	if _, err := c.ReadAt(ctx, "seg", p, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reader deadline: err = %v", err)
	}
	if _, err := c.ReadAt(context.Background(), "seg", p, 0); !errors.Is(err, tier.ErrUnavailable) {
		t.Fatalf("fetch timeout: err = %v, want tier.ErrUnavailable", err)
	}
	st.SetHang(false)
	if _, err := c.ReadAt(context.Background(), "seg", p, 0); err != nil || !bytes.Equal(p, obj) {
		t.Fatalf("after the store answers again: %v", err)
	}
}

func TestInvalidate(t *testing.T) {
	st := newTestStore(t)
	dir := t.TempDir()
	st.set("seg", pattern("old", 250))
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, L2Dir: dir, L2Bytes: 1 << 20, DisablePrefetch: true})
	readAll(t, c, "seg", 250)
	c.l1.Wait()
	eventually(t, "L2 writes", func() bool { n, _ := c.l2.usage(); return n == 3 })
	st.set("seg", pattern("new", 180))
	c.Invalidate("seg")
	if n, _ := c.l2.usage(); n != 0 {
		t.Fatalf("L2 holds %d entries of an invalidated object", n)
	}
	if got := readAll(t, c, "seg", 250); !bytes.Equal(got, pattern("new", 180)) {
		t.Fatalf("read after Invalidate: %d bytes, not the new object", len(got))
	}
}

// TestReadahead: a sequential reader gets the next blocks fetched ahead; a
// random reader gets none.
func TestReadahead(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("seq", 100*20)
	st.set("seq", obj)
	st.set("rnd", pattern("rnd", 100*20))
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, Readahead: 4, PrefetchBytes: 1 << 20})
	ctx := context.Background()
	p := make([]byte, 100)
	for i := range int64(3) {
		if _, err := c.ReadAt(ctx, "seq", p, i*100); err != nil {
			t.Fatal(err)
		}
	}
	// Blocks 0, 1, 2 in order make a sequential stream: 3..6 come ahead.
	eventually(t, "readahead of blocks 3..6", func() bool { return c.Stats().PrefetchIssued == 4 && st.gets() == 7 })
	for i := int64(3); i < 20; i++ {
		// Before block i is read, blocks 3..i+3 have been fetched ahead.
		want := min(i+3, 19) - 2
		eventually(t, "readahead", func() bool { return c.Stats().PrefetchIssued == want && prefetched(c, BlockRef{"seq", i}) })
		c.l1.Wait()
		if _, err := c.ReadAt(ctx, "seq", p, i*100); err != nil || !bytes.Equal(p, obj[i*100:i*100+100]) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if s := c.Stats(); s.PrefetchUsed != 17 || s.PrefetchIssued != 17 || s.L1Hits != 17 || st.gets() != 20 {
		t.Fatalf("stats %+v, store gets %d; want blocks 3..19 prefetched, then read from L1", s, st.gets())
	}

	before := c.Stats().PrefetchIssued
	for _, i := range []int64{7, 2, 15, 9, 0, 12, 4, 18, 11, 5} {
		if _, err := c.ReadAt(ctx, "rnd", p, i*100); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if s := c.Stats(); s.PrefetchIssued != before {
		t.Fatalf("random reader triggered %d prefetches", s.PrefetchIssued-before)
	}
}

// TestPrefetch: a reader about to move to another object asks for its
// first bytes ahead; the blocks arrive before the reader does, and reading
// them costs no store request.
func TestPrefetch(t *testing.T) {
	st := newTestStore(t)
	obj := pattern("next", 100*10)
	st.set("next", obj)
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, Readahead: 4, PrefetchBytes: 1 << 20})
	c.Prefetch("next", 50, 250) // blocks 0..2
	eventually(t, "blocks 0..2 prefetched", func() bool {
		return prefetched(c, BlockRef{"next", 0}) && prefetched(c, BlockRef{"next", 1}) && prefetched(c, BlockRef{"next", 2})
	})
	p := make([]byte, 300)
	if _, err := c.ReadAt(context.Background(), "next", p, 0); err != nil || !bytes.Equal(p, obj[:300]) {
		t.Fatalf("read: %v", err)
	}
	// The read itself fetched nothing (three blocks in a row then start
	// ordinary readahead of blocks 3.., which is not a refetch).
	if s := c.Stats(); s.PrefetchUsed != 3 || s.L1Hits != 3 || s.L1Misses != 0 {
		t.Fatalf("stats %+v: the read did not use the prefetched blocks", s)
	}
	c.Prefetch("missing", 0, 100) // a failed Head is only counted
	c.Prefetch("next", 5000, 100) // past the end: nothing
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Prefetch("next", 0, 100) // after Close: nothing, no panic
}

// TestReadaheadTwoStreams: two readers scanning one object at different
// places both get readahead.
func TestReadaheadTwoStreams(t *testing.T) {
	st := newTestStore(t)
	st.set("seg", pattern("seg", 100*40))
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, Readahead: 2, PrefetchBytes: 1 << 20})
	p := make([]byte, 100)
	for _, i := range []int64{0, 20, 1, 21, 2, 22} {
		if _, err := c.ReadAt(context.Background(), "seg", p, i*100); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int64{3, 4, 23, 24} {
		eventually(t, fmt.Sprint("readahead of block ", i), func() bool { return prefetched(c, BlockRef{"seg", i}) })
	}
}

// TestPlanPrefetchBudget: a plan is fetched ahead no further than the byte
// budget allows, and more as the reader consumes it.
func TestPlanPrefetchBudget(t *testing.T) {
	st := newTestStore(t)
	st.set("ds", pattern("ds", 100*10))
	c := openTest(t, Options{Store: st, BlockSize: 100, L1Bytes: 1 << 20, PrefetchBytes: 300, PrefetchConcurrency: 2})
	ctx := context.Background()
	order := []int64{6, 2, 9, 0, 4, 7, 1, 8, 3, 5}
	var plan []BlockRef
	for _, i := range order {
		plan = append(plan, BlockRef{"ds", i})
	}
	c.SetPlan("epoch0", plan)
	eventually(t, "3 prefetched", func() bool { return st.gets() == 3 })
	time.Sleep(20 * time.Millisecond)
	if g := st.gets(); g != 3 {
		t.Fatalf("%d store gets with a 3-block budget", g)
	}
	for _, i := range order[:3] {
		eventually(t, "the first planned blocks staged", func() bool { return prefetched(c, BlockRef{"ds", i}) })
	}
	p := make([]byte, 100)
	for k, i := range order {
		eventually(t, "the next planned block staged", func() bool { return prefetched(c, BlockRef{"ds", i}) })
		if _, err := c.ReadAt(ctx, "ds", p, i*100); err != nil {
			t.Fatal(err)
		}
		want := int64(min(k+4, 10))
		eventually(t, "the budget to move on", func() bool { return st.gets() == want })
	}
	s := c.Stats()
	if st.gets() != 10 || s.PrefetchUsed != 10 || s.L1Misses != 0 {
		t.Fatalf("store gets %d, stats %+v; want every block prefetched once and read from L1", st.gets(), s)
	}
}

// TestPlanFallsBackToRistretto: blocks no plan reads again leave the plan
// pool for ristretto, and a ristretto block a new plan mentions moves into
// the pool.
func TestPlanFallsBackToRistretto(t *testing.T) {
	st := newTestStore(t)
	st.set("o", pattern("o", 40))
	c := openTest(t, Options{Store: st, BlockSize: 10, L1Bytes: 1 << 10, PlanBytes: 20, DisablePrefetch: true})
	p := make([]byte, 10)
	ctx := context.Background()
	if _, err := c.ReadAt(ctx, "o", p, 0); err != nil { // no plan: ristretto
		t.Fatal(err)
	}
	c.l1.Wait()
	c.SetPlan("p", []BlockRef{{"o", 1}, {"o", 0}})
	if _, err := c.ReadAt(ctx, "o", p, 10); err != nil { // planned, read once: ristretto
		t.Fatal(err)
	}
	if _, err := c.ReadAt(ctx, "o", p, 0); err != nil { // L1 hit; the plan is done with it
		t.Fatal(err)
	}
	if s := c.Stats(); s.L1Hits != 1 || s.StoreFetches != 2 {
		t.Fatalf("stats %+v; want 1 L1 hit, 2 fetches", s)
	}
	c.SetPlan("q", []BlockRef{{"o", 2}, {"o", 0}})
	c.l1.Wait()
	if e := c.l1Get(BlockRef{"o", 0}, 1); e == nil {
		t.Fatal("block 0 not in L1")
	}
	c.mu.Lock()
	_, inPool := c.mu.pool[BlockRef{"o", 0}]
	c.mu.Unlock()
	if !inPool {
		t.Fatal("block 0, planned by q, did not move into the plan pool")
	}
}

func TestMetricsRegistered(t *testing.T) {
	st := newTestStore(t)
	st.set("o", pattern("o", 10))
	reg := prometheus.NewRegistry()
	c := openTest(t, Options{Store: st, BlockSize: 10, L1Bytes: 1 << 10, Registerer: reg})
	readAll(t, c, "o", 10)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{
		"strata_cache_hits_total", "strata_cache_misses_total", "strata_cache_bytes_total",
		"strata_cache_evictions_total", "strata_cache_prefetch_issued_total", "strata_cache_prefetch_used_total",
		"strata_cache_prefetch_wasted_total", "strata_cache_fetch_seconds", "strata_cache_resident_bytes",
	} {
		if !names[n] {
			t.Errorf("metric %s not registered", n)
		}
	}
	if _, err := Open(Options{Store: st, Registerer: reg}); err == nil {
		t.Error("a second cache registered the same metrics")
	}
	c.Close()
	c2 := openTest(t, Options{Store: st, Registerer: reg}) // Close unregistered
	c2.Close()
}
