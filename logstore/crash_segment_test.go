package logstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"strata/internal/crashtest"
)

// The kill -9 test. The test binary re-runs itself as a child process
// (TestSegmentCrashChild with segCrashDirEnv set) that appends with
// flush.messages=1 from several goroutines and prints one line per
// acknowledged Append. The parent SIGKILLs it at a random moment, reopens
// the log, and requires every acknowledged batch to read back
// byte-identical and every segment file to scan clean. Each round restarts
// the child on the same directory, so recovery runs on its own output.

const (
	segCrashDirEnv   = "STRATA_SEGMENT_CRASH_DIR"
	segCrashSeedEnv  = "STRATA_SEGMENT_CRASH_SEED"
	segCrashWriters  = 4
	segCrashSegBytes = 64 << 10
)

// segCrashBatch is the batch writer w sends as its seq-th append in round r:
// the parent rebuilds it from the ack line to compare bytes.
func segCrashBatch(t testing.TB, round, w, seq int) []byte {
	n := 1 + (w*7+seq)%9
	return segBatch(t, n, int64(1_700_000_000_000+seq), fmt.Sprintf("r%d-w%d-s%d", round, w, seq), 32+(seq*13)%300)
}

// TestSegmentCrashChild is the child side of TestSegmentCrashKill9; run
// without segCrashDirEnv it returns at once.
func TestSegmentCrashChild(t *testing.T) {
	dir := os.Getenv(segCrashDirEnv)
	if dir == "" {
		return
	}
	round, _ := strconv.Atoi(os.Getenv(segCrashSeedEnv))
	cfg := segTestConfig(segCrashSegBytes)
	cfg.FlushMessages = 1
	l := segOpen(t, vfs.Default, dir, cfg)
	var outMu sync.Mutex
	var wg sync.WaitGroup
	for w := range segCrashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				res, err := l.Append(segCrashBatch(t, round, w, seq))
				if err != nil {
					fmt.Fprintf(os.Stderr, "append: %v\n", err)
					os.Exit(3)
				}
				line := fmt.Sprintf("ack %d %d %d %d\n", res.BaseOffset, round, w, seq)
				outMu.Lock()
				_, _ = os.Stdout.WriteString(line) // one write(2) per line
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type segCrashAck struct {
	base           int64
	round, w, seq  int
	expectedStored []byte
}

func TestSegmentCrashKill9(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var acks []segCrashAck
	const rounds = 6
	deadline := time.Now().Add(10 * time.Second)
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		// The child's open and recovery can be slow under -race; it is
		// killed at a random point of its append stream.
		got := crashtest.Kill(t, crashtest.Child{Test: "TestSegmentCrashChild", Env: []string{
			segCrashDirEnv + "=" + dir, segCrashSeedEnv + "=" + strconv.Itoa(round),
		}}, time.Duration(20+rng.IntN(300))*time.Millisecond, "append:")
		n := 0
		for _, line := range got {
			var a segCrashAck
			if _, err := fmt.Sscanf(line, "ack %d %d %d %d", &a.base, &a.round, &a.w, &a.seq); err != nil {
				continue // a torn last line or test framework output
			}
			a.expectedStored = segCrashBatch(t, a.round, a.w, a.seq)
			SetBaseOffset(a.expectedStored, a.base)
			acks = append(acks, a)
			n++
		}
		if n == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		// Every acknowledged batch of every round so far must be there.
		l := segOpen(t, vfs.Default, dir, segTestConfig(segCrashSegBytes))
		for _, a := range acks {
			r, err := l.Read(a.base, 1)
			if err != nil {
				t.Fatalf("round %d: read acknowledged offset %d: %v", round, a.base, err)
			}
			b, err := r.Bytes()
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, a.expectedStored) {
				t.Fatalf("round %d: batch at %d (writer %d seq %d of round %d) differs after kill -9", round, a.base, a.w, a.seq, a.round)
			}
		}
		hw := l.HighWatermark()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		batches := segScanDir(t, vfs.Default, dir)
		t.Logf("round %d: %d acknowledged this round, %d in total, hw %d, %d batches on disk", round, n, len(acks), hw, batches)
	}
}
