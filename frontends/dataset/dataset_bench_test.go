package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"strata/cache"
	"strata/internal/s3test"
	"strata/meta"
	"strata/tier"
)

// The storage benchmark's knobs. The configuration is
//
//	go test ./frontends/dataset -run '^$' -bench BenchmarkStorage -benchtime 1x -storage.mib 2048
//
// the default (256 MiB) finishes in a few minutes on a small machine.
var (
	storageMiB     = flag.Int("storage.mib", 256, "BenchmarkStorage: dataset size in MiB")
	storageFiles   = flag.Int("storage.files", 64, "BenchmarkStorage: Parquet files")
	storageSample  = flag.Int("storage.sample", 1024, "BenchmarkStorage: payload bytes per sample")
	storageBatch   = flag.Int("storage.batch", 256, "BenchmarkStorage: samples per batch")
	storageCompute = flag.Duration("storage.compute", 10*time.Millisecond, "BenchmarkStorage: compute (a sleep, the GPU step's stand-in) per batch")
	storageLatency = flag.Duration("storage.latency", 50*time.Millisecond, "BenchmarkStorage: latency added to every S3 request")
	storageEpochs  = flag.Int("storage.epochs", 3, "BenchmarkStorage: shuffled epochs of the eviction experiment")
)

// benchRowGroup is the Parquet row group of the benchmark's files (rows).
const benchRowGroup = 1024

