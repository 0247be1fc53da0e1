package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/cache"
	"strata/internal/faultproxy"
	"strata/meta"
	"strata/tier"
)

// readRanks reads every rank of world through svc and returns each rank's
// ids in order.
func readRanks(t *testing.T, svc *Service, name string, world int, col string) [][]string {
	t.Helper()
	out := make([][]string, world)
	var wg sync.WaitGroup
	for rank := range world {
		wg.Go(func() {
			out[rank] = readIDs(t, svc, Request{Dataset: name, Epoch: 3, Seed: 11, Rank: rank, WorldSize: world, BatchRows: 50}, col)
		})
	}
	wg.Wait()
	return out
}

func checkSameRead(t *testing.T, what string, got, want [][]string) {
	t.Helper()
	for rank := range want {
		if !slices.Equal(got[rank], want[rank]) {
			t.Fatalf("%s: rank %d read %d samples, not the %d of the clean read in its order", what, rank, len(got[rank]), len(want[rank]))
		}
	}
}

// TestReadsThroughNetworkFaults: the real S3 server behind a TCP fault
// proxy that adds latency and keeps cutting every connection; ranks read
// concurrently and each gets exactly the samples, in the order, of a clean
// read: retries are invisible, nothing is lost or repeated.
func TestReadsThroughNetworkFaults(t *testing.T) {
	f := startS3(t)
	var total int64
	for i := range 12 {
		n := int64(500 + 137*i)
		f.put(t, fmt.Sprintf("net/p%02d.parquet", i), parquetBytes(t, total, n, 200))
		total += n
	}
	for i := range 40 {
		f.put(t, fmt.Sprintf("netraw/r%02d", i), []byte(strings.Repeat(fmt.Sprintf("raw %d ", i), 3000)))
	}
	clean := newService(t, Options{OpenStore: opener(f.store)})
	ctx := context.Background()
	pname, rname := testName(f, "net"), testName(f, "netraw")
	if _, err := clean.Create(ctx, CreateRequest{Name: pname, Source: f.source("net"), Format: meta.FormatParquet}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := clean.Create(ctx, CreateRequest{Name: rname, Source: f.source("netraw"), Format: meta.FormatRaw}, nil); err != nil {
		t.Fatal(err)
	}
	wantP, wantR := readRanks(t, clean, pname, 3, "id"), readRanks(t, clean, rname, 2, "key")

	host := strings.TrimPrefix(strings.TrimPrefix(f.env.Endpoint, "http://"), "https://")
	px, err := faultproxy.New(host)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	px.SetDelay(3 * time.Millisecond)
	faulty := newService(t, Options{OpenStore: opener(f.open(t, px.URL()))})
	stop := make(chan struct{})
	var cutter sync.WaitGroup
	cutter.Go(func() {
		for {
			select {
			case <-stop:
				return
			// Every 40 to 200 ms: a fixed short period on a loaded
			// machine (-race, parallel packages) can cut every attempt of
			// one request, which no retry budget survives.
			case <-time.After(time.Duration(40+rand.IntN(160)) * time.Millisecond):
				px.CutAll()
			}
		}
	})
	gotP, gotR := readRanks(t, faulty, pname, 3, "id"), readRanks(t, faulty, rname, 2, "key")
	close(stop)
	cutter.Wait()
	checkSameRead(t, "parquet through cuts", gotP, wantP)
	checkSameRead(t, "raw through cuts", gotR, wantR)
	if px.Accepted() < 3 {
		t.Fatalf("the proxy accepted %d connections: the reads did not go through it", px.Accepted())
	}
}

// TestReadsThroughStoreErrors: the store fails one request in ten
// (retriable) and answers slowly; reads still return exactly the clean
// read, and the failures did happen.
func TestReadsThroughStoreErrors(t *testing.T) {
	f := startS3(t)
	var total int64
	for i := range 8 {
		n := int64(300 + 91*i)
		f.put(t, fmt.Sprintf("err/p%02d.arrow", i), arrowBytes(t, total, n, 64))
		f.put(t, fmt.Sprintf("errj/p%02d.jsonl", i), jsonlBytes(total, n))
		total += n
	}
	clean := newService(t, Options{OpenStore: opener(f.store)})
	ctx := context.Background()
	aname, jname := testName(f, "err"), testName(f, "errj")
	for name, dir := range map[string]string{aname: "err", jname: "errj"} {
		format := meta.FormatArrow
		if dir == "errj" {
			format = meta.FormatJSONL
		}
		if _, err := clean.Create(ctx, CreateRequest{Name: name, Source: f.source(dir), Format: format}, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantA, wantJ := readRanks(t, clean, aname, 2, "id"), readRanks(t, clean, jname, 3, "id")

	fs := tier.NewFaulty(f.store)
	fs.SetLatency(2 * time.Millisecond)
	fs.SetErrorRate(0.1)
	// small blocks: many requests, so many failures
	faulty := newService(t, Options{OpenStore: opener(fs), Cache: cache.Options{BlockSize: 8 << 10, L1Bytes: 64 << 20}})
	gotA, gotJ := readRanks(t, faulty, aname, 2, "id"), readRanks(t, faulty, jname, 3, "id")
	checkSameRead(t, "arrow through store errors", gotA, wantA)
	checkSameRead(t, "jsonl through store errors", gotJ, wantJ)
	t.Logf("gets %d, failed %d; heads %d, failed %d", fs.Requests(tier.OpGet), fs.Failures(tier.OpGet), fs.Requests(tier.OpHead), fs.Failures(tier.OpHead))
	if fs.Failures(tier.OpGet) == 0 {
		t.Fatal("no Get failed: the test injected nothing")
	}
}

// TestNextAfterOutage: while the store is down Next fails with a retriable
// error and consumes nothing; once it is back the same reader goes on and
// reads every sample once. (No prefetching, and windows of more rows than
// a batch, so some Next has to wait on the store.)
func TestNextAfterOutage(t *testing.T) {
	st := tier.NewMemory()
	ctx := context.Background()
	var first int64
	for i := range 20 {
		data := jsonlBytes(first, 10)
		if err := st.Put(ctx, fmt.Sprintf("out/%02d.jsonl", i), strings.NewReader(string(data)), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		first += 10
	}
	fs := tier.NewFaulty(st)
	svc := newService(t, Options{OpenStore: opener(fs), Cache: cache.Options{BlockSize: 1 << 10, L1Bytes: 16 << 20, DisablePrefetch: true}})
	if _, err := svc.Create(ctx, CreateRequest{Name: "outage", Source: "s3://b/out/", Format: meta.FormatJSONL, Replace: true}, nil); err != nil {
		t.Fatal(err)
	}
	rd, err := svc.Open(ctx, Request{Dataset: "outage", WorldSize: 1, BatchRows: 30}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]int{}
	read := func(rec interface {
		NumRows() int64
		Release()
	}, col func(int) string) {
		for i := range int(rec.NumRows()) {
			seen[col(i)]++
		}
		rec.Release()
	}
	failures := 0
	for n := 0; ; n++ {
		switch n {
		case 0, 4: // at the first window, and in the middle of the second
			fs.SetDown(true)
		case 2, 6:
			fs.SetDown(false)
		}
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, tier.ErrUnavailable) {
				t.Fatalf("batch %d: %v, want a retriable error", n, err)
			}
			failures++
			continue
		}
		read(rec, rec.Column(0).ValueStr)
	}
	if failures == 0 {
		t.Fatal("no Next failed while the store was down")
	}
	if len(seen) != 200 {
		t.Fatalf("read %d distinct samples, want 200", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("sample %s read %d times", id, n)
		}
	}
}
