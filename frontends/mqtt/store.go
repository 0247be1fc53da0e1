package mqtt

import (
	"sort"
	"sync"
	"time"
)

// This file holds the persistence seams: where sessions and retained
// messages are kept beyond the broker's memory. The in-memory
// implementations here are the defaults; the persistence work replaces
// them with durable ones (lite engine / pebble, meta) through
// Options.Sessions and Options.Retained, and the broker reloads both on
// start (Server.NewServer calls All on each).

// StoredSession is the persistent part of a session: what must survive
// the client's disconnection (and, with a durable SessionStore, a broker
// restart) until the session expires.
type StoredSession struct {
	ClientID string
	Version  byte
	// ExpiryInterval in seconds; 0xFFFFFFFF never expires.
	ExpiryInterval uint32
	// DisconnectedAt is when the client went away (zero while connected).
	DisconnectedAt time.Time
	// Subscriptions by filter as the client wrote it ($share/... too).
	Subscriptions []StoredSubscription
	// Inflight are outbound QoS 1/2 messages sent and not yet completed,
	// oldest first; Queued are messages waiting for the in-flight window
	// or for the client to come back, oldest first.
	Inflight []StoredInflight
	Queued   []StoredQueued
	// InboundQoS2 are packet ids of QoS 2 publishes received (PUBREC
	// sent) whose PUBREL has not come yet.
	InboundQoS2 []uint16
	// LastSeq is the last queue sequence number the session had given
	// out (StoredQueued.Seq) when this snapshot was taken: a
	// SessionQueueStore keeps stored queue entries above it (queued
	// after the snapshot) and drops those at or below it that are not in
	// Queued.
	LastSeq uint64
}

// StoredSubscription is one subscription of a session.
type StoredSubscription struct {
	Subscription
	// ID is the 5.0 subscription identifier (0 = none).
	ID uint32
}

// StoredInflight is one outbound message in flight.
type StoredInflight struct {
	PacketID uint16
	QoS      byte
	// Released: PUBREC came and PUBREL was sent; only PUBCOMP is awaited.
	Released bool
	Retain   bool
	SubIDs   []uint32
	Msg      *Message
}

// StoredQueued is one outbound message waiting to be sent.
type StoredQueued struct {
	// Seq is the message's place in its session's queue: given when it
	// is queued, increasing in queue order, never reused by the session.
	Seq    uint64
	QoS    byte
	Retain bool
	SubIDs []uint32
	Msg    *Message
}

// SessionStore keeps sessions. The broker calls Put with the whole state
// when a session's subscriptions change and when its client disconnects
// (so a durable store holds what the session owes at that point), Delete
// when the session ends (clean start, expiry, takeover with clean start),
// and All once at start, to rebuild sessions and subscriptions.
//
// Calls come from connection goroutines and timers, concurrently for
// different client ids, never concurrently for one id. Errors are logged
// and counted; the in-memory session goes on.
type SessionStore interface {
	Put(s *StoredSession) error
	Delete(clientID string) error
	All() ([]*StoredSession, error)
}

// SessionQueueStore is an optional extension of SessionStore for stores
// that keep an offline session's queue one message at a time, so that a
// QoS 1/2 message queued for an offline persistent session is durable
// before the publisher gets PUBACK / PUBREC (Put alone runs only at
// subscription changes, disconnects and shutdown). Server.publish calls
// Enqueue once per published message, with a change for every offline
// persistent session it was queued for, and waits for it (it runs on the
// publisher's read goroutine before the ack; for Inject, before Inject
// returns). Enqueue may run concurrently with Put and Delete for the
// same client id: Seq and StoredSession.LastSeq order them.
type SessionQueueStore interface {
	SessionStore
	Enqueue(changes []QueuedChange) error
}

// QueuedChange is one message appended to an offline session's queue,
// and the one the queue bound dropped to make room for it.
type QueuedChange struct {
	ClientID string
	Queued   StoredQueued
	// Dropped is the Seq of the oldest message, dropped because the
	// queue was full (Options.MaxQueuedMessages); 0: none.
	Dropped uint64
}

// RetainedStore keeps retained messages, one per topic. Set replaces;
// Delete removes (an empty retained payload); All is called once at start.
type RetainedStore interface {
	Set(msg *Message) error
	Delete(topic string) error
	All() ([]*Message, error)
}

// MemorySessionStore is a SessionStore in memory (lost on restart).
type MemorySessionStore struct {
	mu struct {
		sync.Mutex
		m map[string]*StoredSession
	}
}

// NewMemorySessionStore returns an empty MemorySessionStore.
func NewMemorySessionStore() *MemorySessionStore {
	s := &MemorySessionStore{}
	s.mu.m = make(map[string]*StoredSession)
	return s
}

// Put stores s (the pointer is kept; the broker hands over a fresh one).
func (s *MemorySessionStore) Put(ss *StoredSession) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.m[ss.ClientID] = ss
	return nil
}

// Delete forgets clientID.
func (s *MemorySessionStore) Delete(clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.m, clientID)
	return nil
}

// All returns the stored sessions by client id.
func (s *MemorySessionStore) All() ([]*StoredSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*StoredSession, 0, len(s.mu.m))
	for _, v := range s.mu.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out, nil
}

// MemoryRetainedStore is a RetainedStore in memory.
type MemoryRetainedStore struct {
	mu struct {
		sync.Mutex
		m map[string]*Message
	}
}

// NewMemoryRetainedStore returns an empty MemoryRetainedStore.
func NewMemoryRetainedStore() *MemoryRetainedStore {
	s := &MemoryRetainedStore{}
	s.mu.m = make(map[string]*Message)
	return s
}

// Set stores msg under its topic.
func (s *MemoryRetainedStore) Set(msg *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.m[msg.Topic] = msg
	return nil
}

// Delete removes topic's retained message.
func (s *MemoryRetainedStore) Delete(topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.m, topic)
	return nil
}

// All returns the retained messages by topic.
func (s *MemoryRetainedStore) All() ([]*Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Message, 0, len(s.mu.m))
	for _, v := range s.mu.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out, nil
}
