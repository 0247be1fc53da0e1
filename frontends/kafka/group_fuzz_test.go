package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// groupKeys are the API keys the group coordinator serves.
var groupKeys = []int16{8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47, 68, 69}

// groupSeeds are valid requests of every group API key at its lowest,
// a middle and its highest served version.
func groupSeeds() []kmsg.Request {
	var out []kmsg.Request
	add := func(r kmsg.Request) {
		h := handlers[r.Key()]
		for _, v := range []int16{h.min, (h.min + h.max) / 2, h.max} {
			r.SetVersion(v)
			c := kmsg.RequestForKey(r.Key())
			c.SetVersion(v)
			if err := c.ReadFrom(r.AppendTo(nil)); err == nil {
				out = append(out, c)
			}
		}
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "g", 10000, 20000, "consumer"
	join.InstanceID = kmsg.StringPtr("i1")
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: specMetadata("@t")}}
	add(join)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", "c-1", 1
	sync.InstanceID = kmsg.StringPtr("i1")
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: "c-1", MemberAssignment: []byte{0, 1}}}
	add(sync)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", "c-1", 1
	hb.InstanceID = kmsg.StringPtr("i1")
	add(hb)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", "c-1"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "c-1"}, {InstanceID: kmsg.StringPtr("i1")}}
	add(leave)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation, commit.MemberID = "g", -1, ""
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic, ct.TopicID = "t", [16]byte{1}
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1, Metadata: kmsg.StringPtr("m")}}
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ct}
	add(commit)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "g"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group = "g"
	fg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: [16]byte{1}, Partitions: []int32{0}}}
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{fg}
	add(fetch)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKey, find.CoordinatorKeys = "g", []string{"g", "h"}
	add(find)
	desc := kmsg.NewPtrDescribeGroupsRequest()
	desc.Groups = []string{"g", "x"}
	add(desc)
	list := kmsg.NewPtrListGroupsRequest()
	list.StatesFilter, list.TypesFilter = []string{"Stable"}, []string{"classic"}
	add(list)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g", "x"}
	add(del)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	add(od)
	cghb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cghb.Group, cghb.MemberID, cghb.RebalanceTimeoutMillis = "h", "m1", 10000
	cghb.SubscribedTopicNames = []string{"t"}
	cghb.ServerAssignor = kmsg.StringPtr("uniform")
	cghb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	add(cghb)
	cghb2 := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cghb2.Group, cghb2.MemberID, cghb2.MemberEpoch = "h", "m1", 1
	cghb2.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: [16]byte{1}, Partitions: []int32{0, 1}}}
	add(cghb2)
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{"h"}
	add(cgd)
	return out
}

// fuzzFrame is a request as the fuzzer sees it: a 2-byte length of what
// follows, key, version, body.
func fuzzFrame(r kmsg.Request) []byte {
	body := r.AppendTo(nil)
	b := binary.BigEndian.AppendUint16(nil, uint16(4+len(body)))
	b = binary.BigEndian.AppendUint16(b, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.GetVersion()))
	return append(b, body...)
}

// FuzzGroupRequests feeds sequences of mutated valid requests of every
// group API key to a fresh coordinator (fake time, memory store, member
// ids c-1, c-2, ... as the seeds use), advancing time between requests
// and checking the coordinator's invariants after each: no panic, no
// state that breaks the rebalance protocol, every response encodable.
func FuzzGroupRequests(f *testing.F) {
	seeds := groupSeeds()
	var all []byte
	for _, r := range seeds {
		f.Add(fuzzFrame(r))
		all = append(all, fuzzFrame(r)...)
	}
	f.Add(all) // a lifecycle: join, sync, heartbeat, commit, fetch, ..., leave
	f.Fuzz(func(t *testing.T, in []byte) {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		topics := &fakeTopics{m: map[string]topicRef{"t": {name: "t", id: [16]byte{1}, partitions: 4}}}
		opts := GroupOptions{InitialRebalanceDelay: time.Second}
		opts.EnsureDefaults()
		store := &checkedStore{memGroupStore: newMemGroupStore()}
		c := newCoordinator(opts, quietLog(), clk, store, topics)
		ids := 0
		c.newMemberID = func(string) string { ids++; return fmt.Sprintf("c-%d", ids) }
		close(c.loaded)
		srv := &Server{groups: c}
		c.srv = srv
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // parked requests return at once; their state stays
		rc := &reqCtx{ctx: ctx, srv: srv, conn: &connInfo{remoteAddr: "127.0.0.1:1"}, clientID: "c"}
		for n := 0; len(in) >= 2 && n < 64; n++ {
			size := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if size > len(in) || size < 4 {
				return
			}
			frame := in[:size]
			in = in[size:]
			key, version := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
			h, ok := handlers[key]
			if !ok || version < h.min || version > h.max || !isGroupKey(key) {
				continue
			}
			req := kmsg.RequestForKey(key)
			req.SetVersion(version)
			if err := req.ReadFrom(frame[4:]); err != nil {
				continue
			}
			rc.version = version
			resp, err := h.serve(rc, req)
			if err == nil && resp == nil {
				t.Fatalf("key %d: nil response without an error", key)
			}
			if resp != nil {
				resp.AppendTo(nil) // encodable
			}
			clk.advance(time.Duration(size%9) * time.Second)
			if msg := c.checkInvariants(); msg != "" {
				t.Fatalf("after key %d v%d: %s", key, version, msg)
			}
		}
		c.close() // writes the groups' metadata
		if store.refused != "" {
			t.Fatalf("the store refused %s", store.refused)
		}
	})
}

