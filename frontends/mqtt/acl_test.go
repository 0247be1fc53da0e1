package mqtt

import (
	"net"
	"testing"

	"strata/meta"
)

func TestFilterCovers(t *testing.T) {
	for _, c := range []struct {
		rule, sub string
		want      bool
	}{
		{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/b", "a/+", false}, {"a/b", "a/b/c", false},
		{"a/+", "a/b", true}, {"a/+", "a/+", true}, {"a/+", "a/#", false}, {"a/+", "a/b/c", false}, {"a/+", "a", false},
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"a/#", "a/#", true}, {"a/#", "a/+/c", true}, {"a/#", "b/#", false},
		{"#", "x/y", true}, {"#", "#", true}, {"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/broker/+", true},
		{"+/+", "a/b", true}, {"+/+", "a", false}, {"a/+/c", "a/+/c", true}, {"a/+/c", "a/#", false},
	} {
		if got := filterCovers(c.rule, c.sub); got != c.want {
			t.Errorf("filterCovers(%q, %q) = %v", c.rule, c.sub, got)
		}
	}
}

func TestSubstitute(t *testing.T) {
	for _, c := range []struct {
		filter, user, client, want string
		ok                         bool
	}{
		{"u/%u/c/%c/#", "alice", "dev1", "u/alice/c/dev1/#", true},
		{"u/%u", "", "dev1", "", false},
		{"u/%u", "a+b", "dev1", "", false},
		{"c/%c", "alice", "x#", "", false},
		{"plain", "", "", "plain", true},
	} {
		got, ok := substitute(c.filter, c.user, c.client)
		if got != c.want || ok != c.ok {
			t.Errorf("substitute(%q, %q, %q) = %q %v", c.filter, c.user, c.client, got, ok)
		}
	}
}

// TestDecide: first match wins, fields narrow a rule, and the no-match
// default is configurable.
func TestDecide(t *testing.T) {
	rules := []meta.MQTTRule{
		{Permission: "deny", Action: "publish", Topic: "a/secret"},
		{Permission: "allow", Action: "all", Topic: "a/#", ClientID: "c1"},
		{Permission: "deny", Action: "all", Topic: "a/#", IP: "192.168.0.0/16"},
		{Permission: "allow", Action: "retain", Topic: "r/%u", Username: "bob"},
		{Permission: "deny", Action: "retain", Topic: "r/#"},
	}
	client := func(id, user, ip string) *ClientInfo {
		return &ClientInfo{ClientID: id, Principal: user, Remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}}
	}
	for _, deny := range []bool{false, true} {
		var h aclHolder
		h.deny = deny
		h.set(rules, nil)
		for _, c := range []struct {
			c      *ClientInfo
			action Action
			topic  string
			want   bool
		}{
			{client("c1", "", "10.0.0.1"), ActionPublish, "a/secret", false},
			{client("c1", "", "192.168.1.1"), ActionPublish, "a/x", true},
			{client("c2", "", "192.168.1.1"), ActionPublish, "a/x", false},
			{client("c2", "", "192.168.1.1"), ActionSubscribe, "a/#", false},
			{client("c2", "", "192.168.1.1"), ActionReceive, "a/x", false},
			{client("c2", "", "10.1.1.1"), ActionPublish, "a/x", !deny},
			{client("c2", "bob", "10.1.1.1"), ActionRetain, "r/bob", true},
			{client("c2", "eve", "10.1.1.1"), ActionRetain, "r/bob", false},
			{client("c2", "", "10.1.1.1"), ActionRetain, "r/x", false},
			{client("c2", "", "10.1.1.1"), ActionSubscribe, "z", !deny},
		} {
			if got := h.decide(&AuthzRequest{Client: c.c, Action: c.action, Topic: c.topic}); got != c.want {
				t.Errorf("deny=%v %+v %d %q: %v", deny, c.c, c.action, c.topic, got)
			}
		}
	}
	var h aclHolder
	h.set(nil, nil)
	if !h.decide(&AuthzRequest{Client: &ClientInfo{}, Action: ActionPublish, Topic: "x"}) {
		t.Fatal("no rules and default allow denied")
	}
}

