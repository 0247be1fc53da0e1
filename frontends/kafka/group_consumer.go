package kafka

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// KIP-848 consumer groups: the coordinator assigns partitions. Each
// ConsumerGroupHeartbeat carries the member's epoch, subscription and the
// partitions it owns; the response carries its epoch and assignment.
//
//   - The group epoch is bumped when membership or a subscription changes
//     (or a subscribed topic's partitions); the target assignment is then
//     recomputed by the server assignor ("uniform", sticky, the default;
//     or "range").
//   - Reconciliation (Kafka's CurrentAssignmentBuilder): a member first
//     revokes what its target no longer holds (its epoch stays), then is
//     given the new partitions whose previous owner released them, and
//     its epoch advances to the target's. A partition is never assigned to
//     two members: owners records who holds each partition.
//   - Epochs -1 (leave) and -2 (static member leave: its partitions stay
//     reserved until the same instance id rejoins) end a member.
//   - A member that does not heartbeat within ConsumerSessionTimeout, or
//     does not revoke within its rebalance timeout, is fenced.
//
// The shape follows franz-go's kfake, which is what kgo's 848 client is
// tested against.

type tid = [16]byte

type consumerGroup struct {
	g               *group
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of the current target assignment
	assignor        string
	members         map[string]*cmember
	// owners: (topic id, partition) -> the member holding it and its
	// epoch when it took it; absent means free.
	owners map[tid]map[int32]owner
	// subSig is the subscribed topics' (id, partitions) at the last
	// target computation: a change bumps the epoch.
	subSig string
}

type owner struct {
	member string
	epoch  int32
}

type cmemberState int8

const (
	cmStable               cmemberState = iota
	cmUnrevokedPartitions               // waiting for the member to release revoked partitions
	cmUnreleasedPartitions              // waiting for other members to release partitions
)

type cmember struct {
	id         string
	clientID   string
	clientHost string
	instanceID string
	rackID     string

	epoch     int32
	prevEpoch int32
	state     cmemberState

	rebalanceTimeoutMs int32
	assignor           string
	topics             []string // sorted subscribed names
	regex              *regexp.Regexp
	regexSrc           string

	target   map[tid][]int32 // what the assignor wants it to own
	assigned map[tid][]int32 // what it was last told it owns
	revoking map[tid][]int32 // told to revoke, not yet confirmed
	// assignEpochs: the epoch at which each owned partition was
	// assigned; a commit with an older epoch is stale (KIP-1251).
	assignEpochs map[tid]map[int32]int32

	t      *gtimer // session
	tRebal *gtimer // revocation deadline
}

func newConsumerGroup(g *group) *consumerGroup {
	return &consumerGroup{g: g, members: map[string]*cmember{}, owners: map[tid]map[int32]owner{}}
}

func (cg *consumerGroup) activeCount() int {
	n := 0
	for _, m := range cg.members {
		if m.epoch != -2 {
			n++
		}
	}
	return n
}

// consumerHeartbeat handles a ConsumerGroupHeartbeat. mu held.
func (c *groupCoordinator) consumerHeartbeat(who caller, req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(c.opts.ConsumerHeartbeatInterval / time.Millisecond)
	fail := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = kmsg.StringPtr(msg)
		}
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidRequest.Code, "GroupId can't be empty.")
	}
	if !validGroupID(req.Group) {
		return fail(kerr.InvalidGroupID.Code, "")
	}
	if req.MemberEpoch < -2 {
		return fail(kerr.InvalidRequest.Code, "MemberEpoch is invalid.")
	}
	if req.MemberEpoch != 0 && req.MemberID == "" {
		return fail(kerr.InvalidRequest.Code, "MemberId can't be empty.")
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		g = c.newGroup(req.Group)
		c.mu.groups[req.Group] = g
	}
	if g.typ == groupTypeClassic {
		if len(g.members) > 0 || len(g.pending) > 0 {
			return fail(kerr.GroupIDNotFound.Code, "the group is a classic group with members")
		}
		// An empty classic group (or one holding only offsets)
		// becomes a consumer group.
		g.stopTimers()
		g.typ = groupTypeConsumer
		g.cg = newConsumerGroup(g)
		g.state = groupEmpty
		g.protocolType, g.protocol, g.leader = "consumer", "", ""
		clear(g.staticMembers)
	}
	cg := g.cg
	defer g.markDirty()
	var r kmsg.Response
	switch req.MemberEpoch {
	case 0:
		r = cg.join(who, req, resp)
	case -1:
		r = cg.leave(req, resp)
	case -2:
		r = cg.staticLeave(req, resp)
	default:
		r = cg.heartbeat(req, resp)
	}
	cg.updateState()
	return r
}

func isFullHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) bool {
	return req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
}

func validAssignor(name string) bool { return name == "uniform" || name == "range" }

func (cg *consumerGroup) join(who caller, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) kmsg.Response {
	c := cg.g.c
	if req.Topics == nil || len(req.Topics) > 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr("TopicPartitions must be empty when (re-)joining.")
		return resp
	}
	if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
		return resp
	}
	if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
		resp.ErrorCode = kerr.UnsupportedAssignor.Code
		return resp
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil {
		var err error
		if re, err = regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	memberID := req.MemberID
	if memberID == "" {
		memberID = c.newMemberID(nonEmpty(strOrEmpty(req.InstanceID), who.clientID))
	}
	instanceID := strOrEmpty(req.InstanceID)
	rejoin := cg.members[memberID] != nil
	if instanceID != "" {
		if old, ok := cg.g.staticMembers[instanceID]; ok && (old == memberID || cg.members[old] != nil) {
			rejoin = true
		}
	}
	if !rejoin && c.opts.MaxGroupSize > 0 && len(cg.members) >= c.opts.MaxGroupSize {
		resp.ErrorCode = kerr.GroupMaxSizeReached.Code
		return resp
	}

	// A static member replacing its predecessor, which must have left
	// with epoch -2; the new member inherits its assignment.
	var inherit *cmember
	if instanceID != "" {
		if oldID, ok := cg.g.staticMembers[instanceID]; ok && oldID != memberID {
			if old := cg.members[oldID]; old != nil {
				if old.epoch != -2 {
					resp.ErrorCode = kerr.UnreleasedInstanceID.Code
					return resp
				}
				inherit = old
				cg.fence(old)
				delete(cg.members, oldID)
			}
		}
		cg.g.staticMembers[instanceID] = memberID
	}
	if prev := cg.members[memberID]; prev != nil {
		if prev.epoch != -2 {
			return cg.rejoin(who, req, resp, prev)
		}
		if inherit == nil {
			inherit = prev
		}
		cg.fence(prev)
		delete(cg.members, memberID)
	}

	m := &cmember{
		id: memberID, clientID: who.clientID, clientHost: who.host, instanceID: instanceID, rackID: strOrEmpty(req.RackID),
		rebalanceTimeoutMs: req.RebalanceTimeoutMillis,
		target:             map[tid][]int32{}, revoking: map[tid][]int32{}, assigned: map[tid][]int32{},
	}
	if req.ServerAssignor != nil {
		m.assignor = *req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		m.topics = slices.Sorted(slices.Values(req.SubscribedTopicNames))
	}
	if re != nil {
		m.regex, m.regexSrc = re, *req.SubscribedTopicRegex
	}
	if m.rebalanceTimeoutMs <= 0 {
		m.rebalanceTimeoutMs = 45000
	}
	var oldTopics []string
	if inherit != nil {
		oldTopics = inherit.topics
		m.assigned = copyAssignment(inherit.assigned)
		m.target = copyAssignment(inherit.target)
		m.assignEpochs = inherit.assignEpochs
	}
	cg.members[memberID] = m
	if m.assignor != "" {
		cg.assignor = m.assignor
	}
	if cg.epoch == 0 || inherit == nil || !slices.Equal(oldTopics, m.topics) || m.regex != nil {
		cg.bump()
	}
	assigned, revoking, _ := cg.nextAssignment(m, nil)
	m.assigned, m.revoking = assigned, revoking
	cg.stampOwners(m, nil, nil)
	cg.sessionSeen(m)
	resp.MemberID = kmsg.StringPtr(memberID)
	resp.MemberEpoch = m.epoch
	resp.Assignment = makeAssignment(m.assigned)
	m.updateAssignEpochs()
	if len(m.revoking) > 0 {
		cg.revokeDeadline(m)
	}
	return resp
}

// bump starts a new group epoch and recomputes the target assignment.
func (cg *consumerGroup) bump() {
	cg.g.c.metrics.rebalances.Inc()
	cg.epoch++
	cg.computeTarget()
}