// BenchmarkStorage is the storage benchmark, against the real S3
// server (internal/s3test) with -storage.latency added to every request,
// one rank, batches of -storage.batch samples of -storage.sample bytes,
// and a reader that sleeps -storage.compute per batch behind a queue of two
// batches (a DataLoader's prefetch):
//
//  1. accelerator utilization (compute time / wall time, as MLPerf Storage
//     reports it) and samples/s for direct aws-sdk-go-v2 reads without a
//     cache (pqarrow over ranged GetObject calls, file by file in a shuffled
//     file order, rows in file order), Strata cold (a fresh cache, epoch 1,
//     over Arrow Flight) and Strata warm (the same server, epoch 2, the
//     dataset in its cache);
//  2. -storage.epochs shuffled epochs with the block cache's memory at half
//     the dataset: how many block reads were served without an S3 fetch,
//     and the bytes fetched from S3, with plan-aware eviction (the plan pool
//     all of L1, and the default half) versus ristretto alone.
//
// It runs once whatever b.N is (use -benchtime 1x) and prints its tables.
func BenchmarkStorage(b *testing.B) {
	ctx := context.Background()
	total := int64(*storageMiB) << 20
	files := *storageFiles
	rowBytes := int64(*storageSample) + 12 // id int64, label int32
	rowsPerFile := max(1, total/int64(files)/rowBytes)
	f := startS3(b)
	out := os.Stdout

	// The dataset, written straight to the server (no latency).
	start := time.Now()
	var stored int64
	for i := range files {
		data := benchParquet(b, int64(i)*rowsPerFile, rowsPerFile, *storageSample)
		f.put(b, fmt.Sprintf("storage/part-%03d.parquet", i), data)
		stored += int64(len(data))
	}
	samples := rowsPerFile * int64(files)
	fmt.Fprintf(out, "dataset: %d Parquet files, %d samples of %d B (+12 B of id and label), %.1f MiB, row groups of %d rows; written in %v\n",
		files, samples, *storageSample, float64(stored)/(1<<20), benchRowGroup, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(out, "S3: %s (versitygw unless `make test` started another), +%v per request; reader: %d samples per batch, %v compute per batch, queue of 2 batches\n",
		f.env.Endpoint, *storageLatency, *storageBatch, *storageCompute)

	lat := newLatencyTransport(*storageLatency)
	// The SDK refuses a custom *http.Client when AWS_CA_BUNDLE is set (it
	// cannot add the roots to it); the loopback server is plain HTTP.
	b.Setenv("AWS_CA_BUNDLE", "")
	st, err := tier.NewS3(ctx, tier.S3Options{Bucket: f.env.Bucket, Endpoint: f.env.Endpoint, PathStyle: true,
		Region: s3test.Region, AccessKey: f.env.Access, SecretKey: f.env.Secret, HTTPClient: &http.Client{Transport: lat}})
	if err != nil {
		b.Fatal(err)
	}
	name := "storage-bench-" + f.prefix[len(f.prefix)-12:]
	name = name[:len(name)-1]
	source := f.source("storage")
	reg := benchService(b, st, cache.Options{L1Bytes: 64 << 20})
	res, err := reg.Create(ctx, CreateRequest{Name: name, Source: source, Format: meta.FormatParquet}, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg.Close()
	if res.Dataset.Rows != samples {
		b.Fatalf("registered %d rows, want %d", res.Dataset.Rows, samples)
	}
	prefetch := max(32<<20, min(128<<20, stored/8))

	// 1. Utilization: direct, Strata cold, Strata warm.
	var runs []storageRun
	lat.reset()
	r, err := readDirect(ctx, f, lat, f.prefix+"storage/", 1)
	if err != nil {
		b.Fatalf("direct: %v", err)
	}
	runs = append(runs, r)

	svc := benchService(b, st, cache.Options{L1Bytes: stored*5/4 + 64<<20, PrefetchBytes: prefetch})
	fs, err := svc.ListenFlight("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	for i, label := range []string{"Strata cold (epoch 1, empty cache)", "Strata warm (epoch 2, dataset cached)", "Strata warm, no compute (epoch 3: the reader's ceiling)"} {
		lat.reset()
		before, _ := svc.CacheStats(source)
		saved := *storageCompute
		if i == 2 {
			*storageCompute = 0
		}
		r, err := readFlight(ctx, fs.Addr().String(), name, int64(i+1))
		*storageCompute = saved
		if err != nil {
			b.Fatalf("%s: %v", label, err)
		}
		after, _ := svc.CacheStats(source)
		r.name, r.stats = label, diffStats(after, before)
		r.s3Requests, r.s3Bytes = lat.requests.Load(), lat.bytes.Load()
		runs = append(runs, r)
	}
	fs.Close()
	svc.Close()
	for _, r := range runs {
		if r.samples != samples {
			b.Fatalf("%s: read %d samples, want %d", r.name, r.samples, samples)
		}
	}
	fmt.Fprintf(out, "\n1. accelerator utilization (compute / wall), one rank, %d samples per run\n\n", samples)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reader\tutilization\tsamples/s\tMiB/s\twall\tS3 requests\tMiB from S3\tblock reads from cache\t")
	for _, r := range runs {
		hits := "-"
		if r.name != runs[0].name {
			hits = fmt.Sprintf("%.1f%%", 100*r.stats.hitRatio())
		}
		wall := r.wall.Seconds()
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.0f\t%.1f\t%.1fs\t%d\t%.1f\t%s\t\n", r.name, 100*r.compute.Seconds()/wall, float64(r.samples)/wall,
			float64(r.samples*rowBytes)/wall/(1<<20), wall, r.s3Requests, float64(r.s3Bytes)/(1<<20), hits)
	}
	tw.Flush()
	for _, r := range runs[:3] {
		b.ReportMetric(100*r.compute.Seconds()/r.wall.Seconds(), "util%-"+r.short)
	}
	if *storageCompute > 0 {
		need := float64(*storageBatch) / storageCompute.Seconds()
		fmt.Fprintf(out, "\nthe step consumes %.0f samples/s (%d per %v); utilization can reach at most min(1, reader ceiling / that) = %.0f%% here\n",
			need, *storageBatch, *storageCompute, 100*min(1, float64(runs[3].samples)/runs[3].wall.Seconds()/need))
	}

	// 2. Eviction: the cache at half the dataset, epochs 1..n.
	fmt.Fprintf(out, "\n2. %d shuffled epochs, block cache memory %.1f MiB (half the dataset), prefetch staging %.0f MiB, no compute\n\n",
		*storageEpochs, float64(stored/2)/(1<<20), float64(prefetch)/(1<<20))
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "eviction\tepoch\tblock reads\tL1 hit ratio\tMiB from S3\tS3 bytes / dataset\tS3 GETs\twall\t")
	for _, ev := range []struct {
		name string
		plan int64
	}{
		{"plan-aware (plan pool = L1)", stored / 2},
		{"plan-aware (default: plan pool = L1/2)", 0},
		{"ristretto alone (PlanBytes < 0)", -1},
	} {
		svc := benchService(b, st, cache.Options{L1Bytes: stored / 2, PlanBytes: ev.plan, PrefetchBytes: prefetch})
		fs, err := svc.ListenFlight("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		var sum cacheDiff
		var fetched int64
		for epoch := int64(1); epoch <= int64(*storageEpochs); epoch++ {
			before, _ := svc.CacheStats(source)
			saved := *storageCompute
			*storageCompute = 0
			r, err := readFlight(ctx, fs.Addr().String(), name, epoch)
			*storageCompute = saved
			if err != nil {
				b.Fatalf("%s epoch %d: %v", ev.name, epoch, err)
			}
			after, _ := svc.CacheStats(source)
			d := diffStats(after, before)
			sum.add(d)
			fetched += d.StoreBytesRead
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t%.1f\t%.2f\t%d\t%.1fs\t\n", ev.name, epoch, d.reads(), 100*d.hitRatio(),
				float64(d.StoreBytesRead)/(1<<20), float64(d.StoreBytesRead)/float64(stored), d.StoreGets, r.wall.Seconds())
		}
		fmt.Fprintf(tw, "%s\tall\t%d\t%.1f%%\t%.1f\t%.2f\t%d\t\t\n", ev.name, sum.reads(), 100*sum.hitRatio(),
			float64(fetched)/(1<<20), float64(fetched)/float64(stored), sum.StoreGets)
		fs.Close()
		svc.Close()
	}
	tw.Flush()
	fmt.Fprintln(out, "\nblock reads: reads of a block by the readers (a shard's footer and column chunks are separate reads of its blocks);")
	fmt.Fprintln(out, "L1 hit ratio: the cache's own count (a prefetched block's first read is a hit); S3 bytes / dataset: 1.00 is one full fetch of the dataset per epoch.")
}

// storageRun is one measured read of an epoch.
type storageRun struct {
	name, short         string
	samples, batches    int64
	wall, compute       time.Duration
	s3Requests, s3Bytes int64
	stats               cacheDiff
}

// consume is the training loop: batches arrive through a queue of two
// (the reader runs ahead while the step computes); each batch costs
// -storage.compute of sleep. It returns when next returns io.EOF.
func consume(ctx context.Context, next func() (arrow.RecordBatch, error)) (storageRun, error) {
	var r storageRun
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := make(chan arrow.RecordBatch, 2)
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		defer close(q)
		for {
			rec, err := next()
			if err != nil {
				if err != io.EOF { // the end, not an error that wraps io.EOF
					errc <- err
				}
				return
			}
			select {
			case q <- rec:
			case <-ctx.Done():
				rec.Release()
				return
			}
		}
	}()
	for rec := range q {
		r.samples += rec.NumRows()
		r.batches++
		rec.Release()
		if d := *storageCompute; d > 0 {
			t := time.Now()
			time.Sleep(d)
			r.compute += time.Since(t)
		}
	}
	r.wall = time.Since(start)
	select {
	case err := <-errc:
		return r, err
	default:
	}
	return r, nil
}

