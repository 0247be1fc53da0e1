package dataset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"strata/cache"
	"strata/internal/s3test"
	"strata/meta"
	"strata/tier"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeMeta()
	s3test.Stop()
	os.Exit(code)
}

func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// One meta node for the package's tests (tests use their own dataset names).
var metaNode struct {
	once sync.Once
	node *meta.Node
	dir  string
	err  error
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func testMeta(t testing.TB) *meta.Node {
	t.Helper()
	metaNode.once.Do(func() {
		metaNode.dir, metaNode.err = os.MkdirTemp("", "dataset-meta-")
		if metaNode.err != nil {
			return
		}
		n, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: freeAddr(t), Dir: filepath.Join(metaNode.dir, "meta"),
			RTT: 10 * time.Millisecond, Logger: testLogger()})
		if err != nil {
			metaNode.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if !n.Ready(ctx) {
			n.Close()
			metaNode.err = fmt.Errorf("meta node not ready")
			return
		}
		for !n.Status().HasLeader {
			time.Sleep(5 * time.Millisecond)
		}
		metaNode.node = n
	})
	if metaNode.err != nil {
		t.Fatal(metaNode.err)
	}
	return metaNode.node
}

func closeMeta() {
	if metaNode.node != nil {
		metaNode.node.Close()
	}
	if metaNode.dir != "" {
		os.RemoveAll(metaNode.dir)
	}
}

// s3Fixture is the real S3 server, a store over the test's prefix (for
// writing objects) and the source URL of that prefix.
type s3Fixture struct {
	env    s3test.Env
	prefix string
	store  tier.ObjectStore // bucket-level
}

func startS3(t testing.TB) *s3Fixture {
	t.Helper()
	env := s3test.Start(t)
	f := &s3Fixture{env: env, prefix: s3test.Prefix(t)}
	f.store = f.open(t, env.Endpoint)
	return f
}

func (f *s3Fixture) open(t testing.TB, endpoint string) tier.ObjectStore {
	t.Helper()
	st, err := tier.NewS3(context.Background(), tier.S3Options{Bucket: f.env.Bucket, Endpoint: endpoint, PathStyle: true,
		Region: s3test.Region, AccessKey: f.env.Access, SecretKey: f.env.Secret})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// source is the s3:// URL of dir under the test's prefix.
func (f *s3Fixture) source(dir string) string {
	return "s3://" + f.env.Bucket + "/" + f.prefix + dir + "/"
}

func (f *s3Fixture) put(t testing.TB, key string, data []byte) {
	t.Helper()
	if err := f.store.Put(context.Background(), f.prefix+key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// opener opens every location as st (tests have one bucket).
func opener(st tier.ObjectStore) StoreOpener {
	return func(context.Context, tier.Location) (tier.ObjectStore, error) { return st, nil }
}

func newService(t testing.TB, opts Options) *Service {
	t.Helper()
	opts.Datasets = meta.NewDatasets(testMeta(t))
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	if opts.Cache.L1Bytes == 0 {
		opts.Cache = cache.Options{BlockSize: 256 << 10, L1Bytes: 64 << 20, PrefetchBytes: 16 << 20}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testSchema is the schema of the Parquet, Arrow and JSONL fixtures: id
// is unique across a dataset.
var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
}, nil)

func testRecord(first, n int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(i)
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("sample-%d", i))
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 4)
	}
	return b.NewRecordBatch()
}

// parquetBytes writes rows [first, first+n) with row groups of rg rows.
func parquetBytes(t testing.TB, first, n, rg int64) []byte {
	t.Helper()
	rec := testRecord(first, n)
	defer rec.Release()
	tbl := array.NewTableFromRecords(testSchema, []arrow.RecordBatch{rec})
	defer tbl.Release()
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, rg, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// arrowBytes writes an Arrow IPC file of rows [first, first+n) in batches
// of per rows.
func arrowBytes(t testing.TB, first, n, per int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i < first+n; i += per {
		rec := testRecord(i, min(per, first+n-i))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jsonlBytes(first, n int64) []byte {
	var buf bytes.Buffer
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&buf, "{\"id\": %d, \"name\": \"sample-%d\", \"score\": %g}\n", i, i, float64(i)/4+0.5)
		if i%7 == 0 {
			buf.WriteString("\n") // blank lines are not samples
		}
	}
	return buf.Bytes()
}

// flightClient dials a Flight server.
func flightClient(t testing.TB, addr string) flight.Client {
	t.Helper()
	c, err := flight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readEndpoint reads one endpoint's stream to its end, returning the
// record batches (retained; the caller releases) and the last batch's
// metadata.
func readEndpoint(ctx context.Context, c flight.Client, ep *flight.FlightEndpoint) ([]arrow.RecordBatch, []byte, error) {
	stream, err := c.DoGet(ctx, ep.Ticket)
	if err != nil {
		return nil, nil, err
	}
	rd, err := flight.NewRecordReader(stream)
	if err != nil {
		return nil, nil, err
	}
	defer rd.Release()
	var out []arrow.RecordBatch
	var md []byte
	for rd.Next() {
		rec := rd.RecordBatch()
		rec.Retain()
		out = append(out, rec)
		md = append([]byte(nil), rd.LatestAppMetadata()...)
	}
	if err := rd.Err(); err != nil && err != io.EOF {
		return out, md, err
	}
	return out, md, nil
}

// column returns column name of recs as strings (ints formatted), in order.
func column(t testing.TB, recs []arrow.RecordBatch, name string) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		idx := r.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no column %q in %s", name, r.Schema())
		}
		col := r.Column(idx[0])
		for i := range col.Len() {
			out = append(out, col.ValueStr(i))
		}
	}
	return out
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

func writeTable(tbl arrow.Table, w io.Writer) error {
	return pqarrow.WriteTable(tbl, w, 1024, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
}