func (cg *consumerGroup) updateSubscriptions(m *cmember, req *kmsg.ConsumerGroupHeartbeatRequest) (changed bool, code int16) {
	if req.SubscribedTopicNames != nil {
		sorted := slices.Sorted(slices.Values(req.SubscribedTopicNames))
		if !slices.Equal(m.topics, sorted) {
			m.topics, changed = sorted, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regexSrc {
		re, err := regexp.Compile(*req.SubscribedTopicRegex)
		if err != nil {
			return false, kerr.InvalidRegularExpression.Code
		}
		m.regex, m.regexSrc, changed = re, *req.SubscribedTopicRegex, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		if !validAssignor(*req.ServerAssignor) {
			return false, kerr.UnsupportedAssignor.Code
		}
		m.assignor, cg.assignor, changed = *req.ServerAssignor, *req.ServerAssignor, true
	}
	return changed, 0
}

// rejoin: an active member sent epoch 0 again (a lost response); it is
// re-admitted in place and told its assignment again.
func (cg *consumerGroup) rejoin(who caller, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse, m *cmember) kmsg.Response {
	m.clientID, m.clientHost, m.rackID = who.clientID, who.host, strOrEmpty(req.RackID)
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	changed, code := cg.updateSubscriptions(m, req)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if changed {
		cg.bump()
	}
	cg.sessionSeen(m)
	cg.reconcile(m, changed, req.Topics)
	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	resp.Assignment = makeAssignment(m.assigned)
	cg.revokeDeadlineOrCancel(m)
	return resp
}

func (cg *consumerGroup) leave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) kmsg.Response {
	m, ok := cg.members[req.MemberID]
	if !ok {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	cg.remove(m)
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	resp.MemberEpoch = -1
	return resp
}

// remove fences m, drops it and recomputes the target assignment.
func (cg *consumerGroup) remove(m *cmember) {
	cg.fence(m)
	delete(cg.members, m.id)
	if m.instanceID != "" && cg.g.staticMembers[m.instanceID] == m.id {
		delete(cg.g.staticMembers, m.instanceID)
	}
	cg.bump()
	cg.updateState()
	cg.g.markDirty()
}

// staticLeave (epoch -2): a static member leaves for now; its partitions
// stay reserved for the same instance id.
func (cg *consumerGroup) staticLeave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) kmsg.Response {
	m, ok := cg.members[req.MemberID]
	if !ok {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	resp.MemberEpoch = -2
	if m.instanceID == "" {
		cg.remove(m)
		return resp
	}
	cg.dropOwners(m.assigned, m.id)
	cg.dropOwners(m.revoking, m.id)
	m.revoking = map[tid][]int32{}
	m.epoch = -2
	cg.addOwners(m.assigned, m.id, -2)
	m.t.stop()
	m.tRebal.stop()
	// The reserved member goes when its session would have.
	m.t = cg.g.c.after(cg.g.c.opts.ConsumerSessionTimeout, func() {
		if cg.members[m.id] == m && m.epoch == -2 {
			cg.remove(m)
		}
	})
	return resp
}

func (cg *consumerGroup) heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) kmsg.Response {
	m, ok := cg.members[req.MemberID]
	if !ok {
		if id := strOrEmpty(req.InstanceID); id != "" {
			if owner, ok := cg.g.staticMembers[id]; ok && owner != req.MemberID {
				resp.ErrorCode = kerr.FencedInstanceID.Code
				return resp
			}
		}
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	if m.epoch == -2 {
		resp.ErrorCode = kerr.FencedMemberEpoch.Code
		return resp
	}
	full := isFullHeartbeat(req)
	if req.MemberEpoch != m.epoch {
		// A member one epoch behind whose owned partitions are a
		// subset of what it was last told lost a response: accepted.
		if req.MemberEpoch != m.prevEpoch || req.Topics == nil || !isSubset(req.Topics, m.assigned) {
			resp.ErrorCode = kerr.FencedMemberEpoch.Code
			return resp
		}
	}
	cg.sessionSeen(m)
	var changed bool
	if full {
		var code int16
		if changed, code = cg.updateSubscriptions(m, req); code != 0 {
			resp.ErrorCode = code
			return resp
		}
		if req.RebalanceTimeoutMillis > 0 {
			m.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
		}
	}
	if changed || cg.subscriptionMetadataChanged() {
		cg.bump()
	}
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	if cg.reconcile(m, changed, req.Topics) || full {
		resp.Assignment = makeAssignment(m.assigned)
	}
	resp.MemberEpoch = m.epoch
	cg.revokeDeadlineOrCancel(m)
	return resp
}

func (cg *consumerGroup) sessionSeen(m *cmember) {
	m.t.stop()
	m.t = cg.g.c.after(cg.g.c.opts.ConsumerSessionTimeout, func() {
		if cg.members[m.id] == m {
			cg.remove(m)
		}
	})
}

func (cg *consumerGroup) revokeDeadlineOrCancel(m *cmember) {
	if len(m.revoking) > 0 {
		cg.revokeDeadline(m)
	} else {
		m.tRebal.stop()
		m.tRebal = nil
	}
}

// revokeDeadline fences m if it has not revoked within its rebalance
// timeout.
func (cg *consumerGroup) revokeDeadline(m *cmember) {
	m.tRebal.stop()
	epoch := m.epoch
	m.tRebal = cg.g.c.after(time.Duration(m.rebalanceTimeoutMs)*time.Millisecond, func() {
		if cg.members[m.id] == m && m.epoch == epoch {
			cg.remove(m)
		}
	})
}

// fence stops m's timers and frees what it owns.
func (cg *consumerGroup) fence(m *cmember) {
	m.t.stop()
	m.tRebal.stop()
	cg.dropOwners(m.assigned, m.id)
	cg.dropOwners(m.revoking, m.id)
}

// updateState derives the group state from its members.
func (cg *consumerGroup) updateState() {
	g := cg.g
	active := 0
	for _, m := range cg.members {
		if m.epoch == -2 {
			continue
		}
		active++
		if m.state != cmStable || m.epoch != cg.assignmentEpoch {
			g.state = groupReconciling
			return
		}
	}
	if active == 0 {
		g.state = groupEmpty
		return
	}
	g.state = groupStable
}

// subscribedTopics resolves each active member's subscription.
func (cg *consumerGroup) subscribedTopics() (perMember map[string]map[string]struct{}, refs map[string]topicRef) {
	lookup := cg.g.c.topics
	perMember = map[string]map[string]struct{}{}
	refs = map[string]topicRef{}
	var all []topicRef
	for id, m := range cg.members {
		if m.epoch == -2 {
			continue
		}
		subs := map[string]struct{}{}
		for _, t := range m.topics {
			if _, ok := refs[t]; !ok {
				if r, ok := lookup.topic(t); ok {
					refs[t] = r
				}
			}
			if _, ok := refs[t]; ok {
				subs[t] = struct{}{}
			}
		}
		if m.regex != nil {
			if all == nil {
				all = lookup.all()
			}
			for _, r := range all {
				if m.regex.MatchString(r.name) {
					subs[r.name] = struct{}{}
					refs[r.name] = r
				}
			}
		}
		perMember[id] = subs
	}
	return perMember, refs
}

func signature(refs map[string]topicRef) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		r := refs[name]
		b.WriteString(name)
		b.Write(r.id[:])
		b.WriteString(string(rune(r.partitions)))
	}
	return b.String()
}

