package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Shard 4, groups: consumer group offsets and group metadata, for the Kafka
// frontend's group coordinator. Offset commits are the hot path, so one
// proposal commits a whole batch of partitions (one OffsetCommit request).
//
// Operations (Command.Op):
//
//	commit_offsets  {group, expect_generation?, time_ms, offsets: [{topic, partition, offset, leader_epoch, metadata}]}
//	                -> {"committed": n}; all or nothing; later duplicates in a batch win
//	delete_offsets  {group, partitions: [{topic, partition}]} -> {"deleted": n}   (OffsetDelete; an unknown group deletes 0)
//	drop_topic      {topic} -> {"deleted": n}   offsets of a deleted topic, in every group
//	put_group       {group: GroupMetadata, expect_generation?} -> {"generation": g}
//	                storing metadata equal to the stored one always succeeds (a retried proposal)
//	delete_group    {group} -> {"offsets": n}   (DeleteGroups; refused unless the group is empty)
//
// Lookups (Query.Op): fetch_offsets {group, partitions?}, get_group {group},
// list_groups {states?}.
//
// Transactional offset commits (TxnOffsetCommit, held until the transaction
// commits) are the Kafka frontend's: it proposes commit_offsets when the
// transaction's markers are written.

// GroupsKind names the groups machine in its snapshots.
const GroupsKind = "groups"

// MaxOffsetMetadata caps an offset commit's metadata string in bytes
// (Kafka's offset.metadata.max.bytes default). The frontend answers
// OFFSET_METADATA_TOO_LARGE per partition before proposing; the machine
// rejects a batch holding a longer one.
const MaxOffsetMetadata = 4096

// Group states: the classic protocol's (Empty, PreparingRebalance,
// CompletingRebalance, Stable, Dead) and KIP-848's (Assigning, Reconciling).
var groupStates = []string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Assigning", "Reconciling"}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// OffsetCommit is one partition of a commit_offsets batch.
type OffsetCommit struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
}

// CommittedOffset is a partition's committed offset as stored.
type CommittedOffset struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	// CommitTimeMs is the proposer's clock at commit (the machine never
	// reads a clock).
	CommitTimeMs int64 `json:"commit_time_ms"`
}

// GroupMember is one member of a group as the coordinator last wrote it.
type GroupMember struct {
	MemberID string `json:"member_id"`
	// InstanceID is the static member id (group.instance.id), "" if dynamic.
	InstanceID         string `json:"instance_id,omitempty"`
	ClientID           string `json:"client_id,omitempty"`
	ClientHost         string `json:"client_host,omitempty"`
	SessionTimeoutMs   int32  `json:"session_timeout_ms,omitempty"`
	RebalanceTimeoutMs int32  `json:"rebalance_timeout_ms,omitempty"`
	// Metadata is the member's protocol metadata (subscription) for the
	// chosen protocol; Assignment is what SyncGroup handed it.
	Metadata   []byte `json:"metadata,omitempty"`
	Assignment []byte `json:"assignment,omitempty"`
}

// GroupMetadata is a group's membership state, written by the coordinator
// after each rebalance step.
type GroupMetadata struct {
	Group        string        `json:"group"`
	ProtocolType string        `json:"protocol_type,omitempty"`
	Protocol     string        `json:"protocol,omitempty"`
	Generation   int32         `json:"generation"`
	State        string        `json:"state"`
	Leader       string        `json:"leader,omitempty"`
	Members      []GroupMember `json:"members,omitempty"`
	// StateTimeMs is the proposer's clock when the state was written.
	StateTimeMs int64 `json:"state_time_ms,omitempty"`
}

// GroupSummary is one row of list_groups.
type GroupSummary struct {
	Group        string `json:"group"`
	ProtocolType string `json:"protocol_type,omitempty"`
	State        string `json:"state"`
	Members      int    `json:"members"`
	Offsets      int    `json:"offsets"`
}

