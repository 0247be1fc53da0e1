package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// TestGroupSpec runs the group coordinator's spec in testdata/groups:
// the classic rebalance state machine, static membership, offsets and
// KIP-848 reconciliation, on fake time and without a network. Run with
// -rewrite to regenerate the expected output.
//
// Commands (key=value arguments; durations like 10s):
//
//	topic name=T partitions=N
//	options [initial-delay=D] [min-session=D] [max-size=N] [cg-session=D] [cg-interval=D]   (resets the coordinator)
//	join id=ID group=G [member=M] [client=C] [instance=I] [session=D] [rebalance=D] [protocols=p:meta,...] [v=N]
//	sync id=ID group=G member=M gen=N [instance=I] [assign=member:data,...] [v=N]
//	heartbeat group=G member=M gen=N [instance=I]
//	leave group=G (member=M | members=m1,i:inst,...) [v=N]
//	commit group=G [member=M] [gen=N] offsets=t:p=o,... [v=N]
//	fetch group=G [topics=t:p,p;t2:p] [v=N] [member=M epoch=N]
//	offset-delete group=G partitions=t:p,...
//	store-commit group=G offsets=t:p=o,...   (straight to the store, as transactions commit)
//	advance D
//	describe group=G | list [states=..] [types=..] | delete groups=G,...
//	cghb id=ID group=G member=M epoch=N [topics=t,...] [regex=R] [assignor=A] [owned=t:p,p;...|nil] [instance=I] [rebalance=D]
//	cgdescribe group=G
//	restart    (close the coordinator and load a new one from the same store)
//	flush      (write the dirty group metadata, as the persister does)
//	crash      (drop the coordinator without writing; load a new one)
func TestGroupSpec(t *testing.T) {
	datadriven.Walk(t, "testdata/groups", func(t *testing.T, path string) {
		s := newSpec(t)
		defer s.c.close()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

// fakeClock runs timers when advance passes their deadline, in deadline
// order, in the advancing goroutine.
type fakeClock struct {
	t      time.Time
	timers []*fakeTimer
	seq    int
}

type fakeTimer struct {
	at      time.Time
	seq     int
	f       func()
	stopped bool
	fired   bool
}

func (t *fakeTimer) Stop() bool {
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) afterFunc(d time.Duration, f func()) stopper {
	c.seq++
	ft := &fakeTimer{at: c.t.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, ft)
	return ft
}

func (c *fakeClock) advance(d time.Duration) {
	end := c.t.Add(d)
	for {
		var next *fakeTimer
		for _, ft := range c.timers {
			if ft.stopped || ft.fired || ft.at.After(end) {
				continue
			}
			if next == nil || ft.at.Before(next.at) || ft.at.Equal(next.at) && ft.seq < next.seq {
				next = ft
			}
		}
		if next == nil {
			break
		}
		c.t = next.at
		next.fired = true
		next.f()
	}
	c.t = end
	c.timers = slices.DeleteFunc(c.timers, func(ft *fakeTimer) bool { return ft.stopped || ft.fired })
}

// fakeTopics is a topicLookup over a map.
type fakeTopics struct{ m map[string]topicRef }

func (f *fakeTopics) topic(name string) (topicRef, bool) { r, ok := f.m[name]; return r, ok }
func (f *fakeTopics) topicByID(id [16]byte) (topicRef, bool) {
	for _, r := range f.m {
		if r.id == id {
			return r, true
		}
	}
	return topicRef{}, false
}
func (f *fakeTopics) all() []topicRef {
	var out []topicRef
	for _, n := range sortedKeys(f.m) {
		out = append(out, f.m[n])
	}
	return out
}

type spec struct {
	clock     *fakeClock
	store     *memGroupStore
	topics    *fakeTopics
	opts      GroupOptions
	c         *groupCoordinator
	ids       int
	delivered map[string]kmsg.Response
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSpec(t *testing.T) *spec {
	s := &spec{
		clock:  &fakeClock{t: time.Unix(1_700_000_000, 0)},
		store:  newMemGroupStore(),
		topics: &fakeTopics{m: map[string]topicRef{}},
	}
	s.opts.InitialRebalanceDelay = -1
	s.reset(t)
	return s
}

func (s *spec) reset(t *testing.T) {
	if s.c != nil {
		s.c.close()
	}
	opts := s.opts
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	s.c = newCoordinator(opts, quietLog(), s.clock, s.store, s.topics)
	s.c.newMemberID = func(client string) string {
		s.ids++
		return fmt.Sprintf("%s-%d", client, s.ids)
	}
	if err := s.c.load(); err != nil {
		t.Fatal(err)
	}
	close(s.c.loaded)
	s.delivered = map[string]kmsg.Response{}
}

func (s *spec) replyFor(id string) func(kmsg.Response) {
	return func(r kmsg.Response) { s.delivered[id] = r }
}

func (s *spec) run(t *testing.T, d *datadriven.TestData) string {
	var out strings.Builder
	a := args(t, d)
	switch d.Cmd {
	case "topic":
		name := a.str("name", "")
		id := [16]byte{byte(len(s.topics.m) + 1)}
		if old, ok := s.topics.m[name]; ok {
			id = old.id
		}
		s.topics.m[name] = topicRef{name: name, id: id, partitions: int32(a.int("partitions", 1))}
		return "ok"
	case "options":
		s.opts.InitialRebalanceDelay = a.dur("initial-delay", -1)
		s.opts.MinSessionTimeout = a.dur("min-session", 0)
		s.opts.MaxGroupSize = a.int("max-size", 0)
		s.opts.ConsumerSessionTimeout = a.dur("cg-session", 0)
		s.opts.ConsumerHeartbeatInterval = a.dur("cg-interval", 0)
		s.reset(t)
		return "ok"
	case "restart":
		s.c.close()
		s.c = nil
		s.reset(t)
		return "ok"
	case "flush":
		// The persister's work: write what is dirty.
		s.c.flush(false)
		return "ok"
	case "crash":
		// The process dies: nothing more is written; a new coordinator
		// loads whatever the store has.
		s.c.mu.Lock()
		s.c.mu.closed = true
		for _, g := range s.c.mu.groups {
			g.stopTimers()
		}
		s.c.mu.Unlock()
		s.c = nil
		s.reset(t)
		return "ok"
	case "advance":
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		s.clock.advance(dur)
		fmt.Fprintf(&out, "now +%s\n", d.CmdArgs[0].Key)
	case "join":
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = int16(a.int("v", 9))
		req.Group = a.str("group", "g")
		req.MemberID = a.str("member", "")
		req.InstanceID = a.strPtr("instance")
		req.SessionTimeoutMillis = int32(a.dur("session", 10*time.Second) / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(a.dur("rebalance", 30*time.Second) / time.Millisecond)
		req.ProtocolType = a.str("type", "consumer")
		for _, p := range a.list("protocols", "range:m") {
			name, md, _ := strings.Cut(p, ":")
			req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: specMetadata(md)})
		}
		id := a.str("id", "join")
		s.c.mu.Lock()
		resp := s.c.join(caller{clientID: a.str("client", "c"), host: "/127.0.0.1"}, req, s.replyFor(id))
		s.c.mu.Unlock()
		s.immediate(&out, id, resp)
	case "sync":
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = int16(a.int("v", 5))
		req.Group = a.str("group", "g")
		req.MemberID = a.str("member", "")
		req.InstanceID = a.strPtr("instance")
		req.Generation = int32(a.int("gen", 0))
		for _, as := range a.list("assign", "") {
			m, data, _ := strings.Cut(as, ":")
			req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(data)})
		}
		id := a.str("id", "sync")
		s.c.mu.Lock()
		resp := s.c.sync(req, s.replyFor(id))
		s.c.mu.Unlock()
		s.immediate(&out, id, resp)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = 4
		req.Group = a.str("group", "g")
		req.MemberID = a.str("member", "")
		req.InstanceID = a.strPtr("instance")
		req.Generation = int32(a.int("gen", 0))
		s.c.mu.Lock()
		resp := s.c.heartbeat(req)
		s.c.mu.Unlock()
		s.immediate(&out, "heartbeat", resp)
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = int16(a.int("v", 5))
		req.Group = a.str("group", "g")
		req.MemberID = a.str("member", "")
		for _, m := range a.list("members", "") {
			rm := kmsg.NewLeaveGroupRequestMember()
			if inst, ok := strings.CutPrefix(m, "i:"); ok {
				rm.InstanceID = kmsg.StringPtr(inst)
			} else {
				rm.MemberID = m
			}
			req.Members = append(req.Members, rm)
		}
		s.c.mu.Lock()
		resp := s.c.leave(req)
		s.c.mu.Unlock()
		s.immediate(&out, "leave", resp)
	case "commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = int16(a.int("v", 9))
		req.Group = a.str("group", "g")
		req.MemberID = a.str("member", "")
		req.InstanceID = a.strPtr("instance")
		req.Generation = int32(a.int("gen", -1))
		for _, o := range a.list("offsets", "") {
			tp, off, _ := strings.Cut(o, "=")
			topic, p, _ := strings.Cut(tp, ":")
			pi, _ := strconv.Atoi(p)
			oi, _ := strconv.Atoi(off)
			if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != topic {
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = topic
				req.Topics = append(req.Topics, rt)
			}
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(pi), int64(oi)
			if md, ok := a["meta"]; ok {
				// meta=x*N: N bytes of x.
				c, n, _ := strings.Cut(md, "*")
				ni, _ := strconv.Atoi(n)
				rp.Metadata = kmsg.StringPtr(strings.Repeat(c, ni))
			}
			req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, rp)
		}
		s.immediate(&out, "commit", s.c.commitOffsets(req))
	case "fetch":
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = int16(a.int("v", 8))
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = a.str("group", "g")
		rg.MemberID = a.strPtr("member")
		rg.MemberEpoch = int32(a.int("epoch", -1))
		if ts, ok := a["topics"]; ok {
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, tps := range strings.Split(ts, ";") {
				topic, ps, _ := strings.Cut(tps, ":")
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic = topic
				for _, p := range strings.Split(ps, ",") {
					pi, _ := strconv.Atoi(p)
					rt.Partitions = append(rt.Partitions, int32(pi))
				}
				rg.Topics = append(rg.Topics, rt)
			}
		}
		if req.Version >= 8 {
			req.Groups = append(req.Groups, rg)
		} else {
			req.Group = rg.Group
			for _, rt := range rg.Topics {
				req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: rt.Topic, Partitions: rt.Partitions})
			}
		}
		s.immediate(&out, "fetch", s.c.fetchOffsets(req))
	case "store-commit":
		// Offsets committed to the store behind the coordinator's back,
		// as the transaction coordinator does.
		var offs []meta.OffsetCommit
		for _, o := range a.list("offsets", "") {
			tp, off, _ := strings.Cut(o, "=")
			topic, p, _ := strings.Cut(tp, ":")
			pi, _ := strconv.Atoi(p)
			oi, _ := strconv.Atoi(off)
			offs = append(offs, meta.OffsetCommit{Topic: topic, Partition: int32(pi), Offset: int64(oi)})
		}
		if err := s.store.CommitOffsets(context.Background(), a.str("group", "g"), nil, 0, offs); err != nil {
			t.Fatal(err)
		}
		return "ok"
	case "offset-delete":
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = a.str("group", "g")
		for _, tp := range a.list("partitions", "") {
			topic, p, _ := strings.Cut(tp, ":")
			pi, _ := strconv.Atoi(p)
			if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != topic {
				req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic})
			}
			req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: int32(pi)})
		}
		s.immediate(&out, "offset-delete", s.c.deleteOffsets(req))
	case "describe":
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version = 5
		req.Groups = []string{a.str("group", "g")}
		s.immediate(&out, "describe", s.c.describeGroups(req))
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 5
		req.StatesFilter = a.list("states", "")
		req.TypesFilter = a.list("types", "")
		s.c.mu.Lock()
		resp := s.c.listGroups(req)
		s.c.mu.Unlock()
		s.immediate(&out, "list", resp)
	case "delete":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = 2
		req.Groups = a.list("groups", "")
		s.immediate(&out, "delete", s.c.deleteGroups(req))
	case "cghb":
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group = a.str("group", "g")
		req.MemberID = a.str("member", "")
		req.MemberEpoch = int32(a.int("epoch", 0))
		req.InstanceID = a.strPtr("instance")
		req.RebalanceTimeoutMillis = int32(a.dur("rebalance", 30*time.Second) / time.Millisecond)
		if _, ok := a["keepalive"]; ok {
			req.RebalanceTimeoutMillis = -1
		}
		if _, ok := a["topics"]; ok {
			req.SubscribedTopicNames = a.list("topics", "")
		}
		req.SubscribedTopicRegex = a.strPtr("regex")
		req.ServerAssignor = a.strPtr("assignor")
		switch owned := a.str("owned", "nil"); owned {
		case "nil":
		case "":
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		default:
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			for _, tps := range strings.Split(owned, ";") {
				topic, ps, _ := strings.Cut(tps, ":")
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID = s.topics.m[topic].id
				for _, p := range strings.Split(ps, ",") {
					pi, _ := strconv.Atoi(p)
					rt.Partitions = append(rt.Partitions, int32(pi))
				}
				req.Topics = append(req.Topics, rt)
			}
		}
		s.c.mu.Lock()
		resp := s.c.consumerHeartbeat(caller{clientID: a.str("client", "c"), host: "/127.0.0.1"}, req)
		s.c.mu.Unlock()
		s.immediate(&out, a.str("id", "cghb"), resp)
	case "cgdescribe":
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{a.str("group", "g")}
		s.immediate(&out, "cgdescribe", s.c.describeConsumerGroups(req))
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	if msg := s.c.checkInvariants(); msg != "" {
		t.Fatalf("%s: %s", d.Pos, msg)
	}
	ids := make([]string, 0, len(s.delivered))
	for id := range s.delivered {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&out, "%s: %s\n", id, s.format(s.delivered[id]))
	}
	clear(s.delivered)
	return out.String()
}

