package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/logstore"
)

// testRTT keeps elections short (10 RTTs) but not so short that a
// loaded test machine (-race, 2 cores) flaps.
const testRTT = 20 * time.Millisecond

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testNode is a Node with its Catalog and a Store over it: one strata
// process's worth of meta and logstore.
type testNode struct {
	id      uint64
	addr    string
	dir     string
	node    *Node
	catalog *Catalog
	store   *logstore.Store
}

func openTestNode(t *testing.T, id uint64, addr, dir string, peers map[uint64]string, opts ...func(*NodeOptions)) *testNode {
	t.Helper()
	o := NodeOptions{NodeID: id, RaftAddr: addr, Peers: peers, Dir: filepath.Join(dir, "meta"), RTT: testRTT,
		HeartbeatInterval: 200 * time.Millisecond, Logger: discardLogger()}
	for _, f := range opts {
		f(&o)
	}
	n, err := OpenNode(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCatalog(n, CatalogOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := logstore.OpenStore(logstore.StoreOptions{Dir: dir, Catalog: c, Logger: discardLogger()})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	tn := &testNode{id: id, addr: addr, dir: dir, node: n, catalog: c, store: s}
	n.OnTopicsChanged(func() {
		if err := s.Reconcile(); err != nil && !errors.Is(err, logstore.ErrClosed) {
			t.Logf("node %d: reconcile: %v", id, err)
		}
	})
	return tn
}

func (tn *testNode) close(t *testing.T) {
	t.Helper()
	if err := tn.store.Close(); err != nil {
		t.Errorf("node %d: close store: %v", tn.id, err)
	}
	if err := tn.node.Close(); err != nil {
		t.Errorf("node %d: close node: %v", tn.id, err)
	}
}

func topicNames(t *testing.T, c *Catalog) []string {
	t.Helper()
	metas, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range metas {
		names = append(names, m.Name)
	}
	return names
}

func storeNames(s *logstore.Store) []string {
	var names []string
	for _, ti := range s.Topics() {
		names = append(names, ti.Name)
	}
	return names
}

// eventually polls f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeSingleRestart: a single node keeps its topics (and never reuses
// a seq) across a restart, through meta.
func TestNodeSingleRestart(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	tn := openTestNode(t, 1, addr, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !tn.node.Ready(ctx) {
		t.Fatal("single node not ready")
	}
	for i := range 5 {
		if _, err := tn.store.CreateTopic(fmt.Sprintf("t%d", i), 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := tn.store.DeleteTopic("t0"); err != nil {
		t.Fatal(err)
	}
	seq, err := tn.catalog.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "every shard has a leader", func() error {
		st := tn.node.Status()
		if !st.HasLeader || len(st.Shards) < 2 || st.Shards[0].LeaderID != 1 || len(st.Nodes) != 1 || !st.Nodes[0].Alive {
			return fmt.Errorf("status of a single node: %+v", st)
		}
		return nil
	})
	tn.close(t)

	tn = openTestNode(t, 1, addr, dir, nil)
	defer tn.close(t)
	want := []string{"t1", "t2", "t3", "t4"}
	if got := topicNames(t, tn.catalog); !slices.Equal(got, want) {
		t.Fatalf("after restart: catalogue has %v, want %v", got, want)
	}
	if got := storeNames(tn.store); !slices.Equal(got, want) {
		t.Fatalf("after restart: store has %v, want %v", got, want)
	}
	seq2, err := tn.catalog.NextSeq()
	if err != nil {
		t.Fatal(err)
	}
	if seq2 <= seq {
		t.Fatalf("seq %d handed out after a restart that followed seq %d", seq2, seq)
	}
	if _, err := tn.store.CreateTopic("t1", 1, nil); !errors.Is(err, logstore.ErrTopicExists) {
		t.Fatalf("create of an existing topic after restart: %v", err)
	}
}

func TestNodeOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		opts NodeOptions
		want string
	}{
		{NodeOptions{RaftAddr: "127.0.0.1:1", Dir: "d"}, "NodeID is 0"},
		{NodeOptions{NodeID: 1, RaftAddr: "", Dir: "d"}, "not host:port"},
		{NodeOptions{NodeID: 1, RaftAddr: "127.0.0.1:1"}, "Dir is empty"},
		{NodeOptions{NodeID: 1, RaftAddr: "127.0.0.1:1", Dir: "d", Join: true, Peers: map[uint64]string{1: "127.0.0.1:1"}}, "both set"},
		{NodeOptions{NodeID: 1, RaftAddr: "127.0.0.1:1", Dir: "d", Peers: map[uint64]string{2: "127.0.0.1:2"}}, "does not list this node"},
		{NodeOptions{NodeID: 1, RaftAddr: "127.0.0.1:1", Dir: "d", Peers: map[uint64]string{1: "127.0.0.1:9"}}, "but RaftAddr is"},
	} {
		o := tc.opts
		o.EnsureDefaults()
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// TestNodeCluster3 runs three nodes in one process: topics created
// through one node appear on the others (catalogue and open partitions);
// the leader of the topics shard is closed (a kill, as far as raft can
// tell) and creates continue through a survivor; the closed node comes
// back and catches up; no acknowledged create is lost or duplicated.
// Finally two nodes go away and the last one refuses writes with
// ErrNoQuorum.
func TestNodeCluster3(t *testing.T) {
	peers := map[uint64]string{}
	dirs := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		peers[id] = freeAddr(t)
		dirs[id] = t.TempDir()
	}
	nodes := map[uint64]*testNode{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for id := uint64(1); id <= 3; id++ {
		wg.Go(func() {
			tn := openTestNode(t, id, peers[id], dirs[id], peers)
			mu.Lock()
			nodes[id] = tn
			mu.Unlock()
		})
	}
	wg.Wait()
	defer func() {
		for _, tn := range nodes {
			if tn != nil {
				tn.close(t)
			}
		}
	}()

	acked := []string{}
	create := func(via uint64, name string) {
		t.Helper()
		if _, err := nodes[via].store.CreateTopic(name, 2, nil); err != nil {
			t.Fatalf("create %s through node %d: %v", name, via, err)
		}
		acked = append(acked, name)
	}
	seesAll := func(ids ...uint64) {
		t.Helper()
		want := slices.Sorted(slices.Values(acked))
		for _, id := range ids {
			if got := topicNames(t, nodes[id].catalog); !slices.Equal(got, want) {
				t.Fatalf("node %d catalogue: %v, want %v", id, got, want)
			}
			eventually(t, 10*time.Second, fmt.Sprintf("node %d opens every topic", id), func() error {
				if got := storeNames(nodes[id].store); !slices.Equal(got, want) {
					return fmt.Errorf("store has %v, want %v", got, want)
				}
				return nil
			})
		}
	}

	for i := range 5 {
		create(2, fmt.Sprintf("a%d", i))
	}
	seesAll(1, 2, 3)
	if _, err := nodes[1].store.CreateTopic("a0", 1, nil); !errors.Is(err, logstore.ErrTopicExists) {
		t.Fatalf("create through node 1 of a topic node 2 created: %v", err)
	}
	if p, err := nodes[3].store.Partition("a4", 1); err != nil || p == nil {
		t.Fatalf("node 3 has not opened a4/1: %v", err)
	}

	// Close the leader of the topics shard.
	var leader uint64
	eventually(t, 5*time.Second, "a topics leader", func() error {
		for _, s := range nodes[1].node.Status().Shards {
			if s.ShardID == ShardTopics && s.LeaderID != 0 {
				leader = s.LeaderID
				return nil
			}
		}
		return errors.New("no leader")
	})
	nodes[leader].close(t)
	killed := nodes[leader]
	nodes[leader] = nil
	var survivors []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != leader {
			survivors = append(survivors, id)
		}
	}
	start := time.Now()
	create(survivors[0], "b0")
	t.Logf("node %d (topics leader) closed; the next create through node %d took %v", leader, survivors[0], time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a create after the leader died took %v", d)
	}
	for i := 1; i < 4; i++ {
		create(survivors[i%2], fmt.Sprintf("b%d", i))
	}
	if err := nodes[survivors[1]].store.DeleteTopic("a1"); err != nil {
		t.Fatal(err)
	}
	acked = slices.DeleteFunc(acked, func(s string) bool { return s == "a1" })
	seesAll(survivors...)

	// The closed node restarts and catches up.
	nodes[leader] = openTestNode(t, leader, killed.addr, killed.dir, peers)
	eventually(t, 10*time.Second, fmt.Sprintf("node %d catches up", leader), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if !nodes[leader].node.Ready(ctx) {
			return errors.New("not ready")
		}
		return nil
	})
	seesAll(1, 2, 3)
	eventually(t, 5*time.Second, "every node registered and alive", func() error {
		st := nodes[leader].node.Status()
		if len(st.Nodes) != 3 {
			return fmt.Errorf("%d nodes registered", len(st.Nodes))
		}
		for _, m := range st.Nodes {
			if !m.Alive {
				return fmt.Errorf("node %d not alive", m.ID)
			}
		}
		return nil
	})

	// Two nodes go: the last one has no quorum and says so.
	last := survivors[0]
	for id := uint64(1); id <= 3; id++ {
		if id != last {
			nodes[id].close(t)
			nodes[id] = nil
		}
	}
	c, err := NewCatalog(nodes[last].node, CatalogOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Create(logstore.TopicMeta{Name: "minority", ID: [16]byte{7}, Seq: 1 << 30, Partitions: 1, CreatedAt: time.Now()})
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("create on a minority: %v, want ErrNoQuorum", err)
	}
	t.Logf("minority create: %v", err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if nodes[last].node.Ready(ctx) {
		t.Fatal("a node without quorum is ready")
	}
}

// TestNodeJoinAndRemove grows a single node into two with AddNode and a
// joining node, then removes the second again.
func TestNodeJoinAndRemove(t *testing.T) {
	a1, a2 := freeAddr(t), freeAddr(t)
	n1 := openTestNode(t, 1, a1, t.TempDir(), nil)
	defer n1.close(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := n1.store.CreateTopic("before", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := n1.node.AddNode(ctx, 2, a2); err != nil {
		t.Fatal(err)
	}
	// One of two members is up: no quorum until node 2 starts.
	dir2 := t.TempDir()
	n, err := OpenNode(NodeOptions{NodeID: 2, RaftAddr: a2, Join: true, Dir: filepath.Join(dir2, "meta"), RTT: testRTT, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c2 := newTestCatalog(t, n)
	eventually(t, 10*time.Second, "the joined node sees the topic", func() error {
		metas, err := c2.Load()
		if err != nil {
			return err
		}
		if len(metas) != 1 || metas[0].Name != "before" {
			return fmt.Errorf("catalogue %+v", metas)
		}
		return nil
	})
	if _, err := n1.store.CreateTopic("after", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := n1.node.AddNode(ctx, 2, a2); err != nil {
		t.Fatalf("adding a member again: %v", err)
	}
	if err := n1.node.AddNode(ctx, 2, "127.0.0.1:1"); !errors.Is(err, ErrMembership) {
		t.Fatalf("adding a member at another address: %v, want ErrMembership", err)
	}
	for _, s := range n1.node.Status().Shards {
		if len(s.Members) != 2 {
			t.Fatalf("shard %s members %v after the join", s.Name, s.Members)
		}
	}
	if err := n1.node.RemoveNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	n.Close()
	for _, s := range n1.node.Status().Shards {
		if len(s.Members) != 1 {
			t.Fatalf("shard %s members %v after the removal", s.Name, s.Members)
		}
	}
	if err := n1.node.AddNode(ctx, 2, a2); !errors.Is(err, ErrMembership) {
		t.Fatalf("adding a removed node back: %v, want ErrMembership", err)
	}
	// One node again: it has its quorum alone.
	if _, err := n1.store.CreateTopic("alone", 1, nil); err != nil {
		t.Fatal(err)
	}
}

// TestNodeCatchUpFromSnapshot: a node that was down while the others
// snapshotted and compacted their logs catches up from a snapshot (the
// machines' SaveSnapshot and RecoverFromSnapshot through Dragonboat), and
// its Store opens the topics it missed.
func TestNodeCatchUpFromSnapshot(t *testing.T) {
	peers := map[uint64]string{1: freeAddr(t), 2: freeAddr(t), 3: freeAddr(t)}
	dirs := map[uint64]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	small := func(o *NodeOptions) { o.snapshotEvery = 10 }
	nodes := map[uint64]*testNode{}
	done := make(chan *testNode, 3)
	for id := uint64(1); id <= 3; id++ {
		go func() { done <- openTestNode(t, id, peers[id], dirs[id], peers, small) }()
	}
	for range 3 {
		tn := <-done
		nodes[tn.id] = tn
	}
	defer func() {
		for _, tn := range nodes {
			tn.close(t)
		}
	}()
	if _, err := nodes[1].store.CreateTopic("first", 1, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node 3 opens the first topic", func() error {
		_, err := nodes[3].store.Topic("first")
		return err
	})
	nodes[3].close(t)
	delete(nodes, 3)
	var want []string
	want = append(want, "first")
	for i := range 40 {
		name := fmt.Sprintf("m%02d", i)
		if _, err := nodes[1+uint64(i%2)].store.CreateTopic(name, 1, nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	nodes[3] = openTestNode(t, 3, peers[3], dirs[3], peers, small)
	slices.Sort(want)
	eventually(t, 15*time.Second, "node 3 catches up", func() error {
		if got := storeNames(nodes[3].store); !slices.Equal(got, want) {
			return fmt.Errorf("store has %d topics, want %d", len(got), len(want))
		}
		return nil
	})
	if got := topicNames(t, nodes[3].catalog); !slices.Equal(got, want) {
		t.Fatalf("catalogue after catch-up: %v", got)
	}
}
