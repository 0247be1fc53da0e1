package meta

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strata/logstore"
	"strata/tier"
)

// openModeLog opens a segment log of topic in root/<topic>-0 in the given
// storage mode, rolling after every append (as openTestLog).
func openModeLog(t *testing.T, root, topic, mode string, off logstore.Offloader) *logstore.SegmentLog {
	t.Helper()
	cfg := logstore.DefaultTopicConfig()
	cfg.Mode, cfg.Engine = mode, logstore.EngineSegment
	cfg.SegmentBytes = 25
	cfg.RetentionMs = -1
	cfg.RetentionBytes = -1
	l, err := logstore.OpenSegmentLog(logstore.SegmentOptions{
		Dir: filepath.Join(root, topic+"-0"), Topic: topic, Partition: 0, Config: cfg, Offloader: off, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newUploadingOffloader(t *testing.T, c *Manifests, objs tier.ObjectStore) *ManifestOffloader {
	t.Helper()
	so, err := logstore.NewSegmentObjects(objs, tier.RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewManifestOffloader(c, ManifestOffloaderOptions{
		Logger: quietLogger(), Objects: so,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// waitOffloaded waits until topic-0 has n entries, all offloaded.
func waitOffloaded(t *testing.T, c *Manifests, topic string, n int) []SegmentEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := c.Partition(context.Background(), topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := len(m) == n
		for _, e := range m {
			done = done && e.State == SegmentOffloaded
		}
		if done {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %d offloaded entries, have %+v", topic, n, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitUploadsIdle waits until the upload queue is empty.
func waitUploadsIdle(t *testing.T, o *ManifestOffloader) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for o.Stats().UploadQueued != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("uploads still queued: %+v", o.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// checkObjects requires each entry's object to be the tier header and the
// .log file's bytes after its own header.
func checkObjects(t *testing.T, store tier.ObjectStore, dir, topic string, m []SegmentEntry) {
	t.Helper()
	ctx := context.Background()
	for _, e := range m {
		key, err := tier.SegmentKey(topic, 0, e.Base, e.Last)
		if err != nil {
			t.Fatal(err)
		}
		if e.ObjectKey != key {
			t.Fatalf("segment %d: object key %q, want %q", e.Base, e.ObjectKey, key)
		}
		r, err := store.Get(ctx, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		h, n, err := tier.DecodeSegmentHeader(obj)
		if err != nil {
			t.Fatal(err)
		}
		want := tier.SegmentHeader{Topic: topic, Partition: 0, BaseOffset: e.Base, LastOffset: e.Last, PayloadSize: e.Size - logstore.FileHeaderSize, PayloadCRC: h.PayloadCRC}
		if h != want {
			t.Fatalf("segment %d: header %+v, want %+v", e.Base, h, want)
		}
		file, err := os.ReadFile(segPath(dir, e.Base))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(obj[n:], file[logstore.FileHeaderSize:]) {
			t.Fatalf("segment %d: payload (%d bytes) differs from the .log file's (%d bytes after its header)", e.Base, len(obj)-n, len(file)-logstore.FileHeaderSize)
		}
		if crc := crc32.Checksum(obj[n:], crc32.MakeTable(crc32.Castagnoli)); crc != h.PayloadCRC {
			t.Fatalf("segment %d: payload crc32c %08x, header says %08x", e.Base, crc, h.PayloadCRC)
		}
	}
}

// Every sealed segment of a tiered topic ends offloaded with a
// self-describing object whose payload is the file's; a persistent topic
// uploads nothing.
func TestManifestOffloaderUploadsTieredSegments(t *testing.T) {
	root := t.TempDir()
	c := NewManifests(newMemProposer())
	mem := tier.NewMemory()
	o := newUploadingOffloader(t, c, mem)
	if !o.Uploads() {
		t.Fatal("Uploads is false with an object store")
	}
	tiered := openModeLog(t, root, "tt", logstore.ModeTiered, o)
	plain := openModeLog(t, root, "pp", logstore.ModePersistent, o)
	appendBatches(t, tiered, 5)
	appendBatches(t, plain, 5)
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := waitOffloaded(t, c, "tt", 4)
	checkObjects(t, mem, filepath.Join(root, "tt-0"), "tt", m)
	if !o.IsOffloaded("tt", 0, m[0].Base) {
		t.Fatal("an offloaded segment reads as local")
	}
	waitUploadsIdle(t, o)
	if st := o.Stats(); st.Uploaded != 4 || st.UploadFailures != 0 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
	pm, err := c.Partition(context.Background(), "pp", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pm) != 4 {
		t.Fatalf("persistent topic: %d entries, want 4", len(pm))
	}
	for _, e := range pm {
		if e.State != SegmentLocal || e.ObjectKey != "" {
			t.Fatalf("persistent topic entry %+v", e)
		}
	}
	objs, err := mem.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("%d objects, want the tiered topic's 4: %+v", len(objs), objs)
	}
	for _, obj := range objs {
		if topic, _, _, _, err := tier.ParseSegmentKey(obj.Key); err != nil || topic != "tt" {
			t.Fatalf("object %q (%v)", obj.Key, err)
		}
	}
}

// With the object store down, appends go on, nothing reads as offloaded,
// and once it is back every sealed segment is offloaded.
func TestManifestOffloaderUploadOutage(t *testing.T) {
	root := t.TempDir()
	c := NewManifests(newMemProposer())
	mem := tier.NewMemory()
	faulty := tier.NewFaulty(mem)
	faulty.SetDown(true)
	o := newUploadingOffloader(t, c, faulty)
	l := openModeLog(t, root, "tt", logstore.ModeTiered, o)
	appendBatches(t, l, 5)
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for o.Stats().UploadFailures < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed uploads while the store is down: %+v", o.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	appendBatches(t, l, 3) // the log does not wait for the tier
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := c.Partition(context.Background(), "tt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 7 {
		t.Fatalf("%d entries, want 7", len(m))
	}
	for _, e := range m {
		if e.State != SegmentLocal && e.State != SegmentUploading {
			t.Fatalf("entry %+v while the store is down", e)
		}
		if o.IsOffloaded("tt", 0, e.Base) {
			t.Fatalf("segment %d reads as offloaded while the store is down", e.Base)
		}
	}
	if st := o.Stats(); st.Uploaded != 0 || st.UploadQueued != 7 {
		t.Fatalf("stats while down %+v", st)
	}
	faulty.SetDown(false)
	m = waitOffloaded(t, c, "tt", 7)
	checkObjects(t, mem, filepath.Join(root, "tt-0"), "tt", m)
	waitUploadsIdle(t, o)
	if st := o.Stats(); st.Uploaded != 7 {
		t.Fatalf("stats after the outage %+v", st)
	}
}

// Deleting offloaded segments (DeleteRecords here; retention and Truncate
// take the same path) removes their manifest entries and then their
// objects, so the object store keeps no unreferenced segment.
func TestManifestOffloaderDeletesObjectsOfDeletedSegments(t *testing.T) {
	root := t.TempDir()
	c := NewManifests(newMemProposer())
	mem := tier.NewMemory()
	o := newUploadingOffloader(t, c, mem)
	l := openModeLog(t, root, "tt", logstore.ModeTiered, o)
	appendBatches(t, l, 5)
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := waitOffloaded(t, c, "tt", 4)
	if err := l.DeleteRecordsBefore(m[2].Base); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, err := c.Partition(context.Background(), "tt", 0)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := mem.List(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 2 && len(objs) == 2 {
			for i, e := range left {
				if e.Base != m[2+i].Base || objs[i].Key != e.ObjectKey {
					t.Fatalf("kept entry %+v, object %q; want segment %d", e, objs[i].Key, m[2+i].Base)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after deleting records before %d: entries %+v, objects %+v", m[2].Base, left, objs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
