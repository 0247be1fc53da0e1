package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// ErrNoQuorum is returned when a proposal or a linearizable read could not
// complete before its context's deadline: the shard has no leader this
// node can reach, or the leader cannot reach a majority. Callers (the HTTP
// API) answer 503.
var ErrNoQuorum = errors.New("meta: no quorum")

// ErrMembership marks a membership change that raft refuses: the ID is a
// member at another address, or was removed (a removed ID never returns).
var ErrMembership = errors.New("meta: membership change refused")

// ErrClosed is returned by a Node after Close.
var ErrClosed = errors.New("meta: node closed")

// Raft timing, in RTTs (NodeOptions.RTT): an election after 10 RTTs
// without a heartbeat, a heartbeat every RTT.
const (
	electionRTT  = 10
	heartbeatRTT = 1
	// snapshotEntries: a snapshot every ~1000 applied entries; keep 500
	// entries after it so that a follower slightly behind catches up from
	// the log rather than a snapshot.
	snapshotEntries    = 1000
	compactionOverhead = 500
)

// Execution and LogDB sharding of the NodeHost. Dragonboat fixes both once
// a NodeHost directory exists, so these never change.
const (
	nodeHostExecShards  = 4
	nodeHostLogDBShards = 4
)

// Defaults of NodeOptions.
const (
	DefaultRTT               = 50 * time.Millisecond
	DefaultHeartbeatInterval = 2 * time.Second
	// minAttemptTimeout is the floor of the default AttemptTimeout.
	minAttemptTimeout = 500 * time.Millisecond
)

// NodeOptions configure a Node.
type NodeOptions struct {
	// NodeID is this node's raft replica ID in every shard (>= 1).
	NodeID uint64
	// RaftAddr is the host:port this node's raft transport listens on and
	// the address the other nodes reach it at.
	RaftAddr string
	// Peers are the initial members, node ID -> raft address, this node
	// included. Empty means a single node: {NodeID: RaftAddr}. Used only
	// the first time a shard starts in Dir.
	Peers map[uint64]string
	// Join is set on a node joining a running cluster (after
	// `strata cluster add-node` added it): its shards start with
	// join=true and no initial members. Used only on the first start.
	Join bool
	// Dir is the NodeHost directory (<data>/meta).
	Dir string
	// RTT is the expected round trip between nodes, Dragonboat's tick
	// (default DefaultRTT). Elections take 10 RTTs, heartbeats 1.
	RTT time.Duration
	// ClientAddrs are this node's client-facing addresses by protocol
	// (ProtoHTTP, ...), registered in the cluster shard.
	ClientAddrs map[string]string
	// HeartbeatInterval is how often the node records itself alive in the
	// cluster shard (default DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
	// AttemptTimeout bounds one raft attempt inside Propose and Read
	// (default 2 election timeouts, 20 RTTs, at least 500ms): a proposal
	// forwarded to a leader that just died is dropped silently, and is
	// retried to the new leader after this long.
	AttemptTimeout time.Duration
	// Logger (nil = slog.Default()). Dragonboat's own logs go to the
	// logger of the most recently opened Node (they are process-global):
	// its warnings and errors as such, the rest at debug level.
	Logger *slog.Logger
	// Now is the clock for heartbeats (nil = time.Now).
	Now func() time.Time

	// transport replaces Dragonboat's TCP transport (tests: an in-process
	// transport that can cut a node off, node_partition_test.go).
	transport config.TransportFactory
	// snapshotEvery, if set, replaces snapshotEntries (and makes the
	// compaction overhead a fifth of it), so that tests see a follower
	// catch up from a snapshot.
	snapshotEvery uint64
}

// EnsureDefaults fills zero fields with their defaults.
func (o *NodeOptions) EnsureDefaults() {
	if o.RTT == 0 {
		o.RTT = DefaultRTT
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = max(2*electionRTT*o.RTT, minAttemptTimeout)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Peers) == 0 && !o.Join {
		o.Peers = map[uint64]string{o.NodeID: o.RaftAddr}
	}
}

