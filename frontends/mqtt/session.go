package mqtt

import (
	"sync"
	"sync/atomic"
	"time"
)

// neverExpires is the session expiry interval that never ends.
const neverExpires = 0xFFFFFFFF

// outMsg is one message owed to one session.
type outMsg struct {
	msg    *Message
	qos    byte
	retain bool
	subIDs []uint32
	// id is the packet id while in flight (QoS 1/2); released is set
	// when PUBREC came and PUBREL was sent.
	id       uint16
	released bool
	// group is the share group it came through ("" = not shared); it is
	// handed to another member if this client goes away without
	// acknowledging it.
	group *shareGroup
	// seq is its place in the session queue, given when it is queued
	// (StoredQueued.Seq, for a SessionQueueStore).
	seq uint64
}

// stored is om as a SessionQueueStore keeps it.
func (om *outMsg) stored() StoredQueued {
	return StoredQueued{Seq: om.seq, QoS: om.qos, Retain: om.retain, SubIDs: om.subIDs, Msg: om.msg}
}

// session is the state of one client id: it outlives connections until
// it expires. Its lock protects everything under mu; lock order:
// Server.mu before session.mu; session.mu before outq.mu and topicTree.mu
// (both leaves). Two session locks are never held together.
type session struct {
	srv *Server
	id  string
	// serial orders sessions (publish groups a topic's matches by it).
	serial uint64

	// storeMu orders this session's SessionStore writes (Put, Delete):
	// a Put after the session ended is skipped, and the Delete of an
	// ended session comes after any Put that started before it ended.
	// Lock order: storeMu before mu.
	storeMu sync.Mutex

	mu struct {
		sync.Mutex
		conn    *conn // nil while offline
		version byte
		subs    map[string]*subscriber // by the filter as written
		expiry  uint32
		// inflight are QoS 1/2 messages sent, in send order; queue waits
		// for room in the window or for the client.
		inflight []*outMsg
		queue    []*outMsg
		nextID   uint16
		inQoS2   map[uint16]struct{}
		// qseq is the last outMsg.seq given (StoredSession.LastSeq).
		qseq uint64
		// will waits here from CONNECT until a normal DISCONNECT, or, after
		// an abnormal one, until the will delay passes.
		will           *Message
		willDelay      uint32
		willTimer      *time.Timer
		expiryTimer    *time.Timer
		disconnectedAt time.Time
		ended          bool
	}
}

func newSession(s *Server, id string) *session {
	ss := &session{srv: s, id: id, serial: sessionSerial.Add(1)}
	ss.mu.subs = make(map[string]*subscriber)
	ss.mu.inQoS2 = make(map[uint16]struct{})
	// Queue sequence numbers start at the clock, so a new incarnation of a
	// client id never reuses one its ended predecessor may have left in a
	// SessionQueueStore (restoreSession sets the stored one instead).
	ss.mu.qseq = uint64(max(s.now().UnixNano(), 0))
	return ss
}

// sessionSerial numbers sessions.
var sessionSerial atomic.Uint64

func (ss *session) online() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.mu.conn != nil
}

// deliver queues om for the client: QoS 0 straight to the connection
// (dropped when offline or when the connection's queue is full), QoS 1/2
// into the in-flight window or the bounded queue (full: drop oldest).
//
// Persistence hook: when om was queued for an offline persistent session,
// deliver returns the change a SessionQueueStore must make durable before
// the publisher is acknowledged (the caller passes it to storeQueued,
// with no lock held); otherwise nil.
func (ss *session) deliver(om *outMsg) *QueuedChange {
	s := ss.srv
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.mu.ended {
		return nil
	}
	c := ss.mu.conn
	if om.qos == 0 {
		if c == nil {
			s.stats.droppedOffline.Add(1)
			return nil
		}
		if !c.out.pushMsg(om, false) {
			s.stats.droppedQoS0.Add(1)
		}
		return nil
	}
	if c != nil && len(ss.mu.queue) == 0 && len(ss.mu.inflight) < c.window {
		ss.sendLocked(c, om)
		return nil
	}
	var dropped uint64
	if len(ss.mu.queue) >= s.opts.MaxQueuedMessages {
		dropped = ss.mu.queue[0].seq
		ss.mu.queue[0] = nil
		ss.mu.queue = ss.mu.queue[1:]
		s.stats.droppedQueue.Add(1)
	}
	ss.mu.qseq++
	om.seq = ss.mu.qseq
	ss.mu.queue = append(ss.mu.queue, om)
	if c != nil || ss.mu.expiry == 0 {
		return nil
	}
	return &QueuedChange{ClientID: ss.id, Queued: om.stored(), Dropped: dropped}
}

