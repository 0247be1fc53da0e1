package dataset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"strata/meta"
	"strata/tier"
)

func testName(f *s3Fixture, what string) string {
	return what + "-" + strings.Trim(strings.ToLower(f.prefix[len(f.prefix)-7:]), "/")
}

// TestBadObjects: a corrupt Parquet file, a file of another schema and a
// truncated one are each named with what is wrong; the dataset registers
// with the rest, which reads completely. --strict refuses it.
func TestBadObjects(t *testing.T) {
	f := startS3(t)
	svc := newService(t, Options{OpenStore: opener(f.store)})
	ctx := context.Background()
	f.put(t, "bad/a.parquet", parquetBytes(t, 0, 20, 8))
	f.put(t, "bad/b.parquet", []byte("this is not parquet at all, just some bytes PAR1"))
	good := parquetBytes(t, 20, 10, 8)
	f.put(t, "bad/c.parquet", good[:len(good)/2])
	// another schema
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(mem, other)
	b.Field(0).(*array.StringBuilder).Append("x")
	rec := b.NewRecordBatch()
	b.Release()
	f.put(t, "bad/d.parquet", writeParquetRecord(t, rec))
	rec.Release()
	f.put(t, "bad/e.parquet", parquetBytes(t, 30, 15, 8))
	f.put(t, "bad/_SUCCESS", nil) // skipped, as Spark's marker

	name := testName(f, "bad")
	_, err := svc.Create(ctx, CreateRequest{Name: name, Source: f.source("bad"), Format: "parquet", Strict: true}, nil)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "3 of 5 objects are bad") {
		t.Fatalf("strict registration: %v", err)
	}
	if _, _, err := svc.Get(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused registration stored the dataset: %v", err)
	}
	res, err := svc.Create(ctx, CreateRequest{Name: name, Source: f.source("bad"), Format: "parquet"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dataset.Rows != 35 || len(res.Errors) != 3 {
		t.Fatalf("registered %+v with errors %v; want 35 rows and 3 bad objects", res.Dataset, res.Errors)
	}
	want := map[string]string{"b.parquet": "corrupt", "c.parquet": "corrupt", "d.parquet": "schema differs from"}
	for _, e := range res.Errors {
		base := e.Key[strings.LastIndex(e.Key, "/")+1:]
		if w, ok := want[base]; !ok || !strings.Contains(e.Error, w) {
			t.Errorf("object %s: %q, want it to say %q", e.Key, e.Error, w)
		}
	}
	desc, err := svc.Describe(ctx, name, false)
	if err != nil || len(desc.Errors) != 3 || desc.Rows != 35 {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	ids := readIDs(t, svc, Request{Dataset: name, Epoch: 0, WorldSize: 1}, "id")
	if len(ids) != 35 {
		t.Fatalf("read %d rows of the good objects, want 35", len(ids))
	}

	// An object deleted after registration fails the read, naming it
	// (through a new server: this one's cache still holds the object).
	if err := f.store.Delete(ctx, f.prefix+"bad/e.parquet"); err != nil {
		t.Fatal(err)
	}
	rd, err := newService(t, Options{OpenStore: opener(f.store)}).Open(ctx, Request{Dataset: name, WorldSize: 1, BatchRows: 1000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for err == nil {
		var r arrow.RecordBatch
		r, err = rd.Next(ctx)
		if r != nil {
			r.Release()
		}
	}
	if !strings.Contains(err.Error(), "e.parquet") || grpcCode(err) != codes.DataLoss {
		t.Fatalf("read after the object went: %v (%v), want DataLoss naming e.parquet", err, grpcCode(err))
	}

	// A source with no objects, and one whose every object is bad.
	if _, err := svc.Create(ctx, CreateRequest{Name: name + "x", Source: f.source("nothing-here"), Format: "parquet"}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty source: %v", err)
	}
	f.put(t, "allbad/x.parquet", []byte("nope"))
	if _, err := svc.Create(ctx, CreateRequest{Name: name + "y", Source: f.source("allbad"), Format: "parquet"}, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "x.parquet") {
		t.Fatalf("all bad: %v", err)
	}
}

func grpcCode(err error) codes.Code { return status.Code(grpcError(err)) }

func writeParquetRecord(t testing.TB, rec arrow.RecordBatch) []byte {
	t.Helper()
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	defer tbl.Release()
	var sb strings.Builder
	if err := writeTable(tbl, &sb); err != nil {
		t.Fatal(err)
	}
	return []byte(sb.String())
}

// readIDs reads a whole request through the Service (no Flight) and
// returns column col.
func readIDs(t testing.TB, svc *Service, req Request, col string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rd, err := svc.Open(ctx, req, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var recs []arrow.RecordBatch
	for {
		r, err := rd.Next(ctx)
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	defer release(recs)
	return column(t, recs, col)
}

// TestRegisterTenThousandObjects: a prefix of 10,000 Parquet objects
// registers in seconds against the loopback S3 server (footers read 64 at
// a time), with progress reported for every object.
func TestRegisterTenThousandObjects(t *testing.T) {
	f := startS3(t)
	svc := newService(t, Options{OpenStore: opener(f.store)})
	ctx := context.Background()
	const n = 10000
	data := parquetBytes(t, 0, 3, 3)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			key := f.prefix + fmt.Sprintf("many/part-%05d.parquet", i)
			return f.store.Put(gctx, key, strings.NewReader(string(data)), int64(len(data)))
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	var calls, last int
	start := time.Now()
	res, err := svc.Create(ctx, CreateRequest{Name: testName(f, "many"), Source: f.source("many"), Format: "parquet"}, func(p Progress) {
		calls++
		if p.Done < last || p.Total != n {
			t.Errorf("progress %+v after %d", p, last)
		}
		last = p.Done
	})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("registered %d objects in %s", n, took)
	if res.Dataset.Shards != n || res.Dataset.Rows != 3*n || calls != n || last != n {
		t.Fatalf("registered %+v, %d progress calls", res.Dataset, calls)
	}
	if took > 30*time.Second {
		t.Fatalf("registration of %d objects took %s", n, took)
	}
}

// TestBadArrowObjects: Arrow IPC files of another schema, truncated, or not
// Arrow at all are named and left out; the rest reads completely.
func TestBadArrowObjects(t *testing.T) {
	st := tier.NewMemory()
	ctx := context.Background()
	put := func(key string, data []byte) {
		if err := st.Put(ctx, key, strings.NewReader(string(data)), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	put("ab/1.arrow", arrowBytes(t, 0, 25, 10))
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil)
	var buf strings.Builder
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(other))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	put("ab/2.arrow", []byte(buf.String()))
	whole := arrowBytes(t, 25, 25, 10)
	put("ab/3.arrow", whole[:len(whole)-20])
	put("ab/4.arrow", []byte("ARROW1 but nothing else"))
	put("ab/5.arrow", arrowBytes(t, 25, 30, 7))
	svc := newService(t, Options{OpenStore: opener(st)})
	res, err := svc.Create(ctx, CreateRequest{Name: "bad-arrow", Source: "s3://b/ab/", Format: meta.FormatArrow, Replace: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dataset.Rows != 55 || len(res.Errors) != 3 {
		t.Fatalf("registered %+v errors %v", res.Dataset, res.Errors)
	}
	for i, want := range []string{"ab/2.arrow: schema differs", "ab/3.arrow: dataset: corrupt", "ab/4.arrow: dataset: corrupt"} {
		if got := res.Errors[i].Key + ": " + res.Errors[i].Error; !strings.HasPrefix(got, want) {
			t.Errorf("error %d: %q, want %q...", i, got, want)
		}
	}
	if ids := readIDs(t, svc, Request{Dataset: "bad-arrow", WorldSize: 1, BatchRows: 8}, "id"); len(ids) != 55 {
		t.Fatalf("read %d rows, want 55", len(ids))
	}
}
