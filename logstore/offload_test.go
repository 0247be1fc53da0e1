package logstore

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// deleteRecorder is an Offloader that also implements
// SegmentDeleteNotifier and records both calls in order.
type deleteRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *deleteRecorder) SegmentSealed(s SealedSegment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("sealed %d", s.BaseOffset))
}
func (r *deleteRecorder) IsOffloaded(string, int32, int64) bool { return false }
func (r *deleteRecorder) OpenRemote(context.Context, string, int32, int64, int64, int64) (io.ReadCloser, error) {
	return nil, ErrOffsetOutOfRange
}
func (r *deleteRecorder) SegmentDeleted(topic string, partition int32, base int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("deleted %s-%d %d", topic, partition, base))
}

func (r *deleteRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestSegmentDeleteNotifier: every sealed segment that retention,
// DeleteRecordsBefore or Truncate removes is announced once, after its
// files are gone; an Offloader without the method is left alone.
func TestSegmentDeleteNotifier(t *testing.T) {
	fs := vfs.NewMem()
	rec := &deleteRecorder{}
	cfg := segTestConfig(4 << 10)
	l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: "/d/t-3", Topic: "t", Partition: 3, Config: cfg, Offloader: rec, Logger: segQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var bases []int64
	for i := range 80 {
		if _, err := l.Append(segBatch(t, 1, 1, fmt.Sprint(i), 400)); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	for _, s := range l.mu.segs {
		bases = append(bases, s.base)
	}
	l.mu.Unlock()
	if len(bases) < 6 {
		t.Fatalf("only %d segments", len(bases))
	}
	rec.take() // the seals

	// DeleteRecordsBefore the third segment: the first two go.
	if err := l.DeleteRecordsBefore(bases[2]); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("deleted t-3 %d", bases[0]), fmt.Sprintf("deleted t-3 %d", bases[1])}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("after DeleteRecordsBefore: %q, want %q", got, want)
	}
	for _, b := range bases[:2] {
		if _, err := fs.Stat(fs.PathJoin("/d/t-3", SegmentFileName(b, SegmentExt))); err == nil {
			t.Fatalf("segment %d still on disk", b)
		}
	}

	// Retention by bytes: everything but the newest sealed segments goes.
	cfg.RetentionBytes = 3 * (4 << 10)
	if err := l.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	lso, err := l.ApplyRetention(time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	if len(got) == 0 || got[0] != fmt.Sprintf("deleted t-3 %d", bases[2]) {
		t.Fatalf("after retention (lso %d): %q", lso, got)
	}
	for _, e := range got {
		var b int64
		if _, err := fmt.Sscanf(e, "deleted t-3 %d", &b); err != nil || b >= lso {
			t.Fatalf("retention announced %q with the log start at %d", e, lso)
		}
	}

	// Truncate into a sealed segment: the later ones are deleted, and the
	// one cut into is no longer the sealed file that was announced.
	l.mu.Lock()
	segs := slices.Clone(l.mu.segs)
	l.mu.Unlock()
	if len(segs) < 3 {
		t.Fatalf("%d segments left", len(segs))
	}
	cut := segs[len(segs)-3]
	if err := l.Truncate(cut.base + 1); err != nil {
		t.Fatal(err)
	}
	want = []string{
		fmt.Sprintf("deleted t-3 %d", segs[len(segs)-1].base),
		fmt.Sprintf("deleted t-3 %d", segs[len(segs)-2].base),
		fmt.Sprintf("deleted t-3 %d", cut.base),
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("after Truncate: %q, want %q", got, want)
	}

	// NopOffloader (no SegmentDeleted) is not asked.
	var _ Offloader = NopOffloader{}
	if _, ok := Offloader(NopOffloader{}).(SegmentDeleteNotifier); ok {
		t.Fatal("NopOffloader listens for deletions")
	}
}

// TestSegmentDeleteNotifierRecovery: a deletion cut short by a crash (the
// checkpoint moved the log start, the files stayed) is finished and
// announced when the log reopens.
func TestSegmentDeleteNotifierRecovery(t *testing.T) {
	fs := vfs.NewMem()
	cfg := segTestConfig(4 << 10)
	l := segOpen(t, fs, "/d/t-0", cfg)
	for i := range 20 {
		if _, err := l.Append(segBatch(t, 1, 1, fmt.Sprint(i), 400)); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	first, second := l.mu.segs[0].base, l.mu.segs[1].base
	c := Checkpoint{LogStartOffset: second, RecoveryPoint: l.mu.segs[len(l.mu.segs)-1].base, EndOffset: l.mu.hw}
	l.mu.Unlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The state after a crash between the checkpoint and the unlink.
	if err := writeFileAtomic(fs, fs.PathJoin("/d/t-0", CheckpointFileName), EncodeCheckpoint(c)); err != nil {
		t.Fatal(err)
	}
	rec := &deleteRecorder{}
	l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: "/d/t-0", Topic: "t", Config: cfg, Offloader: rec, Logger: segQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := rec.take()
	if len(got) == 0 || got[0] != fmt.Sprintf("deleted t-0 %d", first) || slices.Contains(got, fmt.Sprintf("deleted t-0 %d", second)) {
		t.Fatalf("reopen announced %q; want the deletion of %d first", got, first)
	}
}

// noUploads is a deleteRecorder that says it uploads nothing.
type noUploads struct{ deleteRecorder }

func (*noUploads) Uploads() bool { return false }

// TestRetentionGateUploader: retention of a tiered topic waits for
// IsOffloaded when the offloader uploads (or does not say), and deletes as
// for a persistent topic when it says it uploads nothing.
func TestRetentionGateUploader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		off     Offloader
		deletes bool
	}{
		{"uploader-unknown", &deleteRecorder{}, false},
		{"uploads-nothing", &noUploads{}, true},
		{"nop", NopOffloader{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := segTestConfig(4 << 10)
			cfg.Mode = ModeTiered
			cfg.RetentionBytes = 1
			l, err := OpenSegmentLog(SegmentOptions{FS: vfs.NewMem(), Dir: "/d/t-0", Topic: "t", Config: cfg, Offloader: tc.off, Logger: segQuietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i := range 20 {
				if _, err := l.Append(segBatch(t, 1, 1, fmt.Sprint(i), 400)); err != nil {
					t.Fatal(err)
				}
			}
			lso, err := l.ApplyRetention(time.Now().UnixMilli())
			if err != nil {
				t.Fatal(err)
			}
			if deleted := lso > 0; deleted != tc.deletes {
				t.Fatalf("log start after retention %d; want deletion %t", lso, tc.deletes)
			}
		})
	}
}
