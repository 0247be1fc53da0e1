package mqtt

// MQTT ACLs: the ordered rule list of meta's security shard
// (meta.MQTTRule), cached here and evaluated on every publish, retain,
// subscribe and delivery.
//
// Evaluation (EMQX's model, which Mosquitto users also find familiar):
//  1. The rules are tried in order; the first rule that matches the
//     request decides (allow or deny).
//  2. No rule matches: the Kafka-style mqtt_topic bindings (`strata acl
//     --resource-type mqtt_topic`, meta.ACLBinding) decide if any of them
//     applies to the request, with Kafka's rule: a matching deny wins,
//     then a matching allow. Principal "User:<principal>" ("User:ANONYMOUS"
//     for an anonymous client) or "User:*", host the client's IP or "*",
//     operation the action or "all"; the pattern is literal (the topic,
//     or "*" for all), prefixed, or an MQTT filter (covering, for a
//     subscription).
//  3. Neither: SecurityOptions.ACLDeny decides (default allow, EMQX's
//     no_match; set it for Mosquitto's deny-unless-listed, or end the
//     list with a deny-all rule).
//
// A rule matches when every field it sets matches:
//   - action: publish (ActionPublish), subscribe (ActionSubscribe, and
//     ActionReceive: what a subscriber may be sent, checked by the writer
//     on every delivery, so a rule change applies to existing
//     subscriptions), retain (ActionRetain, asked after the publish was
//     allowed), all;
//   - username: the client's principal (the authenticated user name, or
//     the certificate CN); an anonymous client has none;
//   - client_id; ip: the client's address within the CIDR;
//   - topic: an MQTT filter after substitution of %u (principal) and %c
//     (client id); a rule whose substitution is impossible (no principal,
//     or a value with '+' or '#') does not match. Publish, retain and
//     receive match the topic name against it; subscribe requires the
//     rule's filter to cover the requested filter (every topic the
//     requested filter can match, the rule's matches too: "a/+" covers
//     "a/b" and "a/+", not "a/#"). A share subscription is checked with
//     its filter (no $share/<group>/ prefix). A deny on a narrow filter
//     does not refuse a wider subscription, but its messages are not
//     delivered (the receive check).
//
// The list is read from meta when Security starts, every
// SecurityOptions.ACLRefresh, and on Refresh; checks read the cached
// copy through an atomic pointer and never block.

import (
	"net/netip"
	"strings"
	"sync/atomic"

	"strata/meta"
)

// aclActions are the rule actions as a bit set.
const (
	aclPublish uint8 = 1 << iota
	aclSubscribe
	aclRetain
)

// aclRule is a meta.MQTTRule ready to evaluate.
type aclRule struct {
	allow   bool
	actions uint8
	topic   string // the filter, %u/%c not yet substituted
	subst   bool   // topic has %u or %c
	user    string // "" = any
	client  string // "" = any
	ip      netip.Prefix
	hasIP   bool
}

// aclSet is what the checks read: the compiled rules and the mqtt_topic
// bindings.
type aclSet struct {
	rules    []aclRule
	bindings []meta.ACLBinding
}

// aclHolder holds the current aclSet.
type aclHolder struct {
	deny bool // the no-match decision is deny
	cur  atomic.Pointer[aclSet]
}

// set compiles rules and keeps the mqtt_topic bindings of acls.
func (h *aclHolder) set(rules []meta.MQTTRule, acls []meta.ACLBinding) {
	var bindings []meta.ACLBinding
	for _, b := range acls {
		if b.ResourceType == meta.ResourceMQTTTopic {
			bindings = append(bindings, b)
		}
	}
	out := make([]aclRule, 0, len(rules))
	for _, r := range rules {
		c := aclRule{allow: r.Permission == meta.PermissionAllow, topic: r.Topic, user: r.Username, client: r.ClientID,
			subst: strings.Contains(r.Topic, "%u") || strings.Contains(r.Topic, "%c")}
		switch r.Action {
		case meta.MQTTActionPublish:
			c.actions = aclPublish
		case meta.MQTTActionSubscribe:
			c.actions = aclSubscribe
		case meta.MQTTActionRetain:
			c.actions = aclRetain
		default:
			c.actions = aclPublish | aclSubscribe | aclRetain
		}
		if r.IP != "" {
			p, err := meta.ParseMQTTRuleIP(r.IP)
			if err != nil {
				continue // meta validated it; never here
			}
			c.ip, c.hasIP = p, true
		}
		out = append(out, c)
	}
	h.cur.Store(&aclSet{rules: out, bindings: bindings})
}

// Authorize implements Authorizer (see the file comment).
func (s *Security) Authorize(r *AuthzRequest) bool {
	ok := s.acl.decide(r)
	if !ok && r.Action >= ActionPublish && r.Action <= ActionReceive {
		s.stats.denied[r.Action].Add(1)
	}
	return ok
}