// Command and query bodies.
type (
	commitOffsetsBody struct {
		Group            string         `json:"group"`
		ExpectGeneration *int32         `json:"expect_generation,omitempty"`
		TimeMs           int64          `json:"time_ms"`
		Offsets          []OffsetCommit `json:"offsets"`
	}
	deleteOffsetsBody struct {
		Group      string           `json:"group"`
		Partitions []TopicPartition `json:"partitions"`
	}
	topicBody struct {
		Topic string `json:"topic"`
	}
	putGroupBody struct {
		Group            GroupMetadata `json:"group"`
		ExpectGeneration *int32        `json:"expect_generation,omitempty"`
	}
	groupBody struct {
		Group string `json:"group"`
	}
	fetchOffsetsBody struct {
		Group      string           `json:"group"`
		Partitions []TopicPartition `json:"partitions"`
	}
	listGroupsBody struct {
		States []string `json:"states,omitempty"`
	}
	countResult struct {
		Committed *int `json:"committed,omitempty"`
		Deleted   *int `json:"deleted,omitempty"`
	}
)

type groupState struct {
	meta    *GroupMetadata
	offsets map[TopicPartition]CommittedOffset
}

type groupsMachine struct {
	groups map[string]*groupState
}

func newGroupsMachine() machine { return &groupsMachine{groups: map[string]*groupState{}} }

func init() { registerMachine(ShardGroups, newGroupsMachine) }

func (m *groupsMachine) kind() string { return GroupsKind }

func (m *groupsMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "commit_offsets":
		var b commitOffsetsBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "commit_offsets: %v", err)
		}
		return m.commit(b)
	case "delete_offsets":
		var b deleteOffsetsBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_offsets: %v", err)
		}
		return m.deleteOffsets(b)
	case "drop_topic":
		var b topicBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "drop_topic: %v", err)
		}
		if b.Topic == "" {
			return nil, reject(RejectInvalid, "drop_topic: empty topic")
		}
		n := 0
		for name, g := range m.groups {
			for tp := range g.offsets {
				if tp.Topic == b.Topic {
					delete(g.offsets, tp)
					n++
				}
			}
			m.gc(name)
		}
		return countResult{Deleted: &n}, nil
	case "put_group":
		var b putGroupBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "put_group: %v", err)
		}
		return m.putGroup(b)
	case "delete_group":
		var b groupBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_group: %v", err)
		}
		g, ok := m.groups[b.Group]
		if !ok {
			return nil, reject(RejectNotFound, "group %q does not exist", b.Group)
		}
		if md := g.meta; md != nil && (len(md.Members) > 0 || (md.State != "Empty" && md.State != "Dead")) {
			return nil, reject(RejectConflict, "group %q is not empty (state %s, %d members)", b.Group, md.State, len(md.Members))
		}
		n := len(g.offsets)
		delete(m.groups, b.Group)
		return struct {
			Offsets int `json:"offsets"`
		}{n}, nil
	}
	return nil, reject(RejectInvalid, "unknown groups op %q", cmd.Op)
}

func validGroupName(g string) error {
	if g == "" {
		return fmt.Errorf("empty group id")
	}
	if len(g) > 255 || !utf8.ValidString(g) {
		return fmt.Errorf("bad group id %q", g)
	}
	return nil
}

func validTopicPartition(topic string, p int32) error {
	if topic == "" || len(topic) > 249 {
		return fmt.Errorf("bad topic %q", topic)
	}
	if p < 0 {
		return fmt.Errorf("%s: negative partition %d", topic, p)
	}
	return nil
}

func (m *groupsMachine) checkGeneration(group string, expect *int32) *Rejection {
	if expect == nil {
		return nil
	}
	g := m.groups[group]
	if g == nil || g.meta == nil {
		if *expect < 0 {
			return nil
		}
		return reject(RejectConflict, "group %q has no generation %d (no metadata)", group, *expect)
	}
	if g.meta.Generation != *expect {
		return reject(RejectConflict, "group %q is at generation %d, not %d", group, g.meta.Generation, *expect)
	}
	return nil
}

