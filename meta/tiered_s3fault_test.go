package meta

import (
	"bytes"
	"errors"
	"net/url"
	"testing"
	"time"

	"strata/internal/faultproxy"
	"strata/internal/s3test"
	"strata/logstore"
	"strata/tier"
)

// A tiered partition on the real S3 server with a fault-injecting TCP proxy
// between it and both the ManifestOffloader's uploads and the block cache's
// reads (issue 4, "Faults").

// tieredBehindProxy opens a tiered partition whose object store is tier.S3
// reaching the S3 test server through a fault proxy.
func tieredBehindProxy(t *testing.T) (*tieredEnv, *faultproxy.Proxy) {
	t.Helper()
	env := s3test.Start(t)
	u, err := url.Parse(env.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	objs := newTestS3(t, func(o *tier.S3Options) {
		o.Endpoint = p.URL()
		o.HTTPTimeout = time.Second
	})
	e := &tieredEnv{t: t, root: t.TempDir(), c: NewManifests(newMemProposer()), objects: objs}
	e.open(tieredConfig())
	return e, p
}

// batchesByBase splits log bytes into batches by base offset.
func batchesByBase(t *testing.T, b []byte) map[int64][]byte {
	t.Helper()
	out := map[int64][]byte{}
	if err := logstore.SplitBatches(b, func(batch []byte, h logstore.BatchHeader) error {
		out[h.BaseOffset] = batch
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// readEveryOffset reads each offset of [0, HW) on its own and requires the
// batch that holds it, byte for byte.
func readEveryOffset(t *testing.T, l *logstore.SegmentLog, want map[int64][]byte) {
	t.Helper()
	for off := int64(0); off < l.HighWatermark(); off++ {
		r, err := l.Read(off, 1)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		b, err := r.Bytes()
		r.Close()
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		h, err := logstore.ParseBatchHeader(b)
		if err != nil || h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("read at %d: batch %+v, %v", off, h, err)
		}
		if !bytes.Equal(b, want[h.BaseOffset]) {
			t.Fatalf("read at %d: batch %d differs (%d bytes, want %d)", off, h.BaseOffset, len(b), len(want[h.BaseOffset]))
		}
	}
}

// TestTieredS3ProxyFaults: the S3 server down (refused, then connections
// cut mid-response) keeps produce working on local disk while uploads lag
// and reads of evicted data fail with logstore.ErrRemoteUnavailable; once
// it is back the uploads catch up and every offset reads byte-identical;
// with added latency uploads and reads still succeed.
func TestTieredS3ProxyFaults(t *testing.T) {
	e, p := tieredBehindProxy(t)
	appendTiered(t, e.l, 0, 100)
	e.evictAll() // through the healthy proxy
	localFrom := e.l.HighWatermark()

	// Down: every dial is refused.
	p.Refuse()
	uploaded := e.o.Stats().Uploaded
	appendTiered(t, e.l, 100, 100) // acknowledged while the store is down
	deadline := time.Now().Add(5 * time.Second)
	for e.o.Stats().UploadFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed upload while the store is down: %+v", e.o.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.l.ApplyRetention(time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if st, ost := e.l.Stats(), e.o.Stats(); st.Segments < 3 || ost.Uploaded != uploaded || ost.UploadQueued == 0 {
		t.Fatalf("while down: log %+v, offloader %+v (uploaded %d before): want the new segments local and queued", st, ost, uploaded)
	}
	if _, err := e.l.Read(0, 1000); !errors.Is(err, logstore.ErrRemoteUnavailable) {
		t.Fatalf("read of evicted data, store refused: %v, want ErrRemoteUnavailable", err)
	}
	tail, err := readAll(e.l, localFrom, 1<<20)
	if err != nil {
		t.Fatalf("local reads while the store is down: %v", err)
	}

	// Reachable, but every connection is cut after 1500 bytes of
	// response: a 4 KiB block never arrives whole.
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	p.CutAfter(1500)
	p.CutAll() // connections opened between Heal and CutAfter
	_, err = e.l.Read(0, 1000)
	if !errors.Is(err, logstore.ErrRemoteUnavailable) {
		t.Fatalf("read of evicted data, connections cut: %v, want ErrRemoteUnavailable", err)
	}
	if !errors.Is(err, tier.ErrUnavailable) {
		t.Errorf("read of evicted data, connections cut: %v, want tier.ErrUnavailable underneath", err)
	}
	if errors.Is(err, tier.ErrCorrupt) || errors.Is(err, logstore.ErrCorrupt) {
		t.Errorf("read of evicted data, connections cut: %v, reported as corruption", err)
	}

	// Back: uploads catch up, retention evicts, every offset reads.
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	e.evictAll()
	all, err := readAll(e.l, 0, 1<<20)
	if err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if !bytes.HasSuffix(all, tail) || e.l.Stats().RemoteSegments < 10 {
		t.Fatalf("after the outage: %d bytes, %+v", len(all), e.l.Stats())
	}
	want := batchesByBase(t, all)
	if len(want) != 200 {
		t.Fatalf("%d batches, want 200", len(want))
	}
	readEveryOffset(t, e.l, want)

	// Slow: 5 ms per chunk each way; a fresh cache reads every offset
	// from the store again, and uploads go on.
	e.close()
	e.open(tieredConfig())
	p.SetDelay(5 * time.Millisecond)
	start := time.Now()
	got, err := readAll(e.l, 0, 64<<10)
	if err != nil {
		t.Fatalf("slow store: %v", err)
	}
	if !bytes.Equal(got, all) {
		t.Fatal("slow store: bytes differ")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("slow store: read everything in %v; the delay was not applied", d)
	}
	appendTiered(t, e.l, 200, 50)
	e.evictAll()
	got, err = readAll(e.l, 0, 1<<20)
	if err != nil || !bytes.HasPrefix(got, all) || len(batchesByBase(t, got)) != 250 {
		t.Fatalf("slow store, after more uploads: %d bytes, %v", len(got), err)
	}
	p.SetDelay(0)
	e.close()
}
