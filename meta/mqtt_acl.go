package meta

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"
)

// MQTT ACL rules, kept by the security machine (shard 5) beside the
// Kafka-style bindings: an ordered list, because MQTT brokers' users
// expect EMQX's and Mosquitto's model (the first matching rule decides,
// then a configured default), which a deny-wins set cannot express.
//
// Operations (Command.Op), dispatched here from securityMachine.apply:
//
//	mqtt_acl_add     {rule: MQTTRule (id 0), position}  -> {"id", "created"}
//	                 position 1..n+1 inserts before the rule now at that
//	                 place (n+1 or 0: at the end). A rule equal to an
//	                 existing one (all fields but the id) is not added
//	                 again: its id comes back with created false, so a
//	                 retried proposal is harmless.
//	mqtt_acl_remove  {id}                                -> not_found if none
//
// Lookups: mqtt_acl_list {} -> []MQTTRule in evaluation order.

// MQTT rule permissions are PermissionAllow and PermissionDeny; actions:
const (
	MQTTActionPublish   = "publish"
	MQTTActionSubscribe = "subscribe" // also decides what a subscriber receives
	MQTTActionRetain    = "retain"
	MQTTActionAll       = "all"
)

// MaxMQTTRules bounds the rule list (every check walks it).
const MaxMQTTRules = 10000

var mqttActions = []string{MQTTActionPublish, MQTTActionSubscribe, MQTTActionRetain, MQTTActionAll}

// MQTTRule is one MQTT ACL rule. Empty Username, ClientID and IP match
// anyone; Topic is an MQTT topic filter in which "%u" and "%c" stand for
// the client's user name and client id (a rule with %u does not match a
// client without a user name).
type MQTTRule struct {
	ID         uint64 `json:"id"`
	Permission string `json:"permission"`
	Action     string `json:"action"`
	Topic      string `json:"topic"`
	Username   string `json:"username,omitempty"`
	ClientID   string `json:"client_id,omitempty"`
	// IP is an address ("10.0.0.7") or a CIDR prefix ("10.0.0.0/8").
	IP string `json:"ip,omitempty"`
}

// ParseMQTTRuleIP parses a rule's IP field into a prefix (an address is
// its /32 or /128).
func ParseMQTTRuleIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q: %v", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad IP address %q: %v", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate checks a rule's fields (not its ID).
func (r MQTTRule) Validate() error {
	switch {
	case r.Permission != PermissionAllow && r.Permission != PermissionDeny:
		return fmt.Errorf("permission %q is not allow or deny", r.Permission)
	case !slices.Contains(mqttActions, r.Action):
		return fmt.Errorf("action %q is not one of %s", r.Action, strings.Join(mqttActions, ", "))
	case len(r.Username) > 1024 || !utf8.ValidString(r.Username):
		return fmt.Errorf("bad user name %q", r.Username)
	case len(r.ClientID) > 65535 || !utf8.ValidString(r.ClientID):
		return fmt.Errorf("bad client id %q", r.ClientID)
	}
	if err := ValidateTopicFilter(r.Topic); err != nil {
		return err
	}
	if r.IP != "" {
		if _, err := ParseMQTTRuleIP(r.IP); err != nil {
			return err
		}
	}
	return nil
}

type (
	mqttACLAddBody struct {
		Rule     MQTTRule `json:"rule"`
		Position int      `json:"position,omitempty"`
	}
	mqttACLAddResult struct {
		ID      uint64 `json:"id"`
		Created bool   `json:"created"`
	}
	mqttACLRemoveBody struct {
		ID uint64 `json:"id"`
	}
)