// subscriptionMetadataChanged reports whether a subscribed topic was
// created, deleted or grew partitions since the target was computed.
func (cg *consumerGroup) subscriptionMetadataChanged() bool {
	_, refs := cg.subscribedTopics()
	return signature(refs) != cg.subSig
}

type assignorTP struct {
	topic string
	id    tid
	part  int32
}

// computeTarget runs the assignor over the active members.
func (cg *consumerGroup) computeTarget() {
	subs, refs := cg.subscribedTopics()
	cg.subSig = signature(refs)
	var all []assignorTP
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		r := refs[name]
		for p := int32(0); p < r.partitions; p++ {
			all = append(all, assignorTP{name, r.id, p})
		}
	}
	ids := slices.Collect(maps.Keys(subs))
	if cg.assignor == "range" {
		slices.SortFunc(ids, func(a, b string) int {
			ma, mb := cg.members[a], cg.members[b]
			if (ma.instanceID != "") != (mb.instanceID != "") {
				if ma.instanceID != "" {
					return -1
				}
				return 1
			}
			if ma.instanceID != "" {
				return cmp.Compare(ma.instanceID, mb.instanceID)
			}
			return cmp.Compare(a, b)
		})
	} else {
		slices.Sort(ids)
	}
	cg.assignmentEpoch = cg.epoch
	if len(ids) == 0 {
		return
	}
	if cg.assignor == "range" {
		for _, id := range ids {
			cg.members[id].target = map[tid][]int32{}
		}
		cg.assignRange(all, ids, subs)
	} else {
		cg.assignUniform(all, ids, subs)
	}
	for _, id := range ids {
		for t := range cg.members[id].target {
			slices.Sort(cg.members[id].target[t])
		}
	}
}