// Validate reports options that cannot work.
func (o NodeOptions) Validate() error {
	if o.NodeID == 0 {
		return errors.New("meta: NodeOptions.NodeID is 0; node IDs start at 1")
	}
	if _, _, err := net.SplitHostPort(o.RaftAddr); err != nil {
		return fmt.Errorf("meta: NodeOptions.RaftAddr %q is not host:port: %v", o.RaftAddr, err)
	}
	if o.Dir == "" {
		return errors.New("meta: NodeOptions.Dir is empty")
	}
	if o.Join && len(o.Peers) > 0 {
		return errors.New("meta: NodeOptions.Join and Peers are both set: a joining node takes its members from the cluster")
	}
	if len(o.Peers) > 0 {
		addr, ok := o.Peers[o.NodeID]
		if !ok {
			return fmt.Errorf("meta: NodeOptions.Peers does not list this node (%d)", o.NodeID)
		}
		if addr != o.RaftAddr {
			return fmt.Errorf("meta: NodeOptions.Peers gives node %d the address %s, but RaftAddr is %s", o.NodeID, addr, o.RaftAddr)
		}
		for id, a := range o.Peers {
			if id == 0 {
				return errors.New("meta: NodeOptions.Peers has node ID 0")
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("meta: NodeOptions.Peers: node %d: %q is not host:port", id, a)
			}
		}
	}
	if o.RTT < time.Millisecond {
		return fmt.Errorf("meta: NodeOptions.RTT %v is under 1ms", o.RTT)
	}
	if o.HeartbeatInterval <= 0 || o.AttemptTimeout <= 0 {
		return errors.New("meta: NodeOptions.HeartbeatInterval and AttemptTimeout must be positive")
	}
	return nil
}

// Node is this process's member of the meta cluster: one Dragonboat
// NodeHost running a replica of every registered shard. It implements
// Proposer for the typed clients (Catalog, ...).
//
// Concurrency: every method is safe for concurrent use. mu guards the
// topic-change callbacks and the closed flag and is never held across a
// Dragonboat call or a callback. See DESIGN.md, "Node".
type Node struct {
	opts NodeOptions
	log  *slog.Logger
	nh   *dragonboat.NodeHost
	// shards lists the shards started, in start order; replicas holds
	// each one's state machine (fixed after OpenNode).
	shards   []uint64
	replicas map[uint64]*replica

	// topicsChanged has room for one signal: applies on the topics shard
	// send without blocking, so many changes coalesce into one callback run.
	topicsChanged chan struct{}
	stop          chan struct{}
	wg            sync.WaitGroup

	mu struct {
		sync.Mutex
		closed   bool
		onTopics []func()
	}
}

var _ Proposer = (*Node)(nil)

// replica is the state machine of one shard on this node: the adapter
// plus what the Node watches (the applied index, topic changes).
type replica struct {
	adapter
	applied atomic.Uint64
	// onRecover runs after a snapshot replaced the state (a follower that
	// fell behind the log); onApply does not see those changes.
	onRecover func()
}

func (r *replica) Update(e sm.Entry) (sm.Result, error) {
	res, err := r.adapter.Update(e)
	r.applied.Store(e.Index)
	return res, err
}

func (r *replica) RecoverFromSnapshot(rd io.Reader, files []sm.SnapshotFile, done <-chan struct{}) error {
	if err := r.adapter.RecoverFromSnapshot(rd, files, done); err != nil {
		return err
	}
	if r.onRecover != nil {
		r.onRecover()
	}
	return nil
}

