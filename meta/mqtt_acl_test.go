package meta

import (
	"context"
	"testing"
)

// TestMQTTRulesClient drives the Security client's MQTT rule methods over
// the machine: ids, positions, the equal-rule answer, not_found.
func TestMQTTRulesClient(t *testing.T) {
	ctx := context.Background()
	c := NewSecurity(newMemProposer())
	a := MQTTRule{Permission: PermissionAllow, Action: MQTTActionAll, Topic: "devices/%c/#"}
	b := MQTTRule{Permission: PermissionDeny, Action: MQTTActionSubscribe, Topic: "#", IP: "10.0.0.0/8"}
	if id, created, err := c.AddMQTTRule(ctx, a, 0); id != 1 || !created || err != nil {
		t.Fatalf("add a: %d %v %v", id, created, err)
	}
	if id, created, err := c.AddMQTTRule(ctx, b, 1); id != 2 || !created || err != nil {
		t.Fatalf("add b first: %d %v %v", id, created, err)
	}
	if id, created, err := c.AddMQTTRule(ctx, a, 0); id != 1 || created || err != nil {
		t.Fatalf("add a again: %d %v %v", id, created, err)
	}
	rules, err := c.ListMQTTRules(ctx)
	if err != nil || len(rules) != 2 || rules[0].ID != 2 || rules[1].ID != 1 {
		t.Fatalf("list: %+v %v", rules, err)
	}
	if err := c.RemoveMQTTRule(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMQTTRule(ctx, 2); !RejectedWith(err, RejectNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	if _, _, err := c.AddMQTTRule(ctx, MQTTRule{Permission: "allow", Action: "all", Topic: "a/#/b"}, 0); !RejectedWith(err, RejectInvalid) {
		t.Fatalf("bad filter: %v", err)
	}
}
