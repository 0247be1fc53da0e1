package kafka

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic rebalance protocol (KIP-62, KIP-345 static membership,
// KIP-394 member id required, KIP-814 skip assignment):
//
//	Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
//	CompletingRebalance --leader's SyncGroup--> Stable
//	Stable / CompletingRebalance --join with new metadata, leave, session timeout--> PreparingRebalance
//	PreparingRebalance --nobody rejoined--> Empty (generation still bumped)
//	any --DeleteGroups of an Empty group--> Dead
//
// JoinGroup parks until the rebalance completes (every known member
// rejoined, or the largest rebalance timeout passed and the laggards were
// removed); SyncGroup parks until the leader's SyncGroup brings the
// assignments. An empty group's first rebalance waits
// InitialRebalanceDelay for more members, extended per join up to the
// rebalance timeout, so that consumers starting together share one
// generation.

// member is one classic group member.
type member struct {
	id         string
	instanceID string // static membership; "" if dynamic
	clientID   string
	clientHost string

	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	protocolType       string
	protocols          []kmsg.JoinGroupRequestProtocol

	// waiting is the member's parked JoinGroup or SyncGroup, or nil.
	waiting *waiter

	assignment []byte
	t          *gtimer // session timeout
}

// waiter is a parked request and how to answer it.
type waiter struct {
	req   kmsg.Request // *kmsg.JoinGroupRequest or *kmsg.SyncGroupRequest
	reply func(kmsg.Response)
}

func (w *waiter) isJoin() bool {
	_, ok := w.req.(*kmsg.JoinGroupRequest)
	return ok
}

// fail answers the parked request with code.
func (w *waiter) fail(code int16) {
	switch r := w.req.ResponseKind().(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode, r.Generation = code, -1
		w.reply(r)
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = code
		w.reply(r)
	}
}

func (m *member) protocolMetadata(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) instancePtr() *string {
	if m.instanceID == "" {
		return nil
	}
	s := m.instanceID
	return &s
}

func strOrEmpty(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// join handles a JoinGroup. It returns the response, or nil when the
// request is parked and reply will be called later. mu held.
func (c *groupCoordinator) join(who caller, req *kmsg.JoinGroupRequest, reply func(kmsg.Response)) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	fail := func(code int16) kmsg.Response {
		resp.ErrorCode = code
		return resp
	}
	if !validGroupID(req.Group) {
		return fail(kerr.InvalidGroupID.Code)
	}
	st := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if st < c.opts.MinSessionTimeout || st > c.opts.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis
	}
	g, isNew := c.mu.groups[req.Group], false
	if g == nil {
		g, isNew = c.newGroup(req.Group), true
	}
	if g.typ == groupTypeConsumer {
		if g.cg.activeCount() > 0 {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		// An empty KIP-848 group becomes a classic one, as Kafka's
		// offline downgrade does.
		g.stopTimers()
		g.cg = nil
		g.typ = groupTypeClassic
		clear(g.staticMembers)
	}
	if !g.protocolsMatch(req.ProtocolType, req.Protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if isNew {
		c.mu.groups[req.Group] = g
	}
	defer g.markDirty()
	instanceID := strOrEmpty(req.InstanceID)

	if req.MemberID == "" {
		if instanceID != "" {
			if old, ok := g.staticMembers[instanceID]; ok {
				return g.replaceStaticMember(old, who, req, resp, reply)
			}
		}
		if c.opts.MaxGroupSize > 0 && len(g.members)+len(g.pending) >= c.opts.MaxGroupSize {
			return fail(kerr.GroupMaxSizeReached.Code)
		}
		m := g.newMember(who, req)
		resp.MemberID = m.id
		if instanceID != "" {
			g.staticMembers[instanceID] = m.id
		}
		// KIP-394: a dynamic member on v4+ must come back with the id.
		if req.Version >= 4 && instanceID == "" {
			g.addPending(m)
			resp.ErrorCode = kerr.MemberIDRequired.Code
			return resp
		}
		g.addMember(m)
		g.park(m, req, reply)
		g.rebalance()
		return nil
	}

	if instanceID != "" {
		if code := g.checkInstance(instanceID, req.MemberID); code != 0 {
			resp.MemberID = req.MemberID
			return fail(code)
		}
	}
	if m, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, m.id)
		m.t.stop()
		m.update(who, req)
		g.addMember(m)
		g.park(m, req, reply)
		g.rebalance()
		return nil
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		resp.MemberID = req.MemberID
		return fail(kerr.UnknownMemberID.Code)
	}
	switch g.state {
	case groupPreparingRebalance:
		g.updateMember(m, who, req)
		g.park(m, req, reply)
		g.rebalance()
		return nil
	case groupCompletingRebalance:
		if m.sameProtocols(req.Protocols) {
			// A retried join (the response was lost): answer again.
			g.heartbeatSeen(m)
			g.fillJoin(m.id, resp)
			return resp
		}
	case groupStable:
		if g.leader != m.id && m.sameProtocols(req.Protocols) {
			g.heartbeatSeen(m)
			g.fillJoin(m.id, resp)
			return resp
		}
	default:
		resp.MemberID = req.MemberID
		return fail(kerr.UnknownMemberID.Code)
	}
	// The leader rejoining, or changed metadata: a new generation.
	g.updateMember(m, who, req)
	g.park(m, req, reply)
	g.rebalance()
	return nil
}