// OpenNode starts the NodeHost in opts.Dir and a replica of every shard
// whose machine is registered. The first start in a directory bootstraps
// each shard with opts.Peers (or joins, with opts.Join); later starts
// restart from the raft log and ignore both. It returns without waiting
// for leaders: Propose and Read wait for them.
func OpenNode(opts NodeOptions) (*Node, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	setDragonboatLogger(opts.Logger)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	nhc := config.NodeHostConfig{
		NodeHostDir:    opts.Dir,
		RTTMillisecond: uint64(max(opts.RTT.Milliseconds(), 1)),
		RaftAddress:    opts.RaftAddr,
		Expert: config.ExpertConfig{
			Engine: config.EngineConfig{ExecShards: nodeHostExecShards, CommitShards: 4, ApplyShards: 4, SnapshotShards: 4, CloseShards: 4},
			LogDB:  config.GetTinyMemLogDBConfig(),
		},
	}
	nhc.Expert.LogDB.Shards = nodeHostLogDBShards
	nhc.Expert.TransportFactory = opts.transport
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "lock"):
			return nil, fmt.Errorf("meta: cannot lock %s (is another strata using it?): %w", opts.Dir, err)
		case strings.Contains(msg, "not the owner"):
			return nil, fmt.Errorf("meta: %s was created by a node with another raft address; a node's raft address is part of its identity "+
				"(start it with the raft address it was created with): %w", opts.Dir, err)
		case strings.Contains(msg, "hostname changed"):
			return nil, fmt.Errorf("meta: %s was created on a host with another hostname; Dragonboat ties its directory to the hostname: %w", opts.Dir, err)
		}
		return nil, fmt.Errorf("meta: start raft node %d at %s (dir %s): %w", opts.NodeID, opts.RaftAddr, opts.Dir, err)
	}
	n := &Node{
		opts:          opts,
		log:           opts.Logger,
		nh:            nh,
		replicas:      make(map[uint64]*replica),
		topicsChanged: make(chan struct{}, 1),
		stop:          make(chan struct{}),
	}
	for _, shard := range Shards {
		newMachine, ok := machines[shard]
		if !ok {
			continue
		}
		r := &replica{adapter: adapter{m: newMachine()}}
		if shard == ShardTopics {
			r.onApply = func(Command) { n.signalTopics() }
			r.onRecover = n.signalTopics
		}
		if err := n.startShard(shard, r); err != nil {
			nh.Close()
			return nil, err
		}
		n.shards = append(n.shards, shard)
		n.replicas[shard] = r
	}
	n.wg.Go(n.notifyLoop)
	n.wg.Go(n.heartbeatLoop)
	n.log.Info("meta: node started", "node_id", opts.NodeID, "raft_addr", opts.RaftAddr, "dir", opts.Dir,
		"shards", len(n.shards), "peers", opts.Peers, "join", opts.Join)
	return n, nil
}

func (n *Node) startShard(shard uint64, r *replica) error {
	cfg := config.Config{
		ReplicaID:          n.opts.NodeID,
		ShardID:            shard,
		ElectionRTT:        electionRTT,
		HeartbeatRTT:       heartbeatRTT,
		CheckQuorum:        true,
		PreVote:            true,
		SnapshotEntries:    snapshotEntries,
		CompactionOverhead: compactionOverhead,
	}
	if n.opts.snapshotEvery > 0 {
		cfg.SnapshotEntries, cfg.CompactionOverhead = n.opts.snapshotEvery, n.opts.snapshotEvery/5
	}
	create := func(uint64, uint64) sm.IStateMachine { return r }
	var err error
	switch {
	case n.nh.HasNodeInfo(shard, n.opts.NodeID):
		// A restart: the members are in the raft log.
		err = n.nh.StartReplica(nil, false, create, cfg)
	case n.opts.Join:
		err = n.nh.StartReplica(nil, true, create, cfg)
	default:
		members := make(map[uint64]dragonboat.Target, len(n.opts.Peers))
		maps.Copy(members, n.opts.Peers)
		err = n.nh.StartReplica(members, false, create, cfg)
	}
	if err != nil {
		return fmt.Errorf("meta: start shard %s on node %d: %w", ShardName(shard), n.opts.NodeID, err)
	}
	return nil
}

// ID is this node's ID.
func (n *Node) ID() uint64 { return n.opts.NodeID }

// RaftAddr is this node's raft address.
func (n *Node) RaftAddr() string { return n.opts.RaftAddr }

// retryable reports whether a Dragonboat error may succeed on retry:
// no leader yet ("request dropped as the shard is not ready"), a busy or
// still initialising shard, or an attempt that timed out.
func retryable(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) ||
		errors.Is(err, dragonboat.ErrSystemBusy) ||
		errors.Is(err, dragonboat.ErrShardNotInitialized) ||
		errors.Is(err, dragonboat.ErrTimeout) ||
		errors.Is(err, dragonboat.ErrCanceled) ||
		errors.Is(err, dragonboat.ErrAborted) ||
		errors.Is(err, context.DeadlineExceeded)
}

