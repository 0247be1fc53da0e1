package mqtt

import (
	"strings"
	"sync"
)

// retainedSet holds the retained message of each topic in a tree of
// topic levels, so a SUBSCRIBE walks only the branches its filter can
// match. Its lock is a leaf.
type retainedSet struct {
	mu struct {
		sync.RWMutex
		root *rnode
		n    int
	}
}

type rnode struct {
	children map[string]*rnode
	msg      *Message
}

func newRetainedSet() *retainedSet {
	r := &retainedSet{}
	r.mu.root = &rnode{}
	return r
}

func (r *retainedSet) set(m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.mu.root
	for _, l := range strings.Split(m.Topic, "/") {
		c := n.children[l]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*rnode)
			}
			c = &rnode{}
			n.children[l] = c
		}
		n = c
	}
	if n.msg == nil {
		r.mu.n++
	}
	n.msg = m
}

func (r *retainedSet) remove(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	levels := strings.Split(topic, "/")
	path := make([]*rnode, 1, len(levels)+1)
	path[0] = r.mu.root
	for _, l := range levels {
		c := path[len(path)-1].children[l]
		if c == nil {
			return
		}
		path = append(path, c)
	}
	if path[len(path)-1].msg == nil {
		return
	}
	path[len(path)-1].msg = nil
	r.mu.n--
	for i := len(levels) - 1; i >= 0; i-- { // prune empty nodes bottom-up
		if c := path[i+1]; c.msg != nil || len(c.children) > 0 {
			break
		}
		delete(path[i].children, levels[i])
	}
}

func (r *retainedSet) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.mu.n
}

// match returns the retained messages whose topic matches filter (a
// valid filter, without a $share prefix), with the $-topic rule.
func (r *retainedSet) match(filter string) []*Message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Message
	r.walk(r.mu.root, strings.Split(filter, "/"), 0, &out)
	return out
}

func (r *retainedSet) walk(n *rnode, levels []string, i int, out *[]*Message) {
	if i == len(levels) {
		if n.msg != nil {
			*out = append(*out, n.msg)
		}
		return
	}
	switch l := levels[i]; l {
	case "#":
		// "a/#" matches "a" too; at the first level no $ topic.
		if n.msg != nil && i > 0 {
			*out = append(*out, n.msg)
		}
		for name, c := range n.children {
			if i == 0 && strings.HasPrefix(name, "$") {
				continue
			}
			r.all(c, out)
		}
	case "+":
		for name, c := range n.children {
			if i == 0 && strings.HasPrefix(name, "$") {
				continue
			}
			r.walk(c, levels, i+1, out)
		}
	default:
		if c := n.children[l]; c != nil {
			r.walk(c, levels, i+1, out)
		}
	}
}

func (r *retainedSet) all(n *rnode, out *[]*Message) {
	if n.msg != nil {
		*out = append(*out, n.msg)
	}
	for _, c := range n.children {
		r.all(c, out)
	}
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
