package mqtt

import (
	"strings"
	"sync"
)

// validTopicName checks a PUBLISH topic name: non-empty, no wildcards
// ([MQTT-3.3.2-2]), at most 65535 bytes of valid UTF-8.
func validTopicName(t string) error {
	if t == "" || len(t) > 65535 || strings.ContainsAny(t, "+#") || !validUTF8([]byte(t)) {
		return TopicNameInvalid
	}
	return nil
}

// validTopicFilter checks a topic filter: non-empty, '#' only as the
// whole last level, '+' only as a whole level ([MQTT-4.7.1-1..3]).
func validTopicFilter(f string) error {
	if f == "" || len(f) > 65535 || !validUTF8([]byte(f)) {
		return TopicFilterInvalid
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return TopicFilterInvalid
		}
		if strings.Contains(l, "+") && l != "+" {
			return TopicFilterInvalid
		}
	}
	return nil
}

const sharePrefix = "$share/"

// parseShare splits "$share/<group>/<filter>"; ok=false when f is not a
// shared subscription. A malformed one is TopicFilterInvalid.
func parseShare(f string) (group, filter string, err error) {
	if !strings.HasPrefix(f, sharePrefix) {
		return "", f, nil
	}
	rest := f[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", "", TopicFilterInvalid // [MQTT-4.8.2-1], [MQTT-4.8.2-2]
	}
	group, filter = rest[:i], rest[i+1:]
	if strings.ContainsAny(group, "+#") {
		return "", "", TopicFilterInvalid
	}
	if err := validTopicFilter(filter); err != nil {
		return "", "", err
	}
	return group, filter, nil
}

// matchFilter reports whether topic name t matches filter f, with the
// $-topic rule: a filter starting with a wildcard does not match a topic
// starting with '$' ([MQTT-4.7.2-1]).
func matchFilter(f, t string) bool {
	if strings.HasPrefix(t, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(t, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore && !tmore {
			return true
		}
		if !fmore {
			return false
		}
		if !tmore {
			// "a/#" matches "a": the rest of the filter must be exactly "#".
			return frest == "#"
		}
		f, t = frest, trest
	}
}

// subscriber is one session's subscription on a tree node.
type subscriber struct {
	sess *session
	opts Subscription // Filter is the filter as written ($share/... too)
	id   uint32       // subscription identifier, 0 = none
}

// shareGroup is the members of one $share/<group>/<filter>.
type shareGroup struct {
	name    string
	members map[string]*subscriber // by client id
	next    int                    // round robin cursor
}

type node struct {
	children map[string]*node
	subs     map[string]*subscriber // by client id
	shared   map[string]*shareGroup // by group name
}

func newNode() *node { return &node{children: make(map[string]*node)} }

// topicTree holds every subscription. Its lock is a leaf: nothing else is
// locked while it is held, and match copies what it found.
type topicTree struct {
	mu struct {
		sync.RWMutex
		root *node
		n    int
	}
}

func newTopicTree() *topicTree {
	t := &topicTree{}
	t.mu.root = newNode()
	return t
}

func (t *topicTree) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.mu.n
}

// add subscribes sub (filter without the share prefix) for group ("" =
// not shared); it replaces the session's previous one on that filter.
func (t *topicTree) add(filter, group string, sub *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.mu.root
	for _, l := range strings.Split(filter, "/") {
		c := n.children[l]
		if c == nil {
			c = newNode()
			n.children[l] = c
		}
		n = c
	}
	id := sub.sess.id
	if group == "" {
		if n.subs == nil {
			n.subs = make(map[string]*subscriber)
		}
		if _, ok := n.subs[id]; !ok {
			t.mu.n++
		}
		n.subs[id] = sub
		return
	}
	if n.shared == nil {
		n.shared = make(map[string]*shareGroup)
	}
	g := n.shared[group]
	if g == nil {
		g = &shareGroup{name: group, members: make(map[string]*subscriber)}
		n.shared[group] = g
	}
	if _, ok := g.members[id]; !ok {
		t.mu.n++
	}
	g.members[id] = sub
}

// remove drops clientID's subscription; it reports whether one existed.
func (t *topicTree) remove(filter, group, clientID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	levels := strings.Split(filter, "/")
	path := make([]*node, 0, len(levels)+1)
	n := t.mu.root
	path = append(path, n)
	for _, l := range levels {
		n = n.children[l]
		if n == nil {
			return false
		}
		path = append(path, n)
	}
	found := false
	if group == "" {
		if _, ok := n.subs[clientID]; ok {
			delete(n.subs, clientID)
			found = true
		}
	} else if g := n.shared[group]; g != nil {
		if _, ok := g.members[clientID]; ok {
			delete(g.members, clientID)
			found = true
			if len(g.members) == 0 {
				delete(n.shared, group)
			}
		}
	}
	if found {
		t.mu.n--
	}
	// Prune empty nodes bottom-up.
	for i := len(levels) - 1; i >= 0; i-- {
		c := path[i+1]
		if len(c.children) > 0 || len(c.subs) > 0 || len(c.shared) > 0 {
			break
		}
		delete(path[i].children, levels[i])
	}
	return found
}

// match is one topic's subscribers: plain subscriptions (one entry per
// matching subscription; a session may appear more than once) and, per
// matching share group, its members.
type match struct {
	subs   []*subscriber
	groups []sharedMatch
}

type sharedMatch struct {
	group *shareGroup
}

// match collects the subscribers of topic name topic.
func (t *topicTree) match(topic string) match {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var m match
	levels := strings.Split(topic, "/")
	dollar := strings.HasPrefix(topic, "$")
	t.walk(t.mu.root, levels, 0, dollar, &m)
	return m
}

func (t *topicTree) walk(n *node, levels []string, i int, dollar bool, m *match) {
	if i == len(levels) {
		t.collect(n, m)
		// "a/#" also matches "a".
		if c := n.children["#"]; c != nil {
			t.collect(c, m)
		}
		return
	}
	wild := !(dollar && i == 0)
	if c := n.children[levels[i]]; c != nil {
		t.walk(c, levels, i+1, dollar, m)
	}
	if wild {
		if c := n.children["+"]; c != nil {
			t.walk(c, levels, i+1, dollar, m)
		}
		if c := n.children["#"]; c != nil {
			t.collect(c, m)
		}
	}
}

func (t *topicTree) collect(n *node, m *match) {
	for _, s := range n.subs {
		m.subs = append(m.subs, s)
	}
	for _, g := range n.shared {
		m.groups = append(m.groups, sharedMatch{group: g})
	}
}

// pick chooses the member of share group g that gets the next message:
// round robin over the connected members, else over all of them. except
// skips one client (the one handing its messages off). It takes the
// tree lock itself; call it without session locks held.
func (t *topicTree) pick(g *shareGroup, except string) *subscriber {
	t.mu.Lock()
	start := g.next
	g.next++
	members := make([]*subscriber, 0, len(g.members))
	for _, s := range g.members {
		if s.sess.id != except {
			members = append(members, s)
		}
	}
	t.mu.Unlock()
	var online []*subscriber
	for _, s := range members {
		if s.sess.online() {
			online = append(online, s)
		}
	}
	pool := online
	if len(pool) == 0 {
		pool = members
	}
	if len(pool) == 0 {
		return nil
	}
	// Members come from a map: order them for a fair rotation.
	sortSubscribers(pool)
	return pool[start%len(pool)]
}

func sortSubscribers(s []*subscriber) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].sess.id < s[j-1].sess.id; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