// retry runs attempt until it succeeds, fails for good, or ctx ends. Each
// attempt gets a deadline of at most AttemptTimeout (Dragonboat needs one).
// When ctx's deadline passes first, the error is ErrNoQuorum.
func (n *Node) retry(ctx context.Context, shard uint64, what string, attempt func(context.Context) error) error {
	if n.isClosed() {
		return ErrClosed
	}
	if _, ok := n.replicas[shard]; !ok {
		return fmt.Errorf("meta: %s on shard %s: this node does not run it", what, ShardName(shard))
	}
	backoff := 5 * time.Millisecond
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, n.opts.AttemptTimeout)
		err := attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, dragonboat.ErrClosed) || errors.Is(err, dragonboat.ErrShardClosed) {
			if n.isClosed() {
				return ErrClosed
			}
		}
		if !retryable(err) {
			return fmt.Errorf("meta: %s on shard %s: %w", what, ShardName(shard), err)
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-n.stop:
			return ErrClosed
		case <-time.After(backoff):
		}
		if ctx.Err() != nil {
			break
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("meta: %s on shard %s: %w", what, ShardName(shard), ctx.Err())
	}
	return fmt.Errorf("%w: %s on shard %s did not complete in time (no leader, or the leader cannot reach a majority): %v",
		ErrNoQuorum, what, ShardName(shard), last)
}

// Propose commits cmd on shard and returns its result once it is applied
// on this node. It retries while the shard has no leader or is busy, and
// after an attempt times out, until ctx ends (then ErrNoQuorum). A
// command that timed out may have been applied already and is proposed
// again: every state machine must apply a repeated command harmlessly.
func (n *Node) Propose(ctx context.Context, shard uint64, cmd []byte) (sm.Result, error) {
	var res sm.Result
	err := n.retry(ctx, shard, "propose", func(actx context.Context) error {
		r, err := n.nh.SyncPropose(actx, n.nh.GetNoOPSession(shard), cmd)
		res = r
		return err
	})
	return res, err
}

// Read is a linearizable read (a ReadIndex round with the leader, then
// Lookup on this node), retried like Propose.
func (n *Node) Read(ctx context.Context, shard uint64, q Query) (any, error) {
	var out any
	err := n.retry(ctx, shard, "read", func(actx context.Context) error {
		v, err := n.nh.SyncRead(actx, shard, q)
		if err != nil {
			var rej *Rejection
			if errors.As(err, &rej) {
				return &permanentError{err}
			}
			return err
		}
		out = v
		return nil
	})
	var pe *permanentError
	if errors.As(err, &pe) {
		return nil, pe.err
	}
	return out, err
}

// StaleRead answers q from this node's state without asking the leader:
// fast and available without a quorum, possibly behind.
func (n *Node) StaleRead(shard uint64, q Query) (any, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	return n.nh.StaleRead(shard, q)
}

// permanentError carries a lookup's own error (a Rejection) through retry
// unchanged.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Ready reports whether a linearizable read on the topics shard succeeds
// before ctx ends: this node is in touch with a leader that has a quorum.
func (n *Node) Ready(ctx context.Context) bool {
	shard := ShardTopics
	if _, ok := n.replicas[shard]; !ok {
		shard = n.shards[0]
	}
	_, err := n.Read(ctx, shard, Query{Op: QueryTopicList})
	return err == nil
}

// AddNode adds node id at raftAddr to every shard this node runs (a raft
// membership change through each shard's leader). Start the new node
// afterwards with Join set. Adding a member that is already there with
// the same address succeeds.
func (n *Node) AddNode(ctx context.Context, id uint64, raftAddr string) error {
	if id == 0 {
		return errors.New("meta: add node: node IDs start at 1")
	}
	if _, _, err := net.SplitHostPort(raftAddr); err != nil {
		return fmt.Errorf("meta: add node %d: raft address %q is not host:port", id, raftAddr)
	}
	for _, shard := range n.shards {
		err := n.retry(ctx, shard, fmt.Sprintf("add node %d", id), func(actx context.Context) error {
			m, err := n.nh.SyncGetShardMembership(actx, shard)
			if err != nil {
				return err
			}
			if a, ok := m.Nodes[id]; ok {
				if a == raftAddr {
					return nil
				}
				return &permanentError{fmt.Errorf("%w: node %d is a member at %s already, not %s", ErrMembership, id, a, raftAddr)}
			}
			if _, gone := m.Removed[id]; gone {
				return &permanentError{fmt.Errorf("%w: node %d was removed; a removed ID cannot come back, use a new one", ErrMembership, id)}
			}
			return n.nh.SyncRequestAddReplica(actx, shard, id, raftAddr, m.ConfigChangeID)
		})
		if err != nil {
			var pe *permanentError
			if errors.As(err, &pe) {
				return pe.err
			}
			return err
		}
	}
	n.log.Info("meta: node added", "node_id", id, "raft_addr", raftAddr)
	return nil
}