// checkedStore records what it refuses: meta would refuse the same, so
// the coordinator must never send it.
type checkedStore struct {
	*memGroupStore
	refused string
}

func (s *checkedStore) CommitOffsets(ctx context.Context, group string, gen *int32, nowMs int64, offsets []meta.OffsetCommit) error {
	err := s.memGroupStore.CommitOffsets(ctx, group, gen, nowMs, offsets)
	if err != nil {
		s.refused = fmt.Sprintf("offsets of group %q: %v", group, err)
	}
	return err
}

func (s *checkedStore) PutGroup(ctx context.Context, md meta.GroupMetadata, gen *int32) error {
	// meta's rules for stored metadata (meta/groups.go validateGroupMetadata).
	ids, instances := map[string]bool{}, map[string]bool{}
	for _, m := range md.Members {
		if m.MemberID == "" || ids[m.MemberID] || m.InstanceID != "" && instances[m.InstanceID] {
			s.refused = fmt.Sprintf("metadata of group %q: member %+v", md.Group, m)
		}
		ids[m.MemberID], instances[m.InstanceID] = true, m.InstanceID != ""
	}
	if md.Leader != "" && !ids[md.Leader] || md.Generation < 0 {
		s.refused = fmt.Sprintf("metadata of group %q: leader %q generation %d", md.Group, md.Leader, md.Generation)
	}
	if _, ok := parseGroupState(md.State); !ok {
		s.refused = fmt.Sprintf("metadata of group %q: state %q", md.Group, md.State)
	}
	err := s.memGroupStore.PutGroup(ctx, md, gen)
	if err != nil {
		s.refused = fmt.Sprintf("metadata of group %q: %v", md.Group, err)
	}
	return err
}

func isGroupKey(k int16) bool {
	for _, g := range groupKeys {
		if g == k {
			return true
		}
	}
	return false
}

// checkInvariants reports a broken coordinator invariant, or "".
func (c *groupCoordinator) checkInvariants() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, g := range c.mu.groups {
		if g.name != name {
			return fmt.Sprintf("group %q filed under %q", g.name, name)
		}
		if g.typ == groupTypeConsumer {
			if g.cg == nil {
				return fmt.Sprintf("%s: consumer group without state", name)
			}
			held := map[[16]byte]map[int32]string{}
			for id, m := range g.cg.members {
				for tid, ps := range m.assigned {
					for _, p := range ps {
						if held[tid] == nil {
							held[tid] = map[int32]string{}
						}
						if other, ok := held[tid][p]; ok {
							return fmt.Sprintf("%s: partition %d assigned to %s and %s", name, p, other, id)
						}
						held[tid][p] = id
					}
				}
			}
			continue
		}
		joining := 0
		for id, m := range g.members {
			if m.id != id {
				return fmt.Sprintf("%s: member %q filed under %q", name, m.id, id)
			}
			if m.waiting != nil && m.waiting.isJoin() {
				joining++
			}
			if m.instanceID != "" && g.staticMembers[m.instanceID] != id {
				return fmt.Sprintf("%s: static member %s of %q not mapped", name, id, m.instanceID)
			}
		}
		if joining != g.nJoining {
			return fmt.Sprintf("%s: nJoining %d, %d members parked in JoinGroup", name, g.nJoining, joining)
		}
		switch g.state {
		case groupEmpty:
			if len(g.members) > 0 {
				return fmt.Sprintf("%s: Empty with %d members", name, len(g.members))
			}
		case groupCompletingRebalance, groupStable:
			if _, ok := g.members[g.leader]; !ok {
				return fmt.Sprintf("%s: %s with leader %q not a member", name, g.state, g.leader)
			}
			if joining > 0 {
				return fmt.Sprintf("%s: %s with %d parked joins", name, g.state, joining)
			}
		case groupPreparingRebalance:
		default:
			return fmt.Sprintf("%s: classic group in state %s", name, g.state)
		}
		for p, n := range g.protocols {
			if n <= 0 || n > len(g.members) {
				return fmt.Sprintf("%s: protocol %s counted %d with %d members", name, p, n, len(g.members))
			}
		}
	}
	return ""
}
