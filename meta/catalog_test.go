package meta

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"strata/logstore"
)

// machineProposer is a Proposer over bare machines, no raft: what the
// Catalog does on top of the topics machine, tested without a Node.
type machineProposer struct {
	mu       sync.Mutex
	idx      uint64
	adapters map[uint64]*adapter
	// fail, if set, fails every call (a node without quorum).
	fail error
}

func newMachineProposer() *machineProposer {
	p := &machineProposer{adapters: make(map[uint64]*adapter)}
	for shard, f := range machines {
		p.adapters[shard] = &adapter{m: f()}
	}
	return p
}

func (p *machineProposer) Propose(_ context.Context, shard uint64, cmd []byte) (sm.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return sm.Result{}, p.fail
	}
	p.idx++
	return p.adapters[shard].Update(sm.Entry{Index: p.idx, Cmd: cmd})
}

func (p *machineProposer) Read(_ context.Context, shard uint64, q Query) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return nil, p.fail
	}
	return p.adapters[shard].Lookup(q)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestCatalog(t *testing.T, p Proposer) *Catalog {
	t.Helper()
	c, err := NewCatalog(p, CatalogOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogErrors(t *testing.T) {
	c := newTestCatalog(t, newMachineProposer())
	seq, err := c.NextSeq()
	if err != nil || seq != 1 {
		t.Fatalf("NextSeq = %d, %v", seq, err)
	}
	m := logstore.TopicMeta{Name: "orders", ID: [16]byte{1}, Seq: seq, Partitions: 2, CreatedAt: time.Unix(100, 0).UTC()}
	if err := c.Create(m); err != nil {
		t.Fatal(err)
	}
	other := m
	other.ID = [16]byte{2}
	other.Seq = 2
	if err := c.Create(other); !errors.Is(err, logstore.ErrTopicExists) {
		t.Fatalf("create of a taken name: %v, want ErrTopicExists", err)
	}
	if err := c.Replace(other); !errors.Is(err, logstore.ErrUnknownTopic) {
		t.Fatalf("replace with another ID: %v, want ErrUnknownTopic", err)
	}
	gone := m
	gone.Name = "gone"
	if err := c.Replace(gone); !errors.Is(err, logstore.ErrUnknownTopic) {
		t.Fatalf("replace of a missing topic: %v, want ErrUnknownTopic", err)
	}
	// Put keeps logstore.Catalog's contract: create or replace.
	if gone.Seq, err = c.NextSeq(); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(gone); err != nil {
		t.Fatal(err)
	}
	m.Partitions = 4
	if err := c.Put(m); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("nope"); err != nil {
		t.Fatalf("delete of a missing topic: %v", err)
	}
	if err := c.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	metas, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 || metas[0].Name != "orders" || metas[0].Partitions != 4 || metas[0].ID != m.ID {
		t.Fatalf("Load = %+v", metas)
	}
	// Seqs come from reserved blocks and are never handed out twice,
	// even by two catalogues over the same shard (two nodes).
	c2 := newTestCatalog(t, c.p)
	seen := map[uint64]bool{m.Seq: true, gone.Seq: true}
	for i := range 200 {
		cc := c
		if i%2 == 1 {
			cc = c2
		}
		s, err := cc.NextSeq()
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("seq %d handed out twice", s)
		}
		seen[s] = true
	}
	c.Close()
	if _, err := c.Load(); !errors.Is(err, logstore.ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

func TestCatalogNoQuorumPassesThrough(t *testing.T) {
	p := newMachineProposer()
	p.fail = ErrNoQuorum
	c := newTestCatalog(t, p)
	if err := c.Create(logstore.TopicMeta{Name: "x", ID: [16]byte{1}, Seq: 1, Partitions: 1, CreatedAt: time.Now()}); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("Create without quorum: %v", err)
	}
}

// TestCatalogStoresReconcile runs two Stores (two nodes) over one
// catalogue: what one creates, alters, grows and deletes, the other picks
// up on Reconcile.
func TestCatalogStoresReconcile(t *testing.T) {
	p := newMachineProposer()
	open := func() *logstore.Store {
		s, err := logstore.OpenStore(logstore.StoreOptions{Dir: t.TempDir(), Catalog: newTestCatalog(t, p), Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	if _, err := a.CreateTopic("orders", 2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTopic("inbox", 1, map[string]string{"storage.engine": "lite"}); err != nil {
		t.Fatal(err)
	}
	// b does not know yet; a create of the same name is refused by meta.
	if _, err := b.CreateTopic("orders", 1, nil); !errors.Is(err, logstore.ErrTopicExists) {
		t.Fatalf("create of a name another node took: %v", err)
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if ti, err := b.Topic("orders"); err != nil || ti.Partitions != 2 {
		t.Fatalf("b after reconcile: %+v, %v", ti, err)
	}
	if _, err := b.Partition("inbox", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AlterTopicConfig("orders", map[string]string{"retention.ms": "1000"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreatePartitions("orders", 3); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTopic("inbox"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	ti, err := b.Topic("orders")
	if err != nil || ti.Partitions != 3 || ti.Config.RetentionMs != 1000 {
		t.Fatalf("b after alter and grow: %+v, %v", ti, err)
	}
	if _, err := b.Topic("inbox"); !errors.Is(err, logstore.ErrUnknownTopic) {
		t.Fatalf("b still has the deleted topic: %v", err)
	}
	// An alter through b of a topic a deleted and recreated fails: the
	// name belongs to another topic now.
	if _, err := a.CreateTopic("inbox", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTopic("inbox"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTopic("inbox", 2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AlterTopicConfig("inbox", map[string]string{"retention.ms": "5"}, nil); !errors.Is(err, logstore.ErrUnknownTopic) {
		t.Fatalf("alter of a replaced topic: %v", err)
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if ti, err := b.Topic("inbox"); err != nil || ti.Partitions != 2 {
		t.Fatalf("b after the topic was replaced: %+v, %v", ti, err)
	}
}

func TestCatalogImportFile(t *testing.T) {
	fs := vfs.NewMem()
	dir := "data"
	fc, err := logstore.OpenFileCatalog(fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []logstore.TopicMeta
	for i, name := range []string{"a", "b"} {
		seq, err := fc.NextSeq()
		if err != nil {
			t.Fatal(err)
		}
		m := logstore.TopicMeta{Name: name, ID: [16]byte{byte(i + 1)}, Seq: seq, Partitions: int32(i + 1), CreatedAt: time.Unix(int64(i), 0).UTC()}
		if err := fc.Put(m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	fc.Close()

	p := newMachineProposer()
	c := newTestCatalog(t, p)
	n, err := c.ImportFile(fs, dir, discardLogger())
	if err != nil || n != 2 {
		t.Fatalf("ImportFile = %d, %v", n, err)
	}
	got, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != want[0].ID || got[1].Seq != want[1].Seq || got[1].Partitions != 2 {
		t.Fatalf("imported %+v, want %+v", got, want)
	}
	if _, err := fs.Stat(fs.PathJoin(dir, logstore.CatalogFileName)); err == nil {
		t.Fatal("catalog.json is still there")
	}
	if _, err := fs.Stat(fs.PathJoin(dir, logstore.CatalogFileName+ImportedSuffix)); err != nil {
		t.Fatal(err)
	}
	// Seqs continue above the file's reservations.
	if s, err := c.NextSeq(); err != nil || s <= want[1].Seq {
		t.Fatalf("NextSeq after import = %d, %v", s, err)
	}
	// Nothing to import the second time.
	if n, err := c.ImportFile(fs, dir, discardLogger()); err != nil || n != 0 {
		t.Fatalf("second ImportFile = %d, %v", n, err)
	}

	// A file whose topics meta does not hold is left alone.
	dir2 := "other"
	fc, err = logstore.OpenFileCatalog(fs, dir2)
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.Put(logstore.TopicMeta{Name: "z", ID: [16]byte{9}, Seq: 1, Partitions: 1, CreatedAt: time.Unix(5, 0)}); err != nil {
		t.Fatal(err)
	}
	fc.Close()
	if n, err := c.ImportFile(fs, dir2, discardLogger()); err != nil || n != 0 {
		t.Fatalf("ImportFile into a non-empty meta = %d, %v", n, err)
	}
	if _, err := fs.Stat(fs.PathJoin(dir2, logstore.CatalogFileName)); err != nil {
		t.Fatalf("the file was moved: %v", err)
	}
}

// TestCatalogDropOnDelete: deleting a topic through a Catalog with
// DropOnDelete also forgets its segment manifests, every group's offsets
// for it and its placements, and leaves other topics' alone; a repeated
// delete (the entry already gone) drops again and succeeds.
func TestCatalogDropOnDelete(t *testing.T) {
	ctx := context.Background()
	p := newMemProposer()
	c, err := NewCatalog(p, CatalogOptions{Timeout: 2 * time.Second, DropOnDelete: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"gone", "kept"} {
		if err := c.Create(logstore.TopicMeta{Name: name, ID: [16]byte{byte(i + 1)}, Seq: uint64(i + 1), Partitions: 2, CreatedAt: time.Unix(1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	m, g, cl := NewManifests(p), NewGroups(p), NewCluster(p)
	if err := cl.propose(ctx, OpNodeRegister, map[string]any{"id": 1, "raft_addr": "127.0.0.1:7101", "at": time.Unix(5, 0).UTC()}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gone", "kept"} {
		if _, err := m.AddSegment(ctx, name, 1, SegmentEntry{Base: 0, Last: 4, Size: 100, State: SegmentLocal}); err != nil {
			t.Fatal(err)
		}
		if err := cl.SetPlacement(ctx, name, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, group := range []string{"g1", "g2"} {
		if err := g.CommitOffsets(ctx, group, nil, 1, []OffsetCommit{{Topic: "gone", Partition: 0, Offset: 5}, {Topic: "kept", Partition: 1, Offset: 7}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func() {
		t.Helper()
		if segs, err := m.Partition(ctx, "gone", 1); err != nil || len(segs) != 0 {
			t.Fatalf("manifest of the deleted topic: %v %v", segs, err)
		}
		if segs, err := m.Partition(ctx, "kept", 1); err != nil || len(segs) != 1 {
			t.Fatalf("manifest of the other topic: %v %v", segs, err)
		}
		for _, group := range []string{"g1", "g2"} {
			offs, err := g.FetchOffsets(ctx, group, nil)
			if err != nil || len(offs) != 1 || offs[0].Topic != "kept" || offs[0].Offset != 7 {
				t.Fatalf("group %s offsets after the delete: %+v %v", group, offs, err)
			}
		}
		if _, ok, err := cl.Placement(ctx, "gone", 0); ok || err != nil {
			t.Fatalf("placement of the deleted topic: %v %v", ok, err)
		}
		if _, ok, err := cl.Placement(ctx, "kept", 0); !ok || err != nil {
			t.Fatalf("placement of the other topic: %v %v", ok, err)
		}
	}
	if err := c.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	check()
	if err := c.Delete("gone"); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	check()
}