// RemoveNode removes node id from every shard this node runs and forgets
// it in the cluster shard. Removing a node that is not a member succeeds.
func (n *Node) RemoveNode(ctx context.Context, id uint64) error {
	if id == 0 {
		return errors.New("meta: remove node: node IDs start at 1")
	}
	for _, shard := range n.shards {
		err := n.retry(ctx, shard, fmt.Sprintf("remove node %d", id), func(actx context.Context) error {
			m, err := n.nh.SyncGetShardMembership(actx, shard)
			if err != nil {
				return err
			}
			if _, ok := m.Nodes[id]; !ok {
				return nil
			}
			return n.nh.SyncRequestDeleteReplica(actx, shard, id, m.ConfigChangeID)
		})
		if err != nil {
			return err
		}
	}
	cmd, err := EncodeCommand(OpNodeRemove, map[string]uint64{"id": id})
	if err != nil {
		return err
	}
	if res, err := n.Propose(ctx, ShardCluster, cmd); err != nil {
		return err
	} else if err := DecodeResult(res, nil); err != nil && !isRejection(err, RejectNotFound) {
		return err
	}
	n.log.Info("meta: node removed", "node_id", id)
	return nil
}

func isRejection(err error, code string) bool {
	var rej *Rejection
	return errors.As(err, &rej) && rej.Code == code
}

