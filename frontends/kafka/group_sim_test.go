package kafka

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupSimulatedClients is a randomized liveness test of the classic
// protocol on fake time: clients that follow the protocol as real ones
// do (join, MEMBER_ID_REQUIRED, sync, heartbeat, rejoin on
// REBALANCE_IN_PROGRESS, start over on UNKNOWN_MEMBER_ID) join, crash,
// restart and leave at random. The coordinator's invariants hold after
// every step, and once the chaos stops the group settles: Stable, its
// members exactly the live clients, each synced at the group's
// generation with the assignment its leader gave it.
func TestGroupSimulatedClients(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulateGroup(t, seed) })
	}
}

type simState int8

const (
	simIdle    simState = iota // must (re)join
	simJoining                 // JoinGroup parked
	simSyncing                 // SyncGroup parked
	simStable                  // heartbeating
	simDead                    // crashed: sends nothing
)

type simClient struct {
	name       string
	static     bool
	memberID   string
	gen        int32
	state      simState
	nextHB     time.Time
	assignment string
}

type simReply struct {
	c    *simClient
	resp kmsg.Response
}

func simulateGroup(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	opts := GroupOptions{InitialRebalanceDelay: 2 * time.Second}
	opts.EnsureDefaults()
	c := newCoordinator(opts, quietLog(), clk, newMemGroupStore(), &fakeTopics{m: map[string]topicRef{}})
	ids := 0
	c.newMemberID = func(client string) string { ids++; return fmt.Sprintf("%s-%d", client, ids) }
	close(c.loaded)
	defer c.close()

	const session, hbEvery = 10 * time.Second, 3 * time.Second
	var clients []*simClient
	var replies []simReply
	names := 0
	newClient := func() *simClient {
		names++
		cl := &simClient{name: fmt.Sprintf("c%d", names), static: rng.IntN(3) == 0}
		clients = append(clients, cl)
		return cl
	}
	for range 3 {
		newClient()
	}
	call := func(cl *simClient, f func(reply func(kmsg.Response)) kmsg.Response) {
		c.mu.Lock()
		resp := f(func(r kmsg.Response) { replies = append(replies, simReply{cl, r}) })
		c.mu.Unlock()
		if resp != nil {
			replies = append(replies, simReply{cl, resp})
		}
	}
	instance := func(cl *simClient) *string {
		if cl.static {
			return kmsg.StringPtr("i-" + cl.name)
		}
		return nil
	}
	join := func(cl *simClient) {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 9
		req.Group, req.MemberID, req.InstanceID = "g", cl.memberID, instance(cl)
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = int32(session/time.Millisecond), int32(session/time.Millisecond)
		req.ProtocolType = "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte(cl.name)}}
		cl.state = simJoining
		call(cl, func(reply func(kmsg.Response)) kmsg.Response { return c.join(caller{clientID: cl.name}, req, reply) })
	}
	handle := func(r simReply) {
		cl := r.c
		if cl.state == simDead {
			return // the connection is gone
		}
		switch resp := r.resp.(type) {
		case *kmsg.JoinGroupResponse:
			switch resp.ErrorCode {
			case 0:
				cl.memberID, cl.gen = resp.MemberID, resp.Generation
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID, req.Generation, req.InstanceID = "g", cl.memberID, cl.gen, instance(cl)
				if resp.LeaderID == cl.memberID && !resp.SkipAssignment {
					for _, m := range resp.Members {
						req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{
							MemberID: m.MemberID, MemberAssignment: []byte(fmt.Sprintf("%s@%d", m.ProtocolMetadata, cl.gen)),
						})
					}
				}
				cl.state = simSyncing
				call(cl, func(reply func(kmsg.Response)) kmsg.Response { return c.sync(req, reply) })
			case kerr.MemberIDRequired.Code:
				cl.memberID, cl.state = resp.MemberID, simIdle
			case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
				cl.memberID, cl.state = "", simIdle
			default:
				cl.state = simIdle
			}
		case *kmsg.SyncGroupResponse:
			switch resp.ErrorCode {
			case 0:
				cl.state, cl.nextHB, cl.assignment = simStable, clk.now().Add(hbEvery), string(resp.MemberAssignment)
			case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
				cl.memberID, cl.state = "", simIdle
			default:
				cl.state = simIdle
			}
		}
	}
	heartbeat := func(cl *simClient) {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation, req.InstanceID = "g", cl.memberID, cl.gen, instance(cl)
		c.mu.Lock()
		code := c.heartbeatCode(req)
		c.mu.Unlock()
		cl.nextHB = clk.now().Add(hbEvery)
		switch code {
		case 0:
		case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
			cl.memberID, cl.state = "", simIdle
		default:
			cl.state = simIdle
		}
	}
	step := func(chaos bool) {
		if chaos {
			live, x := liveClients(clients), rng.IntN(100)
			switch {
			case x < 3 && len(live) > 0: // crash
				live[rng.IntN(len(live))].state = simDead
			case x < 5 && len(live) > 0: // graceful leave
				cl := live[rng.IntN(len(live))]
				if cl.memberID != "" {
					req := kmsg.NewPtrLeaveGroupRequest()
					req.Group = "g"
					req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: cl.memberID, InstanceID: instance(cl)}}
					c.mu.Lock()
					c.leave(req)
					c.mu.Unlock()
				}
				cl.state = simDead
			case x < 12: // a new client, or a crashed static one restarting
				var dead []*simClient
				for _, cl := range clients {
					if cl.state == simDead && cl.static {
						dead = append(dead, cl)
					}
				}
				if len(dead) > 0 && rng.IntN(2) == 0 {
					cl := dead[rng.IntN(len(dead))]
					cl.state, cl.memberID = simIdle, "" // same instance id, new process
				} else if len(live) < 6 {
					newClient()
				}
			}
		}
		for _, cl := range clients {
			switch {
			case cl.state == simIdle:
				join(cl)
			case cl.state == simStable && !clk.now().Before(cl.nextHB):
				heartbeat(cl)
			}
		}
		for len(replies) > 0 {
			r := replies[0]
			replies = replies[1:]
			handle(r)
		}
		clk.advance(time.Second)
		for len(replies) > 0 {
			r := replies[0]
			replies = replies[1:]
			handle(r)
		}
		if msg := c.checkInvariants(); msg != "" {
			t.Fatalf("t=%s: %s", clk.now().Format(time.TimeOnly), msg)
		}
	}
	for range 400 {
		step(true)
	}
	for range 90 {
		step(false)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.mu.groups["g"]
	live := liveClients(clients)
	var want []string
	for _, cl := range live {
		want = append(want, cl.memberID)
	}
	slices.Sort(want)
	if len(live) == 0 {
		if g != nil && len(g.members) > 0 {
			t.Fatalf("no live clients, members %v", sortedKeys(g.members))
		}
		return
	}
	if g.state != groupStable || !slices.Equal(sortedKeys(g.members), want) {
		t.Fatalf("settled as %s gen %d with members %v, want Stable with %v", g.state, g.generation, sortedKeys(g.members), want)
	}
	for _, cl := range live {
		if cl.state != simStable || cl.gen != g.generation || cl.assignment != string(g.members[cl.memberID].assignment) {
			t.Fatalf("%s (%s): state %d gen %d assignment %q; group gen %d assignment %q", cl.name, cl.memberID, cl.state, cl.gen, cl.assignment, g.generation, g.members[cl.memberID].assignment)
		}
		if want := fmt.Sprintf("%s@", cl.name); len(cl.assignment) < len(want) || cl.assignment[:len(want)] != want {
			t.Fatalf("%s holds %q, the assignment of another member", cl.name, cl.assignment)
		}
	}
}