// assignUniform is sticky: valid existing targets stay, the excess of
// overloaded members and the unassigned are spread to the least loaded.
func (cg *consumerGroup) assignUniform(all []assignorTP, ids []string, subs map[string]map[string]struct{}) {
	type key struct {
		id   tid
		part int32
	}
	exists := make(map[key]string, len(all))
	for _, tp := range all {
		exists[key{tp.id, tp.part}] = tp.topic
	}
	assigned := map[key]bool{}
	counts := map[string]int{}
	for _, mid := range ids {
		m := cg.members[mid]
		for id, parts := range m.target {
			var kept []int32
			for _, p := range parts {
				k := key{id, p}
				topic, ok := exists[k]
				if !ok || assigned[k] {
					continue
				}
				if _, ok := subs[mid][topic]; !ok {
					continue
				}
				kept = append(kept, p)
				assigned[k] = true
			}
			if len(kept) > 0 {
				m.target[id] = kept
			} else {
				delete(m.target, id)
			}
		}
		for _, parts := range m.target {
			counts[mid] += len(parts)
		}
	}
	minCount, extra := len(all)/len(ids), len(all)%len(ids)
	byLoad := slices.Clone(ids)
	slices.SortStableFunc(byLoad, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	allowed := map[string]int{}
	for i, mid := range byLoad {
		allowed[mid] = minCount + b2i(i < extra)
	}
	for _, mid := range ids {
		m := cg.members[mid]
		excess := counts[mid] - allowed[mid]
		if excess <= 0 {
			continue
		}
		tids := slices.SortedFunc(maps.Keys(m.target), func(a, b tid) int { return bytes.Compare(a[:], b[:]) })
		for _, id := range tids {
			if excess <= 0 {
				break
			}
			parts := m.target[id]
			n := min(excess, len(parts))
			for _, p := range parts[len(parts)-n:] {
				delete(assigned, key{id, p})
			}
			m.target[id] = parts[:len(parts)-n]
			if len(m.target[id]) == 0 {
				delete(m.target, id)
			}
			counts[mid] -= n
			excess -= n
		}
	}
	for _, tp := range all {
		if assigned[key{tp.id, tp.part}] {
			continue
		}
		best, bestCount := "", math.MaxInt
		for _, mid := range ids {
			if _, ok := subs[mid][tp.topic]; ok && counts[mid] < bestCount {
				best, bestCount = mid, counts[mid]
			}
		}
		if best == "" {
			continue
		}
		m := cg.members[best]
		m.target[tp.id] = append(m.target[tp.id], tp.part)
		counts[best]++
	}
}

// assignRange gives each subscribed member a contiguous range of each
// topic's partitions, the first members one more when it does not divide.
func (cg *consumerGroup) assignRange(all []assignorTP, ids []string, subs map[string]map[string]struct{}) {
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].topic == all[i].topic {
			j++
		}
		parts := all[i:j]
		topic := all[i].topic
		i = j
		var ms []string
		for _, mid := range ids {
			if _, ok := subs[mid][topic]; ok {
				ms = append(ms, mid)
			}
		}
		if len(ms) == 0 {
			continue
		}
		quota, extra, next := len(parts)/len(ms), len(parts)%len(ms), 0
		for k, mid := range ms {
			n := quota + b2i(k < extra)
			m := cg.members[mid]
			for _, tp := range parts[next : next+n] {
				m.target[tp.id] = append(m.target[tp.id], tp.part)
			}
			next += n
		}
	}
}