// ClusterStatus is what `strata cluster status` shows.
type ClusterStatus struct {
	NodeID   uint64 `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	// HasLeader: every shard on this node knows a leader.
	HasLeader bool          `json:"has_leader"`
	Shards    []ShardStatus `json:"shards"`
	// Nodes are the registered nodes (this node's copy of the cluster
	// shard; it may be behind).
	Nodes []MemberStatus `json:"nodes"`
}

// ShardStatus is one shard as this node sees it.
type ShardStatus struct {
	ShardID uint64 `json:"shard_id"`
	Name    string `json:"name"`
	// Members maps replica (node) ID to raft address.
	Members map[uint64]string `json:"members"`
	// LeaderID is 0 when this node knows no leader.
	LeaderID uint64 `json:"leader_id"`
	Term     uint64 `json:"term"`
	// Applied is this node's applied index.
	Applied uint64 `json:"applied"`
	// LeaderApplied is the leader's applied index as of its last
	// heartbeat (0 if unknown); Lag = LeaderApplied - Applied, floored at 0.
	LeaderApplied uint64 `json:"leader_applied"`
	Lag           uint64 `json:"lag"`
}

// MemberStatus is a registered node and whether it heartbeat lately.
type MemberStatus struct {
	NodeInfo
	Alive bool `json:"alive"`
}

// Status describes this node's view of the cluster. It asks no other node,
// so it answers without a quorum.
func (n *Node) Status() ClusterStatus {
	st := ClusterStatus{NodeID: n.opts.NodeID, RaftAddr: n.opts.RaftAddr, HasLeader: true, Shards: []ShardStatus{}, Nodes: []MemberStatus{}}
	if n.isClosed() {
		st.HasLeader = false
		return st
	}
	var nodes []NodeInfo
	if v, err := n.StaleRead(ShardCluster, Query{Op: QueryNodes}); err == nil {
		nodes, _ = v.([]NodeInfo)
	}
	byID := make(map[uint64]NodeInfo, len(nodes))
	now := n.opts.Now()
	for _, ni := range nodes {
		byID[ni.ID] = ni
		st.Nodes = append(st.Nodes, MemberStatus{NodeInfo: ni, Alive: ni.Alive(now, 3*n.opts.HeartbeatInterval)})
	}
	info := n.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true})
	members := map[uint64]map[uint64]string{}
	if info != nil {
		for _, si := range info.ShardInfoList {
			members[si.ShardID] = maps.Clone(si.Replicas)
		}
	}
	for _, shard := range n.shards {
		ss := ShardStatus{ShardID: shard, Name: ShardName(shard), Members: members[shard], Applied: n.replicas[shard].applied.Load()}
		if ss.Members == nil {
			ss.Members = map[uint64]string{}
		}
		if leader, term, ok, err := n.nh.GetLeaderID(shard); err == nil && ok {
			ss.LeaderID, ss.Term = leader, term
		}
		if ss.LeaderID == 0 {
			st.HasLeader = false
		}
		if ss.LeaderID == n.opts.NodeID {
			ss.LeaderApplied = ss.Applied
		} else if l, ok := byID[ss.LeaderID]; ok {
			ss.LeaderApplied = l.Applied[shard]
		}
		if ss.LeaderApplied > ss.Applied {
			ss.Lag = ss.LeaderApplied - ss.Applied
		}
		st.Shards = append(st.Shards, ss)
	}
	return st
}

// SoleMember reports whether this node is shard's only member, as this
// node's raft state knows it (no I/O, no quorum needed): a single-node
// deployment. A node that has not learnt its membership yet answers false.
func (n *Node) SoleMember(shard uint64) bool {
	if n.isClosed() {
		return false
	}
	info := n.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true})
	if info == nil {
		return false
	}
	for _, si := range info.ShardInfoList {
		if si.ShardID == shard {
			_, self := si.Replicas[n.opts.NodeID]
			return self && len(si.Replicas) == 1
		}
	}
	return false
}

// OnTopicsChanged registers f to run after the topics shard changed on
// this node (an applied command or a restored snapshot), and once right
// away. f runs on the Node's notifier goroutine, never on the raft apply
// path; changes that land while it runs coalesce into one more call. The
// Store's Reconcile is the intended f.
func (n *Node) OnTopicsChanged(f func()) {
	n.mu.Lock()
	n.mu.onTopics = append(n.mu.onTopics, f)
	n.mu.Unlock()
	n.signalTopics()
}

func (n *Node) signalTopics() {
	select {
	case n.topicsChanged <- struct{}{}:
	default: // a signal is pending already; the callback will see this change too
	}
}

func (n *Node) notifyLoop() {
	for {
		select {
		case <-n.stop:
			return
		case <-n.topicsChanged:
		}
		n.mu.Lock()
		fs := slices.Clone(n.mu.onTopics)
		n.mu.Unlock()
		for _, f := range fs {
			f()
		}
	}
}

// heartbeatLoop registers this node in the cluster shard, then records a
// heartbeat (time and applied indexes) every HeartbeatInterval.
func (n *Node) heartbeatLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.stop
		cancel()
	}()
	registered := false
	tick := time.NewTicker(n.opts.HeartbeatInterval)
	defer tick.Stop()
	for {
		var err error
		if !registered {
			err = n.register(ctx)
			registered = err == nil
		} else {
			err = n.heartbeat(ctx)
			if isRejection(err, RejectNotFound) {
				registered = false // removed, or the cluster shard was reset
			}
		}
		if err != nil && ctx.Err() == nil {
			n.log.Debug("meta: heartbeat", "node_id", n.opts.NodeID, "err", err)
		}
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
	}
}

func (n *Node) register(ctx context.Context) error {
	addrs := maps.Clone(n.opts.ClientAddrs)
	maps.DeleteFunc(addrs, func(_, a string) bool { return a == "" })
	cmd, err := EncodeCommand(OpNodeRegister, map[string]any{
		"id": n.opts.NodeID, "raft_addr": n.opts.RaftAddr, "addrs": addrs, "at": n.opts.Now().UTC(),
	})
	if err != nil {
		return err
	}
	return n.proposeOnce(ctx, ShardCluster, cmd)
}

func (n *Node) heartbeat(ctx context.Context) error {
	applied := make(map[uint64]uint64, len(n.replicas))
	for shard, r := range n.replicas {
		applied[shard] = r.applied.Load()
	}
	cmd, err := EncodeCommand(OpNodeHeartbeat, map[string]any{"id": n.opts.NodeID, "at": n.opts.Now().UTC(), "applied": applied})
	if err != nil {
		return err
	}
	return n.proposeOnce(ctx, ShardCluster, cmd)
}

// proposeOnce proposes with a deadline of one heartbeat interval.
func (n *Node) proposeOnce(ctx context.Context, shard uint64, cmd []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.HeartbeatInterval)
	defer cancel()
	res, err := n.Propose(ctx, shard, cmd)
	if err != nil {
		return err
	}
	return DecodeResult(res, nil)
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.closed
}

// Close stops the heartbeat and notifier goroutines (waiting for a
// callback that is running) and the NodeHost. Further calls return ErrClosed.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.mu.closed = true
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
	n.nh.Close()
	n.log.Info("meta: node stopped", "node_id", n.opts.NodeID)
	return nil
}
