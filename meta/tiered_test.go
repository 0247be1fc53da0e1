package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strata/cache"
	"strata/internal/s3test"
	"strata/logstore"
	"strata/tier"
)

// TestMain stops the S3 test server that the "s3" tiered stores started.
func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

// Tiered topics end to end: the ManifestOffloader uploads sealed segments,
// retention evicts their local copies past local.retention.bytes, and the
// log reads them back through the block cache, byte for byte.

// tieredEnv is one tiered partition with its offloader, cache and store.
type tieredEnv struct {
	t       *testing.T
	root    string
	c       *Manifests
	objects tier.ObjectStore
	o       *ManifestOffloader
	blocks  *cache.Cache
	l       *logstore.SegmentLog
}

func (e *tieredEnv) dir() string { return filepath.Join(e.root, "tt-0") }

// open opens the offloader, a fresh cache (no L2: every remote read that
// misses L1 goes to the store) and the log.
func (e *tieredEnv) open(cfg logstore.TopicConfig) {
	t := e.t
	t.Helper()
	e.o = newUploadingOffloader(t, e.c, e.objects)
	blocks, err := cache.Open(cache.Options{Store: e.objects, BlockSize: 4 << 10, L1Bytes: 1 << 20, FetchTimeout: 2 * time.Second, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.blocks = blocks
	l, err := logstore.OpenSegmentLog(logstore.SegmentOptions{
		Dir: e.dir(), Topic: "tt", Config: cfg, Offloader: e.o, Remote: blocks, Logger: quietLogger(),
		RemoteReadTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.l = l
}

func (e *tieredEnv) close() {
	e.t.Helper()
	if err := e.l.Close(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.o.Close(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.blocks.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func tieredConfig() logstore.TopicConfig {
	cfg := logstore.DefaultTopicConfig()
	cfg.Mode, cfg.Engine = logstore.ModeTiered, logstore.EngineSegment
	cfg.SegmentBytes = 4 << 10
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	cfg.LocalRetentionBytes = 0 // keep only the active segment locally
	return cfg
}

// appendTiered appends n batches of 3 records with distinct values and
// timestamps 1000+i.
func appendTiered(t *testing.T, l *logstore.SegmentLog, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		var recs []logstore.Record
		for j := range 3 {
			recs = append(recs, logstore.Record{Timestamp: int64(1000 + i), Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{byte('a' + (i+j)%26)}, 100+i%50)})
		}
		b, err := logstore.EncodeBatch(recs, logstore.CompressionNone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
}

// readAllUntil reads [from, to) with reads of maxBytes.
func readAllUntil(l *logstore.SegmentLog, from, to int64, maxBytes int) ([]byte, error) {
	var out []byte
	for off := from; off < to; {
		r, err := l.Read(off, maxBytes)
		if err != nil {
			return nil, fmt.Errorf("read at %d: %w", off, err)
		}
		b, err := r.Bytes()
		r.Close()
		if err != nil {
			return nil, err
		}
		if r.NextOffset <= off {
			return nil, fmt.Errorf("read at %d made no progress", off)
		}
		out = append(out, b...)
		off = r.NextOffset
	}
	return out, nil
}

// readAll reads [from, HW) with reads of maxBytes and returns the bytes.
func readAll(l *logstore.SegmentLog, from int64, maxBytes int) ([]byte, error) {
	return readAllUntil(l, from, l.HighWatermark(), maxBytes)
}

// evictAll waits for every sealed segment to be offloaded, then runs
// retention until only the active segment is local.
func (e *tieredEnv) evictAll() {
	t := e.t
	t.Helper()
	if err := e.o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := e.l.ApplyRetention(time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if st := e.l.Stats(); st.Segments == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("local segments not evicted: %+v, offloader %+v", e.l.Stats(), e.o.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitObjects waits until the store holds n objects (deletions of
// dropped segments' objects run on the offloader's worker).
func waitObjects(t *testing.T, store tier.ObjectStore, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		objs, err := store.List(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d objects, want %d", len(objs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func localLogFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+logstore.SegmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// tieredStores are the object stores the tiered tests run against: each
// entry opens a fresh, empty store for t. "s3" is tier.S3 on the real S3
// test server (internal/s3test) under a prefix of t's own.
func tieredStores() map[string]func(t *testing.T) tier.ObjectStore {
	return map[string]func(t *testing.T) tier.ObjectStore{
		"memory": func(*testing.T) tier.ObjectStore { return tier.NewMemory() },
		"localdir": func(t *testing.T) tier.ObjectStore {
			s, err := tier.NewLocalDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) tier.ObjectStore { return newTestS3(t, nil) },
	}
}

// newTestS3 returns a tier.S3 on the S3 test server under a fresh prefix;
// mod, if set, adjusts the options (an endpoint through a fault proxy).
func newTestS3(t testing.TB, mod func(*tier.S3Options)) *tier.S3 {
	t.Helper()
	env := s3test.Start(t)
	opts := tier.S3Options{
		Bucket: env.Bucket, Prefix: s3test.Prefix(t),
		Endpoint: env.Endpoint, PathStyle: true, Region: s3test.Region,
		AccessKey: env.Access, SecretKey: env.Secret,
		HTTPTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	st, err := tier.NewS3(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A consumer reading from offset 0 of a tiered partition whose sealed
// segments exist only in the object store gets every batch, byte for byte,
// before and after a restart; offsets by time and DeleteRecords work across
// the boundary.
func TestTieredReadsAfterEviction(t *testing.T) {
	for name, newStore := range tieredStores() {
		t.Run(name, func(t *testing.T) {
			e := &tieredEnv{t: t, root: t.TempDir(), c: NewManifests(newMemProposer()), objects: newStore(t)}
			e.open(tieredConfig())
			appendTiered(t, e.l, 0, 200)
			want, err := readAll(e.l, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			sealed := e.l.Stats().Segments - 1
			if sealed < 5 {
				t.Fatalf("only %d sealed segments", sealed)
			}
			e.evictAll()
			if n := localLogFiles(t, e.dir()); n != 1 {
				t.Fatalf("%d local .log files after eviction, want the active one", n)
			}
			st := e.l.Stats()
			if st.RemoteSegments != sealed || st.LogStartOffset != 0 || st.Evictions != int64(sealed) {
				t.Fatalf("stats after eviction %+v, want %d remote segments", st, sealed)
			}
			for _, maxBytes := range []int{1, 700, 5000, 1 << 20} {
				got, err := readAll(e.l, 0, maxBytes)
				if err != nil {
					t.Fatalf("maxBytes %d: %v", maxBytes, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("maxBytes %d: read %d bytes, differ from the %d read before eviction", maxBytes, len(got), len(want))
				}
			}
			// A read from the middle of a batch returns that batch.
			r, err := e.l.Read(7, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := r.Bytes()
			r.Close()
			if h, err := logstore.ParseBatchHeader(b); err != nil || h.BaseOffset > 7 || h.LastOffset() < 7 {
				t.Fatalf("read at 7: batch %+v, %v", h, err)
			}
			if off, err := e.l.OffsetForTime(1010); err != nil || off != 30 {
				t.Fatalf("OffsetForTime(1010) = %d, %v; want 30", off, err)
			}
			if err := e.l.Truncate(3); !errors.Is(err, logstore.ErrOffloaded) {
				t.Fatalf("Truncate into an offloaded segment: %v", err)
			}

			// Restart: the log learns its remote segments from the manifest.
			e.close()
			e.open(tieredConfig())
			if st := e.l.Stats(); st.RemoteSegments != sealed || st.LogStartOffset != 0 {
				t.Fatalf("after restart %+v", st)
			}
			got, err := readAll(e.l, 0, 3000)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("after restart the bytes differ")
			}

			// DeleteRecords into the remote part drops whole remote segments,
			// their manifest entries and their objects.
			if err := e.l.DeleteRecordsBefore(100); err != nil {
				t.Fatal(err)
			}
			if _, err := e.l.Read(99, 1); !errors.Is(err, logstore.ErrOffsetOutOfRange) {
				t.Fatalf("read below the log start: %v", err)
			}
			if err := e.o.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			m, err := e.c.Partition(context.Background(), "tt", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range m {
				if en.Last < 100 {
					t.Fatalf("entry %+v wholly below the log start survived", en)
				}
			}
			waitObjects(t, e.objects, len(m))
			got, err = readAll(e.l, 100, 2000)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(want, got) || len(got) == 0 {
				t.Fatal("reads from 100 differ from the tail of the log")
			}
			e.close()
		})
	}
}

// retention.bytes counts remote and local segments together: the oldest
// remote segments go, with their entries and objects.
func TestTieredRetentionDropsRemoteSegments(t *testing.T) {
	for name, newStore := range tieredStores() {
		t.Run(name, func(t *testing.T) {
			e := &tieredEnv{t: t, root: t.TempDir(), c: NewManifests(newMemProposer()), objects: newStore(t)}
			cfg := tieredConfig()
			e.open(cfg)
			appendTiered(t, e.l, 0, 200)
			e.evictAll()
			before := e.l.Stats()
			cfg.RetentionBytes = 3 * cfg.SegmentBytes
			if err := e.l.Reconfigure(cfg); err != nil {
				t.Fatal(err)
			}
			lso, err := e.l.ApplyRetention(time.Now().UnixMilli())
			if err != nil {
				t.Fatal(err)
			}
			after := e.l.Stats()
			if lso == 0 || after.RemoteSegments >= before.RemoteSegments || after.RemoteBytes+after.Bytes > cfg.RetentionBytes+cfg.SegmentBytes {
				// Kafka's rule: a segment goes only if what stays is still at
				// least retention.bytes, so up to one segment more stays.
				t.Fatalf("retention: lso %d, before %+v, after %+v", lso, before, after)
			}
			if err := e.o.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			m, err := e.c.Partition(context.Background(), "tt", 0)
			if err != nil {
				t.Fatal(err)
			}
			if m[0].Base != lso {
				t.Fatalf("first manifest entry %+v, log start %d", m[0], lso)
			}
			waitObjects(t, e.objects, len(m))
			if _, err := readAll(e.l, lso, 4000); err != nil {
				t.Fatal(err)
			}
			e.close()
		})
	}
}

// The object store down: produce goes on locally, nothing is evicted
// (the segments are not offloaded), reads of data only in the store fail
// with a retriable error and succeed once it is back; offload catches up.
func TestTieredObjectStoreOutage(t *testing.T) {
	for name, newStore := range tieredStores() {
		t.Run(name, func(t *testing.T) {
			faulty := tier.NewFaulty(newStore(t))
			e := &tieredEnv{t: t, root: t.TempDir(), c: NewManifests(newMemProposer()), objects: faulty}
			e.open(tieredConfig())
			appendTiered(t, e.l, 0, 100)
			want, err := readAll(e.l, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			e.evictAll()
			hw := e.l.HighWatermark()

			faulty.SetDown(true)
			appendTiered(t, e.l, 100, 100) // acknowledged while the store is down
			if _, err := e.l.ApplyRetention(time.Now().UnixMilli()); err != nil {
				t.Fatal(err)
			}
			if st := e.l.Stats(); st.Segments < 3 {
				t.Fatalf("segments written during the outage were evicted: %+v", st)
			}
			_, err = e.l.Read(0, 1000)
			if !errors.Is(err, logstore.ErrRemoteUnavailable) {
				t.Fatalf("read of offloaded data with the store down: %v, want ErrRemoteUnavailable", err)
			}
			// Local data still reads.
			if _, err := readAll(e.l, hw, 1<<20); err != nil {
				t.Fatalf("local reads during the outage: %v", err)
			}

			faulty.SetDown(false)
			got, err := readAll(e.l, 0, 1000)
			if err != nil {
				t.Fatalf("after the outage: %v", err)
			}
			if !bytes.HasPrefix(got, want) {
				t.Fatal("offloaded bytes differ after the outage")
			}
			all := got
			e.evictAll() // the uploads caught up
			got, err = readAll(e.l, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, all) {
				t.Fatal("bytes differ after the second eviction")
			}
			e.close()
		})
	}
}

// Crash states of an eviction: the log published the segment as remote but
// the process stopped (a) before removing any file, or (b) after removing
// the .log but not its indexes. Either way the reopened log reads every
// offset, the manifest and the files agree, and retention finishes the
// eviction.
func TestTieredEvictionCrashStates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, dir string, saved map[string][]byte)
	}{
		{"files kept", func(t *testing.T, dir string, saved map[string][]byte) {
			for name, b := range saved {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"indexes left", func(t *testing.T, dir string, saved map[string][]byte) {
			for name, b := range saved {
				if filepath.Ext(name) == logstore.SegmentExt {
					continue
				}
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		for name, newStore := range tieredStores() {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				e := &tieredEnv{t: t, root: t.TempDir(), c: NewManifests(newMemProposer()), objects: newStore(t)}
				e.open(tieredConfig())
				appendTiered(t, e.l, 0, 120)
				want, err := readAll(e.l, 0, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.o.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				waitOffloaded(t, e.c, "tt", e.l.Stats().Segments-1)
				// Save the sealed segments' files as they are before eviction.
				saved := map[string][]byte{}
				names, _ := os.ReadDir(e.dir())
				m, _ := e.c.Partition(context.Background(), "tt", 0)
				sealed := map[int64]bool{}
				for _, en := range m {
					sealed[en.Base] = true
				}
				for _, de := range names {
					base, _, ok := logstore.ParseSegmentFileName(de.Name())
					if !ok || !sealed[base] {
						continue
					}
					b, err := os.ReadFile(filepath.Join(e.dir(), de.Name()))
					if err != nil {
						t.Fatal(err)
					}
					saved[de.Name()] = b
				}
				e.evictAll()
				e.close()
				tc.crash(t, e.dir(), saved)

				e.open(tieredConfig())
				got, err := readAll(e.l, 0, 2500)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("bytes differ after the crash")
				}
				pm, err := e.c.Partition(context.Background(), "tt", 0)
				if err != nil {
					t.Fatal(err)
				}
				objs := &objectStore{keys: map[string]bool{}}
				list, err := e.objects.List(context.Background(), "")
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range list {
					objs.keys[o.Key] = true
				}
				r, err := ReconcilePartition(e.dir(), pm, objs.exists)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Actions) != 0 || r.Err() != nil {
					t.Fatalf("reconciliation after the crash: %+v", r)
				}
				e.evictAll()
				if n := localLogFiles(t, e.dir()); n != 1 {
					t.Fatalf("%d local .log files after the finished eviction", n)
				}
				idx, _ := filepath.Glob(filepath.Join(e.dir(), "*"+logstore.IndexExt))
				if len(idx) > 1 {
					t.Fatalf("index files left: %v", idx)
				}
				e.close()
			})
		}
	}
}

// An offloaded segment whose object is gone is data lost, not a slow
// store: the read fails with ErrCorrupt, never the retriable
// ErrRemoteUnavailable, so a consumer does not retry it forever. The other
// segments still read.
func TestTieredMissingObject(t *testing.T) {
	for name, newStore := range tieredStores() {
		t.Run(name, func(t *testing.T) {
			e := &tieredEnv{t: t, root: t.TempDir(), c: NewManifests(newMemProposer()), objects: newStore(t)}
			e.open(tieredConfig())
			appendTiered(t, e.l, 0, 100)
			e.evictAll()
			m, err := e.c.Partition(context.Background(), "tt", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.objects.Delete(context.Background(), m[0].ObjectKey); err != nil {
				t.Fatal(err)
			}
			_, err = e.l.Read(0, 100)
			if !errors.Is(err, logstore.ErrCorrupt) || errors.Is(err, logstore.ErrRemoteUnavailable) {
				t.Fatalf("read of a segment whose object is gone: %v, want ErrCorrupt and not ErrRemoteUnavailable", err)
			}
			if _, err := readAll(e.l, m[1].Base, 1000); err != nil {
				t.Fatalf("the other segments: %v", err)
			}
			e.close()
		})
	}
}