func (m *groupsMachine) commit(b commitOffsetsBody) (any, *Rejection) {
	if err := validGroupName(b.Group); err != nil {
		return nil, reject(RejectInvalid, "commit_offsets: %v", err)
	}
	if len(b.Offsets) == 0 {
		return nil, reject(RejectInvalid, "commit_offsets: no offsets")
	}
	for _, o := range b.Offsets {
		if err := validTopicPartition(o.Topic, o.Partition); err != nil {
			return nil, reject(RejectInvalid, "commit_offsets: %v", err)
		}
		if o.Offset < 0 {
			return nil, reject(RejectInvalid, "commit_offsets: %s-%d: negative offset %d", o.Topic, o.Partition, o.Offset)
		}
		if len(o.Metadata) > MaxOffsetMetadata {
			return nil, reject(RejectInvalid, "commit_offsets: %s-%d: metadata of %d bytes exceeds %d", o.Topic, o.Partition, len(o.Metadata), MaxOffsetMetadata)
		}
	}
	if rej := m.checkGeneration(b.Group, b.ExpectGeneration); rej != nil {
		return nil, rej
	}
	g := m.groups[b.Group]
	if g == nil {
		g = &groupState{offsets: make(map[TopicPartition]CommittedOffset, len(b.Offsets))}
		m.groups[b.Group] = g
	}
	for _, o := range b.Offsets {
		g.offsets[TopicPartition{o.Topic, o.Partition}] = CommittedOffset{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
			Metadata: o.Metadata, CommitTimeMs: b.TimeMs,
		}
	}
	n := len(b.Offsets)
	return countResult{Committed: &n}, nil
}

func (m *groupsMachine) deleteOffsets(b deleteOffsetsBody) (any, *Rejection) {
	if err := validGroupName(b.Group); err != nil {
		return nil, reject(RejectInvalid, "delete_offsets: %v", err)
	}
	// An unknown group deletes nothing: not a rejection, so that a
	// proposal applied twice (invariant 4) still succeeds. The coordinator
	// answers GROUP_ID_NOT_FOUND from a read.
	g, ok := m.groups[b.Group]
	n := 0
	if !ok {
		return countResult{Deleted: &n}, nil
	}
	for _, tp := range b.Partitions {
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			n++
		}
	}
	m.gc(b.Group)
	return countResult{Deleted: &n}, nil
}

// gc forgets a group with neither offsets nor metadata.
func (m *groupsMachine) gc(group string) {
	if g := m.groups[group]; g != nil && g.meta == nil && len(g.offsets) == 0 {
		delete(m.groups, group)
	}
}

func validateGroupMetadata(md *GroupMetadata) error {
	if err := validGroupName(md.Group); err != nil {
		return err
	}
	if !slices.Contains(groupStates, md.State) {
		return fmt.Errorf("group %q: unknown state %q (want one of %s)", md.Group, md.State, strings.Join(groupStates, ", "))
	}
	if md.Generation < 0 {
		return fmt.Errorf("group %q: negative generation %d", md.Group, md.Generation)
	}
	ids := map[string]bool{}
	instances := map[string]bool{}
	for _, mem := range md.Members {
		if mem.MemberID == "" {
			return fmt.Errorf("group %q: member with an empty member id", md.Group)
		}
		if ids[mem.MemberID] {
			return fmt.Errorf("group %q: member %q listed twice", md.Group, mem.MemberID)
		}
		ids[mem.MemberID] = true
		if mem.InstanceID != "" {
			if instances[mem.InstanceID] {
				return fmt.Errorf("group %q: static instance %q held by two members", md.Group, mem.InstanceID)
			}
			instances[mem.InstanceID] = true
		}
	}
	if md.Leader != "" && !ids[md.Leader] {
		return fmt.Errorf("group %q: leader %q is not a member", md.Group, md.Leader)
	}
	return nil
}

