package meta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"strata/cache"
	"strata/logstore"
	"strata/tier"
)

// swapRemote is a logstore.RemoteReader whose cache a benchmark replaces
// between passes, so one open log reads through a fresh or a warm cache.
type swapRemote struct{ c atomic.Pointer[cache.Cache] }

func (s *swapRemote) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	return s.c.Load().ReadAt(ctx, key, p, off)
}

// tieredBench is a tiered partition on S3 (the test server) whose sealed
// segments are all evicted, with copies of their .log files kept aside.
type tieredBench struct {
	l          *logstore.SegmentLog
	remote     *swapRemote
	store      *tier.S3
	objects    []SegmentEntry // the offloaded segments, in order
	files      []string       // their saved .log files
	firstLocal int64          // the first offset not in the object store
	bytes      int64          // batch bytes in the object store
}

// BenchmarkTieredRead (issue 4, benchmarks): a consumer reads a tiered
// partition's offloaded segments (64 MiB of 16 KiB batches in 8 MiB
// segments, every local copy evicted, object store tier.S3 on versitygw)
// from offset 0 to the end in 1 MiB reads, through the block cache as
// serve opens it (4 MiB blocks, readahead, the store behind
// tier.WithRetry):
//
//   - cold: a fresh cache each pass, no L2 (every block from S3);
//   - l2: a fresh L1 over an L2 directory a first pass filled;
//   - l1: one cache, warmed by a first pass;
//
// next to the same bytes read without Strata:
//
//   - s3-raw: one bare aws-sdk-go-v2 GetObject of each whole object;
//   - s3-raw-1MiB: bare ranged GetObjects of 1 MiB, one after another;
//   - local-file: the segments' .log files with 1 MiB ReadAt calls.
//
// Run it with:
//
//	go test ./meta -run '^$' -bench BenchmarkTieredRead -benchtime 3x
func BenchmarkTieredRead(b *testing.B) {
	tb := setupTieredBench(b)
	const chunk = 1 << 20
	newCache := func(b *testing.B, l2Dir string) *cache.Cache {
		opts := cache.Options{
			Store:     tier.WithRetry(tb.store, tier.RetryOptions{MaxAttempts: 3, Timeout: 10 * time.Second}),
			L1Bytes:   256 << 20,
			PlanBytes: -1, // all of L1 to ristretto: no plans here
			Logger:    quietLogger(),
		}
		if l2Dir != "" {
			opts.L2Dir, opts.L2Bytes = l2Dir, 1<<30
		}
		c, err := cache.Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	closeCache := func(b *testing.B, c *cache.Cache) {
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
	// pass reads [0, firstLocal) through the log, through cache c.
	pass := func(b *testing.B, c *cache.Cache) {
		tb.remote.c.Store(c)
		var n int64
		for off := int64(0); off < tb.firstLocal; {
			r, err := tb.l.Read(off, chunk)
			if err != nil {
				b.Fatalf("read at %d: %v", off, err)
			}
			for _, ch := range r.Chunks {
				n += ch.Size()
			}
			r.Close()
			off = r.NextOffset
		}
		if n != tb.bytes {
			b.Fatalf("read %d bytes, want %d", n, tb.bytes)
		}
	}

	b.Run("cold", func(b *testing.B) {
		b.SetBytes(tb.bytes)
		var gets int64
		for b.Loop() {
			b.StopTimer()
			c := newCache(b, "")
			b.StartTimer()
			pass(b, c)
			b.StopTimer()
			gets += c.Stats().StoreGets
			closeCache(b, c)
			b.StartTimer()
		}
		b.ReportMetric(float64(gets)/float64(b.N), "gets/op")
	})

	b.Run("l2", func(b *testing.B) {
		dir := b.TempDir()
		warm := newCache(b, dir)
		pass(b, warm)
		closeCache(b, warm) // waits for the L2 writes
		b.SetBytes(tb.bytes)
		var gets int64
		for b.Loop() {
			b.StopTimer()
			c := newCache(b, dir)
			b.StartTimer()
			pass(b, c)
			b.StopTimer()
			gets += c.Stats().StoreGets
			closeCache(b, c)
			b.StartTimer()
		}
		b.ReportMetric(float64(gets)/float64(b.N), "gets/op")
	})

	b.Run("l1", func(b *testing.B) {
		c := newCache(b, "")
		defer closeCache(b, c)
		pass(b, c)
		pass(b, c) // ristretto admits on the second sight
		before := c.Stats().StoreGets
		b.SetBytes(tb.bytes)
		b.ResetTimer()
		for b.Loop() {
			pass(b, c)
		}
		b.ReportMetric(float64(c.Stats().StoreGets-before)/float64(b.N), "gets/op")
	})

	ctx := context.Background()
	client := tb.store.Client()
	bucket := aws.String(tb.store.Bucket())
	hdr := int64(tier.SegmentHeader{Topic: "tt"}.Len())
	buf := make([]byte, 8<<20+64<<10)

	b.Run("s3-raw", func(b *testing.B) {
		b.SetBytes(tb.bytes)
		for b.Loop() {
			for _, o := range tb.objects {
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(tb.store.ObjectKey(o.ObjectKey))})
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.ReadFull(out.Body, buf[:o.Size-logstore.FileHeaderSize+hdr])
				out.Body.Close()
				if err != nil {
					b.Fatalf("%s: %d bytes: %v", o.ObjectKey, n, err)
				}
			}
		}
	})

	b.Run("s3-raw-1MiB", func(b *testing.B) {
		b.SetBytes(tb.bytes)
		for b.Loop() {
			for _, o := range tb.objects {
				size := o.Size - logstore.FileHeaderSize + hdr
				for off := hdr; off < size; off += chunk {
					end := min(off+chunk, size)
					out, err := client.GetObject(ctx, &s3.GetObjectInput{
						Bucket: bucket, Key: aws.String(tb.store.ObjectKey(o.ObjectKey)),
						Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, end-1)),
					})
					if err != nil {
						b.Fatal(err)
					}
					_, err = io.ReadFull(out.Body, buf[:end-off])
					out.Body.Close()
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})

	b.Run("local-file", func(b *testing.B) {
		b.SetBytes(tb.bytes)
		for b.Loop() {
			for _, name := range tb.files {
				f, err := os.Open(name)
				if err != nil {
					b.Fatal(err)
				}
				st, err := f.Stat()
				if err != nil {
					b.Fatal(err)
				}
				for off := int64(logstore.FileHeaderSize); off < st.Size(); off += chunk {
					if _, err := f.ReadAt(buf[:min(chunk, st.Size()-off)], off); err != nil {
						b.Fatal(err)
					}
				}
				f.Close()
			}
		}
	})
}

// setupTieredBench appends 16 KiB batches to a tiered partition on S3
// until 8 sealed segments of 8 MiB exist, saves their .log files, waits
// for the uploads, evicts every local copy, and checks that the log reads
// the saved bytes back.
func setupTieredBench(b *testing.B) *tieredBench {
	b.Helper()
	const (
		segBytes = 8 << 20
		sealed   = 8
		perBatch = 16 << 10
	)
	ctx := context.Background()
	root := b.TempDir()
	tb := &tieredBench{remote: &swapRemote{}}
	tb.store = newTestS3(b, func(o *tier.S3Options) { o.PartSize = tier.DefaultPartSize })
	c := NewManifests(newMemProposer())
	so, err := logstore.NewSegmentObjects(tb.store, tier.RetryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	o, err := NewManifestOffloader(c, ManifestOffloaderOptions{
		Logger: quietLogger(), Objects: so,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	setup, err := cache.Open(cache.Options{Store: tb.store, L1Bytes: 64 << 20, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { setup.Close() })
	tb.remote.c.Store(setup)

	cfg := tieredConfig()
	cfg.SegmentBytes = segBytes
	dir := filepath.Join(root, "tt-0")
	l, err := logstore.OpenSegmentLog(logstore.SegmentOptions{
		Dir: dir, Topic: "tt", Config: cfg, Offloader: o, Remote: tb.remote, Logger: quietLogger(),
		RemoteReadTimeout: 30 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	tb.l = l

	// 16 KiB batches of one record, 16 to an append.
	value := bytes.Repeat([]byte("0123456789abcdef"), perBatch/16-8)
	var group []byte
	for i := 0; l.Stats().Segments <= sealed; i++ {
		group = group[:0]
		for range 16 {
			value[0], value[1] = byte(i), byte(i>>8)
			batch, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: int64(1000 + i), Value: value}}, logstore.CompressionNone)
			if err != nil {
				b.Fatal(err)
			}
			group = append(group, batch...)
		}
		if _, err := l.Append(group); err != nil {
			b.Fatal(err)
		}
	}
	if err := o.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	waitOffloadedB(b, c, sealed)
	m, err := c.Partition(ctx, "tt", 0)
	if err != nil {
		b.Fatal(err)
	}
	tb.objects = m
	tb.firstLocal = m[len(m)-1].Last + 1

	// Save the sealed .log files before eviction.
	saved := filepath.Join(root, "saved")
	if err := os.Mkdir(saved, 0o755); err != nil {
		b.Fatal(err)
	}
	var want []byte
	for _, e := range m {
		name := logstore.SegmentFileName(e.Base, logstore.SegmentExt)
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(saved, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
		tb.files = append(tb.files, filepath.Join(saved, name))
		want = append(want, data[logstore.FileHeaderSize:]...)
	}
	tb.bytes = int64(len(want))

	deadline := time.Now().Add(60 * time.Second)
	for l.Stats().Segments > 1 {
		if _, err := l.ApplyRetention(time.Now().UnixMilli()); err != nil {
			b.Fatal(err)
		}
		if time.Now().After(deadline) {
			b.Fatalf("local segments not evicted: %+v", l.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := l.Stats(); st.RemoteSegments != sealed || st.RemoteBytes != tb.bytes {
		b.Fatalf("after eviction %+v, want %d remote segments of %d bytes", st, sealed, tb.bytes)
	}
	got, err := readAllUntil(l, 0, tb.firstLocal, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		b.Fatalf("the evicted segments read back %d bytes, differ from the %d saved", len(got), len(want))
	}
	return tb
}

// waitOffloadedB waits until tt-0 has at least n entries, all offloaded.
func waitOffloadedB(b *testing.B, c *Manifests, n int) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := c.Partition(context.Background(), "tt", 0)
		if err != nil {
			b.Fatal(err)
		}
		done := len(m) >= n
		for _, e := range m {
			done = done && e.State == SegmentOffloaded
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("want %d offloaded entries, have %+v", n, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
