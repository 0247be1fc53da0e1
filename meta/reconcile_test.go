package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"strata/logstore"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTestLog opens a segment log in root/t-0 whose every append after the
// first in a segment rolls it.
func openTestLog(t *testing.T, root string, off logstore.Offloader) *logstore.SegmentLog {
	t.Helper()
	cfg := logstore.DefaultTopicConfig()
	cfg.SegmentBytes = 25
	cfg.RetentionMs = -1
	cfg.RetentionBytes = -1
	l, err := logstore.OpenSegmentLog(logstore.SegmentOptions{
		Dir: filepath.Join(root, "t-0"), Topic: "t", Partition: 0, Config: cfg, Offloader: off, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendBatches(t *testing.T, l *logstore.SegmentLog, n int) {
	t.Helper()
	for i := range n {
		recs := []logstore.Record{{Timestamp: int64(1000 + i), Value: []byte(fmt.Sprintf("v%d", i))}, {Timestamp: int64(1000 + i), Value: []byte("w")}}
		b, err := logstore.EncodeBatch(recs, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
}

// newSealedDir writes a partition with `sealed` sealed segments (2 records
// each) and an active one, closes it and returns its directory.
func newSealedDir(t *testing.T, sealed int) string {
	t.Helper()
	root := t.TempDir()
	l := openTestLog(t, root, nil)
	appendBatches(t, l, sealed+1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "t-0")
}

type objectStore struct{ keys map[string]bool }

func (s *objectStore) exists(k string) bool { return s.keys[k] }

func segPath(dir string, base int64) string {
	return filepath.Join(dir, logstore.SegmentFileName(base, logstore.SegmentExt))
}

// deleteLocal removes a segment's files, as eviction does.
func deleteLocal(t *testing.T, dir string, base int64) {
	t.Helper()
	for _, ext := range []string{logstore.SegmentExt, logstore.IndexExt, logstore.TimeIndexExt} {
		if err := os.Remove(filepath.Join(dir, logstore.SegmentFileName(base, ext))); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// reconcileAndApply runs one startup reconciliation.
func reconcileAndApply(t *testing.T, c *Manifests, dir string, objs *objectStore) ReconcileReport {
	t.Helper()
	ctx := context.Background()
	m, err := c.Partition(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReconcilePartition(dir, m, objs.exists)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkConsistent requires the manifest and the files to agree: a second
// reconciliation finds nothing, no entry is mid-upload, an offloaded entry
// has its object, a local one its file, and every sealed file is recorded.
func checkConsistent(t *testing.T, c *Manifests, dir string, objs *objectStore) {
	t.Helper()
	m, err := c.Partition(context.Background(), "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReconcilePartition(dir, m, objs.exists)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Actions) > 0 || r.Err() != nil {
		t.Fatalf("not consistent: actions %+v, problems %v", r.Actions, r.Err())
	}
	recorded := map[int64]bool{}
	for _, e := range m {
		recorded[e.Base] = true
		switch e.State {
		case SegmentOffloaded:
			if !objs.exists(e.ObjectKey) {
				t.Fatalf("offloaded segment %d has no object", e.Base)
			}
		case SegmentLocal:
			if _, err := os.Stat(segPath(dir, e.Base)); err != nil {
				t.Fatalf("local segment %d: %v", e.Base, err)
			}
		default:
			t.Fatalf("segment %d left in state %s", e.Base, e.State)
		}
	}
	names, _ := os.ReadDir(dir)
	for _, de := range names {
		if base, ext, ok := logstore.ParseSegmentFileName(de.Name()); ok && ext == logstore.SegmentExt && base != r.ActiveBase && !recorded[base] {
			t.Fatalf("sealed file %s is not in the manifest", de.Name())
		}
	}
}

// TestReconcileSealCrash: a crash between the steps of a seal (file rolled,
// not yet recorded; recorded) reconciles to a consistent state.
func TestReconcileSealCrash(t *testing.T) {
	dir := newSealedDir(t, 4)
	objs := &objectStore{keys: map[string]bool{}}
	all, err := ReconcilePartition(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Actions) != 4 || all.Err() != nil || all.Topic != "t" || all.Partition != 0 {
		t.Fatalf("from an empty manifest: %+v", all)
	}
	for recordedBeforeCrash := 0; recordedBeforeCrash <= 4; recordedBeforeCrash++ {
		t.Run(fmt.Sprintf("recorded=%d", recordedBeforeCrash), func(t *testing.T) {
			c := NewManifests(newMemProposer())
			for _, a := range all.Actions[:recordedBeforeCrash] {
				if _, err := c.AddSegment(context.Background(), "t", 0, a.Segment); err != nil {
					t.Fatal(err)
				}
			}
			r := reconcileAndApply(t, c, dir, objs)
			if got := len(r.Actions); got != 4-recordedBeforeCrash {
				t.Fatalf("%d actions, want %d: %+v", got, 4-recordedBeforeCrash, r.Actions)
			}
			checkConsistent(t, c, dir, objs)
			// Apply is idempotent: a crash during Apply, then a rerun.
			if err := r.Apply(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			checkConsistent(t, c, dir, objs)
		})
	}
}

// upload runs the upload protocol for one segment up to (not including)
// step stop: 1 set uploading, 2 write the object, 3 set offloaded, 4 delete
// the local copy.
func upload(t *testing.T, c *Manifests, dir string, objs *objectStore, base int64, stop int) {
	t.Helper()
	ctx := context.Background()
	key := fmt.Sprintf("t/0/%020d.log", base)
	steps := []func(){
		func() {
			if _, err := c.SetState(ctx, "t", 0, base, SegmentUploading, key); err != nil {
				t.Fatal(err)
			}
		},
		func() { objs.keys[key] = true },
		func() {
			if _, err := c.SetState(ctx, "t", 0, base, SegmentOffloaded, key); err != nil {
				t.Fatal(err)
			}
		},
		func() { deleteLocal(t, dir, base) },
	}
	for _, step := range steps[:stop] {
		step()
	}
}

// TestReconcileUploadCrash: a crash between each step of an upload
// reconciles to a consistent state, and the upload can then run again to
// the end.
func TestReconcileUploadCrash(t *testing.T) {
	for stop := 0; stop <= 4; stop++ {
		t.Run(fmt.Sprintf("after-step-%d", stop), func(t *testing.T) {
			dir := newSealedDir(t, 3)
			objs := &objectStore{keys: map[string]bool{}}
			c := NewManifests(newMemProposer())
			reconcileAndApply(t, c, dir, objs)
			upload(t, c, dir, objs, 0, stop)
			r := reconcileAndApply(t, c, dir, objs)
			want := map[int]string{1: ReconcileResetUpload, 2: ReconcileResetUpload}[stop]
			if got := actionKinds(r); (want == "" && len(got) != 0) || (want != "" && !slices.Equal(got, []string{want})) {
				t.Fatalf("actions %v, want [%s]", got, want)
			}
			checkConsistent(t, c, dir, objs)
			if e, _, _ := c.Segment(context.Background(), "t", 0, 0); e.State == SegmentLocal {
				upload(t, c, dir, objs, 0, 4) // the retried upload
			}
			checkConsistent(t, c, dir, objs)
			if e, _, _ := c.Segment(context.Background(), "t", 0, 0); e.State != SegmentOffloaded {
				t.Fatalf("segment 0 ends %s", e.State)
			}
		})
	}
}

func actionKinds(r ReconcileReport) []string {
	var out []string
	for _, a := range r.Actions {
		out = append(out, a.Kind)
	}
	return out
}

func problemKinds(r ReconcileReport) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Kind)
	}
	return out
}

// TestReconcileCases covers the rest of the table in reconcile.go.
func TestReconcileCases(t *testing.T) {
	dir := newSealedDir(t, 3)
	fresh, err := ReconcilePartition(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	segs := make([]SegmentEntry, len(fresh.Actions))
	for i, a := range fresh.Actions {
		segs[i] = a.Segment
	}
	active := fresh.ActiveBase
	if len(segs) != 3 || active != segs[2].Last+1 {
		t.Fatalf("active base %d after %+v", active, segs)
	}
	with := func(i int, f func(*SegmentEntry)) []SegmentEntry {
		m := slices.Clone(segs)
		f(&m[i])
		return m
	}
	plus := func(e SegmentEntry) []SegmentEntry { return append(slices.Clone(segs), e) }
	for _, tc := range []struct {
		name     string
		manifest []SegmentEntry
		objects  map[string]bool
		prepare  func(t *testing.T, dir string)
		actions  []string
		problems []string
	}{
		{name: "agrees", manifest: segs},
		{name: "local entry differs from its file", manifest: with(1, func(e *SegmentEntry) { e.CRC++ }),
			actions: []string{ReconcileReplace}},
		{name: "offloaded entry differs from its file", manifest: with(1, func(e *SegmentEntry) { e.CRC++; e.State, e.ObjectKey = SegmentOffloaded, "k" }),
			objects: map[string]bool{"k": true}, problems: []string{ProblemMismatch}},
		{name: "offloaded, object missing, local present", manifest: with(0, func(e *SegmentEntry) { e.State, e.ObjectKey = SegmentOffloaded, "k" }),
			problems: []string{ProblemObjectMissing}},
		{name: "offloaded, object and local gone", manifest: with(0, func(e *SegmentEntry) { e.State, e.ObjectKey = SegmentOffloaded, "k" }),
			prepare: func(t *testing.T, dir string) { deleteLocal(t, dir, 0) }, problems: []string{ProblemLost}},
		{name: "entry at the active segment", manifest: plus(SegmentEntry{Base: active, Last: active + 1, Size: 10, State: SegmentLocal}),
			actions: []string{ReconcileRemove}, problems: []string{ProblemTruncated}},
		{name: "entry beyond the log end", manifest: plus(SegmentEntry{Base: active + 100, Last: active + 101, Size: 10, State: SegmentLocal}),
			actions: []string{ReconcileRemove}, problems: []string{ProblemTruncated}},
		{name: "retention deleted a local segment", manifest: segs,
			prepare: func(t *testing.T, dir string) { deleteLocal(t, dir, 0) }, actions: []string{ReconcileRemove}},
		{name: "a local segment in the middle is gone", manifest: segs,
			prepare: func(t *testing.T, dir string) { deleteLocal(t, dir, segs[1].Base) }, problems: []string{ProblemLost}},
		{name: "uploading, local gone, object present", manifest: with(0, func(e *SegmentEntry) { e.State, e.ObjectKey = SegmentUploading, "k" }),
			objects: map[string]bool{"k": true}, prepare: func(t *testing.T, dir string) { deleteLocal(t, dir, 0) }, actions: []string{ReconcileMarkOffloaded}},
		{name: "uploading, local and object gone", manifest: with(0, func(e *SegmentEntry) { e.State, e.ObjectKey = SegmentUploading, "k" }),
			prepare: func(t *testing.T, dir string) { deleteLocal(t, dir, 0) }, problems: []string{ProblemLost}},
		{name: "corrupt sealed file", manifest: segs[:1],
			prepare: func(t *testing.T, dir string) { flipByte(t, segPath(dir, segs[1].Base), 40) },
			actions: []string{ReconcileAdd}, problems: []string{ProblemCorrupt}},
		{name: "corrupt sealed file in the manifest", manifest: segs,
			prepare:  func(t *testing.T, dir string) { flipByte(t, segPath(dir, segs[1].Base), 40) },
			problems: []string{ProblemCorrupt}},
		{name: "file overlapping an entry with another base", manifest: []SegmentEntry{segs[0], {Base: segs[1].Base + 1, Last: segs[1].Last, Size: 10, State: SegmentLocal}},
			actions: []string{ReconcileAdd}, problems: []string{ProblemLost, ProblemOverlap}},
		{name: "no directory at all", manifest: with(0, func(e *SegmentEntry) { e.State, e.ObjectKey = SegmentOffloaded, "k" })[:1],
			objects: map[string]bool{"k": true}, prepare: func(t *testing.T, dir string) {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "t-0")
			copyDir(t, dir, d)
			if tc.prepare != nil {
				tc.prepare(t, d)
			}
			objs := &objectStore{keys: tc.objects}
			r, err := ReconcilePartition(d, tc.manifest, objs.exists)
			if err != nil {
				t.Fatal(err)
			}
			if got := actionKinds(r); !slices.Equal(got, tc.actions) {
				t.Errorf("actions %v, want %v (%+v)", got, tc.actions, r.Actions)
			}
			if got := problemKinds(r); !slices.Equal(got, tc.problems) {
				t.Errorf("problems %v, want %v (%v)", got, tc.problems, r.Err())
			}
			if (len(tc.problems) > 0) != errors.Is(r.Err(), ErrManifestDisagrees) {
				t.Errorf("Err() = %v", r.Err())
			}
			// Applying the actions leaves nothing to do but the problems.
			c := NewManifests(newMemProposer())
			for _, e := range tc.manifest {
				if _, err := c.AddSegment(context.Background(), "t", 0, e); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Apply(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			m, _ := c.Partition(context.Background(), "t", 0)
			again, err := ReconcilePartition(d, m, objs.exists)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Actions) != 0 {
				t.Errorf("after Apply, still %+v", again.Actions)
			}
		})
	}
	if _, err := ReconcilePartition(filepath.Join(t.TempDir(), "nodash"), nil, nil); err == nil {
		t.Fatal("a directory not named <topic>-<partition> was accepted")
	}
}

func TestParsePartitionDirName(t *testing.T) {
	for _, tc := range []struct {
		in    string
		topic string
		p     int32
		ok    bool
	}{
		{"t-0", "t", 0, true}, {"my-topic-12", "my-topic", 12, true}, {"t", "", 0, false}, {"-1", "", 0, false},
		{"t-", "", 0, false}, {"t--1", "t-", 1, true}, {"t-01", "", 0, false}, {"t-99999999999", "", 0, false},
	} {
		topic, p, ok := ParsePartitionDirName(tc.in)
		if topic != tc.topic || p != tc.p || ok != tc.ok {
			t.Errorf("ParsePartitionDirName(%q) = %q %d %v", tc.in, topic, p, ok)
		}
		if ok && logstore.PartitionDirName(topic, p) != tc.in {
			t.Errorf("%q does not round-trip", tc.in)
		}
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range names {
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, de.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestManifestOffloaderRecordsRolls: a real segment log with the
// ManifestOffloader records each sealed segment, the manifest agrees with
// the files, and a reopen (which announces them again) changes nothing.
func TestManifestOffloaderRecordsRolls(t *testing.T) {
	root := t.TempDir()
	c := NewManifests(newMemProposer())
	o, err := NewManifestOffloader(c, ManifestOffloaderOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	l := openTestLog(t, root, o)
	appendBatches(t, l, 5)
	ctx := context.Background()
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Recorded != 4 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
	dir := filepath.Join(root, "t-0")
	objs := &objectStore{keys: map[string]bool{}}
	checkConsistent(t, c, dir, objs)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, root, o)
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Recorded != 8 || st.Refused != 0 {
		t.Fatalf("after reopen: stats %+v", st)
	}
	if o.IsOffloaded("t", 0, 0) {
		t.Fatal("a local segment reads as offloaded")
	}
	upload(t, c, dir, objs, 0, 3)
	if !o.IsOffloaded("t", 0, 0) {
		t.Fatal("an offloaded segment reads as local")
	}
	// Without an object tier of its own the offloader offers nothing to
	// read remotely, whatever the manifest says.
	if rs, err := o.RemoteSegments("t", 0); err != nil || len(rs) != 0 {
		t.Fatalf("RemoteSegments without an object tier: %+v, %v", rs, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, dir, objs)
}

// TestManifestOffloaderBlocksAndRetries: with meta unavailable the worker
// retries, the bounded queue fills and SegmentSealed blocks (the named full
// policy); when meta is back everything is recorded.
func TestManifestOffloaderBlocksAndRetries(t *testing.T) {
	dir := newSealedDir(t, 3)
	fresh, err := ReconcilePartition(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newMemProposer()
	p.setFail(errors.New("shard not ready"))
	c := NewManifests(p)
	o, err := NewManifestOffloader(c, ManifestOffloaderOptions{QueueSize: 1, RetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, a := range fresh.Actions {
			e := a.Segment
			o.SegmentSealed(logstore.SealedSegment{Topic: "t", Partition: 0, BaseOffset: e.Base, LastOffset: e.Last, Size: e.Size, Path: segPath(dir, e.Base), MaxTimestamp: e.MaxTimestamp})
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for o.Stats().Blocked == 0 {
		if time.Now().After(deadline) {
			t.Fatal("SegmentSealed never blocked on a full queue")
		}
		time.Sleep(time.Millisecond)
	}
	if o.Stats().Recorded != 0 {
		t.Fatal("recorded while meta was down")
	}
	p.setFail(nil)
	<-done
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Recorded != 3 {
		t.Fatalf("stats %+v", st)
	}
	checkConsistent(t, c, dir, &objectStore{})
	// A file that cannot be read is refused, not retried forever.
	o.SegmentSealed(logstore.SealedSegment{Topic: "t", Partition: 0, BaseOffset: 500, LastOffset: 501, Size: 10, Path: filepath.Join(dir, "missing.log")})
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background()); err == nil {
		t.Fatal("Flush after Close succeeded")
	}
}

// TestReconcileTopicsDir reconciles a whole topics directory: partitions
// with directories, one known only to the manifest, and a filter.
func TestReconcileTopicsDir(t *testing.T) {
	ctx := context.Background()
	dir := newSealedDir(t, 2) // <root>/t-0
	topics := filepath.Dir(dir)
	copyDir(t, dir, filepath.Join(topics, "u-3"))
	if err := os.WriteFile(filepath.Join(topics, "not-a-partition.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewManifests(newMemProposer())
	// v-0 has an offloaded entry and no directory (its files were evicted).
	if _, err := c.AddSegment(ctx, "v", 0, SegmentEntry{Base: 0, Last: 9, Size: 100, State: SegmentOffloaded, ObjectKey: "v/0"}); err != nil {
		t.Fatal(err)
	}
	objs := &objectStore{keys: map[string]bool{"v/0": true}}
	reports, err := ReconcileTopicsDir(ctx, topics, c, objs.exists, func(topic string, _ int32) bool { return topic != "u" })
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || reports[0].Topic != "t" || reports[1].Topic != "v" || len(reports[0].Actions) != 2 || len(reports[1].Actions) != 0 {
		t.Fatalf("reports %+v", reports)
	}
	for _, r := range reports {
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
	}
	if segs, _ := c.Partition(ctx, "u", 3); len(segs) != 0 {
		t.Fatal("a filtered-out partition was reconciled")
	}
	checkConsistent(t, c, dir, objs)
	// Without a filter u-3 is reconciled too: its two sealed files are added.
	reports, err = ReconcileTopicsDir(ctx, topics, c, objs.exists, nil)
	if err != nil || len(reports) != 3 || len(reports[1].Actions) != 2 {
		t.Fatalf("second pass: %+v, %v", reports, err)
	}
}

// TestManifestOffloaderSegmentDeleted: segments that DeleteRecordsBefore and
// retention delete leave the manifest (remove_segment, through the same
// queue as the seals), so the manifest and the files agree without a
// reconciliation; a partition the node does not own is left alone.
func TestManifestOffloaderSegmentDeleted(t *testing.T) {
	root := t.TempDir()
	c := NewManifests(newMemProposer())
	o, err := NewManifestOffloader(c, ManifestOffloaderOptions{Logger: quietLogger(),
		Owns: func(topic string, _ int32) bool { return topic == "t" }})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	l := openTestLog(t, root, o)
	defer l.Close()
	appendBatches(t, l, 6) // five sealed segments of 2 records each, one active
	ctx := context.Background()
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "t-0")
	objs := &objectStore{keys: map[string]bool{}}
	checkConsistent(t, c, dir, objs)
	bases := func() []int64 {
		t.Helper()
		m, err := c.Partition(ctx, "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range m {
			out = append(out, e.Base)
		}
		return out
	}
	if got := bases(); !slices.Equal(got, []int64{0, 2, 4, 6, 8}) {
		t.Fatalf("manifest bases %v", got)
	}

	if err := l.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bases(); !slices.Equal(got, []int64{4, 6, 8}) {
		t.Fatalf("after DeleteRecordsBefore(4): manifest bases %v", got)
	}
	checkConsistent(t, c, dir, objs)

	cfg := l.Config()
	cfg.RetentionBytes = 1 // keep only the active segment
	if err := l.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyRetention(time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bases(); len(got) != 0 {
		t.Fatalf("after retention: manifest bases %v", got)
	}
	if st := o.Stats(); st.Removed != 5 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
	checkConsistent(t, c, dir, objs)

	// A removal of an entry that is not there (a retried proposal) is done.
	o.SegmentDeleted("t", 0, 4)
	// Another partition: not this node's to record or remove.
	if _, err := c.AddSegment(ctx, "u", 0, SegmentEntry{Base: 0, Last: 1, Size: 10, State: SegmentLocal}); err != nil {
		t.Fatal(err)
	}
	o.SegmentDeleted("u", 0, 0)
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if segs, _ := c.Partition(ctx, "u", 0); len(segs) != 1 {
		t.Fatalf("an entry of a partition the node does not own was removed: %v", segs)
	}
	if st := o.Stats(); st.Removed != 6 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
}