func (m *groupsMachine) putGroup(b putGroupBody) (any, *Rejection) {
	md := b.Group
	if err := validateGroupMetadata(&md); err != nil {
		return nil, reject(RejectInvalid, "put_group: %v", err)
	}
	g := m.groups[md.Group]
	if g != nil && g.meta != nil && sameJSON(*g.meta, md) {
		// Already stored: the same proposal applied twice (invariant 4).
		return struct {
			Generation int32 `json:"generation"`
		}{md.Generation}, nil
	}
	if rej := m.checkGeneration(md.Group, b.ExpectGeneration); rej != nil {
		return nil, rej
	}
	if g == nil {
		g = &groupState{offsets: map[TopicPartition]CommittedOffset{}}
		m.groups[md.Group] = g
	}
	g.meta = &md
	return struct {
		Generation int32 `json:"generation"`
	}{md.Generation}, nil
}

func (m *groupsMachine) lookup(q any) (any, error) {
	query, err := asQuery(q)
	if err != nil {
		return nil, err
	}
	switch query.Op {
	case "fetch_offsets":
		var b fetchOffsetsBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		g := m.groups[b.Group]
		out := []CommittedOffset{}
		if g == nil {
			return out, nil
		}
		if b.Partitions == nil {
			for _, o := range g.offsets {
				out = append(out, o)
			}
		} else {
			for _, tp := range b.Partitions {
				if o, ok := g.offsets[tp]; ok {
					out = append(out, o)
				}
			}
		}
		sortOffsets(out)
		return slices.CompactFunc(out, func(a, b CommittedOffset) bool {
			return a.Topic == b.Topic && a.Partition == b.Partition
		}), nil
	case "get_group":
		var b groupBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		g := m.groups[b.Group]
		if g == nil || g.meta == nil {
			return (*GroupMetadata)(nil), nil
		}
		md := *g.meta
		md.Members = slices.Clone(md.Members)
		return &md, nil
	case "list_groups":
		var b listGroupsBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		out := []GroupSummary{}
		for name, g := range m.groups {
			s := GroupSummary{Group: name, State: "Empty", Offsets: len(g.offsets)}
			if g.meta != nil {
				s.ProtocolType, s.State, s.Members = g.meta.ProtocolType, g.meta.State, len(g.meta.Members)
			}
			if len(b.States) > 0 && !slices.Contains(b.States, s.State) {
				continue
			}
			out = append(out, s)
		}
		slices.SortFunc(out, func(a, b GroupSummary) int { return strings.Compare(a.Group, b.Group) })
		return out, nil
	}
	return nil, reject(RejectInvalid, "unknown groups lookup %q", query.Op)
}

