package meta

import (
	"context"
	"testing"
)

func TestRoutesDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/routes", newRoutesMachine)
}

func TestMatchTopicFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true}, {"a/b", "a", false}, {"a", "a/b", false}, {"a/+", "a/b", true}, {"a/+", "a/", true},
		{"a/+", "a/b/c", false}, {"a/#", "a", true}, {"a/#", "a/b/c", true}, {"#", "a/b", true}, {"+", "a", true},
		{"+/+", "/x", true}, {"+/#", "a", true}, {"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false},
		{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true}, {"/a", "/a", true}, {"a//b", "a//b", true},
	} {
		if got := MatchTopicFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("MatchTopicFilter(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
	for _, f := range []string{"a/b+", "#/a", "a/#b", "", "a\x00"} {
		if ValidateTopicFilter(f) == nil {
			t.Errorf("ValidateTopicFilter(%q) accepted", f)
		}
	}
	for _, f := range []string{"#", "+", "a/+/#", "/", "$share/g/a/+"} {
		if err := ValidateTopicFilter(f); err != nil {
			t.Errorf("ValidateTopicFilter(%q): %v", f, err)
		}
	}
}

func TestMatchRoute(t *testing.T) {
	rules := []RouteRule{
		{ID: "1", Filter: "agents/+/inbox", Topic: "agent-{1}", Direction: RouteBoth, KeyMode: RouteKeyClientID},
		{ID: "2", Filter: "factory/+/temp", Topic: "factory-temp", Direction: RouteIn},
		{ID: "3", Filter: "out/+", Topic: "out-{1}", Direction: RouteOut},
		{ID: "4", Filter: "site/+/line/+/#", Topic: "s{1}.l{2}", Direction: RouteIn},
		{ID: "5", Filter: "#", Topic: "catch-all", Direction: RouteIn},
	}
	for _, tc := range []struct{ mqtt, topic string }{
		{"factory/berlin/temp", "factory-temp"},
		{"agents/bob/inbox", "agent-bob"},
		{"agents/bo b/inbox", "catch-all"}, // the capture is no topic-name text: the next rule
		{"site/3/line/7/x/y", "s3.l7"},
		{"out/x", "catch-all"}, // out rules do not take publishes
		{"anything/else", "catch-all"},
	} {
		if got, ok := MatchRoute(rules, tc.mqtt); !ok || got != tc.topic {
			t.Errorf("MatchRoute(%q) = %q, %v; want %q", tc.mqtt, got, ok, tc.topic)
		}
	}
	if _, ok := MatchRoute(rules[:4], "nothing/here"); ok {
		t.Error("an unrouted topic matched")
	}
	if r, _, _ := MatchRouteRule(rules, "agents/a/inbox"); r.KeyMode != RouteKeyClientID {
		t.Errorf("MatchRouteRule gave rule %+v", r)
	}
	// An empty level is a legal capture.
	if got, ok := MatchRoute(rules, "agents//inbox"); !ok || got != "agent-" {
		t.Errorf("empty capture: %q %v", got, ok)
	}
}

func TestRoutesClient(t *testing.T) {
	ctx := context.Background()
	c := NewRoutes(newMemProposer())
	r, err := c.Add(ctx, RouteRule{ID: "f", Filter: "factory/+/temp", Topic: "factory-temp"})
	if err != nil || r.KeyMode != RouteKeyMQTTTopic || r.Direction != RouteIn {
		t.Fatalf("Add = %+v, %v", r, err)
	}
	if _, err := c.Add(ctx, RouteRule{ID: "f", Filter: "x", Topic: "y"}); !RejectedWith(err, RejectExists) {
		t.Fatalf("duplicate Add: %v", err)
	}
	if _, err := c.Add(ctx, RouteRule{ID: "a", Filter: "agents/+/inbox", Topic: "agent-{1}"}); err != nil {
		t.Fatal(err)
	}
	rules, err := c.List(ctx)
	if err != nil || len(rules) != 2 || rules[0].ID != "a" {
		t.Fatalf("List = %+v, %v", rules, err)
	}
	if topic, ok := MatchRoute(rules, "agents/x1/inbox"); !ok || topic != "agent-x1" {
		t.Fatalf("MatchRoute over the listed rules = %q %v", topic, ok)
	}
	if got, ok, err := c.Get(ctx, "f"); !ok || err != nil || got.Topic != "factory-temp" {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}
	if err := c.Remove(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get(ctx, "f"); ok || err != nil {
		t.Fatalf("Get after Remove = %v %v", ok, err)
	}
	if err := c.Remove(ctx, "f"); !RejectedWith(err, RejectNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
}
