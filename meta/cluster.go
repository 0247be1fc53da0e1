package meta

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"time"

	"strata/logstore"
)

// The cluster machine (shard ShardCluster) keeps the nodes (raft address,
// client addresses, last heartbeat, applied indexes) and partition
// placement. Raft membership itself is Dragonboat's; this is what the
// nodes tell each other about themselves.
func init() { registerMachine(ShardCluster, func() machine { return newClusterMachine() }) }

// Cluster machine operations and queries.
const (
	// OpNodeRegister {"id", "raft_addr", "addrs", "at"}: adds or updates a
	// node (a node registers itself at start).
	OpNodeRegister = "register"
	// OpNodeHeartbeat {"id", "at", "applied"}: records that the node was
	// alive at "at" (its clock) and its applied index per shard; rejects
	// not_found for a node that never registered.
	OpNodeHeartbeat = "heartbeat"
	// OpNodeRemove {"id"}: forgets a node and its placements; rejects not_found.
	OpNodeRemove = "remove"
	// OpSetPlacement {"topic", "partition", "node"}: which node leads a
	// partition; the node must be registered.
	OpSetPlacement = "set_placement"
	// OpDeletePlacement {"topic"}: forgets every placement of a topic.
	OpDeletePlacement = "delete_placement"

	// QueryNodes {}: every node, by id.
	QueryNodes = "nodes"
	// QueryNode {"id"}: one node or a not_found Rejection.
	QueryNode = "node"
	// QueryPlacement {"topic", "partition"}: {"node": id}, or not_found.
	QueryPlacement = "placement"
	// QueryPlacements {"topic"?}: every placement (of one topic, if given).
	QueryPlacements = "placements"
)

// Client protocols a node registers addresses for.
const (
	ProtoHTTP   = "http"
	ProtoKafka  = "kafka"
	ProtoMQTT   = "mqtt"
	ProtoFlight = "flight"
)

// NodeInfo is one node as the cluster machine keeps it. Liveness is not
// stored: a reader computes it from LastSeen and its own clock (Alive),
// since apply may not read the clock (doc.go, invariant 2).
type NodeInfo struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr"`
	// Addrs maps a protocol (ProtoHTTP, ...) to the address this node
	// serves it on; a disabled listener is absent.
	Addrs        map[string]string `json:"addrs,omitempty"`
	RegisteredAt time.Time         `json:"registered_at"`
	LastSeen     time.Time         `json:"last_seen"`
	// Applied is the node's applied raft index per shard at LastSeen.
	Applied map[uint64]uint64 `json:"applied,omitempty"`
}

// Alive reports whether the node heartbeat within timeout before now.
func (n NodeInfo) Alive(now time.Time, timeout time.Duration) bool {
	return !n.LastSeen.IsZero() && now.Sub(n.LastSeen) <= timeout
}

func (n NodeInfo) clone() NodeInfo {
	n.Addrs = maps.Clone(n.Addrs)
	n.Applied = maps.Clone(n.Applied)
	return n
}

// Placement says which node leads one partition.
type Placement struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Node      uint64 `json:"node"`
}

type placementKey struct {
	topic     string
	partition int32
}

type clusterMachine struct {
	nodes      map[uint64]NodeInfo
	placements map[placementKey]uint64
}

func newClusterMachine() *clusterMachine {
	return &clusterMachine{nodes: make(map[uint64]NodeInfo), placements: make(map[placementKey]uint64)}
}

func (m *clusterMachine) kind() string { return "cluster" }

func validAddr(a string) bool {
	_, _, err := net.SplitHostPort(a)
	return err == nil
}

