package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func binding(rt, name, pattern, principal, op, perm string) meta.ACLBinding {
	return meta.ACLBinding{ResourceType: rt, ResourceName: name, PatternType: pattern, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

// TestAuthorizeRule is the rule of authz.go, case by case.
func TestAuthorizeRule(t *testing.T) {
	acls := []meta.ACLBinding{
		binding(meta.ResourceTopic, "orders", meta.PatternLiteral, "User:alice", "read", meta.PermissionAllow),
		binding(meta.ResourceTopic, "orders", meta.PatternLiteral, "User:*", "write", meta.PermissionAllow),
		binding(meta.ResourceTopic, "orders", meta.PatternLiteral, "User:mallory", "all", meta.PermissionDeny),
		binding(meta.ResourceTopic, "etl-", meta.PatternPrefixed, "User:etl", "all", meta.PermissionAllow),
		binding(meta.ResourceTopic, "conf", meta.PatternLiteral, "User:ops", "alter_configs", meta.PermissionAllow),
		binding(meta.ResourceGroup, "*", meta.PatternLiteral, "User:alice", "read", meta.PermissionAllow),
		binding(meta.ResourceCluster, clusterResource, meta.PatternLiteral, "User:ops", "create", meta.PermissionAllow),
	}
	cases := []struct {
		acls      []meta.ACLBinding
		everyone  bool
		principal string
		rt, name  string
		op        aclOp
		want      bool
		why       string
	}{
		{nil, false, "User:ANONYMOUS", meta.ResourceTopic, "x", aclWrite, true, "no ACLs: open"},
		{acls, false, "User:alice", meta.ResourceTopic, "orders", aclRead, true, "literal allow"},
		{acls, false, "User:alice", meta.ResourceTopic, "orders", aclDescribe, true, "read implies describe"},
		{acls, false, "User:alice", meta.ResourceTopic, "orders", aclDelete, false, "not granted"},
		{acls, false, "User:bob", meta.ResourceTopic, "orders", aclWrite, true, "User:* allow"},
		{acls, false, "User:mallory", meta.ResourceTopic, "orders", aclWrite, false, "deny wins over User:*"},
		{acls, false, "User:etl", meta.ResourceTopic, "etl-daily", aclCreate, true, "prefixed all"},
		{acls, false, "User:etl", meta.ResourceTopic, "etl", aclRead, false, "prefix longer than the name"},
		{acls, false, "User:ops", meta.ResourceTopic, "conf", aclDescribeConfigs, true, "alter_configs implies describe_configs"},
		{acls, false, "User:alice", meta.ResourceGroup, "any-group", aclRead, true, "wildcard literal *"},
		{acls, false, "User:alice", meta.ResourceTopic, "unnamed", aclRead, false, "no ACL names it: denied"},
		{acls, true, "User:alice", meta.ResourceTopic, "unnamed", aclRead, true, "allow.everyone.if.no.acl.found"},
		{acls, true, "User:alice", meta.ResourceTopic, "orders", aclDelete, false, "named: the flag does not apply"},
		{acls, false, "User:admin", meta.ResourceTopic, "orders", aclDelete, true, "super user"},
		{acls, false, "User:ops", meta.ResourceTopic, "new-topic", aclCreate, true, "cluster CREATE allows topic CREATE"},
	}
	s := fuzzServer(t)
	s.opts.Security.SuperUsers = []string{"User:admin"}
	for _, c := range cases {
		s.opts.Security.AllowEveryoneIfNoACLFound = c.everyone
		s.sec.acls.snap.Store(newACLSnapshot(c.acls, time.Now().Add(time.Hour)))
		rc := &reqCtx{ctx: context.Background(), srv: s, conn: &connInfo{remoteAddr: "10.0.0.1:5555", principal: c.principal}}
		var got bool
		if c.rt == meta.ResourceTopic {
			got = s.authorize(rc, c.op, c.name)
		} else {
			got = rc.authorize(c.rt, c.name, c.op)
		}
		if got != c.want {
			t.Errorf("%s: %s %s on %s %q = %v, want %v", c.why, c.principal, c.op, c.rt, c.name, got, c.want)
		}
	}
}

// TestACLSnapshotIgnoresMQTT: mqtt_topic ACLs do not switch Kafka
// authorization on, and a Kafka ACL does.
func TestACLSnapshotIgnoresMQTT(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sec := meta.NewSecurity(b.node)
	rc := &reqCtx{ctx: ctx, srv: b.srv, conn: &connInfo{remoteAddr: "127.0.0.1:1", principal: "User:ANONYMOUS"}}
	if _, err := sec.CreateACLs(ctx, []meta.ACLBinding{binding(meta.ResourceMQTTTopic, "a/#", meta.PatternMQTTFilter, "User:x", "publish", meta.PermissionAllow)}); err != nil {
		t.Fatal(err)
	}
	b.srv.sec.acls.invalidate(ctx)
	if !rc.authzOpen() {
		t.Fatal("an mqtt_topic ACL turned Kafka authorization on")
	}
	if _, err := sec.CreateACLs(ctx, []meta.ACLBinding{binding(meta.ResourceTopic, "t", meta.PatternLiteral, "User:x", "read", meta.PermissionAllow)}); err != nil {
		t.Fatal(err)
	}
	b.srv.sec.acls.invalidate(ctx)
	if rc.authzOpen() || b.srv.authorize(rc, aclRead, "t") {
		t.Fatal("a topic ACL for User:x left the anonymous principal its rights")
	}
}

// BenchmarkAuthorize: one topic check against 1000 bindings of which 100
// are topic ones (the rest groups), allowed by a prefixed binding.
func BenchmarkAuthorize(b *testing.B) {
	var acls []meta.ACLBinding
	for i := range 900 {
		acls = append(acls, binding(meta.ResourceGroup, fmt.Sprintf("g%d", i), meta.PatternLiteral, "User:u", "read", meta.PermissionAllow))
	}
	for i := range 100 {
		acls = append(acls, binding(meta.ResourceTopic, fmt.Sprintf("t%d-", i), meta.PatternPrefixed, "User:u", "write", meta.PermissionAllow))
	}
	s := fuzzServer(b)
	s.sec.acls.snap.Store(newACLSnapshot(acls, time.Now().Add(time.Hour)))
	rc := &reqCtx{ctx: context.Background(), srv: s, conn: &connInfo{remoteAddr: "10.0.0.1:5555", principal: "User:u"}}
	b.ReportAllocs()
	for b.Loop() {
		if !s.authorize(rc, aclWrite, "t50-orders") {
			b.Fatal("denied")
		}
	}
}

// TestAuthzTopicIDs: requests that name topics by id (OffsetCommit v10)
// are checked against the topic's name; an unknown id reaches the
// handler (UNKNOWN_TOPIC_ID is its to answer).
func TestAuthzTopicIDs(t *testing.T) {
	s := fuzzServer(t)
	info, err := s.store.Topic("t")
	if err != nil {
		t.Fatal(err)
	}
	run := func(acls []meta.ACLBinding) (served []kmsg.OffsetCommitRequestTopic, resp *kmsg.OffsetCommitResponse) {
		s.sec.acls.snap.Store(newACLSnapshot(acls, time.Now().Add(time.Hour)))
		rc := &reqCtx{ctx: context.Background(), srv: s, conn: &connInfo{remoteAddr: "10.0.0.1:1", principal: "User:u"}}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group = 10, "g"
		for _, id := range [][16]byte{info.ID, {1, 2, 3}} {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.TopicID = id
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			req.Topics = append(req.Topics, rt)
		}
		out, err := authorizeRequest(rc, req, func(_ *reqCtx, r kmsg.Request) (kmsg.Response, error) {
			served = r.(*kmsg.OffsetCommitRequest).Topics
			return r.ResponseKind(), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return served, out.(*kmsg.OffsetCommitResponse)
	}
	group := binding(meta.ResourceGroup, "g", meta.PatternLiteral, "User:u", "read", meta.PermissionAllow)
	served, resp := run([]meta.ACLBinding{group, binding(meta.ResourceTopic, "x", meta.PatternLiteral, "User:u", "read", meta.PermissionAllow)})
	if len(served) != 1 || served[0].TopicID != [16]byte{1, 2, 3} {
		t.Fatalf("served %+v, want only the unknown id", served)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].TopicID != info.ID || resp.Topics[0].Partitions[0].ErrorCode != codeTopicAuthz {
		t.Fatalf("response %+v, want t's id with TOPIC_AUTHORIZATION_FAILED", resp.Topics)
	}
	served, _ = run([]meta.ACLBinding{group, binding(meta.ResourceTopic, "t", meta.PatternLiteral, "User:u", "read", meta.PermissionAllow)})
	if len(served) != 2 {
		t.Fatalf("with READ on t, served %d topics, want 2", len(served))
	}
}

// TestAuthzTransactions: DescribeTransactions answers ids without
// DESCRIBE itself and hides topics without DESCRIBE; ListTransactions
// lists only describable ids.
func TestAuthzTransactions(t *testing.T) {
	s := fuzzServer(t)
	s.sec.acls.snap.Store(newACLSnapshot([]meta.ACLBinding{
		binding(meta.ResourceTransactionalID, "mine-", meta.PatternPrefixed, "User:u", "describe", meta.PermissionAllow),
		binding(meta.ResourceTopic, "seen", meta.PatternLiteral, "User:u", "describe", meta.PermissionAllow),
	}, time.Now().Add(time.Hour)))
	rc := &reqCtx{ctx: context.Background(), srv: s, conn: &connInfo{remoteAddr: "10.0.0.1:1", principal: "User:u"}}

	dreq := kmsg.NewPtrDescribeTransactionsRequest()
	dreq.TransactionalIDs = []string{"mine-1", "theirs"}
	out, err := authorizeRequest(rc, dreq, func(_ *reqCtx, r kmsg.Request) (kmsg.Response, error) {
		ids := r.(*kmsg.DescribeTransactionsRequest).TransactionalIDs
		if len(ids) != 1 || ids[0] != "mine-1" {
			t.Fatalf("handler got ids %v", ids)
		}
		resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID = "mine-1"
		for _, name := range []string{"seen", "hidden"} {
			tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			tt.Topic = name
			ts.Topics = append(ts.Topics, tt)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
		return resp, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	states := out.(*kmsg.DescribeTransactionsResponse).TransactionStates
	if len(states) != 2 || len(states[0].Topics) != 1 || states[0].Topics[0].Topic != "seen" ||
		states[1].TransactionalID != "theirs" || states[1].ErrorCode != codeTxnAuthz {
		t.Fatalf("DescribeTransactions: %+v", states)
	}

	out, err = authorizeRequest(rc, kmsg.NewPtrListTransactionsRequest(), func(_ *reqCtx, r kmsg.Request) (kmsg.Response, error) {
		resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
		for _, id := range []string{"mine-2", "theirs"} {
			ts := kmsg.NewListTransactionsResponseTransactionState()
			ts.TransactionalID = id
			resp.TransactionStates = append(resp.TransactionStates, ts)
		}
		return resp, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ls := out.(*kmsg.ListTransactionsResponse).TransactionStates; len(ls) != 1 || ls[0].TransactionalID != "mine-2" {
		t.Fatalf("ListTransactions: %+v", ls)
	}
}
