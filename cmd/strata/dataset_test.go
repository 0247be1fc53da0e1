package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"strata/internal/s3test"
	"strata/tier"
)

// arrowjsDir holds the npm apache-arrow reader (tools/arrowjs).
const arrowjsDir = "../../tools/arrowjs"

// nodeReader runs tools/arrowjs/read.mjs on url and returns the values of
// column. A missing node_modules fails with the install hint.
func nodeReader(t *testing.T, url, column string) (contentType string, fields, values []string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(arrowjsDir, "node_modules", "apache-arrow")); err != nil {
		t.Fatalf("the npm apache-arrow package is not installed in tools/arrowjs: run `make test-deps` (npm ci --prefix tools/arrowjs): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(arrowjsDir, "read.mjs"), url, column)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node read.mjs %s: %v\n%s", url, err, stderr.String())
	}
	var out struct {
		ContentType string   `json:"contentType"`
		Fields      []string `json:"fields"`
		Rows        int      `json:"rows"`
		Values      []string `json:"values"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node read.mjs printed %q: %v", stdout.String(), err)
	}
	if out.Rows != len(out.Values) {
		t.Fatalf("node read %d rows but %d values", out.Rows, len(out.Values))
	}
	return out.ContentType, out.Fields, out.Values
}

// flightIDs reads every rank of a CMD descriptor with arrow-go's Flight
// client and returns each rank's column values.
func flightIDs(t *testing.T, addr string, desc map[string]any, column string) [][]string {
	t.Helper()
	c, err := flight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, _ := json.Marshal(desc)
	fi, err := c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]string, len(fi.Endpoint))
	for rank, ep := range fi.Endpoint {
		stream, err := c.DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := flight.NewRecordReader(stream)
		if err != nil {
			t.Fatal(err)
		}
		for rd.Next() {
			col := rd.RecordBatch().Column(rd.Schema().FieldIndices(column)[0])
			for i := range col.Len() {
				out[rank] = append(out[rank], col.ValueStr(i))
			}
		}
		rd.Release()
	}
	return out
}

func writeTestParquet(t *testing.T, first, n int) []byte {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "label", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("label-%d", i%10))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	defer tbl.Release()
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, 32, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDatasetServeEndToEnd runs `strata serve` with its Flight listener and
// drives it as a user would: the CLI registers a Parquet dataset in the
// real S3 server (credentials and endpoint from the AWS environment, as
// --tier takes them) and a JSONL directory with a bad file; list, describe,
// read with --out; the HTTP stream read by the npm apache-arrow package
// gives the same samples in the same order as arrow-go's Flight client.
func TestDatasetServeEndToEnd(t *testing.T) {
	env := s3test.Start(t)
	// No other test of this binary uses the S3 server; stop the one this
	// test may have started (one `make test` started is left alone).
	t.Cleanup(s3test.Stop)
	prefix := s3test.Prefix(t)
	st, err := tier.NewS3(context.Background(), tier.S3Options{Bucket: env.Bucket, Prefix: prefix + "pq/", Endpoint: env.Endpoint,
		PathStyle: true, Region: s3test.Region, AccessKey: env.Access, SecretKey: env.Secret})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, n := range []int{90, 45, 130, 7, 64} {
		data := writeTestParquet(t, total, n)
		if err := st.Put(context.Background(), fmt.Sprintf("part-%d.parquet", i), bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	jdir := t.TempDir()
	for i := range 3 {
		var b strings.Builder
		for j := range 40 {
			fmt.Fprintf(&b, "{\"id\": %d, \"text\": \"line %d\"}\n", i*100+j, j)
		}
		os.WriteFile(filepath.Join(jdir, fmt.Sprintf("f%d.jsonl", i)), []byte(b.String()), 0o644)
	}
	os.WriteFile(filepath.Join(jdir, "zz-broken.jsonl"), []byte("{\"id\": 1}\n{broken\n"), 0o644)

	t.Setenv("AWS_ENDPOINT_URL", env.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", env.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.Secret)
	t.Setenv("AWS_REGION", s3test.Region)
	dataDir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	flightAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv, err := spawnServer(t, dataDir, httpAddr, "--raft-addr", raftAddrFor(t, dataDir), "--flight-addr", flightAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.waitReady(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	cliEnv := cleanEnv("STRATA_SERVER="+srv.url, "STRATA_FLIGHT="+flightAddr)
	cwd := t.TempDir()
	cli := func(args ...string) cliResult { return runStrata(t, cwd, cliEnv, args...) }
	ok := func(args ...string) cliResult {
		t.Helper()
		r := cli(args...)
		if r.code != 0 {
			t.Fatalf("strata %s: exit %d\nstdout: %s\nstderr: %s\nserver: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr, srv.log())
		}
		return r
	}

	src := "s3://" + env.Bucket + "/" + prefix + "pq/"
	mustMatch(t, ok("dataset", "create", "pq", "--source", src, "--format", "parquet").stdout,
		fmt.Sprintf(`^dataset pq registered: 5 shards, %d rows, `, total))
	r := ok("dataset", "create", "js", "--source", "file://"+jdir, "--format", "jsonl")
	mustMatch(t, r.stdout, `^dataset js registered: 4 shards, 120 rows`)
	mustMatch(t, r.stderr, `1 objects left out`, `zz-broken\.jsonl: .*corrupt`)
	if r := cli("dataset", "create", "pq", "--source", src, "--format", "jsonl"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("registering pq again as another format: exit %d %q", r.code, r.stderr)
	}
	if r := cli("dataset", "create", "bad", "--source", "ftp://x", "--format", "raw"); r.code != 1 || !strings.Contains(r.stderr, "source") {
		t.Errorf("a bad source: exit %d %q", r.code, r.stderr)
	}
	mustMatch(t, ok("dataset", "list").stdout, `(?m)^NAME\s+FORMAT\s+SHARDS\s+ROWS`, `(?m)^js\s+jsonl\s+4\s+120\s`, `(?m)^pq\s+parquet\s+5\s+336\s`)
	mustMatch(t, ok("dataset", "describe", "js").stdout, `(?m)^\s+id: int64$`, `(?m)^\s+text: utf8$`, `Left out \(1\)`)

	// strata dataset read, saving what it read.
	out := filepath.Join(cwd, "rank1.arrow")
	r = ok("dataset", "read", "pq", "--epoch", "1", "--seed", "5", "--rank", "1", "--world-size", "2", "--batch-rows", "50", "--out", out)
	mustMatch(t, r.stdout, `^read 168 rows in 4 batches .* rows/s`, `saved to `)
	var rj readResultJSON
	if err := json.Unmarshal([]byte(ok("dataset", "read", "pq", "--epoch", "1", "--seed", "5", "--world-size", "2", "-o", "json").stdout), &rj); err != nil || rj.Rows != 168 || rj.Position != int64(total) || rj.RowsPerSec <= 0 {
		t.Fatalf("read -o json: %+v %v", rj, err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := ipc.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	saved := 0
	var savedIDs []string
	for i := range fr.NumRecords() {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			t.Fatal(err)
		}
		saved += int(rec.NumRows())
		for j := range int(rec.NumRows()) {
			savedIDs = append(savedIDs, rec.Column(0).ValueStr(j))
		}
		rec.Release()
	}
	fr.Close()
	f.Close()

	// The same read three ways: Flight (arrow-go), the HTTP stream (npm
	// apache-arrow), and what the CLI saved.
	fl := flightIDs(t, flightAddr, map[string]any{"dataset": "pq", "epoch": 1, "seed": 5, "world_size": 2, "batch_rows": 50}, "id")
	if !slices.Equal(fl[1], savedIDs) || saved != 168 {
		t.Fatalf("the CLI saved %d rows, not rank 1's Flight read", saved)
	}
	all := map[string]bool{}
	for rank := range 2 {
		ct, fields, ids := nodeReader(t, fmt.Sprintf("%s/api/v1/datasets/pq/stream?epoch=1&seed=5&rank=%d&world_size=2&batch_rows=50", srv.url, rank), "id")
		if ct != "application/vnd.apache.arrow.stream" || !slices.Equal(fields, []string{"id: Int64", "label: Utf8"}) {
			t.Fatalf("HTTP stream: %s %v", ct, fields)
		}
		if !slices.Equal(ids, fl[rank]) {
			t.Fatalf("rank %d: the HTTP stream (npm apache-arrow) read %d ids, not the Flight read's %d in order", rank, len(ids), len(fl[rank]))
		}
		for _, id := range ids {
			if all[id] {
				t.Fatalf("id %s in both ranks", id)
			}
			all[id] = true
		}
	}
	if len(all) != total {
		t.Fatalf("ranks read %d distinct ids, want %d", len(all), total)
	}
	_, fields, ids := nodeReader(t, srv.url+"/api/v1/datasets/js/stream?columns=text&cursor=100", "text")
	if len(ids) != 20 || !slices.Equal(fields, []string{"text: Utf8"}) {
		t.Fatalf("jsonl from cursor 100: %d rows, fields %v", len(ids), fields)
	}

	// HTTP errors name the field.
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/datasets/pq/stream?world_size=0", 400, "world_size"},
		{"/api/v1/datasets/pq/stream?rank=2&world_size=2", 400, "rank"},
		{"/api/v1/datasets/pq/stream?columns=nope", 400, "columns"},
		{"/api/v1/datasets/pq/stream?cursor=1000", 400, "cursor"},
		{"/api/v1/datasets/nope/stream", 404, "nope"},
		{"/api/v1/datasets/nope", 404, "nope"},
	} {
		resp, err := http.Get(srv.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var e errorJSON
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(e.Error, tc.want) {
			t.Errorf("GET %s: %d %+v, want %d naming %q", tc.path, resp.StatusCode, e, tc.code, tc.want)
		}
	}

	// The registration routes without the CLI: JSON in, 201 with the
	// result; the name again 409; --strict over the broken file 422.
	body := fmt.Sprintf(`{"name": "js2", "source": "file://%s", "format": "jsonl"}`, jdir)
	if code, out := httpPost(t, srv.url+"/api/v1/datasets", body); code != http.StatusCreated || !strings.Contains(out, `"rows": 120`) || !strings.Contains(out, "zz-broken.jsonl") {
		t.Errorf("POST /api/v1/datasets: %d %s", code, out)
	}
	if code, out := httpPost(t, srv.url+"/api/v1/datasets", body); code != http.StatusConflict || !strings.Contains(out, codeDatasetExists) {
		t.Errorf("POST /api/v1/datasets again: %d %s", code, out)
	}
	strict := fmt.Sprintf(`{"name": "js3", "source": "file://%s", "format": "jsonl", "strict": true}`, jdir)
	if code, out := httpPost(t, srv.url+"/api/v1/datasets", strict); code != http.StatusUnprocessableEntity || !strings.Contains(out, "zz-broken.jsonl") {
		t.Errorf("POST strict: %d %s", code, out)
	}
	if code, out := httpPost(t, srv.url+"/api/v1/datasets", `{"name": "x", "source": "file:///nonexistent-dir", "format": "jsonl"}`); code != http.StatusBadRequest || !strings.Contains(out, "nonexistent-dir") {
		t.Errorf("POST over a missing directory: %d %s", code, out)
	}
	resp, err := http.Get(srv.url + "/api/v1/datasets")
	if err != nil {
		t.Fatal(err)
	}
	var dl datasetListJSON
	json.NewDecoder(resp.Body).Decode(&dl)
	resp.Body.Close()
	if len(dl.Datasets) != 3 || dl.Datasets[0].Name != "js" || dl.Datasets[1].Name != "js2" || dl.Datasets[2].Name != "pq" {
		t.Errorf("GET /api/v1/datasets: %+v", dl)
	}

	ok("dataset", "delete", "pq")
	if r := cli("dataset", "read", "pq"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("reading a deleted dataset: exit %d %q", r.code, r.stderr)
	}
	if strings.Contains(ok("dataset", "list").stdout, "pq ") {
		t.Error("the deleted dataset is still listed")
	}
	srv.stop(t)
}