// nextAssignment computes a member's next assignment and pending
// revocations from its target (Kafka's CurrentAssignmentBuilder) and
// advances its epoch unless it must revoke first.
func (cg *consumerGroup) nextAssignment(m *cmember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) (assigned, revoking map[tid][]int32, changed bool) {
	keep := map[tid][]int32{}
	revoke := map[tid][]int32{}
	add := map[tid][]int32{}
	unreleased := false
	for _, id := range unionKeys(m.assigned, m.target) {
		sent, target := m.assigned[id], m.target[id]
		for _, p := range sent {
			if slices.Contains(target, p) {
				keep[id] = append(keep[id], p)
			} else {
				revoke[id] = append(revoke[id], p)
			}
		}
		for _, p := range target {
			if slices.Contains(sent, p) {
				continue
			}
			if o, ok := cg.owner(id, p); !ok || o.member == m.id || slices.Contains(m.revoking[id], p) {
				add[id] = append(add[id], p)
			} else {
				unreleased = true
			}
		}
	}
	allRevoking := copyAssignment(m.revoking)
	for id, parts := range revoke {
		for _, p := range parts {
			if !slices.Contains(allRevoking[id], p) {
				allRevoking[id] = append(allRevoking[id], p)
			}
		}
	}
	switch {
	case len(allRevoking) > 0 && ownsAny(allRevoking, owned):
		m.state = cmUnrevokedPartitions
		assigned, revoking = keep, allRevoking
	case len(add) > 0:
		m.state = cmStable
		if unreleased {
			m.state = cmUnreleasedPartitions
		}
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
		assigned = keep
		for id, parts := range add {
			assigned[id] = append(assigned[id], parts...)
		}
		revoking = map[tid][]int32{}
	default:
		m.state = cmStable
		if unreleased {
			m.state = cmUnreleasedPartitions
		}
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
		assigned, revoking = keep, map[tid][]int32{}
	}
	for id := range assigned {
		slices.Sort(assigned[id])
	}
	changed = !maps.EqualFunc(m.assigned, assigned, slices.Equal) || !maps.EqualFunc(m.revoking, revoking, slices.Equal)
	return assigned, revoking, changed
}

// reconcile moves m toward its target; reports whether what it was told
// changed.
func (cg *consumerGroup) reconcile(m *cmember, subChanged bool, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) bool {
	if owned != nil {
		// Revocations the member confirmed (no longer reported owned).
		reported := topicsToAssignment(owned)
		old := m.revoking
		still := map[tid][]int32{}
		for id, parts := range old {
			for _, p := range parts {
				if slices.Contains(reported[id], p) {
					still[id] = append(still[id], p)
				}
			}
		}
		m.revoking = still
		cg.dropOwners(old, m.id)
		cg.addOwners(m.revoking, m.id, m.epoch)
	}
	if !subChanged && m.state == cmStable && m.epoch == cg.assignmentEpoch {
		return false
	}
	oldAssigned, oldRevoking, oldEpoch := m.assigned, m.revoking, m.epoch
	var assigned, revoking map[tid][]int32
	var changed bool
	switch m.state {
	case cmUnrevokedPartitions:
		if !ownsAny(m.revoking, owned) {
			assigned, revoking, changed = cg.nextAssignment(m, owned)
		}
	default:
		if m.epoch != cg.assignmentEpoch || m.state == cmUnreleasedPartitions || subChanged {
			assigned, revoking, changed = cg.nextAssignment(m, owned)
		}
	}
	if changed {
		m.assigned, m.revoking = assigned, revoking
		cg.stampOwners(m, oldAssigned, oldRevoking)
		m.updateAssignEpochs()
	} else if m.epoch != oldEpoch {
		cg.stampOwners(m, oldAssigned, oldRevoking)
	}
	return changed
}

func (cg *consumerGroup) owner(id tid, p int32) (owner, bool) {
	o, ok := cg.owners[id][p]
	return o, ok
}

// stampOwners replaces m's old ownership with its current.
func (cg *consumerGroup) stampOwners(m *cmember, oldAssigned, oldRevoking map[tid][]int32) {
	cg.dropOwners(oldAssigned, m.id)
	cg.dropOwners(oldRevoking, m.id)
	cg.addOwners(m.assigned, m.id, m.epoch)
	cg.addOwners(m.revoking, m.id, m.epoch)
}

func (cg *consumerGroup) addOwners(a map[tid][]int32, member string, epoch int32) {
	for id, parts := range a {
		pm := cg.owners[id]
		if pm == nil {
			pm = map[int32]owner{}
			cg.owners[id] = pm
		}
		for _, p := range parts {
			if o, ok := pm[p]; ok && o.member != member {
				continue // held by another: never two owners
			}
			pm[p] = owner{member, epoch}
		}
	}
}

func (cg *consumerGroup) dropOwners(a map[tid][]int32, member string) {
	for id, parts := range a {
		pm := cg.owners[id]
		for _, p := range parts {
			if o, ok := pm[p]; ok && o.member == member {
				delete(pm, p)
			}
		}
		if len(pm) == 0 {
			delete(cg.owners, id)
		}
	}
}

