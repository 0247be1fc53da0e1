package meta

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Shard 6, routes: rules that map MQTT topic filters to topics, for the
// MQTT frontend's unified pipeline.
//
// A rule's Topic is a template: literal topic-name characters
// ([a-zA-Z0-9._-]) and captures {N}, the value of the N-th '+' level of the
// filter (from 1). "factory/+/temp" -> "factory-temp" sends every factory's
// readings to one topic; "agents/+/inbox" -> "agent-{1}" gives each agent
// its own topic. '#' captures nothing.
//
// Operations (Command.Op): add_route {rule} (refused as exists when the ID,
// or the same filter, topic and direction, is there; adding an identical
// rule again succeeds), remove_route {id}.
// Lookups (Query.Op): list_routes {} -> []RouteRule by ID, get_route {id}.

// RoutesKind names the routes machine in its snapshots.
const RoutesKind = "routes"

// Route key modes and directions.
const (
	RouteKeyMQTTTopic = "mqtt-topic" // record key = the MQTT topic
	RouteKeyClientID  = "client-id"  // record key = the publisher's client id

	RouteIn   = "in"   // MQTT publish -> topic
	RouteOut  = "out"  // topic record -> MQTT subscribers
	RouteBoth = "both" // both ways
)

// RouteRule is one routing rule.
type RouteRule struct {
	ID        string `json:"id"`
	Filter    string `json:"filter"`
	Topic     string `json:"topic"`
	KeyMode   string `json:"key_mode"`
	Direction string `json:"direction"`
	CreatedMs int64  `json:"created_ms,omitempty"`
}

// ValidateTopicFilter checks MQTT topic filter syntax: not empty, at most
// 65535 bytes of UTF-8 without NUL, '+' only as a whole level, '#' only as
// the whole last level.
func ValidateTopicFilter(filter string) error {
	if filter == "" || len(filter) > 65535 || !utf8.ValidString(filter) || strings.IndexByte(filter, 0) >= 0 {
		return fmt.Errorf("meta: bad MQTT topic filter %q", filter)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.ContainsAny(l, "+#") && l != "+" && l != "#" {
			return fmt.Errorf("meta: MQTT topic filter %q: a wildcard must be a whole level (%q)", filter, l)
		}
		if l == "#" && i != len(levels)-1 {
			return fmt.Errorf("meta: MQTT topic filter %q: '#' must be the last level", filter)
		}
	}
	return nil
}

// MatchTopicFilter reports whether the MQTT topic name matches filter
// (assumed valid): '+' is one level, '#' the rest (its parent included),
// and a topic starting with '$' is not matched by a leading wildcard.
func MatchTopicFilter(filter, topic string) bool {
	_, ok := matchCaptures(filter, topic)
	return ok
}

// matchCaptures matches and returns the levels the '+' wildcards matched.
func matchCaptures(filter, topic string) ([]string, bool) {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return nil, false
	}
	var caps []string
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return caps, true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		switch {
		case fl == "+":
			caps = append(caps, tl)
		case fl != tl:
			return nil, false
		}
		if !fmore || !tmore {
			// "a/#" matches "a": the filter's next level is a lone '#'.
			return caps, fmore == tmore || (!tmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// validTopicName is Kafka's rule: [a-zA-Z0-9._-], 1 to 249 chars, not "." or "..".
func validTopicName(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// expandTopic fills a template's {N} captures. It reports false when the
// template is malformed, a capture is out of range, or the result is not a
// legal topic name.
func expandTopic(template string, caps []string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(template[i:], '}')
		if j < 0 {
			return "", false
		}
		n, err := strconv.Atoi(template[i+1 : i+j])
		if err != nil || n < 1 || n > len(caps) || template[i+1:i+j] != strconv.Itoa(n) {
			return "", false
		}
		b.WriteString(caps[n-1])
		i += j
	}
	out := b.String()
	return out, validTopicName(out)
}

func (r RouteRule) validate() error {
	if r.ID == "" || len(r.ID) > 255 || !utf8.ValidString(r.ID) {
		return fmt.Errorf("bad route id %q", r.ID)
	}
	if err := ValidateTopicFilter(r.Filter); err != nil {
		return err
	}
	plus := 0
	for l := range strings.SplitSeq(r.Filter, "/") {
		if l == "+" {
			plus++
		}
	}
	// Expanding with placeholder captures checks the template's syntax,
	// capture numbers and literal characters at once.
	caps := slices.Repeat([]string{"x"}, plus)
	if _, ok := expandTopic(r.Topic, caps); !ok {
		return fmt.Errorf("route %q: topic template %q is not topic-name characters and {1}..{%d}", r.ID, r.Topic, plus)
	}
	if r.KeyMode != RouteKeyMQTTTopic && r.KeyMode != RouteKeyClientID {
		return fmt.Errorf("route %q: key mode %q is not %s or %s", r.ID, r.KeyMode, RouteKeyMQTTTopic, RouteKeyClientID)
	}
	if r.Direction != RouteIn && r.Direction != RouteOut && r.Direction != RouteBoth {
		return fmt.Errorf("route %q: direction %q is not in, out or both", r.ID, r.Direction)
	}
	return nil
}

// MatchRoute returns the topic that an MQTT publish to mqttTopic goes to:
// the first rule, in the order given (list_routes gives ID order), whose
// direction is in or both, whose filter matches, and whose template
// expands to a legal topic name (a captured level with other characters
// skips the rule).
func MatchRoute(rules []RouteRule, mqttTopic string) (topic string, ok bool) {
	_, topic, ok = MatchRouteRule(rules, mqttTopic)
	return topic, ok
}

// MatchRouteRule is MatchRoute that also returns the rule (for its key mode).
func MatchRouteRule(rules []RouteRule, mqttTopic string) (RouteRule, string, bool) {
	for _, r := range rules {
		if r.Direction == RouteOut {
			continue
		}
		caps, ok := matchCaptures(r.Filter, mqttTopic)
		if !ok {
			continue
		}
		if topic, ok := expandTopic(r.Topic, caps); ok {
			return r, topic, true
		}
	}
	return RouteRule{}, "", false
}

type (
	addRouteBody struct {
		Rule RouteRule `json:"rule"`
	}
	routeIDBody struct {
		ID string `json:"id"`
	}
)

type routesMachine struct {
	rules map[string]RouteRule
}

func newRoutesMachine() machine { return &routesMachine{rules: map[string]RouteRule{}} }

func init() { registerMachine(ShardRoutes, newRoutesMachine) }

func (m *routesMachine) kind() string { return RoutesKind }

func (m *routesMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "add_route":
		var b addRouteBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "add_route: %v", err)
		}
		r := b.Rule
		if r.KeyMode == "" {
			r.KeyMode = RouteKeyMQTTTopic
		}
		if r.Direction == "" {
			r.Direction = RouteIn
		}
		if err := r.validate(); err != nil {
			return nil, reject(RejectInvalid, "add_route: %v", err)
		}
		if old, ok := m.rules[r.ID]; ok {
			if old == r {
				return r, nil // the same proposal applied twice (invariant 4)
			}
			return nil, reject(RejectExists, "route %q exists", r.ID)
		}
		for _, o := range m.rules {
			if o.Filter == r.Filter && o.Topic == r.Topic && o.Direction == r.Direction {
				return nil, reject(RejectExists, "route %q already maps %s to %s (%s)", o.ID, r.Filter, r.Topic, r.Direction)
			}
		}
		m.rules[r.ID] = r
		return r, nil
	case "remove_route":
		var b routeIDBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "remove_route: %v", err)
		}
		if _, ok := m.rules[b.ID]; !ok {
			return nil, reject(RejectNotFound, "route %q does not exist", b.ID)
		}
		delete(m.rules, b.ID)
		return nil, nil
	}
	return nil, reject(RejectInvalid, "unknown routes op %q", cmd.Op)
}

