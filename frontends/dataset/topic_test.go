package dataset

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"strata/cache"
	"strata/logstore"
	"strata/meta"
	"strata/tier"
)

// openTieredStore opens a logstore.Store whose tiered topics offload
// sealed segments to an in-memory object store (the serve wiring, small).
func openTieredStore(t *testing.T) *logstore.Store {
	t.Helper()
	n := testMeta(t)
	cat, err := meta.NewCatalog(n, meta.CatalogOptions{Timeout: 10 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	objects := tier.NewMemory()
	blocks, err := cache.Open(cache.Options{Store: objects, BlockSize: 4 << 10, L1Bytes: 1 << 20, FetchTimeout: 5 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	so, err := logstore.NewSegmentObjects(objects, tier.RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	off, err := meta.NewManifestOffloader(meta.NewManifests(n), meta.ManifestOffloaderOptions{Logger: testLogger(), Objects: so,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: t.TempDir(), Catalog: cat, Offloader: off, Remote: blocks,
		RetentionCheckInterval: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		off.Close()
		blocks.Close()
		cat.Close()
	})
	return st
}

// TestTopicDataset: a tiered topic whose first offsets live only in the
// object store is a dataset of its records; ranks read every (partition,
// offset) once, with key, value, headers and timestamp as produced, and
// the old offsets come from the object tier.
func TestTopicDataset(t *testing.T) {
	st := openTieredStore(t)
	topic := fmt.Sprintf("ds-topic-%d", time.Now().UnixNano()%1e6)
	if _, err := st.CreateTopic(topic, 2, map[string]string{"storage.mode": "tiered", "segment.bytes": "4096",
		"local.retention.bytes": "0", "retention.ms": "-1"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // "p/offset" -> key|value|header|ts
	for p := range int32(2) {
		l, err := st.Partition(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for b := range 30 {
			var recs []logstore.Record
			for i := range 5 {
				n := b*5 + i
				r := logstore.Record{Timestamp: 1_700_000_000_000 + int64(n), Key: fmt.Appendf(nil, "k%d-%d", p, n),
					Value:   fmt.Appendf(nil, "value %d of partition %d %0100d", n, p, n),
					Headers: []logstore.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", n)}}}
				recs = append(recs, r)
				want[fmt.Sprintf("%d/%d", p, n)] = fmt.Sprintf("%s|%s|%d", r.Key, r.Value, r.Timestamp)
			}
			batch, err := logstore.EncodeBatch(recs, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for p := range int32(2) {
		l, _ := st.Partition(topic, p)
		for l.Stats().RemoteSegments == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no segment was offloaded to the object tier")
			}
			st.RunRetention()
			time.Sleep(20 * time.Millisecond)
		}
	}

	svc := newService(t, Options{Topics: st, TopicShardRecords: 40})
	ctx := context.Background()
	name := topic + "-ds"
	res, err := svc.Create(ctx, CreateRequest{Name: name, Source: "topic:" + topic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dataset.Rows != 300 || res.Dataset.Shards != 8 {
		t.Fatalf("registered %+v, want 300 rows in 8 shards of up to 40 offsets", res.Dataset)
	}
	seen := map[string]int{}
	for rank := range 3 {
		req := Request{Dataset: name, Epoch: 0, Seed: 1, Rank: rank, WorldSize: 3, BatchRows: 17}
		parts, offs := readIDs(t, svc, req, "partition"), readIDs(t, svc, req, "offset")
		for i := range parts {
			id := parts[i] + "/" + offs[i]
			if _, ok := want[id]; !ok {
				t.Fatalf("read %s, which was never produced", id)
			}
			seen[id]++
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("read %d distinct records, want %d", len(seen), len(want))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %s read %d times", id, n)
		}
	}
	// Contents, with every column.
	rd, err := svc.Open(ctx, Request{Dataset: name, WorldSize: 1, BatchRows: 1000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rec, err := rd.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if rec.NumRows() != 300 || !slices.Equal(fieldNames(rec.Schema()), []string{"partition", "offset", "timestamp", "key", "value", "headers"}) {
		t.Fatalf("batch of %d rows, schema %s", rec.NumRows(), rec.Schema())
	}
	parts, offs := rec.Column(0).(*array.Int32), rec.Column(1).(*array.Int64)
	tss, keys, vals := rec.Column(2).(*array.Timestamp), rec.Column(3).(*array.Binary), rec.Column(4).(*array.Binary)
	hdrs := rec.Column(5).(*array.List)
	hv := hdrs.ListValues().(*array.Struct).Field(1).(*array.Binary)
	for i := range int(rec.NumRows()) {
		id := fmt.Sprintf("%d/%d", parts.Value(i), offs.Value(i))
		got := fmt.Sprintf("%s|%s|%d", keys.Value(i), vals.Value(i), tss.Value(i))
		if got != want[id] {
			t.Fatalf("record %s: %q, want %q", id, got, want[id])
		}
		if a, b := hdrs.ValueOffsets(i); b-a != 1 || string(hv.Value(int(a))) != fmt.Sprint(offs.Value(i)) {
			t.Fatalf("record %s: headers %d..%d", id, a, b)
		}
	}
	for p := range int32(2) {
		l, _ := st.Partition(topic, p)
		if l.Stats().RemoteReads == 0 {
			t.Fatalf("partition %d: nothing was read from the object tier", p)
		}
	}
}

func fieldNames(sc *arrow.Schema) []string {
	var out []string
	for _, f := range sc.Fields() {
		out = append(out, f.Name)
	}
	return out
}