// storeQueued makes the changes durable when the SessionStore keeps
// queues per message (SessionQueueStore), and returns when they are:
// publish calls it before returning, so before PUBACK / PUBREC.
func (s *Server) storeQueued(changes []*QueuedChange) {
	if len(changes) == 0 {
		return
	}
	qs, ok := s.opts.Sessions.(SessionQueueStore)
	if !ok {
		return
	}
	flat := make([]QueuedChange, len(changes))
	for i, ch := range changes {
		flat[i] = *ch
	}
	if err := qs.Enqueue(flat); err != nil {
		s.log.Warn("mqtt: session store enqueue", "sessions", len(flat), "err", err)
	}
}

// sendLocked gives om a packet id, puts it in flight and queues it on c.
func (ss *session) sendLocked(c *conn, om *outMsg) {
	om.id = ss.nextIDLocked()
	om.released = false
	ss.mu.inflight = append(ss.mu.inflight, om)
	c.out.pushMsg(om, false)
}

// nextIDLocked returns a packet id not in flight.
func (ss *session) nextIDLocked() uint16 {
	for {
		ss.mu.nextID++
		if ss.mu.nextID == 0 {
			ss.mu.nextID = 1
		}
		inUse := false
		for _, om := range ss.mu.inflight {
			if om.id == ss.mu.nextID {
				inUse = true
				break
			}
		}
		if !inUse {
			return ss.mu.nextID
		}
	}
}

// pumpLocked moves queued messages into the window.
func (ss *session) pumpLocked() {
	c := ss.mu.conn
	if c == nil {
		return
	}
	now := ss.srv.now()
	for len(ss.mu.queue) > 0 && len(ss.mu.inflight) < c.window {
		om := ss.mu.queue[0]
		ss.mu.queue[0] = nil
		ss.mu.queue = ss.mu.queue[1:]
		if om.msg.Expired(now) {
			ss.srv.stats.droppedOther.Add(1)
			continue
		}
		ss.sendLocked(c, om)
	}
}

// complete removes packet id from the window (PUBACK, PUBCOMP, a PUBREC
// with an error, or a message the writer dropped) and refills it. It
// reports whether the id was in flight.
func (ss *session) complete(id uint16) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i, om := range ss.mu.inflight {
		if om.id == id {
			ss.mu.inflight = append(ss.mu.inflight[:i], ss.mu.inflight[i+1:]...)
			ss.pumpLocked()
			return true
		}
	}
	return false
}

// release marks a QoS 2 message released (PUBREC received); it reports
// whether the id was in flight.
func (ss *session) release(id uint16) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, om := range ss.mu.inflight {
		if om.id == id && om.qos == 2 {
			om.released = true
			return true
		}
	}
	return false
}