// readFlight reads epoch of dataset name (seed 7, one rank) over Arrow
// Flight from addr.
func readFlight(ctx context.Context, addr, name string, epoch int64) (storageRun, error) {
	c, err := flight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return storageRun{}, err
	}
	defer c.Close()
	cmd, _ := json.Marshal(map[string]any{"dataset": name, "epoch": epoch, "seed": 7, "world_size": 1, "batch_rows": *storageBatch})
	start := time.Now()
	fi, err := c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
	if err != nil {
		return storageRun{}, err
	}
	stream, err := c.DoGet(ctx, fi.Endpoint[0].Ticket)
	if err != nil {
		return storageRun{}, err
	}
	rd, err := flight.NewRecordReader(stream)
	if err != nil {
		return storageRun{}, err
	}
	defer rd.Release()
	r, err := consume(ctx, func() (arrow.RecordBatch, error) {
		if !rd.Next() {
			if err := rd.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		rec := rd.RecordBatch()
		rec.Retain()
		return rec, nil
	})
	r.wall = time.Since(start) // from GetFlightInfo on
	r.short = fmt.Sprintf("strata-e%d", epoch)
	return r, err
}

// readDirect is the baseline: aws-sdk-go-v2 and pqarrow with no cache, as a
// training script reading Parquet from S3 would: the objects in a shuffled
// order, each read row group by row group through ranged GetObject calls
// (one per column chunk, plus the footer), rows in file order.
func readDirect(ctx context.Context, f *s3Fixture, lat *latencyTransport, prefix string, epoch int64) (storageRun, error) {
	cli := s3.New(s3.Options{Region: s3test.Region, BaseEndpoint: aws.String(f.env.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(f.env.Access, f.env.Secret, ""), HTTPClient: &http.Client{Transport: lat},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired, ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
	start := time.Now()
	var objs []s3Object
	p := s3.NewListObjectsV2Paginator(cli, &s3.ListObjectsV2Input{Bucket: aws.String(f.env.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return storageRun{}, err
		}
		for _, o := range page.Contents {
			objs = append(objs, s3Object{key: aws.ToString(o.Key), size: aws.ToInt64(o.Size)})
		}
	}
	rng := rand.New(rand.NewPCG(7, uint64(epoch)))
	rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
	var (
		oi  int
		fr  *pqarrow.FileReader
		pf  *file.Reader
		rg  int
		tr  *array.TableReader
		tbl arrow.Table
	)
	cols := []int{0, 1, 2} // id, label, payload
	closeTable := func() {
		if tr != nil {
			tr.Release()
			tbl.Release()
			tr, tbl = nil, nil
		}
	}
	defer func() {
		closeTable()
		if pf != nil {
			pf.Close()
		}
	}()
	next := func() (arrow.RecordBatch, error) {
		for {
			if tr != nil && tr.Next() {
				rec := tr.RecordBatch()
				rec.Retain()
				return rec, nil
			}
			closeTable()
			if pf != nil && rg < pf.NumRowGroups() {
				var err error
				if tbl, err = fr.ReadRowGroups(ctx, cols, []int{rg}); err != nil {
					return nil, fmt.Errorf("row group %d: %w", rg, err)
				}
				tr = array.NewTableReader(tbl, int64(*storageBatch))
				rg++
				continue
			}
			if pf != nil {
				pf.Close()
				pf = nil
			}
			if oi == len(objs) {
				return nil, io.EOF
			}
			o := objs[oi]
			oi++
			var err error
			if pf, err = file.NewParquetReader(&s3ReaderAt{ctx: ctx, cli: cli, bucket: f.env.Bucket, obj: o}); err != nil {
				return nil, fmt.Errorf("%s: %w", o.key, err)
			}
			if fr, err = pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem); err != nil {
				return nil, fmt.Errorf("%s: %w", o.key, err)
			}
			rg = 0
		}
	}
	r, err := consume(ctx, next)
	r.wall = time.Since(start)
	r.name, r.short = "direct aws-sdk-go-v2, no cache", "direct"
	r.s3Requests, r.s3Bytes = lat.requests.Load(), lat.bytes.Load()
	return r, err
}

type s3Object struct {
	key  string
	size int64
}

// s3ReaderAt is a parquet.ReaderAtSeeker over one object: every ReadAt is
// one ranged GetObject.
type s3ReaderAt struct {
	ctx    context.Context
	cli    *s3.Client
	bucket string
	obj    s3Object
	pos    int64
}

func (r *s3ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.obj.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.obj.size-off)
	out, err := r.cli.GetObject(r.ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(r.obj.key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	got, err := io.ReadFull(out.Body, p[:n])
	if err != nil {
		return got, err
	}
	if n < int64(len(p)) {
		return got, io.EOF
	}
	return got, nil
}

func (r *s3ReaderAt) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.obj.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	r.pos = offset
	return offset, nil
}

// latencyTransport adds a fixed latency to every S3 request (of the
// direct reader and of Strata's store alike) and counts requests and
// response bytes.
type latencyTransport struct {
	base     http.RoundTripper
	delay    time.Duration
	requests atomic.Int64
	bytes    atomic.Int64
}

func newLatencyTransport(d time.Duration) *latencyTransport {
	return &latencyTransport{delay: d, base: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}}
}

func (t *latencyTransport) reset() { t.requests.Store(0); t.bytes.Store(0) }

func (t *latencyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.delay > 0 {
		tm := time.NewTimer(t.delay)
		select {
		case <-tm.C:
		case <-req.Context().Done():
			tm.Stop()
			return nil, req.Context().Err()
		}
	}
	t.requests.Add(1)
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.ContentLength > 0 {
		t.bytes.Add(resp.ContentLength)
	}
	return resp, err
}

// benchService is a Service over st whose caches take copts; the caller
// closes it (phases close theirs to free their memory).
func benchService(b *testing.B, st tier.ObjectStore, copts cache.Options) *Service {
	b.Helper()
	if copts.BlockSize == 0 {
		copts.BlockSize = cache.DefaultBlockSize
	}
	s, err := New(Options{Datasets: meta.NewDatasets(testMeta(b)), OpenStore: opener(st), Cache: copts, Logger: testLogger(),
		IdleWindowBytes: 1}) // epochs never share windows: do not keep decoded ones
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchParquet is one file of the benchmark: rows [first, first+n) of id
// int64, label int32 and payload (sample random bytes), uncompressed, no
// dictionaries, row groups of benchRowGroup rows.
func benchParquet(b *testing.B, first, n int64, sample int) []byte {
	b.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "label", Type: arrow.PrimitiveTypes.Int32},
		{Name: "payload", Type: arrow.BinaryTypes.Binary},
	}, nil)
	bld := array.NewRecordBuilder(mem, sc)
	defer bld.Release()
	rng := rand.NewChaCha8([32]byte{byte(first), byte(first >> 8), byte(first >> 16), byte(first >> 24)})
	buf := make([]byte, sample)
	for i := first; i < first+n; i++ {
		bld.Field(0).(*array.Int64Builder).Append(i)
		bld.Field(1).(*array.Int32Builder).Append(int32(i % 1000))
		rng.Read(buf)
		bld.Field(2).(*array.BinaryBuilder).Append(buf)
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	defer tbl.Release()
	var out bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &out, benchRowGroup, parquet.NewWriterProperties(parquet.WithDictionaryDefault(false)),
		pqarrow.DefaultWriterProps()); err != nil {
		b.Fatal(err)
	}
	return out.Bytes()
}

// cacheDiff is the cache statistics of one phase.
type cacheDiff struct{ cache.Stats }

func diffStats(a, b cache.Stats) cacheDiff {
	return cacheDiff{cache.Stats{L1Hits: a.L1Hits - b.L1Hits, L1Misses: a.L1Misses - b.L1Misses, StoreFetches: a.StoreFetches - b.StoreFetches,
		StoreGets: a.StoreGets - b.StoreGets, StoreBytesRead: a.StoreBytesRead - b.StoreBytesRead}}
}

func (d *cacheDiff) add(o cacheDiff) {
	d.L1Hits += o.L1Hits
	d.L1Misses += o.L1Misses
	d.StoreFetches += o.StoreFetches
	d.StoreGets += o.StoreGets
	d.StoreBytesRead += o.StoreBytesRead
}

// reads is the readers' block reads.
func (d cacheDiff) reads() int64 { return d.L1Hits + d.L1Misses }

// hitRatio is the cache's L1 hit ratio (a prefetched block's first read is
// a hit).
func (d cacheDiff) hitRatio() float64 {
	if d.reads() == 0 {
		return 0
	}
	return float64(d.L1Hits) / float64(d.reads())
}