func liveClients(cs []*simClient) []*simClient {
	var out []*simClient
	for _, c := range cs {
		if c.state != simDead {
			out = append(out, c)
		}
	}
	return out
}

// TestConsumerGroupSimulatedClients is the KIP-848 counterpart: members
// heartbeat as kgo does (full requests reporting what they own, owning
// what the last response assigned), and join, crash, leave and rejoin at
// random. Safety: no two live members ever believe they own one
// partition. Liveness: once the chaos stops, every partition is owned,
// the assignment is balanced, and every member is at the group epoch.
func TestConsumerGroupSimulatedClients(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		for _, assignor := range []string{"uniform", "range"} {
			t.Run(fmt.Sprint(assignor, seed), func(t *testing.T) { simulateConsumerGroup(t, seed, assignor) })
		}
	}
}

type simMember struct {
	id     string
	epoch  int32
	owned  map[int32]bool
	dead   bool
	missed int // heartbeats skipped in a row
}

func simulateConsumerGroup(t *testing.T, seed uint64, assignor string) {
	rng := rand.New(rand.NewPCG(seed, seed*104729))
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	opts := GroupOptions{ConsumerHeartbeatInterval: time.Second, ConsumerSessionTimeout: 6 * time.Second}
	opts.EnsureDefaults()
	const parts = 12
	topic := topicRef{name: "t", id: [16]byte{7}, partitions: parts}
	c := newCoordinator(opts, quietLog(), clk, newMemGroupStore(), &fakeTopics{m: map[string]topicRef{"t": topic}})
	close(c.loaded)
	defer c.close()

	var members []*simMember
	n := 0
	add := func() {
		n++
		members = append(members, &simMember{id: fmt.Sprintf("m%d", n), owned: map[int32]bool{}})
	}
	for range 3 {
		add()
	}
	heartbeat := func(m *simMember, epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID, req.MemberEpoch = "g", m.id, epoch
		req.RebalanceTimeoutMillis = 5000
		req.SubscribedTopicNames = []string{"t"}
		req.ServerAssignor = kmsg.StringPtr(assignor)
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if epoch > 0 && len(m.owned) > 0 {
			tp := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			tp.TopicID = topic.id
			for p := range m.owned {
				tp.Partitions = append(tp.Partitions, p)
			}
			slices.Sort(tp.Partitions)
			req.Topics = append(req.Topics, tp)
		}
		c.mu.Lock()
		resp := c.consumerHeartbeat(caller{clientID: m.id}, req).(*kmsg.ConsumerGroupHeartbeatResponse)
		c.mu.Unlock()
		return resp
	}
	beat := func(m *simMember) {
		resp := heartbeat(m, m.epoch)
		switch resp.ErrorCode {
		case 0:
		case kerr.UnknownMemberID.Code:
			m.id, m.epoch, m.owned = m.id+"'", 0, map[int32]bool{}
			return
		default: // fenced: give everything up and rejoin
			m.epoch, m.owned = 0, map[int32]bool{}
			return
		}
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = map[int32]bool{}
			for _, at := range resp.Assignment.Topics {
				for _, p := range at.Partitions {
					m.owned[p] = true
				}
			}
		}
	}
	check := func() {
		if msg := c.checkInvariants(); msg != "" {
			t.Fatal(msg)
		}
		holder := map[int32]string{}
		for _, m := range members {
			if m.dead {
				continue
			}
			for p := range m.owned {
				if h, ok := holder[p]; ok {
					t.Fatalf("t=%s: partition %d owned by %s and %s", clk.now().Format(time.TimeOnly), p, h, m.id)
				}
				holder[p] = m.id
			}
		}
	}
	step := func(chaos bool) {
		if chaos {
			var live []*simMember
			for _, m := range members {
				if !m.dead {
					live = append(live, m)
				}
			}
			switch x := rng.IntN(100); {
			case x < 3 && len(live) > 0:
				live[rng.IntN(len(live))].dead = true // crash
			case x < 5 && len(live) > 0:
				m := live[rng.IntN(len(live))]
				heartbeat(m, -1) // leave
				m.dead = true
			case x < 12 && len(live) < 7:
				add()
			}
		}
		for _, m := range members {
			if m.dead {
				continue
			}
			// Under chaos some heartbeats are late, but a live member
			// heartbeats well within its session and rebalance
			// timeouts: one that does not is a zombie, which the
			// protocol fences at commit, not here.
			if chaos && m.missed < 2 && rng.IntN(4) == 0 {
				m.missed++
				continue
			}
			m.missed = 0
			beat(m)
			check()
		}
		clk.advance(time.Second)
		check()
	}
	for range 300 {
		step(true)
	}
	for range 40 {
		step(false)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.mu.groups["g"].cg
	owned := 0
	minOwned, maxOwned := parts, 0
	live := 0
	for _, m := range members {
		if m.dead {
			continue
		}
		live++
		owned += len(m.owned)
		minOwned, maxOwned = min(minOwned, len(m.owned)), max(maxOwned, len(m.owned))
		if m.epoch != cg.epoch {
			t.Fatalf("%s at epoch %d, group at %d", m.id, m.epoch, cg.epoch)
		}
	}
	if live == 0 {
		return
	}
	if owned != parts || (assignor == "uniform" && maxOwned-minOwned > 1) {
		t.Fatalf("%d live members own %d of %d partitions (from %d to %d each)", live, owned, parts, minOwned, maxOwned)
	}
	if c.mu.groups["g"].state != groupStable {
		t.Fatalf("settled in state %s", c.mu.groups["g"].state)
	}
}