func sortOffsets(s []CommittedOffset) {
	slices.SortFunc(s, func(a, b CommittedOffset) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}

// groupsSnapshot is the JSON state: groups sorted by name, offsets by
// (topic, partition).
type groupsSnapshot struct {
	Groups []groupSnapshot `json:"groups"`
}

type groupSnapshot struct {
	Group    string            `json:"group"`
	Metadata *GroupMetadata    `json:"metadata,omitempty"`
	Offsets  []CommittedOffset `json:"offsets"`
}

func (m *groupsMachine) save(w io.Writer) error {
	snap := groupsSnapshot{Groups: make([]groupSnapshot, 0, len(m.groups))}
	for name, g := range m.groups {
		gs := groupSnapshot{Group: name, Metadata: g.meta, Offsets: make([]CommittedOffset, 0, len(g.offsets))}
		for _, o := range g.offsets {
			gs.Offsets = append(gs.Offsets, o)
		}
		sortOffsets(gs.Offsets)
		snap.Groups = append(snap.Groups, gs)
	}
	slices.SortFunc(snap.Groups, func(a, b groupSnapshot) int { return strings.Compare(a.Group, b.Group) })
	return writeJSON(w, snap)
}

func (m *groupsMachine) load(r io.Reader) error {
	var snap groupsSnapshot
	if err := decodeSnapshotBody(r, &snap); err != nil {
		return err
	}
	groups := make(map[string]*groupState, len(snap.Groups))
	for _, gs := range snap.Groups {
		if _, dup := groups[gs.Group]; dup {
			return fmt.Errorf("%w: groups: group %q twice", ErrCorruptSnapshot, gs.Group)
		}
		g := &groupState{meta: gs.Metadata, offsets: make(map[TopicPartition]CommittedOffset, len(gs.Offsets))}
		if g.meta != nil && g.meta.Group != gs.Group {
			return fmt.Errorf("%w: groups: metadata of %q filed under %q", ErrCorruptSnapshot, g.meta.Group, gs.Group)
		}
		for _, o := range gs.Offsets {
			g.offsets[TopicPartition{o.Topic, o.Partition}] = o
		}
		groups[gs.Group] = g
	}
	m.groups = groups
	return nil
}

// Groups is the typed client of the groups shard.
type Groups struct{ p Proposer }

// NewGroups returns a groups client over p.
func NewGroups(p Proposer) *Groups { return &Groups{p: p} }

// CommitOffsets commits a batch of offsets for group in one proposal, with
// the proposer's clock nowMs as the commit time. expectGeneration, when not
// nil, fences the commit: it is refused (a conflict) unless the group's
// stored generation matches.
func (c *Groups) CommitOffsets(ctx context.Context, group string, expectGeneration *int32, nowMs int64, offsets []OffsetCommit) error {
	return proposeOp(ctx, c.p, ShardGroups, "commit_offsets",
		commitOffsetsBody{Group: group, ExpectGeneration: expectGeneration, TimeMs: nowMs, Offsets: offsets}, nil)
}

// FetchOffsets returns group's committed offsets for partitions (all of
// them when partitions is nil), sorted by topic and partition. Partitions
// without a commit are absent.
func (c *Groups) FetchOffsets(ctx context.Context, group string, partitions []TopicPartition) ([]CommittedOffset, error) {
	return readOp[[]CommittedOffset](ctx, c.p, ShardGroups, "fetch_offsets", fetchOffsetsBody{Group: group, Partitions: partitions})
}

// DeleteOffsets deletes group's offsets for partitions (OffsetDelete) and
// returns how many existed.
func (c *Groups) DeleteOffsets(ctx context.Context, group string, partitions []TopicPartition) (int, error) {
	var res countResult
	if err := proposeOp(ctx, c.p, ShardGroups, "delete_offsets", deleteOffsetsBody{Group: group, Partitions: partitions}, &res); err != nil {
		return 0, err
	}
	return derefInt(res.Deleted), nil
}

// DropTopic deletes every group's offsets for a deleted topic.
func (c *Groups) DropTopic(ctx context.Context, topic string) (int, error) {
	var res countResult
	if err := proposeOp(ctx, c.p, ShardGroups, "drop_topic", topicBody{Topic: topic}, &res); err != nil {
		return 0, err
	}
	return derefInt(res.Deleted), nil
}

// PutGroup replaces group metadata; expectGeneration as in CommitOffsets
// (a negative value means "no metadata yet").
func (c *Groups) PutGroup(ctx context.Context, md GroupMetadata, expectGeneration *int32) error {
	return proposeOp(ctx, c.p, ShardGroups, "put_group", putGroupBody{Group: md, ExpectGeneration: expectGeneration}, nil)
}

// GetGroup returns group's metadata; ok is false when none is stored.
func (c *Groups) GetGroup(ctx context.Context, group string) (md GroupMetadata, ok bool, err error) {
	p, err := readOp[*GroupMetadata](ctx, c.p, ShardGroups, "get_group", groupBody{Group: group})
	if err != nil || p == nil {
		return GroupMetadata{}, false, err
	}
	return *p, true, nil
}

// ListGroups lists groups (those with metadata or offsets), filtered by
// state when states is not empty.
func (c *Groups) ListGroups(ctx context.Context, states ...string) ([]GroupSummary, error) {
	return readOp[[]GroupSummary](ctx, c.p, ShardGroups, "list_groups", listGroupsBody{States: states})
}

// DeleteGroup deletes an empty group with its offsets (DeleteGroups). A
// group with members is refused with a conflict rejection
// (NON_EMPTY_GROUP), an unknown one with not_found (GROUP_ID_NOT_FOUND).
func (c *Groups) DeleteGroup(ctx context.Context, group string) error {
	return proposeOp(ctx, c.p, ShardGroups, "delete_group", groupBody{Group: group}, nil)
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// Helpers shared by the machines and typed clients of shards 3 to 7.

// asQuery extracts the Query a lookup was given.
func asQuery(q any) (Query, error) {
	switch v := q.(type) {
	case Query:
		return v, nil
	case *Query:
		if v != nil {
			return *v, nil
		}
	}
	return Query{}, reject(RejectInvalid, "a lookup takes a meta.Query, not %T", q)
}

// decodeQueryBody decodes a query body strictly; an empty body is {}. A
// bad body is a Rejection, so that Node.Read fails at once rather than
// retrying it.
func decodeQueryBody(q Query, v any) error {
	body := []byte(q.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := decodeBody(body, v); err != nil {
		return reject(RejectInvalid, "lookup %s: %v", q.Op, err)
	}
	return nil
}

// decodeSnapshotBody decodes a machine's saved state strictly.
func decodeSnapshotBody(r io.Reader, v any) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := decodeBody(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptSnapshot, err)
	}
	return nil
}

// clientError is what the typed clients return: the shard and operation,
// then the cause (a *Rejection, or the Proposer's error).
type clientError struct {
	shard, op string
	err       error
}

func (e *clientError) Error() string {
	return "meta: " + e.shard + " " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "meta: ")
}