// FuzzFilterCovers: when a rule's filter covers a subscription's, every
// topic the subscription matches, the rule's filter matches too (so a
// subscription allowed by a rule receives nothing the rule would not
// allow).
func FuzzFilterCovers(f *testing.F) {
	for _, s := range [][3]string{{"a/#", "a/+/c", "a/b/c"}, {"+/+", "a/b", "a/b"}, {"#", "$SYS/#", "$SYS/x"}, {"a/+", "a", "a"}, {"a/#", "a", "a"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, rule, sub, topic string) {
		if meta.ValidateTopicFilter(rule) != nil || meta.ValidateTopicFilter(sub) != nil || validTopicName(topic) != nil {
			return
		}
		if filterCovers(rule, sub) && meta.MatchTopicFilter(sub, topic) && !meta.MatchTopicFilter(rule, topic) {
			t.Fatalf("%q covers %q, which matches %q, but %q does not match it", rule, sub, topic, rule)
		}
		if rule == sub && !filterCovers(rule, sub) {
			t.Fatalf("%q does not cover itself", rule)
		}
	})
}

// TestDecideBindings: with no ordered rule matching, the Kafka-style
// mqtt_topic bindings decide (deny wins) when one applies; the ordered
// rules come first.
func TestDecideBindings(t *testing.T) {
	bind := func(perm, principal, host, op, pattern, name string) meta.ACLBinding {
		return meta.ACLBinding{ResourceType: meta.ResourceMQTTTopic, ResourceName: name, PatternType: pattern,
			Principal: principal, Host: host, Operation: op, Permission: perm}
	}
	var h aclHolder
	h.deny = true
	h.set([]meta.MQTTRule{{Permission: "allow", Action: "all", Topic: "a/#"}}, []meta.ACLBinding{
		bind("deny", "User:eve", "*", "publish", meta.PatternMQTTFilter, "a/#"),
		bind("deny", "User:eve", "*", "all", meta.PatternMQTTFilter, "b/#"),
		bind("allow", "User:*", "*", "publish", meta.PatternMQTTFilter, "b/+"),
		bind("allow", "User:*", "*", "subscribe", meta.PatternPrefixed, "news"),
		bind("allow", "User:ANONYMOUS", "10.0.0.1", "all", meta.PatternLiteral, "anon"),
		{ResourceType: meta.ResourceTopic, ResourceName: "*", PatternType: meta.PatternLiteral, Principal: "User:*", Host: "*", Operation: "all", Permission: "allow"},
	})
	client := func(user, ip string) *ClientInfo {
		return &ClientInfo{ClientID: "c", Principal: user, Remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}}
	}
	for _, c := range []struct {
		c      *ClientInfo
		action Action
		topic  string
		want   bool
	}{
		{client("eve", "10.0.0.9"), ActionPublish, "a/x", true}, // the ordered rule first
		{client("eve", "10.0.0.9"), ActionPublish, "b/x", false},
		{client("bob", "10.0.0.9"), ActionPublish, "b/x", true},
		{client("bob", "10.0.0.9"), ActionPublish, "b/x/y", false}, // no binding applies: the default (deny)
		{client("bob", "10.0.0.9"), ActionSubscribe, "newsroom/#", true},
		{client("bob", "10.0.0.9"), ActionReceive, "newsroom/1", true},
		{client("bob", "10.0.0.9"), ActionPublish, "newsroom/1", false},
		{client("", "10.0.0.1"), ActionRetain, "anon", true},
		{client("", "10.0.0.2"), ActionRetain, "anon", false},
		{client("bob", "10.0.0.9"), ActionSubscribe, "other", false}, // a Kafka topic binding does not count
	} {
		if got := h.decide(&AuthzRequest{Client: c.c, Action: c.action, Topic: c.topic}); got != c.want {
			t.Errorf("%s@%s %d %q: %v", c.c.Principal, c.c.Remote, c.action, c.topic, got)
		}
	}
}