// attach binds connection c to the session of clientID (creating it, or
// replacing it on clean start), queues CONNACK (built by connack with
// session present) before anything else can be queued on c, then
// redelivers what is in flight with DUP and refills the window.
func (s *Server) attach(c *conn, clientID string, clean bool, expiry uint32, will *Message, willDelay uint32, connack func(present bool)) *session {
	for {
		s.mu.Lock()
		ss := s.mu.sessions[clientID]
		if ss != nil && ss.isEnded() {
			// Its endSession is deleting it from the store and then from
			// the map: a new session of this id must not start before that,
			// or the Delete could take the new session's stored state.
			s.mu.Unlock()
			time.Sleep(time.Millisecond)
			continue
		}
		var ended *session
		if ss != nil && clean {
			ended, ss = ss, nil
			delete(s.mu.sessions, clientID)
		}
		present := ss != nil
		if ss == nil {
			ss = newSession(s, clientID)
			s.mu.sessions[clientID] = ss
		}
		s.mu.Unlock()
		if ended != nil {
			if old := s.endSession(ended, false); old != nil {
				old.kick(SessionTakenOver, "session taken over")
			}
		}

		ss.mu.Lock()
		if ss.mu.ended {
			ss.mu.Unlock()
			time.Sleep(time.Millisecond)
			continue // expired under us: start again
		}
		old := ss.mu.conn
		var oldWill *Message
		if old != nil && ss.mu.will != nil && ss.mu.willDelay == 0 {
			oldWill = ss.mu.will
		}
		ss.stopTimersLocked()
		ss.mu.conn = c
		ss.mu.version = c.version
		ss.mu.expiry = expiry
		ss.mu.will, ss.mu.willDelay = will, willDelay
		ss.mu.disconnectedAt = time.Time{}
		c.sess = ss
		connack(present)
		for _, om := range ss.mu.inflight {
			if om.released {
				c.out.pushCtrl(&Ack{Kind: PUBREL, PacketID: om.id}, true)
			} else {
				c.out.pushMsg(om, true)
			}
		}
		ss.pumpLocked()
		ss.mu.Unlock()
		if old != nil {
			old.kick(SessionTakenOver, "session taken over")
		}
		if oldWill != nil {
			s.publishWill(oldWill)
		}
		return ss
	}
}

// detach unbinds c (if it is still the session's connection). abnormal
// publishes the will (now, or after its delay); the session then ends
// (expiry 0) or waits for its expiry.
func (ss *session) detach(c *conn, abnormal bool) {
	s := ss.srv
	ss.mu.Lock()
	if ss.mu.conn != c || ss.mu.ended {
		ss.mu.Unlock()
		return
	}
	ss.mu.conn = nil
	now := s.now()
	ss.mu.disconnectedAt = now
	var will *Message
	if abnormal && ss.mu.will != nil {
		if ss.mu.willDelay > 0 && ss.mu.expiry > 0 {
			d := min(ss.mu.willDelay, ss.mu.expiry)
			ss.mu.willTimer = time.AfterFunc(time.Duration(d)*time.Second, ss.willDue)
		} else {
			will = ss.mu.will
			ss.mu.will = nil
		}
	} else {
		ss.mu.will = nil
	}
	handoff := ss.takeSharedLocked()
	expiry := ss.mu.expiry
	var snap *StoredSession
	if expiry > 0 {
		ss.startExpiryLocked(now)
		snap = ss.snapshotLocked()
	}
	ss.mu.Unlock()

	s.handOff(handoff, ss)
	if will != nil {
		s.publishWill(will)
	}
	if expiry == 0 {
		s.endSession(ss, true) // unless the client came back meanwhile
	} else {
		ss.put(snap)
	}
}

func (ss *session) isEnded() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.mu.ended
}

// put writes snap to the SessionStore unless the session has ended
// (its Delete wins over a snapshot taken before the end).
func (ss *session) put(snap *StoredSession) {
	ss.storeMu.Lock()
	defer ss.storeMu.Unlock()
	if ss.isEnded() {
		return
	}
	if err := ss.srv.opts.Sessions.Put(snap); err != nil {
		ss.srv.log.Warn("mqtt: session store put", "client", ss.id, "err", err)
	}
}