func (s *spec) immediate(out *strings.Builder, id string, resp kmsg.Response) {
	if resp == nil {
		fmt.Fprintf(out, "%s: parked\n", id)
		return
	}
	fmt.Fprintf(out, "%s: %s\n", id, s.format(resp))
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

func (s *spec) topicName(id [16]byte) string {
	if r, ok := s.topics.topicByID(id); ok {
		return r.name
	}
	return fmt.Sprintf("%x", id)
}

func (s *spec) format(resp kmsg.Response) string {
	var b strings.Builder
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		fmt.Fprintf(&b, "err=%s gen=%d member=%s", errName(r.ErrorCode), r.Generation, r.MemberID)
		if r.ErrorCode == 0 {
			fmt.Fprintf(&b, " leader=%s protocol=%s", r.LeaderID, strOrEmpty(r.Protocol))
			if r.LeaderID == r.MemberID {
				var ms []string
				for _, m := range r.Members {
					ms = append(ms, m.MemberID+":"+fmtMetadata(m.ProtocolMetadata))
				}
				fmt.Fprintf(&b, " members=[%s]", strings.Join(ms, " "))
			}
			if r.SkipAssignment {
				b.WriteString(" skip-assignment")
			}
		}
	case *kmsg.SyncGroupResponse:
		fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
		if r.ErrorCode == 0 {
			fmt.Fprintf(&b, " assignment=%q", r.MemberAssignment)
		}
	case *kmsg.HeartbeatResponse:
		fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
	case *kmsg.LeaveGroupResponse:
		fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
		for _, m := range r.Members {
			fmt.Fprintf(&b, " %s%s=%s", m.MemberID, instSuffix(m.InstanceID), errName(m.ErrorCode))
		}
	case *kmsg.OffsetCommitResponse:
		var parts []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, fmt.Sprintf("%s:%d=%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		b.WriteString(strings.Join(parts, " "))
	case *kmsg.OffsetFetchResponse:
		if r.Version < 8 {
			fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					fmt.Fprintf(&b, " %s:%d=%d", t.Topic, p.Partition, p.Offset)
				}
			}
		}
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "%s err=%s", g.Group, errName(g.ErrorCode))
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					fmt.Fprintf(&b, " %s:%d=%d", t.Topic, p.Partition, p.Offset)
					if p.ErrorCode != 0 {
						fmt.Fprintf(&b, "(%s)", errName(p.ErrorCode))
					}
				}
			}
		}
	case *kmsg.OffsetDeleteResponse:
		fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, " %s:%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
	case *kmsg.DescribeGroupsResponse:
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "%s err=%s state=%s type=%s protocol=%s", g.Group, errName(g.ErrorCode), g.State, g.ProtocolType, g.Protocol)
			s.c.mu.Lock()
			if cg := s.c.mu.groups[g.Group]; cg != nil && cg.typ == groupTypeClassic {
				fmt.Fprintf(&b, " gen=%d leader=%s", cg.generation, cg.leader)
			}
			s.c.mu.Unlock()
			for _, m := range g.Members {
				fmt.Fprintf(&b, "\n  %s%s client=%s assignment=%q", m.MemberID, instSuffix(m.InstanceID), m.ClientID, m.MemberAssignment)
			}
		}
	case *kmsg.ListGroupsResponse:
		fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "\n  %s %s %s %s", g.Group, g.GroupType, g.ProtocolType, g.GroupState)
		}
	case *kmsg.DeleteGroupsResponse:
		var parts []string
		for _, g := range r.Groups {
			parts = append(parts, g.Group+"="+errName(g.ErrorCode))
		}
		b.WriteString(strings.Join(parts, " "))
	case *kmsg.ConsumerGroupHeartbeatResponse:
		fmt.Fprintf(&b, "err=%s", errName(r.ErrorCode))
		if r.MemberID != nil {
			fmt.Fprintf(&b, " member=%s", *r.MemberID)
		}
		fmt.Fprintf(&b, " epoch=%d", r.MemberEpoch)
		if r.Assignment != nil {
			var ts []string
			for _, t := range r.Assignment.Topics {
				ts = append(ts, fmt.Sprintf("%s:%v", s.topicName(t.TopicID), t.Partitions))
			}
			fmt.Fprintf(&b, " assigned=[%s]", strings.Join(ts, " "))
		}
	case *kmsg.ConsumerGroupDescribeResponse:
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "%s err=%s state=%s epoch=%d assignment-epoch=%d assignor=%s", g.Group, errName(g.ErrorCode), g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName)
			for _, m := range g.Members {
				fmt.Fprintf(&b, "\n  %s%s epoch=%d topics=%v assigned=%s target=%s", m.MemberID, instSuffix(m.InstanceID), m.MemberEpoch, m.SubscribedTopics, s.fmtAssignment(m.Assignment), s.fmtAssignment(m.TargetAssignment))
			}
		}
	default:
		fmt.Fprintf(&b, "%T", resp)
	}
	return b.String()
}