func (m *cmember) updateAssignEpochs() {
	next := make(map[tid]map[int32]int32, len(m.assigned))
	for id, parts := range m.assigned {
		next[id] = make(map[int32]int32, len(parts))
		for _, p := range parts {
			if e, ok := m.assignEpochs[id][p]; ok {
				next[id][p] = e
			} else {
				next[id][p] = m.epoch
			}
		}
	}
	m.assignEpochs = next
}

func unionKeys(a, b map[tid][]int32) []tid {
	ks := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(x, y tid) int { return bytes.Compare(x[:], y[:]) })
	return ks
}

func copyAssignment(a map[tid][]int32) map[tid][]int32 {
	out := make(map[tid][]int32, len(a))
	for id, parts := range a {
		out[id] = slices.Clone(parts)
	}
	return out
}

func topicsToAssignment(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) map[tid][]int32 {
	out := make(map[tid][]int32, len(ts))
	for _, t := range ts {
		out[t.TopicID] = append(out[t.TopicID], t.Partitions...)
	}
	return out
}

// ownsAny: whether the member still reports any pending revocation; a
// keepalive (owned nil) is taken as still owning them.
func ownsAny(pending map[tid][]int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) bool {
	if owned == nil {
		return len(pending) > 0
	}
	reported := topicsToAssignment(owned)
	for id, parts := range pending {
		for _, p := range parts {
			if slices.Contains(reported[id], p) {
				return true
			}
		}
	}
	return false
}

func isSubset(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, a map[tid][]int32) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !slices.Contains(a[t.TopicID], p) {
				return false
			}
		}
	}
	return true
}

func makeAssignment(a map[tid][]int32) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	out := new(kmsg.ConsumerGroupHeartbeatResponseAssignment)
	out.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, id := range slices.SortedFunc(maps.Keys(a), func(x, y tid) int { return bytes.Compare(x[:], y[:]) }) {
		if len(a[id]) == 0 {
			continue
		}
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = id, slices.Clone(a[id])
		out.Topics = append(out.Topics, t)
	}
	return out
}