// takeSharedLocked removes the messages that came through a share group
// and are not acknowledged (in flight and not released, or queued).
func (ss *session) takeSharedLocked() []*outMsg {
	var out []*outMsg
	keep := ss.mu.inflight[:0]
	for _, om := range ss.mu.inflight {
		if om.group != nil && !om.released {
			out = append(out, om)
		} else {
			keep = append(keep, om)
		}
	}
	ss.mu.inflight = keep
	q := ss.mu.queue[:0]
	for _, om := range ss.mu.queue {
		if om.group != nil {
			out = append(out, om)
		} else {
			q = append(q, om)
		}
	}
	ss.mu.queue = q
	return out
}

// handOff gives each message to another member of its share group; a
// message with no other member goes back to from's queue.
func (s *Server) handOff(msgs []*outMsg, from *session) {
	var stored []*QueuedChange // for the SessionQueueStore (deliver's hook)
	for _, om := range msgs {
		sub := s.tree.pick(om.group, from.id)
		if sub == nil {
			back := &outMsg{msg: om.msg, qos: om.qos, retain: om.retain, subIDs: om.subIDs, group: om.group}
			from.mu.Lock()
			from.mu.qseq++
			back.seq = from.mu.qseq
			from.mu.queue = append(from.mu.queue, back)
			if from.mu.conn == nil && from.mu.expiry > 0 && !from.mu.ended {
				stored = append(stored, &QueuedChange{ClientID: from.id, Queued: back.stored()})
			}
			from.mu.Unlock()
			continue
		}
		var ids []uint32
		if sub.id != 0 {
			ids = []uint32{sub.id}
		}
		if ch := sub.sess.deliver(&outMsg{msg: om.msg, qos: min(om.msg.QoS, sub.opts.QoS), retain: om.retain, subIDs: ids, group: om.group}); ch != nil {
			stored = append(stored, ch)
		}
	}
	s.storeQueued(stored)
}

// willDue publishes a delayed will.
func (ss *session) willDue() {
	s := ss.srv
	if !s.beginWork() {
		return
	}
	defer s.wg.Done()
	ss.mu.Lock()
	will := ss.mu.will
	if ss.mu.conn != nil || ss.mu.ended {
		will = nil
	}
	ss.mu.will = nil
	ss.mu.Unlock()
	if will != nil {
		s.publishWill(will)
	}
}

// startExpiryLocked arms the expiry timer of an offline session.
func (ss *session) startExpiryLocked(now time.Time) {
	if ss.mu.expiry == neverExpires {
		return
	}
	left := time.Duration(ss.mu.expiry)*time.Second - now.Sub(ss.mu.disconnectedAt)
	if ss.mu.expiryTimer != nil {
		ss.mu.expiryTimer.Stop()
	}
	ss.mu.expiryTimer = time.AfterFunc(max(left, 0), ss.expire)
}

func (ss *session) expire() {
	s := ss.srv
	if !s.beginWork() {
		return
	}
	defer s.wg.Done()
	s.endSession(ss, true) // unless the client is back
}

func (ss *session) stopTimersLocked() {
	if ss.mu.willTimer != nil {
		ss.mu.willTimer.Stop()
		ss.mu.willTimer = nil
	}
	if ss.mu.expiryTimer != nil {
		ss.mu.expiryTimer.Stop()
		ss.mu.expiryTimer = nil
	}
}

func (ss *session) stopTimers() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.stopTimersLocked()
}