// applyMQTT applies an mqtt_acl_* command.
func (m *securityMachine) applyMQTT(cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "mqtt_acl_add":
		var b mqttACLAddBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "mqtt_acl_add: %v", err)
		}
		r := b.Rule
		if r.ID != 0 {
			return nil, reject(RejectInvalid, "mqtt_acl_add: the id is assigned, not given")
		}
		if err := r.Validate(); err != nil {
			return nil, reject(RejectInvalid, "mqtt_acl_add: %v", err)
		}
		for _, have := range m.mqtt {
			id := have.ID
			if have.ID = 0; have == r {
				return mqttACLAddResult{ID: id}, nil
			}
		}
		if len(m.mqtt) >= MaxMQTTRules {
			return nil, reject(RejectInvalid, "mqtt_acl_add: %d rules already (the most there may be)", len(m.mqtt))
		}
		if b.Position < 0 || b.Position > len(m.mqtt)+1 {
			return nil, reject(RejectInvalid, "mqtt_acl_add: position %d is outside 1..%d", b.Position, len(m.mqtt)+1)
		}
		m.mqttNextID++
		r.ID = m.mqttNextID
		at := len(m.mqtt)
		if b.Position > 0 {
			at = b.Position - 1
		}
		m.mqtt = slices.Insert(m.mqtt, at, r)
		return mqttACLAddResult{ID: r.ID, Created: true}, nil
	case "mqtt_acl_remove":
		var b mqttACLRemoveBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "mqtt_acl_remove: %v", err)
		}
		i := slices.IndexFunc(m.mqtt, func(r MQTTRule) bool { return r.ID == b.ID })
		if i < 0 {
			return nil, reject(RejectNotFound, "MQTT ACL rule %d does not exist", b.ID)
		}
		m.mqtt = slices.Delete(m.mqtt, i, i+1)
		return nil, nil
	}
	return nil, reject(RejectInvalid, "unknown security op %q", cmd.Op)
}

// lookupMQTT answers mqtt_acl_list.
func (m *securityMachine) lookupMQTT(q Query) (any, error) {
	if q.Op != "mqtt_acl_list" {
		return nil, reject(RejectInvalid, "unknown security lookup %q", q.Op)
	}
	var b struct{}
	if err := decodeQueryBody(q, &b); err != nil {
		return nil, err
	}
	return append([]MQTTRule{}, m.mqtt...), nil
}

// loadMQTT checks the snapshot's rules: valid, ids unique and below the
// next id.
func loadMQTT(rules []MQTTRule, next uint64) error {
	seen := make(map[uint64]bool, len(rules))
	for _, r := range rules {
		if r.ID == 0 || r.ID > next || seen[r.ID] {
			return fmt.Errorf("%w: security: MQTT ACL rule id %d (next %d) is zero, too high or repeated", ErrCorruptSnapshot, r.ID, next)
		}
		seen[r.ID] = true
		if err := r.Validate(); err != nil {
			return fmt.Errorf("%w: security: MQTT ACL rule %d: %v", ErrCorruptSnapshot, r.ID, err)
		}
	}
	return nil
}

// AddMQTTRule inserts r (its ID is assigned) at position (1-based; 0 = at
// the end) and returns its ID; created is false when an equal rule
// existed already (its ID is returned, the list is unchanged).
func (c *Security) AddMQTTRule(ctx context.Context, r MQTTRule, position int) (id uint64, created bool, err error) {
	var res mqttACLAddResult
	err = proposeOp(ctx, c.p, ShardSecurity, "mqtt_acl_add", mqttACLAddBody{Rule: r, Position: position}, &res)
	return res.ID, res.Created, err
}

// RemoveMQTTRule removes rule id (not_found if there is none).
func (c *Security) RemoveMQTTRule(ctx context.Context, id uint64) error {
	return proposeOp(ctx, c.p, ShardSecurity, "mqtt_acl_remove", mqttACLRemoveBody{ID: id}, nil)
}

// ListMQTTRules returns the MQTT ACL rules in evaluation order.
func (c *Security) ListMQTTRules(ctx context.Context) ([]MQTTRule, error) {
	return readOp[[]MQTTRule](ctx, c.p, ShardSecurity, "mqtt_acl_list", nil)
}
