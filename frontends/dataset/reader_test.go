package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"strata/meta"
	"strata/tier"
)

// TestReaderMatchesOrder: over random dataset shapes (empty shards, one-row
// shards, windows of every fill), batch sizes, world sizes and cursors,
// each rank's batches hold exactly the samples of its positions from the
// cursor on, in order, never more than batch_rows per batch; resuming at
// any cursor with another world size reads exactly the rest.
func TestReaderMatchesOrder(t *testing.T) {
	st := tier.NewMemory()
	svc := newService(t, Options{OpenStore: opener(st), LoadConcurrency: 3})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	for iter := range 30 {
		nshards := 1 + r.IntN(20)
		if iter == 0 {
			nshards = 0 // no objects: refused
		}
		dir := fmt.Sprintf("shape%d", iter)
		var rows []int64
		var first int64
		for i := range nshards {
			n := int64(r.IntN(40))
			if r.IntN(5) == 0 {
				n = int64(r.IntN(2))
			}
			data := jsonlBytes(first, n)
			key := fmt.Sprintf("%s/s%02d.jsonl", dir, i)
			if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, n)
			first += n
		}
		name := fmt.Sprintf("shape-%d-%d", iter, r.Uint32())
		res, err := svc.Create(ctx, CreateRequest{Name: name, Source: "s3://bucket/" + dir + "/", Format: meta.FormatJSONL, Replace: true}, nil)
		if nshards == 0 {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("a source with no objects: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Dataset.Rows != first {
			t.Fatalf("iter %d: %d rows, want %d", iter, res.Dataset.Rows, first)
		}
		// The ids of shard i are the running sum of rows before it plus the row.
		base := make([]int64, len(rows))
		for i := 1; i < len(rows); i++ {
			base[i] = base[i-1] + rows[i-1]
		}
		seed, epoch := r.Int64N(100), r.Int64N(4)
		d, _, err := svc.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		shardRows := make([]int64, len(d.Shards))
		for i, sh := range d.Shards {
			shardRows[i] = sh.Rows
		}
		o := NewOrder(shardRows, seed, epoch, DefaultWindowShards)
		want := make([]string, o.Total())
		for g := range o.Total() {
			s, row := o.At(g)
			want[g] = strconv.FormatInt(base[s]+row, 10)
		}
		for range 3 {
			w := []int{1, 2, 3, 8}[r.IntN(4)]
			cursor := r.Int64N(o.Total() + 1)
			batch := 1 + r.IntN(40)
			got := make([]string, o.Total())
			for rank := range w {
				rd, err := svc.Open(ctx, Request{Dataset: name, Epoch: epoch, Seed: seed, Rank: rank, WorldSize: w, BatchRows: batch, Cursor: cursor}, 0)
				if err != nil {
					t.Fatal(err)
				}
				g, _ := RankPositions(cursor, o.Total(), rank, w)
				for {
					rec, err := rd.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("iter %d: rank %d: %v", iter, rank, err)
					}
					if rec.NumRows() > int64(batch) || rec.NumRows() == 0 {
						t.Fatalf("iter %d: a batch of %d rows (batch_rows %d)", iter, rec.NumRows(), batch)
					}
					col := rec.Column(0)
					for i := range col.Len() {
						got[g] = col.ValueStr(i)
						g += int64(w)
					}
					rec.Release()
				}
				if rd.Position() != o.Total() {
					t.Fatalf("iter %d: rank %d ended at position %d of %d", iter, rank, rd.Position(), o.Total())
				}
				rd.Close()
			}
			for g := range o.Total() {
				if g < cursor && got[g] != "" || g >= cursor && got[g] != want[g] {
					t.Fatalf("iter %d (shards %v, w %d, cursor %d, batch %d): position %d read %q, want %q",
						iter, rows, w, cursor, batch, g, got[g], want[g])
				}
			}
		}
	}
}

// TestRanksShareWindows: the ranks of a job reading at once decode each
// window once between them, and still read exactly their samples.
func TestRanksShareWindows(t *testing.T) {
	st := tier.NewMemory()
	ctx := context.Background()
	var first int64
	for i := range 40 {
		data := jsonlBytes(first, 25)
		if err := st.Put(ctx, fmt.Sprintf("share/%02d.jsonl", i), bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		first += 25
	}
	svc := newService(t, Options{OpenStore: opener(st)})
	if _, err := svc.Create(ctx, CreateRequest{Name: "share", Source: "s3://b/share/", Format: meta.FormatJSONL, Replace: true}, nil); err != nil {
		t.Fatal(err)
	}
	const w = 4
	before := svc.WindowLoads()
	ids := make([][]string, w)
	done := make(chan int)
	for rank := range w {
		go func() {
			ids[rank] = readIDs(t, svc, Request{Dataset: "share", Epoch: 2, Seed: 3, Rank: rank, WorldSize: w, BatchRows: 10}, "id")
			done <- rank
		}()
	}
	for range w {
		<-done
	}
	seen := map[string]bool{}
	for _, r := range ids {
		for _, id := range r {
			if seen[id] {
				t.Fatalf("id %s read twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("read %d samples, want 1000", len(seen))
	}
	if loads := svc.WindowLoads() - before; loads != 40/DefaultWindowShards {
		t.Fatalf("%d window loads for %d windows and %d ranks", loads, 40/DefaultWindowShards, w)
	}
}