// endSession removes ss: its subscriptions, its stored state, and
// publishes its pending will. ifOffline ends it only if no connection is
// attached (expiry, and a disconnect with expiry 0: a client that came
// back meanwhile keeps it). It returns the connection that was still
// attached, for the caller to close. The session leaves the server's map
// only after the store's Delete (attach waits for that).
func (s *Server) endSession(ss *session, ifOffline bool) *conn {
	ss.mu.Lock()
	if ss.mu.ended || ifOffline && ss.mu.conn != nil {
		ss.mu.Unlock()
		return nil
	}
	ss.mu.ended = true
	ss.stopTimersLocked()
	subs := ss.mu.subs
	ss.mu.subs = nil
	will := ss.mu.will
	ss.mu.will = nil
	c := ss.mu.conn
	ss.mu.conn = nil
	ss.mu.inflight, ss.mu.queue = nil, nil
	ss.mu.Unlock()
	for f := range subs {
		group, filter, _ := parseShare(f)
		s.tree.remove(filter, group, ss.id)
	}
	ss.storeMu.Lock()
	if err := s.opts.Sessions.Delete(ss.id); err != nil {
		s.log.Warn("mqtt: session store delete", "client", ss.id, "err", err)
	}
	ss.storeMu.Unlock()
	s.mu.Lock()
	if s.mu.sessions[ss.id] == ss {
		delete(s.mu.sessions, ss.id)
	}
	s.mu.Unlock()
	if will != nil {
		s.publishWill(will)
	}
	return c
}

// snapshotLocked copies the persistent state for the SessionStore.
func (ss *session) snapshotLocked() *StoredSession {
	st := &StoredSession{ClientID: ss.id, Version: ss.mu.version, ExpiryInterval: ss.mu.expiry, DisconnectedAt: ss.mu.disconnectedAt, LastSeq: ss.mu.qseq}
	for _, sub := range ss.mu.subs {
		st.Subscriptions = append(st.Subscriptions, StoredSubscription{Subscription: sub.opts, ID: sub.id})
	}
	for _, om := range ss.mu.inflight {
		st.Inflight = append(st.Inflight, StoredInflight{PacketID: om.id, QoS: om.qos, Released: om.released, Retain: om.retain, SubIDs: om.subIDs, Msg: om.msg})
	}
	for _, om := range ss.mu.queue {
		st.Queued = append(st.Queued, om.stored())
	}
	for id := range ss.mu.inQoS2 {
		st.InboundQoS2 = append(st.InboundQoS2, id)
	}
	return st
}

// putStore stores the session's state now (after a subscription change).
func (ss *session) putStore() {
	ss.mu.Lock()
	if ss.mu.expiry == 0 || ss.mu.ended {
		ss.mu.Unlock()
		return
	}
	snap := ss.snapshotLocked()
	ss.mu.Unlock()
	ss.put(snap)
}

// restoreSession rebuilds an offline session from the store.
func restoreSession(s *Server, st *StoredSession) *session {
	ss := newSession(s, st.ClientID)
	ss.mu.version = st.Version
	ss.mu.expiry = st.ExpiryInterval
	ss.mu.disconnectedAt = st.DisconnectedAt
	if ss.mu.disconnectedAt.IsZero() {
		ss.mu.disconnectedAt = s.now()
	}
	for _, sub := range st.Subscriptions {
		group, filter, err := parseShare(sub.Filter)
		if err != nil {
			continue
		}
		sb := &subscriber{sess: ss, opts: sub.Subscription, id: sub.ID}
		ss.mu.subs[sub.Filter] = sb
		s.tree.add(filter, group, sb)
	}
	for _, in := range st.Inflight {
		ss.mu.inflight = append(ss.mu.inflight, &outMsg{msg: in.Msg, qos: in.QoS, retain: in.Retain, subIDs: in.SubIDs, id: in.PacketID, released: in.Released})
		ss.mu.nextID = max(ss.mu.nextID, in.PacketID)
	}
	ss.mu.qseq = st.LastSeq
	for _, q := range st.Queued {
		ss.mu.queue = append(ss.mu.queue, &outMsg{msg: q.Msg, qos: q.QoS, retain: q.Retain, subIDs: q.SubIDs, seq: q.Seq})
		ss.mu.qseq = max(ss.mu.qseq, q.Seq)
	}
	for _, id := range st.InboundQoS2 {
		ss.mu.inQoS2[id] = struct{}{}
	}
	return ss
}

// beginWork counts a piece of background work (a timer firing) in wg,
// unless the server is closed.
func (s *Server) beginWork() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return false
	}
	s.wg.Add(1)
	return true
}
