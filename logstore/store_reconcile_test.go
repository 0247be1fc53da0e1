package logstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// sharedCatalog is one catalogue shared by several Stores (several
// nodes), with meta's create/replace semantics (TopicCreator).
type sharedCatalog struct {
	mu      sync.Mutex
	topics  map[string]TopicMeta
	nextSeq uint64
}

func newSharedCatalog() *sharedCatalog {
	return &sharedCatalog{topics: map[string]TopicMeta{}, nextSeq: 1}
}

func (c *sharedCatalog) Load() ([]TopicMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []TopicMeta
	for _, n := range slices.Sorted(maps.Keys(c.topics)) {
		out = append(out, cloneMeta(c.topics[n]))
	}
	return out, nil
}

func (c *sharedCatalog) Put(t TopicMeta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topics[t.Name] = cloneMeta(t)
	return nil
}

func (c *sharedCatalog) Create(t TopicMeta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[t.Name]; ok {
		return fmt.Errorf("%w: %q", ErrTopicExists, t.Name)
	}
	c.topics[t.Name] = cloneMeta(t)
	return nil
}

func (c *sharedCatalog) Replace(t TopicMeta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.topics[t.Name]; !ok || old.ID != t.ID {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, t.Name)
	}
	c.topics[t.Name] = cloneMeta(t)
	return nil
}

func (c *sharedCatalog) Delete(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.topics, name)
	return nil
}

func (c *sharedCatalog) NextSeq() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextSeq++
	return c.nextSeq - 1, nil
}

func (c *sharedCatalog) Close() error { return nil }

// TestStoreReconcile: two Stores over one catalogue; what one does, the
// other applies on Reconcile, for every engine.
func TestStoreReconcile(t *testing.T) {
	cat := newSharedCatalog()
	fs := vfs.NewMem()
	open := func(dir string) *Store {
		s, err := OpenStore(StoreOptions{Dir: dir, FS: fs, Catalog: cat, Logger: storeTestLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open("a"), open("b")
	names := func(s *Store) []string {
		var out []string
		for _, ti := range s.Topics() {
			out = append(out, fmt.Sprintf("%s/%d", ti.Name, len(ti.PartitionStats)))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		cfg  map[string]string
	}{
		{"seg", nil},
		{"lite", map[string]string{KeyStorageEngine: EngineLite}},
		{"mem", map[string]string{KeyStorageMode: ModeMemory}},
		{"hyb", map[string]string{KeyStorageMode: ModeHybrid}},
	} {
		if _, err := a.CreateTopic(tc.name, 2, tc.cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if got, want := names(b), names(a); !slices.Equal(got, want) {
		t.Fatalf("b has %v, a has %v", got, want)
	}
	// Data appended on b stays b's (meta replicates metadata only).
	l, err := b.Partition("lite", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(engSimpleBatch(t, 3, time.Now().UnixMilli())); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat("b/topics/seg-1"); err != nil {
		t.Fatalf("b did not create the segment partition's directory: %v", err)
	}

	// Grow, alter, delete and recreate on a; b follows.
	if _, err := a.CreatePartitions("seg", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AlterTopicConfig("hyb", map[string]string{KeyRetentionMs: "1234"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTopic("lite"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteTopic("mem"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTopic("mem", 1, nil); err != nil { // the same name, another topic
		t.Fatal(err)
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if got, want := names(b), []string{"hyb/2", "mem/1", "seg/4"}; !slices.Equal(got, want) {
		t.Fatalf("b has %v, want %v", got, want)
	}
	if ti, _ := b.Topic("hyb"); ti.Config.RetentionMs != 1234 {
		t.Fatalf("b's hyb config: %+v", ti.Config)
	}
	if ti, _ := b.Topic("mem"); ti.Config.Mode != ModePersistent {
		t.Fatalf("b kept the old mem topic: %+v", ti.Config)
	}
	if _, err := l.Read(0, 1<<20); !errors.Is(err, ErrClosed) {
		t.Fatalf("a log of a topic deleted elsewhere is still open: %v", err)
	}

	// A rolled-back grow (fewer partitions under the same ID) closes and
	// removes the extra partitions.
	m, _ := cat.Load()
	for _, tm := range m {
		if tm.Name == "seg" {
			tm.Partitions = 3
			if err := cat.Put(tm); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if ti, _ := b.Topic("seg"); len(ti.PartitionStats) != 3 {
		t.Fatalf("b's seg after the shrink: %d partitions", len(ti.PartitionStats))
	}
	if _, err := fs.Stat("b/topics/seg-3"); err == nil {
		t.Fatal("the removed partition's directory is still there")
	}
	// Nothing to do is fine, and a closed store says so.
	if err := b.Reconcile(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := b.Reconcile(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reconcile after Close: %v", err)
	}
}