func (m *clusterMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case OpNodeRegister:
		var req struct {
			ID       uint64            `json:"id"`
			RaftAddr string            `json:"raft_addr"`
			Addrs    map[string]string `json:"addrs,omitempty"`
			At       time.Time         `json:"at"`
		}
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "register: %v", err)
		}
		if req.ID == 0 {
			return nil, reject(RejectInvalid, "register: node id 0")
		}
		if !validAddr(req.RaftAddr) {
			return nil, reject(RejectInvalid, "register: node %d: raft address %q is not host:port", req.ID, req.RaftAddr)
		}
		for p, a := range req.Addrs {
			if !validAddr(a) {
				return nil, reject(RejectInvalid, "register: node %d: %s address %q is not host:port", req.ID, p, a)
			}
		}
		if req.At.IsZero() {
			return nil, reject(RejectInvalid, "register: node %d: at is missing (the proposer chooses it)", req.ID)
		}
		n, ok := m.nodes[req.ID]
		if !ok {
			n = NodeInfo{ID: req.ID, RegisteredAt: req.At.UTC()}
		}
		n.RaftAddr = req.RaftAddr
		n.Addrs = maps.Clone(req.Addrs)
		if len(n.Addrs) == 0 {
			n.Addrs = nil
		}
		if req.At.After(n.LastSeen) {
			n.LastSeen = req.At.UTC()
		}
		m.nodes[req.ID] = n
		return n.clone(), nil
	case OpNodeHeartbeat:
		var req struct {
			ID      uint64            `json:"id"`
			At      time.Time         `json:"at"`
			Applied map[uint64]uint64 `json:"applied,omitempty"`
		}
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "heartbeat: %v", err)
		}
		n, ok := m.nodes[req.ID]
		if !ok {
			return nil, reject(RejectNotFound, "heartbeat: node %d is not registered", req.ID)
		}
		// Heartbeats can arrive out of order (a retried proposal); keep the latest.
		if req.At.After(n.LastSeen) {
			n.LastSeen = req.At.UTC()
			n.Applied = maps.Clone(req.Applied)
			if len(n.Applied) == 0 {
				n.Applied = nil
			}
		}
		m.nodes[req.ID] = n
		return nil, nil
	case OpNodeRemove:
		var req struct {
			ID uint64 `json:"id"`
		}
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "remove: %v", err)
		}
		if _, ok := m.nodes[req.ID]; !ok {
			return nil, reject(RejectNotFound, "remove: node %d is not registered", req.ID)
		}
		delete(m.nodes, req.ID)
		maps.DeleteFunc(m.placements, func(_ placementKey, node uint64) bool { return node == req.ID })
		return nil, nil
	case OpSetPlacement:
		var p Placement
		if err := decodeBody(cmd.Body, &p); err != nil {
			return nil, reject(RejectInvalid, "set_placement: %v", err)
		}
		if err := logstore.ValidateTopicName(p.Topic); err != nil {
			return nil, reject(RejectInvalid, "set_placement: %v", err)
		}
		if p.Partition < 0 || p.Partition >= logstore.MaxTopicPartitions {
			return nil, reject(RejectInvalid, "set_placement: partition %d of %q, want 0 to %d", p.Partition, p.Topic, logstore.MaxTopicPartitions-1)
		}
		if _, ok := m.nodes[p.Node]; !ok {
			return nil, reject(RejectNotFound, "set_placement: node %d is not registered", p.Node)
		}
		m.placements[placementKey{p.Topic, p.Partition}] = p.Node
		return nil, nil
	case OpDeletePlacement:
		var req struct {
			Topic string `json:"topic"`
		}
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "delete_placement: %v", err)
		}
		maps.DeleteFunc(m.placements, func(k placementKey, _ uint64) bool { return k.topic == req.Topic })
		return nil, nil
	}
	return nil, reject(RejectInvalid, "unknown cluster op %q", cmd.Op)
}

func (m *clusterMachine) sortedPlacements(topic string) []Placement {
	out := []Placement{}
	for k, node := range m.placements {
		if topic == "" || k.topic == topic {
			out = append(out, Placement{Topic: k.topic, Partition: k.partition, Node: node})
		}
	}
	slices.SortFunc(out, func(a, b Placement) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

func (m *clusterMachine) lookup(q any) (any, error) {
	query, ok := q.(Query)
	if !ok {
		return nil, fmt.Errorf("meta: cluster: query of type %T, want meta.Query", q)
	}
	switch query.Op {
	case QueryNodes:
		out := make([]NodeInfo, 0, len(m.nodes))
		for _, id := range slices.Sorted(maps.Keys(m.nodes)) {
			out = append(out, m.nodes[id].clone())
		}
		return out, nil
	case QueryNode:
		var req struct {
			ID uint64 `json:"id"`
		}
		if err := decodeBody(query.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "node: %v", err)
		}
		n, ok := m.nodes[req.ID]
		if !ok {
			return nil, reject(RejectNotFound, "node %d is not registered", req.ID)
		}
		return n.clone(), nil
	case QueryPlacement:
		var req struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		}
		if err := decodeBody(query.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "placement: %v", err)
		}
		node, ok := m.placements[placementKey{req.Topic, req.Partition}]
		if !ok {
			return nil, reject(RejectNotFound, "partition %d of %q has no placement", req.Partition, req.Topic)
		}
		return map[string]uint64{"node": node}, nil
	case QueryPlacements:
		var req struct {
			Topic string `json:"topic,omitempty"`
		}
		if len(query.Body) > 0 {
			if err := decodeBody(query.Body, &req); err != nil {
				return nil, reject(RejectInvalid, "placements: %v", err)
			}
		}
		return m.sortedPlacements(req.Topic), nil
	}
	return nil, reject(RejectInvalid, "unknown cluster query %q", query.Op)
}