func (h *aclHolder) decide(r *AuthzRequest) bool {
	set := h.cur.Load()
	rules := set.rules
	if len(rules) == 0 && len(set.bindings) == 0 {
		return !h.deny
	}
	var want uint8
	switch r.Action {
	case ActionPublish:
		want = aclPublish
	case ActionSubscribe, ActionReceive:
		want = aclSubscribe
	case ActionRetain:
		want = aclRetain
	default:
		return false
	}
	c := r.Client
	var ip netip.Addr
	ipOK := false
	ipDone := false
	for i := range rules {
		rule := &rules[i]
		if rule.actions&want == 0 ||
			rule.user != "" && rule.user != c.Principal ||
			rule.client != "" && rule.client != c.ClientID {
			continue
		}
		if rule.hasIP {
			if !ipDone {
				ip, ipOK = addrIP(c.Remote)
				ipDone = true
			}
			if !ipOK || !rule.ip.Contains(ip) {
				continue
			}
		}
		filter := rule.topic
		if rule.subst {
			var ok bool
			if filter, ok = substitute(filter, c.Principal, c.ClientID); !ok {
				continue
			}
		}
		var match bool
		if r.Action == ActionSubscribe {
			match = filterCovers(filter, r.Topic)
		} else {
			match = meta.MatchTopicFilter(filter, r.Topic)
		}
		if match {
			return rule.allow
		}
	}
	if len(set.bindings) > 0 {
		if !ipDone {
			ip, ipOK = addrIP(c.Remote)
		}
		if allowed, applies := decideBindings(set.bindings, r, ip, ipOK); applies {
			return allowed
		}
	}
	return !h.deny
}

// decideBindings applies the mqtt_topic bindings with Kafka's rule (deny
// wins); applies is false when no binding is about this request.
func decideBindings(bindings []meta.ACLBinding, r *AuthzRequest, ip netip.Addr, ipOK bool) (allowed, applies bool) {
	op := "subscribe"
	switch r.Action {
	case ActionPublish:
		op = "publish"
	case ActionRetain:
		op = "retain"
	}
	principal := "User:ANONYMOUS"
	if r.Client.Principal != "" {
		principal = "User:" + r.Client.Principal
	}
	host := ""
	if ipOK {
		host = ip.String()
	}
	for i := range bindings {
		b := &bindings[i]
		if b.Operation != op && b.Operation != "all" ||
			b.Principal != principal && b.Principal != "User:*" ||
			b.Host != "*" && b.Host != host {
			continue
		}
		var match bool
		switch b.PatternType {
		case meta.PatternLiteral:
			match = b.ResourceName == r.Topic || b.ResourceName == "*"
		case meta.PatternPrefixed:
			match = strings.HasPrefix(r.Topic, b.ResourceName)
		case meta.PatternMQTTFilter:
			if r.Action == ActionSubscribe {
				match = filterCovers(b.ResourceName, r.Topic)
			} else {
				match = meta.MatchTopicFilter(b.ResourceName, r.Topic)
			}
		}
		if !match {
			continue
		}
		if b.Permission == meta.PermissionDeny {
			return false, true
		}
		allowed, applies = true, true
	}
	return allowed, applies
}

// substitute replaces %u and %c in filter; false when a value it needs is
// empty or has a wildcard character.
func substitute(filter, user, client string) (string, bool) {
	if strings.Contains(filter, "%u") {
		if user == "" || strings.ContainsAny(user, "+#") {
			return "", false
		}
		filter = strings.ReplaceAll(filter, "%u", user)
	}
	if strings.Contains(filter, "%c") {
		if client == "" || strings.ContainsAny(client, "+#") {
			return "", false
		}
		filter = strings.ReplaceAll(filter, "%c", client)
	}
	return filter, true
}

// filterCovers reports whether every topic that sub can match is matched
// by rule (both valid filters): level by level, rule's '#' covers the
// rest, rule's '+' covers any one level of sub but '#', and a literal
// covers only itself. A '$' topic is not covered by a leading wildcard.
func filterCovers(rule, sub string) bool {
	if strings.HasPrefix(sub, "$") != strings.HasPrefix(rule, "$") && (rule[0] == '+' || rule[0] == '#') {
		return false
	}
	for {
		rl, rrest, rmore := strings.Cut(rule, "/")
		if rl == "#" {
			return true
		}
		sl, srest, smore := strings.Cut(sub, "/")
		switch {
		case sl == "#":
			return false
		case rl == "+":
		case rl != sl:
			return false
		}
		if rmore != smore {
			// "a/#" covers "a": handled by the '#' level above only when
			// rule continues with it.
			return rmore && rrest == "#"
		}
		if !rmore {
			return true
		}
		rule, sub = rrest, srest
	}
}
