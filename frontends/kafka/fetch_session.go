package kafka

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fetchSessions holds incremental fetch sessions (KIP-227), broker-wide
// as in Kafka: a session is named by id, not by connection. The table is
// bounded (Options.MaxFetchSessions); full policy: the least recently
// used session is evicted, and its client gets FETCH_SESSION_ID_NOT_FOUND
// on its next incremental fetch and starts over with a full one.
//
// Lock order: fetchSession.mu, then fetchSessions.mu (a fetch holds its
// session while it may create or drop others; the table lock is never
// held while waiting).
type fetchSessions struct {
	max int
	mu  struct {
		sync.Mutex
		next int32
		m    map[int32]*fetchSession
	}
}

// fetchSession is one client's partition set and what it was last told
// about each partition.
type fetchSession struct {
	id int32
	mu struct {
		sync.Mutex
		// epoch is the epoch the next incremental fetch must carry.
		epoch int32
		parts []*sessionPart
		idx   map[tp]*sessionPart
	}
	lastUsed time.Time // guarded by fetchSessions.mu
}

// sessionPart is a partition of a session: the fetch position the client
// gave last, and the values last sent (an incremental response includes
// the partition only when one of them changed or records are returned).
type sessionPart struct {
	t        tp
	id       [16]byte
	offset   int64
	maxBytes int32

	sent                     bool
	hw, lastStable, logStart int64
	code                     int16
}

func newFetchSessions(max int) *fetchSessions {
	fs := &fetchSessions{max: max}
	fs.mu.m = make(map[int32]*fetchSession)
	return fs
}

// create starts a new session, evicting the least recently used one when
// the table is full. It returns nil when sessions are off (max 0).
func (fs *fetchSessions) create() *fetchSession {
	if fs.max == 0 {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.mu.m) >= fs.max {
		var oldest *fetchSession
		for _, s := range fs.mu.m {
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
		}
		delete(fs.mu.m, oldest.id)
	}
	for {
		fs.mu.next++
		if fs.mu.next <= 0 {
			fs.mu.next = 1
		}
		if _, taken := fs.mu.m[fs.mu.next]; !taken {
			break
		}
	}
	s := &fetchSession{id: fs.mu.next, lastUsed: time.Now()}
	s.mu.epoch = 1
	s.mu.idx = make(map[tp]*sessionPart)
	fs.mu.m[s.id] = s
	return s
}

// get returns session id, marking it used, or nil.
func (fs *fetchSessions) get(id int32) *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.mu.m[id]
	if s != nil {
		s.lastUsed = time.Now()
	}
	return s
}

// remove drops session id (a client closing or restarting its session).
func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	delete(fs.mu.m, id)
	fs.mu.Unlock()
}

// len is the number of live sessions.
func (fs *fetchSessions) len() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.mu.m)
}

// resolve applies a request's session id and epoch: it returns the
// session to use (nil = sessionless full fetch), whether the fetch is
// incremental, and an error code for the whole response. A returned
// session is locked; the caller unlocks it.
func (fs *fetchSessions) resolve(id, epoch int32) (s *fetchSession, incremental bool, code int16) {
	switch {
	case epoch == -1: // full fetch, no session; close id if given
		if id != 0 {
			fs.remove(id)
		}
		return nil, false, 0
	case epoch == 0: // full fetch that starts a new session
		if id != 0 {
			fs.remove(id)
		}
		s = fs.create()
		if s != nil {
			s.mu.Lock()
		}
		return s, false, 0
	}
	s = fs.get(id)
	if s == nil {
		return nil, false, kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	if s.mu.epoch != epoch {
		s.mu.Unlock()
		return nil, false, kerr.InvalidFetchSessionEpoch.Code
	}
	return s, true, 0
}

// set adds or updates a partition of the session.
func (s *fetchSession) set(t tp, id [16]byte, offset int64, maxBytes int32) {
	if p := s.mu.idx[t]; p != nil {
		p.offset, p.maxBytes, p.id = offset, maxBytes, id
		return
	}
	p := &sessionPart{t: t, id: id, offset: offset, maxBytes: maxBytes}
	s.mu.parts = append(s.mu.parts, p)
	s.mu.idx[t] = p
}

// forget drops a partition from the session.
func (s *fetchSession) forget(t tp) {
	p := s.mu.idx[t]
	if p == nil {
		return
	}
	delete(s.mu.idx, t)
	for i, q := range s.mu.parts {
		if q == p {
			s.mu.parts = append(s.mu.parts[:i], s.mu.parts[i+1:]...)
			break
		}
	}
}

// forgetTopicID drops every partition of a topic named by id (v13+).
func (s *fetchSession) forgetTopicID(id [16]byte, partitions []int32) {
	for _, p := range append([]*sessionPart(nil), s.mu.parts...) {
		if p.id == id {
			for _, n := range partitions {
				if n == p.t.partition {
					s.forget(p.t)
				}
			}
		}
	}
}

// rotate moves the partitions that just returned records to the end of
// the session's order, keeping the order within each group, so that when
// max_bytes cuts a response short the partitions left out are read first
// next time (Kafka does the same; a client cannot reorder a session).
func (s *fetchSession) rotate(withData map[*sessionPart]bool) {
	parts := make([]*sessionPart, 0, len(s.mu.parts))
	for _, p := range s.mu.parts {
		if !withData[p] {
			parts = append(parts, p)
		}
	}
	for _, p := range s.mu.parts {
		if withData[p] {
			parts = append(parts, p)
		}
	}
	s.mu.parts = parts
}