// clusterState is the snapshot body.
type clusterState struct {
	Nodes      []NodeInfo  `json:"nodes"`
	Placements []Placement `json:"placements"`
}

func (m *clusterMachine) save(w io.Writer) error {
	st := clusterState{Nodes: make([]NodeInfo, 0, len(m.nodes)), Placements: m.sortedPlacements("")}
	for _, id := range slices.Sorted(maps.Keys(m.nodes)) {
		st.Nodes = append(st.Nodes, m.nodes[id])
	}
	return json.NewEncoder(w).Encode(st)
}

func (m *clusterMachine) load(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var st clusterState
	if err := decodeBody(b, &st); err != nil {
		return fmt.Errorf("%w: cluster: %v", ErrCorruptSnapshot, err)
	}
	fresh := newClusterMachine()
	for _, n := range st.Nodes {
		if n.ID == 0 {
			return fmt.Errorf("%w: cluster: node id 0", ErrCorruptSnapshot)
		}
		if _, dup := fresh.nodes[n.ID]; dup {
			return fmt.Errorf("%w: cluster: node %d listed twice", ErrCorruptSnapshot, n.ID)
		}
		fresh.nodes[n.ID] = n.clone()
	}
	for _, p := range st.Placements {
		k := placementKey{p.Topic, p.Partition}
		if _, dup := fresh.placements[k]; dup {
			return fmt.Errorf("%w: cluster: placement of %s/%d listed twice", ErrCorruptSnapshot, p.Topic, p.Partition)
		}
		fresh.placements[k] = p.Node
	}
	*m = *fresh
	return nil
}

// Cluster is the typed client of the cluster shard.
type Cluster struct{ p Proposer }

// NewCluster returns a client of the cluster shard through p (a *Node).
func NewCluster(p Proposer) *Cluster { return &Cluster{p: p} }

func (c *Cluster) propose(ctx context.Context, op string, body any) error {
	cmd, err := EncodeCommand(op, body)
	if err != nil {
		return err
	}
	res, err := c.p.Propose(ctx, ShardCluster, cmd)
	if err != nil {
		return err
	}
	return DecodeResult(res, nil)
}

func (c *Cluster) read(ctx context.Context, op string, body any) (any, error) {
	q, err := NewQuery(op, body)
	if err != nil {
		return nil, err
	}
	return c.p.Read(ctx, ShardCluster, q)
}

// Nodes returns every registered node (a linearizable read).
func (c *Cluster) Nodes(ctx context.Context) ([]NodeInfo, error) {
	v, err := c.read(ctx, QueryNodes, nil)
	if err != nil {
		return nil, err
	}
	nodes, ok := v.([]NodeInfo)
	if !ok {
		return nil, fmt.Errorf("meta: cluster nodes returned %T", v)
	}
	return nodes, nil
}

// SetPlacement records that node leads partition p of topic; the node must
// be registered (a not_found Rejection otherwise).
func (c *Cluster) SetPlacement(ctx context.Context, topic string, p int32, node uint64) error {
	return c.propose(ctx, OpSetPlacement, Placement{Topic: topic, Partition: p, Node: node})
}

// DeletePlacements forgets every placement of topic (after it is deleted).
func (c *Cluster) DeletePlacements(ctx context.Context, topic string) error {
	return c.propose(ctx, OpDeletePlacement, map[string]string{"topic": topic})
}

// Placement returns the node that leads partition p of topic; ok is false
// when none is recorded.
func (c *Cluster) Placement(ctx context.Context, topic string, p int32) (node uint64, ok bool, err error) {
	v, err := c.read(ctx, QueryPlacement, map[string]any{"topic": topic, "partition": p})
	if isRejection(err, RejectNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	m, isMap := v.(map[string]uint64)
	if !isMap {
		return 0, false, fmt.Errorf("meta: cluster placement returned %T", v)
	}
	return m["node"], true, nil
}

// Placements returns every placement of topic ("" = of every topic).
func (c *Cluster) Placements(ctx context.Context, topic string) ([]Placement, error) {
	var body any
	if topic != "" {
		body = map[string]string{"topic": topic}
	}
	v, err := c.read(ctx, QueryPlacements, body)
	if err != nil {
		return nil, err
	}
	ps, ok := v.([]Placement)
	if !ok {
		return nil, fmt.Errorf("meta: cluster placements returned %T", v)
	}
	return ps, nil
}