func (g *group) newMember(who caller, req *kmsg.JoinGroupRequest) *member {
	m := &member{id: g.c.newMemberID(nonEmpty(strOrEmpty(req.InstanceID), who.clientID)), instanceID: strOrEmpty(req.InstanceID)}
	m.update(who, req)
	return m
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (m *member) update(who caller, req *kmsg.JoinGroupRequest) {
	m.clientID, m.clientHost = who.clientID, who.host
	m.sessionTimeoutMs, m.rebalanceTimeoutMs = req.SessionTimeoutMillis, req.RebalanceTimeoutMillis
	m.protocolType = req.ProtocolType
	m.protocols = req.Protocols
}

// replaceStaticMember handles a static member rejoining under a new
// member id (KIP-345): the old id is fenced, and if nothing changed in a
// stable group the new member takes the old one's place and assignment
// without a rebalance.
func (g *group) replaceStaticMember(oldID string, who caller, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, reply func(kmsg.Response)) kmsg.Response {
	old, ok := g.members[oldID]
	if !ok {
		// The old member was pending or is gone: join as new.
		if p, ok := g.pending[oldID]; ok {
			delete(g.pending, oldID)
			p.t.stop()
		}
		m := g.newMember(who, req)
		g.staticMembers[m.instanceID] = m.id
		g.addMember(m)
		g.park(m, req, reply)
		g.rebalance()
		return nil
	}
	m := g.newMember(who, req)
	m.assignment = old.assignment
	if old.waiting != nil {
		w := old.waiting
		old.waiting = nil
		g.nJoining -= b2i(w.isJoin())
		w.fail(kerr.FencedInstanceID.Code)
	}
	unchanged := g.state == groupStable && old.sameProtocols(req.Protocols)
	g.removeMember(old)
	if g.leader == oldID {
		g.leader = m.id
	}
	if g.pendingSync != nil {
		if _, ok := g.pendingSync[oldID]; ok {
			delete(g.pendingSync, oldID)
			g.pendingSync[m.id] = struct{}{}
		}
	}
	g.staticMembers[m.instanceID] = m.id
	g.addMember(m)
	if unchanged {
		g.heartbeatSeen(m)
		g.fillJoin(m.id, resp)
		resp.SkipAssignment = resp.LeaderID == m.id && req.Version >= 9
		return resp
	}
	g.park(m, req, reply)
	g.rebalance()
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkInstance validates a static member's (instance id, member id).
func (g *group) checkInstance(instanceID, memberID string) int16 {
	known, ok := g.staticMembers[instanceID]
	switch {
	case !ok:
		return kerr.UnknownMemberID.Code
	case known != memberID:
		return kerr.FencedInstanceID.Code
	}
	return 0
}

func (g *group) addPending(m *member) {
	g.pending[m.id] = m
	m.t = g.c.after(time.Duration(m.sessionTimeoutMs)*time.Millisecond, func() {
		delete(g.pending, m.id)
		if m.instanceID != "" && g.staticMembers[m.instanceID] == m.id {
			delete(g.staticMembers, m.instanceID)
		}
	})
}

// addMember adds m to members (not to a rebalance).
func (g *group) addMember(m *member) {
	g.members[m.id] = m
	for _, p := range m.protocols {
		g.protocols[p.Name]++
	}
}

// removeMember drops m: protocols, static mapping, timer, join count; a
// request it has parked is answered UNKNOWN_MEMBER_ID. It does not start
// a rebalance.
func (g *group) removeMember(m *member) {
	for _, p := range m.protocols {
		g.protocols[p.Name]--
		if g.protocols[p.Name] <= 0 {
			delete(g.protocols, p.Name)
		}
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != "" && g.staticMembers[m.instanceID] == m.id {
		delete(g.staticMembers, m.instanceID)
	}
	m.t.stop()
	if w := m.waiting; w != nil {
		m.waiting = nil
		g.nJoining -= b2i(w.isJoin())
		w.fail(kerr.UnknownMemberID.Code)
	}
}

// updateMember takes a rejoining member's new join.
func (g *group) updateMember(m *member, who caller, req *kmsg.JoinGroupRequest) {
	for _, p := range m.protocols {
		g.protocols[p.Name]--
		if g.protocols[p.Name] <= 0 {
			delete(g.protocols, p.Name)
		}
	}
	m.update(who, req)
	for _, p := range m.protocols {
		g.protocols[p.Name]++
	}
}

// park records m's JoinGroup as waiting for the rebalance to complete.
func (g *group) park(m *member, req *kmsg.JoinGroupRequest, reply func(kmsg.Response)) {
	if m.waiting != nil {
		// A second request from the same member replaces the first,
		// which is answered as Kafka does (the client gave up on it).
		w := m.waiting
		g.nJoining -= b2i(w.isJoin())
		w.fail(kerr.RebalanceInProgress.Code)
	}
	m.waiting = &waiter{req: req, reply: reply}
	g.nJoining++
	// A member in the join barrier is alive: its session timer restarts
	// when it is answered.
	m.t.stop()
}

// protocolsMatch reports whether a join's protocols fit the group; the
// first member sets the group's protocol type.
func (g *group) protocolsMatch(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 {
		g.protocolType = protocolType
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.protocols[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

func (m *member) sameProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(m.protocols) != len(ps) {
		return false
	}
	for i := range ps {
		if m.protocols[i].Name != ps[i].Name || !bytes.Equal(m.protocols[i].Metadata, ps[i].Metadata) {
			return false
		}
	}
	return true
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var mx int32
	for _, m := range g.members {
		mx = max(mx, m.rebalanceTimeoutMs)
	}
	return time.Duration(mx) * time.Millisecond
}

// rebalance moves the group to PreparingRebalance, or completes the
// rebalance at once when every member has rejoined.
func (g *group) rebalance() {
	if g.state == groupCompletingRebalance {
		// SyncGroups waiting for the leader's assignment are told to
		// rejoin.
		for _, m := range g.members {
			m.assignment = nil
			if m.waiting != nil && !m.waiting.isJoin() {
				w := m.waiting
				m.waiting = nil
				w.fail(kerr.RebalanceInProgress.Code)
				g.heartbeatSeen(m)
			}
		}
	}
	wasEmpty := g.state == groupEmpty
	g.state = groupPreparingRebalance
	g.clearPendingSync()
	now := g.c.clock.now()
	if delay := g.c.opts.InitialRebalanceDelay; delay > 0 && (wasEmpty || !g.delayCap.IsZero()) {
		// Initial join delay: wait for more members, each join
		// extending the wait, up to the rebalance timeout.
		if wasEmpty {
			g.delayCap = now.Add(g.maxRebalanceTimeout())
		}
		d := min(delay, g.delayCap.Sub(now))
		g.tRebalance.stop()
		g.tRebalance = g.c.after(max(d, 0), func() {
			g.delayCap = time.Time{}
			g.tRebalance = nil
			if g.nJoining >= len(g.members) {
				g.completeRebalance()
				return
			}
			g.tRebalance = g.c.after(g.maxRebalanceTimeout(), g.completeRebalance)
		})
		return
	}
	if g.nJoining >= len(g.members) {
		g.completeRebalance()
		return
	}
	g.tRebalance.stop()
	g.tRebalance = g.c.after(g.maxRebalanceTimeout(), g.completeRebalance)
}

// completeRebalance ends the join barrier: members that did not rejoin are
// removed, the generation is bumped, a protocol chosen, and every joined
// member answered (the leader with the members' metadata).
func (g *group) completeRebalance() {
	if g.state != groupPreparingRebalance {
		return
	}
	g.tRebalance.stop()
	g.tRebalance = nil
	g.delayCap = time.Time{}
	g.markDirty()
	for _, m := range g.members {
		if m.waiting == nil {
			g.removeMember(m)
		}
	}
	g.nJoining = 0
	g.c.metrics.rebalances.Inc()
	g.generation++
	if g.generation < 0 {
		g.generation = 1
	}
	if len(g.members) == 0 {
		g.state = groupEmpty
		g.leader, g.protocol = "", ""
		return
	}
	// Protocol vote: among protocols every member supports, each member
	// votes for its first; most votes wins, ties to the earliest listed
	// by the leader-to-be.
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocols[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	if len(votes) == 0 {
		for _, m := range g.members {
			w := m.waiting
			m.waiting = nil
			g.removeMember(m)
			if w != nil {
				w.fail(kerr.InconsistentGroupProtocol.Code)
			}
		}
		g.state, g.leader, g.protocol = groupEmpty, "", ""
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		for _, id := range sortedKeys(g.members) {
			g.leader = id
			break
		}
	}
	best, bestVotes := "", 0
	for _, p := range g.members[g.leader].protocols {
		if v := votes[p.Name]; v > bestVotes {
			best, bestVotes = p.Name, v
		}
	}
	g.protocol = best
	g.state = groupCompletingRebalance
	g.pendingSync = make(map[string]struct{}, len(g.members))
	for _, m := range g.members {
		g.pendingSync[m.id] = struct{}{}
		w := m.waiting
		m.waiting = nil
		resp := w.req.ResponseKind().(*kmsg.JoinGroupResponse)
		g.fillJoin(m.id, resp)
		w.reply(resp)
		g.heartbeatSeen(m)
	}
	// Members that do not SyncGroup within the rebalance timeout are
	// removed and the group rebalances without them.
	g.tPendingSync = g.c.after(g.maxRebalanceTimeout(), func() {
		g.tPendingSync = nil
		if len(g.pendingSync) == 0 || g.state != groupCompletingRebalance {
			return
		}
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				g.removeMember(m)
			}
		}
		g.pendingSync = nil
		g.markDirty()
		g.rebalance()
	})
}

func (g *group) clearPendingSync() {
	g.pendingSync = nil
	g.tPendingSync.stop()
	g.tPendingSync = nil
}

func (g *group) fillJoin(memberID string, resp *kmsg.JoinGroupResponse) {
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = memberID
	resp.Members = nil
	if g.leader == memberID {
		for _, id := range sortedKeys(g.members) {
			m := g.members[id]
			resp.Members = append(resp.Members, kmsg.JoinGroupResponseMember{
				MemberID: m.id, InstanceID: m.instancePtr(), ProtocolMetadata: m.protocolMetadata(g.protocol),
			})
		}
	}
}

// heartbeatSeen restarts m's session timer; when it fires, m is removed
// and the group rebalances.
func (g *group) heartbeatSeen(m *member) {
	m.t.stop()
	if m.waiting != nil {
		return // parked: alive until answered (invariant 2)
	}
	m.t = g.c.after(time.Duration(m.sessionTimeoutMs)*time.Millisecond, func() {
		if g.members[m.id] != m {
			return
		}
		g.removeMember(m)
		g.markDirty()
		g.rebalance()
	})
}

// sync handles a SyncGroup: nil when parked. mu held.
func (c *groupCoordinator) sync(req *kmsg.SyncGroupRequest, reply func(kmsg.Response)) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	g := c.mu.groups[req.Group]
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	if g == nil || g.typ != groupTypeClassic {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	if id := strOrEmpty(req.InstanceID); id != "" {
		if code := g.checkInstance(id, req.MemberID); code != 0 {
			resp.ErrorCode = code
			return resp
		}
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	if req.Generation != g.generation {
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return resp
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp
	}
	switch g.state {
	case groupPreparingRebalance:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case groupCompletingRebalance:
		delete(g.pendingSync, m.id)
		if m.waiting != nil {
			w := m.waiting
			g.nJoining -= b2i(w.isJoin())
			w.fail(kerr.RebalanceInProgress.Code)
		}
		// Parked in SyncGroup the member is alive (as in JoinGroup):
		// its session timer restarts when it is answered.
		m.waiting = &waiter{req: req, reply: reply}
		m.t.stop()
		if m.id == g.leader {
			g.completeSync(req)
		}
		return nil
	case groupStable:
		g.heartbeatSeen(m)
		resp.ProtocolType = kmsg.StringPtr(g.protocolType)
		resp.Protocol = kmsg.StringPtr(g.protocol)
		resp.MemberAssignment = g.assignmentOrEmpty(m.assignment)
	default:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}

// completeSync takes the leader's assignments, answers every parked
// SyncGroup and makes the group Stable.
func (g *group) completeSync(req *kmsg.SyncGroupRequest) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range req.GroupAssignment {
		if m, ok := g.members[a.MemberID]; ok {
			m.assignment = a.MemberAssignment
		}
	}
	g.state = groupStable
	g.clearPendingSync()
	g.markDirty()
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		if m.waiting == nil || m.waiting.isJoin() {
			continue
		}
		w := m.waiting
		m.waiting = nil
		resp := w.req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ProtocolType = kmsg.StringPtr(g.protocolType)
		resp.Protocol = kmsg.StringPtr(g.protocol)
		resp.MemberAssignment = g.assignmentOrEmpty(m.assignment)
		w.reply(resp)
		g.heartbeatSeen(m)
	}
}

// emptyConsumerAssignment is an encoded empty ConsumerMemberAssignment:
// what a "consumer" member the leader gave nothing receives, since some
// clients cannot decode zero bytes.
var emptyConsumerAssignment = new(kmsg.ConsumerMemberAssignment).AppendTo(nil)

func (g *group) assignmentOrEmpty(a []byte) []byte {
	if len(a) == 0 && g.protocolType == "consumer" {
		return emptyConsumerAssignment
	}
	return a
}

// heartbeat handles a Heartbeat. mu held.
func (c *groupCoordinator) heartbeat(req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeatCode(req)
	return resp
}

func (c *groupCoordinator) heartbeatCode(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.mu.groups[req.Group]
	if g == nil || g.typ != groupTypeClassic {
		return kerr.UnknownMemberID.Code
	}
	if id := strOrEmpty(req.InstanceID); id != "" {
		if code := g.checkInstance(id, req.MemberID); code != 0 {
			return code
		}
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	switch g.state {
	case groupPreparingRebalance:
		g.heartbeatSeen(m)
		return kerr.RebalanceInProgress.Code
	case groupCompletingRebalance, groupStable:
		g.heartbeatSeen(m)
		return 0
	}
	return kerr.UnknownMemberID.Code
}

// leave handles a LeaveGroup (v3+: a batch of members, by member id or
// by instance id). mu held.
func (c *groupCoordinator) leave(req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.mu.groups[req.Group]
	if g == nil || g.typ != groupTypeClassic {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		if req.Version >= 3 {
			resp.ErrorCode = 0
			for _, rm := range members {
				resp.Members = append(resp.Members, kmsg.LeaveGroupResponseMember{
					MemberID: rm.MemberID, InstanceID: rm.InstanceID, ErrorCode: kerr.UnknownMemberID.Code,
				})
			}
		}
		return resp
	}
	left := false
	for _, rm := range members {
		r := kmsg.LeaveGroupResponseMember{MemberID: rm.MemberID, InstanceID: rm.InstanceID}
		r.MemberID, r.ErrorCode = g.leaveOne(rm.MemberID, strOrEmpty(rm.InstanceID), &left)
		resp.Members = append(resp.Members, r)
	}
	if left {
		g.markDirty()
		g.rebalance()
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

// leaveOne removes one member, named by member id or instance id; it
// returns the member id (resolved from the instance id) and a code.
func (g *group) leaveOne(memberID, instanceID string, left *bool) (string, int16) {
	if instanceID != "" {
		known, ok := g.staticMembers[instanceID]
		if !ok {
			return memberID, kerr.UnknownMemberID.Code
		}
		if memberID != "" && memberID != known {
			return memberID, kerr.FencedInstanceID.Code
		}
		memberID = known
	}
	if p, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		p.t.stop()
		return memberID, 0
	}
	m, ok := g.members[memberID]
	if !ok {
		return memberID, kerr.UnknownMemberID.Code
	}
	if m.waiting != nil {
		w := m.waiting
		g.nJoining -= b2i(w.isJoin())
		m.waiting = nil
		w.fail(kerr.UnknownMemberID.Code)
	}
	g.removeMember(m)
	*left = true
	return memberID, 0
}

// validateCommit checks an OffsetCommit's (member, generation) against a
// classic group: 0 when the commit may be stored. mu held.
func (g *group) validateClassicCommit(memberID, instanceID string, generation int32) int16 {
	if instanceID != "" {
		if code := g.checkInstance(instanceID, memberID); code != 0 {
			return code
		}
	}
	if generation < 0 && memberID == "" {
		// A simple (admin) commit: allowed only when nobody consumes.
		if len(g.members) > 0 {
			return kerr.UnknownMemberID.Code
		}
		return 0
	}
	m, ok := g.members[memberID]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	if g.state == groupCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	g.heartbeatSeen(m)
	return 0
}
