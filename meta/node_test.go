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
	c, err := NewCatalog(n, CatalogOptions{Timeout: 10 * time.Second, DropOnDelete: true, Logger: discardLogger()})
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
// batches of consumer offsets are committed through every node; the
// leader of the topics shard, made leader of the groups shard too, is
// closed (a kill, as far as raft can tell) and creates and commits continue
// through the survivors; deleting a topic drops its offsets; the closed
// node comes back and catches up; no acknowledged create or commit is lost
// or duplicated, and every node reads the last acknowledged offsets.
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

	// Offsets: batches committed through every node (one proposal each).
	offs := newOffsetLedger()
	for round, via := range []uint64{1, 2, 3, 1} {
		offs.commit(t, nodes[via].node, fmt.Sprintf("g%d", round%3), round, "a0", "a1", "a3")
	}
	for id := uint64(1); id <= 3; id++ {
		offs.check(t, nodes[id].node)
	}

	// Close the leader of the topics shard, having made it the leader of
	// the groups shard too, so that creates and commits both lose theirs.
	shardLeader := func(shard uint64) uint64 {
		for _, s := range nodes[1].node.Status().Shards {
			if s.ShardID == shard {
				return s.LeaderID
			}
		}
		return 0
	}
	var leader uint64
	eventually(t, 5*time.Second, "a topics leader", func() error {
		if leader = shardLeader(ShardTopics); leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	eventually(t, 5*time.Second, "the groups shard led by the topics leader", func() error {
		if l := shardLeader(ShardGroups); l != leader {
			if err := nodes[leader].node.nh.RequestLeaderTransfer(ShardGroups, leader); err != nil {
				return err
			}
			return fmt.Errorf("groups leader is %d, not %d", l, leader)
		}
		return nil
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
	// Both shards elect a new leader at once: the first commit and the
	// first create each wait out their shard's election.
	start := time.Now()
	offs.commit(t, nodes[survivors[1]].node, "g1", 9, "a0", "a1", "a3")
	t.Logf("node %d (topics and groups leader) closed; the next commit through node %d took %v", leader, survivors[1], time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a commit after the leader died took %v", d)
	}
	start = time.Now()
	create(survivors[0], "b0")
	t.Logf("the next create through node %d took %v", survivors[0], time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a create after the leader died took %v", d)
	}
	for i := 1; i < 4; i++ {
		create(survivors[i%2], fmt.Sprintf("b%d", i))
	}
	offs.commit(t, nodes[survivors[0]].node, "g2", 10, "a0", "a1", "b0")
	for round := 11; round < 15; round++ {
		offs.commit(t, nodes[survivors[round%2]].node, fmt.Sprintf("g%d", round%4), round, "a0", "a1", "a3", "b1")
	}
	// Deleting a1 (through a survivor) drops every group's offsets for it.
	if err := nodes[survivors[1]].store.DeleteTopic("a1"); err != nil {
		t.Fatal(err)
	}
	offs.dropTopic("a1")
	acked = slices.DeleteFunc(acked, func(s string) bool { return s == "a1" })
	seesAll(survivors...)
	for _, id := range survivors {
		offs.check(t, nodes[id].node)
	}

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
	for id := uint64(1); id <= 3; id++ {
		offs.check(t, nodes[id].node)
	}
	offs.commit(t, nodes[leader].node, "g0", 20, "a0", "b0")
	for id := uint64(1); id <= 3; id++ {
		offs.check(t, nodes[id].node)
	}
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

// offsetLedger remembers every acknowledged offset commit, per group,
// topic and partition, to check that each node reads exactly the last
// acknowledged offsets: none lost, none stale, no partition twice.
type offsetLedger struct {
	acked map[string]map[TopicPartition]int64
}

func newOffsetLedger() *offsetLedger {
	return &offsetLedger{acked: map[string]map[TopicPartition]int64{}}
}

// commit commits one batch for group through n: both partitions of every
// topic, at offsets derived from round.
func (l *offsetLedger) commit(t *testing.T, n *Node, group string, round int, topics ...string) {
	t.Helper()
	var batch []OffsetCommit
	for _, topic := range topics {
		for p := range int32(2) {
			batch = append(batch, OffsetCommit{Topic: topic, Partition: p, Offset: int64(round*100) + int64(p), LeaderEpoch: -1, Metadata: group})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := NewGroups(n).CommitOffsets(ctx, group, nil, time.Now().UnixMilli(), batch); err != nil {
		t.Fatalf("commit %s round %d through node %d: %v", group, round, n.ID(), err)
	}
	if l.acked[group] == nil {
		l.acked[group] = map[TopicPartition]int64{}
	}
	for _, o := range batch {
		l.acked[group][TopicPartition{o.Topic, o.Partition}] = o.Offset
	}
}

func (l *offsetLedger) dropTopic(topic string) {
	for g, m := range l.acked {
		for tp := range m {
			if tp.Topic == topic {
				delete(m, tp)
			}
		}
		if len(m) == 0 {
			delete(l.acked, g)
		}
	}
}

// check reads every group through n (linearizable) and compares.
func (l *offsetLedger) check(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := NewGroups(n)
	list, err := g.ListGroups(ctx)
	if err != nil {
		t.Fatalf("node %d: list groups: %v", n.ID(), err)
	}
	if len(list) != len(l.acked) {
		t.Fatalf("node %d lists %d groups, want %d: %+v", n.ID(), len(list), len(l.acked), list)
	}
	for group, want := range l.acked {
		got, err := g.FetchOffsets(ctx, group, nil)
		if err != nil {
			t.Fatalf("node %d: fetch %s: %v", n.ID(), group, err)
		}
		seen := map[TopicPartition]bool{}
		for _, o := range got {
			tp := TopicPartition{o.Topic, o.Partition}
			if seen[tp] {
				t.Fatalf("node %d: group %s has %s-%d twice", n.ID(), group, o.Topic, o.Partition)
			}
			seen[tp] = true
			if w, ok := want[tp]; !ok || o.Offset != w || o.Metadata != group {
				t.Fatalf("node %d: group %s %s-%d at %d (%q), want %d (acknowledged: %t)", n.ID(), group, o.Topic, o.Partition, o.Offset, o.Metadata, w, ok)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("node %d: group %s has %d partitions, want %d", n.ID(), group, len(seen), len(want))
		}
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