func kmsgAssignment(a map[tid][]int32) kmsg.Assignment {
	var out kmsg.Assignment
	for _, id := range slices.SortedFunc(maps.Keys(a), func(x, y tid) int { return bytes.Compare(x[:], y[:]) }) {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Partitions = id, slices.Clone(a[id])
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}

// validateCommit checks an OffsetCommit against a KIP-848 group with
// KIP-1251's relaxed rule: an epoch up to the member's is accepted, and a
// partition only from the epoch it was assigned at (checked per
// partition by commitEpochOK). mu held.
func (cg *consumerGroup) validateCommit(version int16, memberID string, epoch int32) (*cmember, int16) {
	if cg.activeCount() == 0 && epoch < 0 {
		return nil, 0 // an admin commit
	}
	if version < 9 {
		return nil, kerr.UnsupportedVersion.Code
	}
	m, ok := cg.members[memberID]
	if !ok || memberID == "" {
		return nil, kerr.UnknownMemberID.Code
	}
	if epoch > m.epoch {
		return nil, kerr.StaleMemberEpoch.Code
	}
	cg.sessionSeen(m)
	return m, 0
}

func (m *cmember) commitEpochOK(id tid, p int32, epoch int32) bool {
	if e, ok := m.assignEpochs[id][p]; ok && epoch < e {
		return false
	}
	return true
}

// subscribedTopicNames is every topic an active member subscribes to by
// name or regex (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC).
func (cg *consumerGroup) subscribedTopicNames() map[string]struct{} {
	out := map[string]struct{}{}
	per, _ := cg.subscribedTopics()
	for _, subs := range per {
		maps.Copy(out, subs)
	}
	for _, m := range cg.members {
		for _, t := range m.topics {
			out[t] = struct{}{}
		}
	}
	return out
}

// --- persistence ---

type storedCMember struct {
	Epoch              int32                 `json:"epoch"`
	PrevEpoch          int32                 `json:"prev_epoch"`
	State              int8                  `json:"state"`
	RackID             string                `json:"rack,omitempty"`
	RebalanceTimeoutMs int32                 `json:"rebalance_timeout_ms"`
	Assignor           string                `json:"assignor,omitempty"`
	Topics             []string              `json:"topics,omitempty"`
	Regex              string                `json:"regex,omitempty"`
	Target             map[string][]int32    `json:"target,omitempty"`
	Assigned           map[string][]int32    `json:"assigned,omitempty"`
	Revoking           map[string][]int32    `json:"revoking,omitempty"`
	AssignEpochs       map[string][][2]int32 `json:"assign_epochs,omitempty"`
}

func hexKeys(a map[tid][]int32) map[string][]int32 {
	out := make(map[string][]int32, len(a))
	for id, parts := range a {
		out[hex.EncodeToString(id[:])] = parts
	}
	return out
}

func unhexKeys(a map[string][]int32) map[tid][]int32 {
	out := make(map[tid][]int32, len(a))
	for k, parts := range a {
		var id tid
		if b, err := hex.DecodeString(k); err == nil && len(b) == 16 {
			copy(id[:], b)
			out[id] = parts
		}
	}
	return out
}

// fillMetadata stores the group: Protocol kip848:<assignor>, Generation
// the group epoch, each member's 848 state as JSON in its Metadata.
func (cg *consumerGroup) fillMetadata(md *meta.GroupMetadata) {
	md.ProtocolType = "consumer"
	md.Protocol = kip848Protocol + cg.assignor
	md.Generation = cg.epoch
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		m := cg.members[id]
		sm := storedCMember{
			Epoch: m.epoch, PrevEpoch: m.prevEpoch, State: int8(m.state), RackID: m.rackID,
			RebalanceTimeoutMs: m.rebalanceTimeoutMs, Assignor: m.assignor, Topics: m.topics, Regex: m.regexSrc,
			Target: hexKeys(m.target), Assigned: hexKeys(m.assigned), Revoking: hexKeys(m.revoking),
			AssignEpochs: map[string][][2]int32{},
		}
		for tid, ps := range m.assignEpochs {
			k := hex.EncodeToString(tid[:])
			for p, e := range ps {
				sm.AssignEpochs[k] = append(sm.AssignEpochs[k], [2]int32{p, e})
			}
		}
		b, _ := json.Marshal(sm)
		md.Members = append(md.Members, meta.GroupMember{
			MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			RebalanceTimeoutMs: m.rebalanceTimeoutMs, Metadata: b,
		})
	}
}

// restore rebuilds the group from fillMetadata's form; members get a
// fresh session timer and carry on with their epochs.
func (cg *consumerGroup) restore(md meta.GroupMetadata) {
	g := cg.g
	g.protocolType = "consumer"
	cg.assignor = strings.TrimPrefix(md.Protocol, kip848Protocol)
	cg.epoch = md.Generation
	for _, gm := range md.Members {
		var sm storedCMember
		if err := json.Unmarshal(gm.Metadata, &sm); err != nil {
			g.c.log.Warn("kafka: dropping a stored consumer group member", "group", g.name, "member", gm.MemberID, "err", err)
			continue
		}
		m := &cmember{
			id: gm.MemberID, clientID: gm.ClientID, clientHost: gm.ClientHost, instanceID: gm.InstanceID, rackID: sm.RackID,
			epoch: sm.Epoch, prevEpoch: sm.PrevEpoch, state: cmemberState(sm.State),
			rebalanceTimeoutMs: sm.RebalanceTimeoutMs, assignor: sm.Assignor, topics: sm.Topics, regexSrc: sm.Regex,
			target: unhexKeys(sm.Target), assigned: unhexKeys(sm.Assigned), revoking: unhexKeys(sm.Revoking),
			assignEpochs: map[tid]map[int32]int32{},
		}
		if sm.Regex != "" {
			m.regex, _ = regexp.Compile(sm.Regex)
		}
		for k, pes := range sm.AssignEpochs {
			var id tid
			if b, err := hex.DecodeString(k); err == nil && len(b) == 16 {
				copy(id[:], b)
				m.assignEpochs[id] = map[int32]int32{}
				for _, pe := range pes {
					m.assignEpochs[id][pe[0]] = pe[1]
				}
			}
		}
		cg.members[m.id] = m
		if m.instanceID != "" {
			g.staticMembers[m.instanceID] = m.id
		}
		cg.addOwners(m.assigned, m.id, m.epoch)
		cg.addOwners(m.revoking, m.id, m.epoch)
		cg.sessionSeen(m)
	}
	cg.computeTarget()
	cg.assignmentEpoch = cg.epoch
	cg.updateState()
}