func (m *routesMachine) list() []RouteRule {
	out := []RouteRule{}
	for _, id := range slices.Sorted(maps.Keys(m.rules)) {
		out = append(out, m.rules[id])
	}
	return out
}

func (m *routesMachine) lookup(q any) (any, error) {
	query, err := asQuery(q)
	if err != nil {
		return nil, err
	}
	switch query.Op {
	case "list_routes":
		var b struct{}
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.list(), nil
	case "get_route":
		var b routeIDBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		if r, ok := m.rules[b.ID]; ok {
			return &r, nil
		}
		return (*RouteRule)(nil), nil
	}
	return nil, reject(RejectInvalid, "unknown routes lookup %q", query.Op)
}

type routesSnapshot struct {
	Rules []RouteRule `json:"rules"`
}

func (m *routesMachine) save(w io.Writer) error { return writeJSON(w, routesSnapshot{Rules: m.list()}) }

func (m *routesMachine) load(r io.Reader) error {
	var snap routesSnapshot
	if err := decodeSnapshotBody(r, &snap); err != nil {
		return err
	}
	rules := make(map[string]RouteRule, len(snap.Rules))
	for _, r := range snap.Rules {
		if _, dup := rules[r.ID]; dup {
			return fmt.Errorf("%w: routes: rule %q twice", ErrCorruptSnapshot, r.ID)
		}
		rules[r.ID] = r
	}
	m.rules = rules
	return nil
}

// Routes is the typed client of the routes shard.
type Routes struct{ p Proposer }

// NewRoutes returns a routes client over p.
func NewRoutes(p Proposer) *Routes { return &Routes{p: p} }

// Add adds a rule (KeyMode defaults to mqtt-topic, Direction to in) and
// returns it as stored. A duplicate ID, or the same filter, topic and
// direction under another ID, is an exists rejection.
func (c *Routes) Add(ctx context.Context, r RouteRule) (RouteRule, error) {
	var out RouteRule
	err := proposeOp(ctx, c.p, ShardRoutes, "add_route", addRouteBody{Rule: r}, &out)
	return out, err
}

// Remove removes a rule by ID (not_found if there is none).
func (c *Routes) Remove(ctx context.Context, id string) error {
	return proposeOp(ctx, c.p, ShardRoutes, "remove_route", routeIDBody{ID: id}, nil)
}

// List returns every rule, sorted by ID (the order MatchRoute tries them).
func (c *Routes) List(ctx context.Context) ([]RouteRule, error) {
	return readOp[[]RouteRule](ctx, c.p, ShardRoutes, "list_routes", nil)
}

// Get returns one rule; ok is false if there is none.
func (c *Routes) Get(ctx context.Context, id string) (r RouteRule, ok bool, err error) {
	p, err := readOp[*RouteRule](ctx, c.p, ShardRoutes, "get_route", routeIDBody{ID: id})
	if err != nil || p == nil {
		return RouteRule{}, false, err
	}
	return *p, true, nil
}
