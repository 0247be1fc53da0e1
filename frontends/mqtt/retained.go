package mqtt

import "sync"

// retainedSet holds the retained message of each topic. Its lock is a
// leaf. Lookup by filter walks every topic: fine for thousands of
// retained topics; a tree is the next step when that shows up.
type retainedSet struct {
	mu struct {
		sync.RWMutex
		m map[string]*Message
	}
}

func newRetainedSet() *retainedSet {
	r := &retainedSet{}
	r.mu.m = make(map[string]*Message)
	return r
}

func (r *retainedSet) set(m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.m[m.Topic] = m
}

func (r *retainedSet) remove(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mu.m, topic)
}

func (r *retainedSet) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.mu.m)
}

// match returns the retained messages whose topic matches filter.
func (r *retainedSet) match(filter string) []*Message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Message
	for t, m := range r.mu.m {
		if matchFilter(filter, t) {
			out = append(out, m)
		}
	}
	return out
}

// retain applies a retained publish: an empty payload clears the topic,
// anything else replaces it; the RetainedStore follows.
func (s *Server) retain(m *Message) {
	if len(m.Payload) == 0 {
		s.retained.remove(m.Topic)
		if err := s.opts.Retained.Delete(m.Topic); err != nil {
			s.log.Warn("mqtt: retained store delete", "topic", m.Topic, "err", err)
		}
		return
	}
	s.retained.set(m)
	if err := s.opts.Retained.Set(m); err != nil {
		s.log.Warn("mqtt: retained store set", "topic", m.Topic, "err", err)
	}
}
