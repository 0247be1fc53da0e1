package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/frontends/kafka"
	"strata/logstore"
	"strata/meta"
)

// newBenchCommand is `strata bench`: load generators that report their
// figures next to the references measured in the same run.
func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that report their figures next to references measured in the same run",
	}
	cmd.AddCommand(newBenchKafkaCommand())
	cmd.AddCommand(newBenchMQTTCommands()...)
	return cmd
}

// kafkaBenchConfig is one `strata bench kafka` run.
type kafkaBenchConfig struct {
	mode       string // produce or consume
	brokers    string // empty: an in-process broker on a temp dir
	records    int
	recordSize int
	partitions int32
	dir        string
	noRefs     bool
}

func newBenchKafkaCommand() *cobra.Command {
	var c kafkaBenchConfig
	cmd := &cobra.Command{
		Use:   "kafka produce|consume",
		Short: "Kafka produce or consume throughput and latency (franz-go, acks=all), with references",
		Long: `Produce (or produce, then consume) --records records of --record-size random bytes over
--partitions partitions with franz-go (acks=all, no compression, idempotence off), and report MB/s
and p50/p99/p999 latency. Latency is measured at a steady 5000 records/s after the MB/s run: for produce, per record from
Produce to its acknowledgement; for consume, end to end (record timestamp to delivery).

In the same run it measures, and reports each figure as a ratio against:
  - the log engine's raw append rate (segment engine, the same topic config, no network),
  - loopback TCP bandwidth (one connection, 1 MiB writes),
  - franz-go's in-memory kfake cluster under the same workload (a floor: no disk at all).

Without --brokers an in-process broker runs on a temp dir (or --dir) with a single-node meta.`,
		Example:   "  strata bench kafka produce\n  strata bench kafka consume --records 500000\n  strata bench kafka produce --brokers 127.0.0.1:9092 --no-refs",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"produce", "consume"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c.mode = args[0]
			if c.mode != "produce" && c.mode != "consume" {
				return fmt.Errorf("bench kafka: %q: want produce or consume", c.mode)
			}
			if c.records < 1 || c.recordSize < 1 || c.partitions < 1 {
				return errors.New("bench kafka: --records, --record-size and --partitions must be positive")
			}
			return runKafkaBench(cmd.Context(), c, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.brokers, "brokers", "", "seed brokers of a running Strata (empty: start one in-process)")
	f.IntVar(&c.records, "records", 200_000, "records to produce")
	f.IntVar(&c.recordSize, "record-size", 1024, "value bytes per record")
	f.Int32Var(&c.partitions, "partitions", 8, "partitions of the bench topic")
	f.StringVar(&c.dir, "dir", "", "data directory of the in-process broker and the raw engine run (default: a temp dir)")
	f.BoolVar(&c.noRefs, "no-refs", false, "skip the reference measurements")
	return cmd
}

// benchResult is one measured workload.
type benchResult struct {
	name     string
	bytes    int64
	took     time.Duration
	lat      []time.Duration
	latLabel string
}

func (r benchResult) mbps() float64 { return float64(r.bytes) / r.took.Seconds() / 1e6 }

func (r benchResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.lat)-1))
	return r.lat[i]
}

