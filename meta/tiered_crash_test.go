package meta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"strata/internal/crashtest"
	"strata/logstore"
	"strata/tier"
)

// The kill -9 test of a tiered partition. The test binary re-runs itself
// as a child (TestTieredCrashChild) that opens a real meta node on disk,
// appends to a tiered partition whose segments roll every few KiB, and
// runs retention every few milliseconds, so uploads (slowed by a little
// store latency) and evictions are always in flight; it prints one line
// per acknowledged append. The parent kills it at a random moment, then
// opens everything again as `strata serve` does (node, offloader, log,
// reconciliation) and requires: reconciliation reports no lost or damaged
// segment, a second reconciliation finds nothing to do (the manifest, the
// local files and the objects agree), and every acknowledged batch reads
// back byte-identical, from its local file or its object.

const (
	tieredCrashDirEnv   = "STRATA_TIERED_CRASH_DIR"
	tieredCrashRaftEnv  = "STRATA_TIERED_CRASH_RAFT"
	tieredCrashRoundEnv = "STRATA_TIERED_CRASH_ROUND"
)

// tieredCrashBatch is the batch of the seq-th append of a round.
func tieredCrashBatch(t testing.TB, round, seq int) []byte {
	v := bytes.Repeat([]byte(fmt.Sprintf("r%d-s%d|", round, seq)), 20+seq%40)
	b, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: int64(1_700_000_000_000 + seq), Value: v}}, logstore.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openCrashEnv opens the node, the manifests client and a tieredEnv on dir
// the way serve does: the log opens (asking the manifest for its remote
// segments) before reconciliation.
func openCrashEnv(t *testing.T, dir, raftAddr string) (*Node, *tieredEnv, *tier.Faulty) {
	t.Helper()
	n, err := OpenNode(NodeOptions{NodeID: 1, RaftAddr: raftAddr, Dir: filepath.Join(dir, "meta"), RTT: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := tier.NewLocalDir(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	faulty := tier.NewFaulty(objs)
	e := &tieredEnv{t: t, root: dir, c: NewManifests(n), objects: faulty}
	e.open(tieredConfig())
	return n, e, faulty
}

// TestTieredCrashChild is the child side of TestTieredCrashKill9; without
// the environment variable it returns at once.
func TestTieredCrashChild(t *testing.T) {
	dir := os.Getenv(tieredCrashDirEnv)
	if dir == "" {
		return
	}
	round, _ := strconv.Atoi(os.Getenv(tieredCrashRoundEnv))
	_, e, faulty := openCrashEnv(t, dir, os.Getenv(tieredCrashRaftEnv))
	faulty.SetLatency(2 * time.Millisecond)
	go func() {
		for {
			if _, err := e.l.ApplyRetention(time.Now().UnixMilli()); err != nil {
				fmt.Fprintf(os.Stderr, "retention: %v\n", err)
				os.Exit(3)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	for seq := 0; ; seq++ {
		res, err := e.l.Append(tieredCrashBatch(t, round, seq))
		if err != nil {
			fmt.Fprintf(os.Stderr, "append: %v\n", err)
			os.Exit(3)
		}
		_, _ = fmt.Fprintf(os.Stdout, "ack %d %d %d\n", res.BaseOffset, round, seq)
	}
}

func TestTieredCrashKill9(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := ln.Addr().String()
	ln.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	type ack struct {
		base int64
		want []byte
	}
	var acks []ack
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; round < 4 && time.Now().Before(deadline); round++ {
		got := crashtest.Kill(t, crashtest.Child{Test: "TestTieredCrashChild", Env: []string{
			tieredCrashDirEnv + "=" + dir, tieredCrashRaftEnv + "=" + raftAddr, tieredCrashRoundEnv + "=" + strconv.Itoa(round),
		}}, time.Duration(150+rng.IntN(600))*time.Millisecond, "append:", "retention:")
		for _, line := range got {
			var a ack
			var r, seq int
			if _, err := fmt.Sscanf(line, "ack %d %d %d", &a.base, &r, &seq); err != nil {
				continue // a torn last line
			}
			a.want = tieredCrashBatch(t, r, seq)
			logstore.SetBaseOffset(a.want, a.base)
			acks = append(acks, a)
		}

		n, e, _ := openCrashEnv(t, dir, raftAddr)
		checkTieredCrashState(t, round, e)
		for _, a := range acks {
			res, err := e.l.Read(a.base, 1)
			if err != nil {
				t.Fatalf("round %d: read acknowledged offset %d: %v", round, a.base, err)
			}
			b, err := res.Bytes()
			res.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[:min(len(b), len(a.want))], a.want) {
				t.Fatalf("round %d: the batch at %d differs from the acknowledged one", round, a.base)
			}
		}
		st := e.l.Stats()
		t.Logf("round %d: %d acks in all, %d local and %d remote segments, %d offloaded uploads", round, len(acks), st.Segments, st.RemoteSegments, e.o.Stats().Uploaded)
		e.close()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(acks) == 0 {
		t.Fatal("no appends were acknowledged")
	}
}

// checkTieredCrashState runs start-up reconciliation on the partition,
// requires it to find no data lost, applies it, and requires a second one
// to find nothing.
func checkTieredCrashState(t *testing.T, round int, e *tieredEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exists := func(key string) bool {
		_, err := e.objects.Head(ctx, key)
		if err != nil && !errors.Is(err, tier.ErrNotFound) {
			t.Fatalf("head %s: %v", key, err)
		}
		return err == nil
	}
	for pass := range 2 {
		if pass == 1 {
			// The offloader uploads what the crash left unuploaded; an
			// upload in flight is an "uploading" entry by design.
			if err := e.o.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			waitUploadsIdle(t, e.o)
		}
		m, err := e.c.Partition(ctx, "tt", 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ReconcilePartition(e.dir(), m, exists)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Err(); err != nil {
			t.Fatalf("round %d: reconciliation found damage: %v", round, err)
		}
		if pass == 1 && len(r.Actions) != 0 {
			t.Fatalf("round %d: the manifest and the files still disagree after reconciliation: %+v", round, r.Actions)
		}
		if err := r.Apply(ctx, e.c); err != nil {
			t.Fatal(err)
		}
	}
}