// specMetadata is a member's protocol metadata: "@t1+t2" is a consumer
// protocol subscription to t1 and t2, anything else the bytes as written.
func specMetadata(md string) []byte {
	topics, ok := strings.CutPrefix(md, "@")
	if !ok {
		return []byte(md)
	}
	var m kmsg.ConsumerMemberMetadata
	m.Topics = strings.Split(topics, "+")
	return m.AppendTo(nil)
}

func fmtMetadata(b []byte) string {
	var m kmsg.ConsumerMemberMetadata
	if len(b) > 2 && m.ReadFrom(b) == nil && len(m.Topics) > 0 {
		return "@" + strings.Join(m.Topics, "+")
	}
	return string(b)
}

func (s *spec) fmtAssignment(a kmsg.Assignment) string {
	var ts []string
	for _, t := range a.TopicPartitions {
		ts = append(ts, fmt.Sprintf("%s:%v", s.topicName(t.TopicID), t.Partitions))
	}
	sort.Strings(ts)
	return "[" + strings.Join(ts, " ") + "]"
}

func instSuffix(p *string) string {
	if p == nil {
		return ""
	}
	return "(" + *p + ")"
}

// specArgs are a command's key=value arguments.
type specArgs map[string]string

func args(t *testing.T, d *datadriven.TestData) specArgs {
	a := specArgs{}
	for _, arg := range d.CmdArgs {
		a[arg.Key] = strings.Join(arg.Vals, ",")
	}
	return a
}

func (a specArgs) str(k, def string) string {
	if v, ok := a[k]; ok {
		return v
	}
	return def
}

func (a specArgs) strPtr(k string) *string {
	if v, ok := a[k]; ok {
		return &v
	}
	return nil
}

func (a specArgs) int(k string, def int) int {
	v, ok := a[k]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		panic(err)
	}
	return n
}

func (a specArgs) dur(k string, def time.Duration) time.Duration {
	v, ok := a[k]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		panic(err)
	}
	return d
}

func (a specArgs) list(k, def string) []string {
	v := a.str(k, def)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
