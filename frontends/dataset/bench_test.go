package dataset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"strata/meta"
	"strata/tier"
)

// BenchmarkOrderAt: mapping a global position to (shard, row) in an epoch
// of 10,000 shards of 10,000 rows (10^8 samples).
func BenchmarkOrderAt(b *testing.B) {
	rows := make([]int64, 10000)
	for i := range rows {
		rows[i] = 10000
	}
	o := NewOrder(rows, 7, 1, DefaultWindowShards)
	b.ResetTimer()
	var g int64
	for b.Loop() {
		o.At(g)
		g = (g + 7919) % o.Total()
	}
}

// BenchmarkReadParquet: one rank reading a 64-file Parquet dataset from an
// in-memory store through the cache (decode, shuffle, Take), in samples/s.
// The seam for the storage benchmark: swap the store for S3 behind
// tier.Faulty latency, and add compute per batch.
func BenchmarkReadParquet(b *testing.B) {
	st := tier.NewMemory()
	ctx := context.Background()
	var first int64
	for i := range 64 {
		data := parquetBytes(b, first, 2000, 500)
		if err := st.Put(ctx, fmt.Sprintf("bench/p%02d.parquet", i), bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
		first += 2000
	}
	svc := newService(b, Options{OpenStore: opener(st)})
	name := fmt.Sprintf("bench-%d", b.N)
	if _, err := svc.Create(ctx, CreateRequest{Name: name, Source: "s3://bucket/bench/", Format: meta.FormatParquet, Replace: true}, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var samples int64
	for i := 0; b.Loop(); i++ {
		rd, err := svc.Open(ctx, Request{Dataset: name, Epoch: int64(i), WorldSize: 1, BatchRows: 1024}, 0)
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := rd.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			samples += rec.NumRows()
			rec.Release()
		}
		rd.Close()
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
}