func (e *clientError) Unwrap() error { return e.err }

// RejectedWith reports whether err carries a Rejection with code
// (RejectNotFound, RejectConflict, ...).
func RejectedWith(err error, code string) bool {
	var rej *Rejection
	return errors.As(err, &rej) && rej.Code == code
}

// proposeOp proposes op with body on shard and decodes the result into out
// (which may be nil).
func proposeOp(ctx context.Context, p Proposer, shard uint64, op string, body, out any) error {
	cmd, err := EncodeCommand(op, body)
	if err != nil {
		return &clientError{ShardName(shard), op, err}
	}
	res, err := p.Propose(ctx, shard, cmd)
	if err != nil {
		return &clientError{ShardName(shard), op, err}
	}
	if err := DecodeResult(res, out); err != nil {
		return &clientError{ShardName(shard), op, err}
	}
	return nil
}

// readOp runs a linearizable lookup and asserts its result type.
func readOp[T any](ctx context.Context, p Proposer, shard uint64, op string, body any) (T, error) {
	var zero T
	q, err := NewQuery(op, body)
	if err != nil {
		return zero, &clientError{ShardName(shard), op, err}
	}
	v, err := p.Read(ctx, shard, q)
	if err != nil {
		return zero, &clientError{ShardName(shard), op, err}
	}
	t, ok := v.(T)
	if !ok {
		return zero, &clientError{ShardName(shard), op, fmt.Errorf("lookup returned %T, want %T", v, zero)}
	}
	return t, nil
}

// writeJSON writes v as compact JSON (no trailing newline).
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// sameJSON reports whether a and b encode to the same JSON (nil and empty
// slices alike), which is how a retried proposal is recognised.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
