package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strata/logstore"
	"strata/tier"
)

// TestServeUploadsTieredSegments: `strata serve --tier file://DIR` uploads
// the sealed segments of a tiered topic (announced by the log when the
// server opens it) to DIR, and those of a persistent topic not at all.
func TestServeUploadsTieredSegments(t *testing.T) {
	data := t.TempDir()
	objects := filepath.Join(t.TempDir(), "objects")
	start := func() *server {
		t.Helper()
		s, err := spawnServer(t, data, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--raft-addr", raftAddrFor(t, data), "--tier", "file://"+objects)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.waitReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv := start()
	env := cleanEnv("STRATA_SERVER=" + srv.url)
	for _, args := range [][]string{
		{"topic", "create", "cold", "--config", "storage.mode=tiered"},
		{"topic", "create", "warm"},
	} {
		if res := runStrata(t, data, env, args...); res.code != 0 {
			t.Fatalf("%v: %s", args, res.stderr)
		}
	}
	srv.stop(t)

	// Write sealed segments into both partitions while the server is down.
	for _, topic := range []string{"cold", "warm"} {
		cfg := logstore.DefaultTopicConfig()
		cfg.SegmentBytes = 200
		l, err := logstore.OpenSegmentLog(logstore.SegmentOptions{
			Dir: filepath.Join(data, logstore.TopicsDirName, logstore.PartitionDirName(topic, 0)), Topic: topic, Config: cfg,
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			b, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: int64(1_700_000_000_000 + i), Value: bytes.Repeat([]byte("x"), 150)}}, logstore.CompressionNone)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}

	srv = start()
	defer srv.stop(t)
	store, err := tier.NewLocalDir(objects)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	var objs []tier.ObjectInfo
	for {
		if objs, err = store.List(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if len(objs) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(objs) != 3 {
		t.Fatalf("objects %+v, want the 3 sealed segments of cold\n%s", objs, srv.log())
	}
	dir := filepath.Join(data, logstore.TopicsDirName, logstore.PartitionDirName("cold", 0))
	for _, o := range objs {
		topic, p, base, _, err := tier.ParseSegmentKey(o.Key)
		if err != nil || topic != "cold" || p != 0 {
			t.Fatalf("object %q (%v)", o.Key, err)
		}
		r, err := store.Get(ctx, o.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, n, err := tier.DecodeSegmentHeader(obj)
		if err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile(filepath.Join(dir, logstore.SegmentFileName(base, logstore.SegmentExt)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(obj[n:], file[logstore.FileHeaderSize:]) {
			t.Fatalf("object %q: payload differs from the segment file", o.Key)
		}
	}
}