// roundDur shows a latency with three significant digits or so.
func roundDur(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func runKafkaBench(ctx context.Context, c kafkaBenchConfig, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dir := c.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "strata-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := c.brokers
	if addr == "" {
		b, err := startBenchBroker(filepath.Join(dir, "broker"), quiet)
		if err != nil {
			return err
		}
		defer b.close()
		addr = b.addr
	}
	const topic = "strata-bench"
	fmt.Fprintf(out, "workload: %s %d records x %d B, %d partitions, acks=all, franz-go, no compression\n",
		c.mode, c.records, c.recordSize, c.partitions)

	main, err := kafkaWorkload(ctx, c, addr, topic)
	if err != nil {
		return fmt.Errorf("strata: %w", err)
	}
	main.name = "strata"
	results := []benchResult{main}
	if !c.noRefs {
		raw, err := rawAppendBench(filepath.Join(dir, "raw"), c, quiet)
		if err != nil {
			return fmt.Errorf("raw log engine: %w", err)
		}
		tcp, err := loopbackTCPBench(512 << 20)
		if err != nil {
			return fmt.Errorf("loopback tcp: %w", err)
		}
		kf, err := kfakeBench(ctx, c, topic)
		if err != nil {
			return fmt.Errorf("kfake: %w", err)
		}
		results = append(results, raw, tcp, kf)
	}
	fmt.Fprintf(out, "\n%-28s %10s %10s %10s %10s %10s\n", "", "MB/s", "p50", "p99", "p999", "strata is")
	for _, r := range results {
		ratio := "-"
		if r.name != "strata" {
			ratio = fmt.Sprintf("%.2fx", main.mbps()/r.mbps())
		}
		p50, p99, p999 := "-", "-", "-"
		if len(r.lat) > 0 {
			p50, p99, p999 = roundDur(r.pct(0.50)), roundDur(r.pct(0.99)), roundDur(r.pct(0.999))
		}
		fmt.Fprintf(out, "%-28s %10.1f %10s %10s %10s %10s\n", r.name, r.mbps(), p50, p99, p999, ratio)
	}
	if main.latLabel != "" {
		fmt.Fprintf(out, "\nlatency: %s\n", main.latLabel)
	}
	return nil
}

// kafkaWorkload runs the produce or consume workload against addr.
func kafkaWorkload(ctx context.Context, c kafkaBenchConfig, addr, topic string) (benchResult, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return benchResult{}, err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, c.partitions, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, adm)
	adm.Close()
	if err != nil {
		return benchResult{}, err
	}
	if code := resp.Topics[0].ErrorCode; code != 0 && code != 36 { // 36: exists
		return benchResult{}, fmt.Errorf("create topic: error code %d", code)
	}
	prod, err := produceBench(ctx, c, addr, topic, c.records)
	if err != nil || c.mode == "consume" {
		if err != nil {
			return prod, err
		}
		return consumeBench(ctx, c, addr, topic)
	}
	prod.lat, err = pacedProduceLatency(ctx, c, addr, topic)
	prod.latLabel = fmt.Sprintf("per record, Produce call to acknowledgement, at a steady %d records/s (the MB/s run saturates the client's buffer, so its latency would measure the queue)", benchRate)
	return prod, err
}

// benchRate is the steady record rate of the latency measurements.
const benchRate, benchRateFor = 5000, 2 * time.Second

// pacedProduceLatency produces benchRate records/s for benchRateFor and
// returns each record's Produce-to-acknowledgement latency, sorted.
func pacedProduceLatency(ctx context.Context, c kafkaBenchConfig, addr, topic string) ([]time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	value := benchValue(c.recordSize)
	n := int(benchRate * benchRateFor.Seconds())
	lat := make([]time.Duration, n)
	var errMu sync.Mutex
	var firstErr error
	tick := time.NewTicker(time.Second / benchRate)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		at := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(at)
			if err != nil {
				errMu.Lock()
				firstErr = cmp.Or(firstErr, err)
				errMu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	slices.Sort(lat)
	return lat, nil
}

func benchValue(size int) []byte {
	v := make([]byte, size)
	rand.Read(v)
	return v
}

// produceBench produces n records as fast as franz-go will and records
// each one's latency.
func produceBench(ctx context.Context, c kafkaBenchConfig, addr, topic string, n int) (benchResult, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	if err != nil {
		return benchResult{}, err
	}
	defer cl.Close()
	value := benchValue(c.recordSize)
	lat := make([]time.Duration, n)
	var (
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		at := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(at)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return benchResult{}, err
	}
	took := time.Since(start)
	if firstErr != nil {
		return benchResult{}, firstErr
	}
	slices.Sort(lat)
	return benchResult{bytes: int64(n) * int64(c.recordSize), took: took, lat: lat}, nil
}

// consumeBench reads the produced backlog from the start (throughput),
// then measures end-to-end latency while a paced producer runs.
func consumeBench(ctx context.Context, c kafkaBenchConfig, addr, topic string) (benchResult, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return benchResult{}, err
	}
	defer cl.Close()
	start := time.Now()
	var bytes int64
	got := 0
	for got < c.records {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return benchResult{}, err
		}
		fs.EachRecord(func(r *kgo.Record) { bytes += int64(len(r.Value)) })
		got += fs.NumRecords()
	}
	took := time.Since(start)

	// Tail: a producer at a steady benchRate for benchRateFor; latency is
	// delivery time minus the record's (producer-set) timestamp.
	const rate, dur = benchRate, benchRateFor
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	if err != nil {
		return benchResult{}, err
	}
	defer prod.Close()
	value := benchValue(c.recordSize)
	total := int(rate * dur.Seconds())
	go func() {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := 0; i < total; i++ {
			<-tick.C
			prod.Produce(ctx, &kgo.Record{Value: value, Timestamp: time.Now()}, nil)
		}
	}()
	lat := make([]time.Duration, 0, total)
	tctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	for len(lat) < total {
		fs := cl.PollFetches(tctx)
		if err := tctx.Err(); err != nil {
			return benchResult{}, fmt.Errorf("tail: %d of %d records: %w", len(lat), total, err)
		}
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) { lat = append(lat, now.Sub(r.Timestamp)) })
	}
	slices.Sort(lat)
	return benchResult{bytes: bytes, took: took, lat: lat,
		latLabel: fmt.Sprintf("end to end (producer timestamp to consumer delivery) at %d records/s", rate)}, nil
}

// rawAppendBench appends the same bytes straight to a Store (segment
// engine, the default topic config): one goroutine per partition, each
// appending batches of 16 records.
func rawAppendBench(dir string, c kafkaBenchConfig, log *slog.Logger) (benchResult, error) {
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: dir, Logger: log})
	if err != nil {
		return benchResult{}, err
	}
	defer st.Close()
	if _, err := st.CreateTopic("raw", c.partitions, nil); err != nil {
		return benchResult{}, err
	}
	const perBatch = 16
	batch := rawBatch(benchValue(c.recordSize), perBatch)
	batches := (c.records + perBatch - 1) / perBatch
	var wg sync.WaitGroup
	errs := make([]error, c.partitions)
	start := time.Now()
	for p := int32(0); p < c.partitions; p++ {
		l, err := st.Partition("raw", p)
		if err != nil {
			return benchResult{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(p); i < batches; i += int(c.partitions) {
				if _, err := l.Append(batch); err != nil {
					errs[p] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return benchResult{}, err
	}
	return benchResult{name: fmt.Sprintf("log engine append (%d/batch)", perBatch), bytes: int64(batches) * perBatch * int64(c.recordSize), took: took}, nil
}

// rawBatch builds one uncompressed v2 batch of n records with value v.
func rawBatch(v []byte, n int) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: v}
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs}
	enc := b.AppendTo(nil)
	putUint32(enc[8:], uint32(len(enc)-12))
	putUint32(enc[17:], crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	return enc
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// loopbackTCPBench writes n bytes over one loopback TCP connection in
// 1 MiB writes.
func loopbackTCPBench(n int64) (benchResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return benchResult{}, err
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return benchResult{}, err
		}
	}
	c.Close()
	if err := <-done; err != nil {
		return benchResult{}, err
	}
	return benchResult{name: "loopback TCP (1 conn)", bytes: n, took: time.Since(start)}, nil
}

// kfakeBench runs the same workload against franz-go's in-memory kfake.
func kfakeBench(ctx context.Context, c kafkaBenchConfig, topic string) (benchResult, error) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(c.partitions, topic))
	if err != nil {
		return benchResult{}, err
	}
	defer kc.Close()
	addr := kc.ListenAddrs()[0]
	r, err := produceBench(ctx, c, addr, topic, c.records)
	switch {
	case err != nil:
	case c.mode == "produce":
		r.lat, err = pacedProduceLatency(ctx, c, addr, topic)
	default:
		r, err = consumeBench(ctx, c, addr, topic)
	}
	r.name = "kfake (in-memory)"
	return r, err
}

// benchBroker is an in-process Strata: single-node meta, store, Kafka.
type benchBroker struct {
	node    *meta.Node
	catalog *meta.Catalog
	store   *logstore.Store
	srv     *kafka.Server
	addr    string
}

func startBenchBroker(dir string, log *slog.Logger) (*benchBroker, error) {
	raftLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	raft := raftLn.Addr().String()
	raftLn.Close()
	n, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: raft, Dir: filepath.Join(dir, MetaDirName), Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !n.Ready(ctx) || !allShardsLed(ctx, n) {
		n.Close()
		return nil, errors.New("bench: meta did not become ready")
	}
	cat, err := meta.NewCatalog(n, meta.CatalogOptions{Logger: log})
	if err != nil {
		n.Close()
		return nil, err
	}
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: dir, Catalog: cat, Logger: log})
	if err != nil {
		return nil, errors.Join(err, cat.Close(), n.Close())
	}
	srv, err := kafka.NewServer(kafka.Options{Store: st, Node: n, Logger: log, DataDir: dir})
	if err != nil {
		return nil, errors.Join(err, st.Close(), cat.Close(), n.Close())
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, st.Close(), cat.Close(), n.Close())
	}
	return &benchBroker{node: n, catalog: cat, store: st, srv: srv, addr: a.String()}, nil
}

func (b *benchBroker) close() {
	b.srv.Close()
	b.store.Close()
	b.catalog.Close()
	b.node.Close()
}
