package kafka

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func userOpt(user, pass string) kgo.Opt {
	return kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
}

func createdACLs(t *testing.T, res kadm.CreateACLsResults, err error) {
	t.Helper()
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestACLEnforcement sets ACLs with kadm as a super user and checks what
// other users may do: produce without WRITE is TOPIC_AUTHORIZATION_FAILED,
// Metadata hides topics without DESCRIBE, a group without READ is
// GROUP_AUTHORIZATION_FAILED, the ACL APIs need cluster rights.
func TestACLEnforcement(t *testing.T) {
	b := startSecureBroker(t, map[string]string{"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw"}, func(o *Options) {
		o.Security.SuperUsers = []string{"User:admin"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := kadm.NewClient(newFranz(t, b.addr, userOpt("admin", "admin-pw")))
	if _, err := admin.CreateTopics(ctx, 2, 1, nil, "orders", "secret", "logs-a", "logs-b"); err != nil {
		t.Fatal(err)
	}
	res, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders").Groups("g1").
		Operations(kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	createdACLs(t, res, err)
	res, err = admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:bob").Topics("orders").
		Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	createdACLs(t, res, err)
	res, err = admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:bob").Topics("logs-").
		Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternPrefixed))
	createdACLs(t, res, err)

	t.Run("metrics", func(t *testing.T) {
		bob := newFranz(t, b.addr, userOpt("bob", "bob-pw"), kgo.DisableIdempotentWrite())
		before := counterValue(b.srv.metrics.sec.denied.WithLabelValues("topic"))
		bob.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("x")})
		if counterValue(b.srv.metrics.sec.denied.WithLabelValues("topic")) <= before {
			t.Fatal("a denied produce did not count in strata_kafka_authorization_denied_total")
		}
		if counterValue(b.srv.metrics.sec.authn.WithLabelValues("SCRAM-SHA-512", "ok")) == 0 {
			t.Fatal("no SCRAM-SHA-512 login counted in strata_kafka_authentications_total")
		}
		bad := newFranz(t, b.addr, userOpt("bob", "wrong"), kgo.RequestRetries(0))
		bad.Ping(ctx)
		if counterValue(b.srv.metrics.sec.authn.WithLabelValues("SCRAM-SHA-512", "failed")) == 0 {
			t.Fatal("a failed login did not count")
		}
	})

	t.Run("produce-without-write", func(t *testing.T) {
		// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or
		// WRITE on some topic (KIP-679): InitProducerId fails first.
		bob := newFranz(t, b.addr, userOpt("bob", "bob-pw"), kgo.RecordRetries(1))
		err := bob.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("bob idempotent produce: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		bob = newFranz(t, b.addr, userOpt("bob", "bob-pw"), kgo.DisableIdempotentWrite())
		err = bob.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("bob produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("metadata-hides-topics", func(t *testing.T) {
		bob := kadm.NewClient(newFranz(t, b.addr, userOpt("bob", "bob-pw")))
		topics, err := bob.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := topics.Names(); !slices.Equal(got, []string{"logs-a", "logs-b", "orders"}) {
			t.Fatalf("bob sees topics %v, want logs-a logs-b orders", got)
		}
		md, err := bob.Metadata(ctx, "secret")
		if err == nil {
			err = md.Topics["secret"].Err
		}
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("bob metadata of secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		// No auto-creation without CREATE: the name stays unknown.
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("logs-new")
		req.Topics, req.AllowAutoTopicCreation = append(req.Topics, rt), true
		resp, err := req.RequestWith(ctx, newFranz(t, b.addr, userOpt("bob", "bob-pw")))
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("auto-create without CREATE: code %d", code)
		}
		if _, err := b.store.Topic("logs-new"); err == nil {
			t.Fatal("logs-new was created for a principal without CREATE")
		}
	})

	t.Run("group", func(t *testing.T) {
		alice := newFranz(t, b.addr, userOpt("alice", "alice-pw"), kgo.DefaultProduceTopic("orders"))
		recs := testRecords("orders", 5)
		if err := alice.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("alice produce: %v", err)
		}
		cons := newFranz(t, b.addr, userOpt("alice", "alice-pw"), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("orders"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		n := 0
		for n < len(recs) {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("alice consume in g1: %v", err)
			}
			n += len(fs.Records())
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("alice commit: %v", err)
		}
		// Authorized operations (KIP-430): alice may read and describe g1,
		// not delete it.
		dg, err := kadm.NewClient(cons).DescribeGroups(ctx, "g1")
		if err != nil {
			t.Fatal(err)
		}
		if ops := dg["g1"].AuthorizedOperations; !slices.Equal(ops, []kadm.ACLOperation{kadm.OpRead, kadm.OpDescribe}) {
			t.Fatalf("alice's operations on g1: %v", ops)
		}
		bob := kadm.NewClient(newFranz(t, b.addr, userOpt("bob", "bob-pw")))
		if _, err := bob.FetchOffsets(ctx, "g1"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("bob fetch offsets of g1: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		groups, err := bob.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != 0 {
			t.Fatalf("bob lists groups %v", groups.Groups())
		}
	})

	t.Run("acl-apis", func(t *testing.T) {
		bob := kadm.NewClient(newFranz(t, b.addr, userOpt("bob", "bob-pw")))
		res, err := bob.DescribeACLs(ctx, kadm.NewACLs().Topics("orders").Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternMatch))
		if err == nil {
			for _, r := range res {
				err = errors.Join(err, r.Err)
			}
		}
		if len(res) == 0 || !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("bob describe ACLs: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
		}
		described, err := admin.DescribeACLs(ctx, kadm.NewACLs().Topics("orders").Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).
			ResourcePatternType(kadm.ACLPatternMatch))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range described {
			if d.Err != nil {
				t.Fatal(d.Err)
			}
			n += len(d.Described)
		}
		if n != 3 { // alice read+write, bob read
			t.Fatalf("bindings that apply to orders: %d, want 3: %+v", n, described)
		}
		deleted, err := admin.DeleteACLs(ctx, kadm.NewACLs().Topics("logs-").Allow("User:bob").AllowHosts().Operations(kadm.OpDescribe).
			ResourcePatternType(kadm.ACLPatternPrefixed))
		if err != nil || len(deleted) != 1 || len(deleted[0].Deleted) != 1 {
			t.Fatalf("delete bob's prefixed ACL: %v %+v", err, deleted)
		}
		topics, err := bob.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := topics.Names(); !slices.Equal(got, []string{"orders"}) {
			t.Fatalf("after the delete bob sees %v, want orders", got)
		}
	})

	t.Run("scram-apis", func(t *testing.T) {
		alt, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
			{User: "dave", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "dave-pw"},
		})
		if err != nil || alt["dave"].Err != nil {
			t.Fatalf("alter dave: %v %v", err, alt["dave"])
		}
		// Too few iterations (kadm refuses them itself: the raw request).
		raw := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "erin", 2, 100, []byte("salt"), make([]byte, 64)
		raw.Upsertions = append(raw.Upsertions, up)
		rawResp, err := raw.RequestWith(ctx, newFranz(t, b.addr, userOpt("admin", "admin-pw")))
		if err != nil || len(rawResp.Results) != 1 || rawResp.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
			t.Fatalf("erin with 100 iterations: %v %+v", err, rawResp)
		}
		dave := newFranz(t, b.addr, kgo.SASL(scram.Auth{User: "dave", Pass: "dave-pw"}.AsSha256Mechanism()))
		if err := dave.Ping(ctx); err != nil {
			t.Fatalf("dave after AlterUserScramCredentials: %v", err)
		}
		plainDave := newFranz(t, b.addr, kgo.SASL(plain.Auth{User: "dave", Pass: "dave-pw"}.AsMechanism()))
		if err := plainDave.Ping(ctx); err != nil {
			t.Fatalf("dave over PLAIN: %v", err)
		}
		desc, err := admin.DescribeUserSCRAMs(ctx, "dave", "nobody")
		if err != nil {
			t.Fatal(err)
		}
		if d := desc["dave"]; d.Err != nil || len(d.CredInfos) != 1 || d.CredInfos[0].Iterations != 4096 || d.CredInfos[0].Mechanism != kadm.ScramSha256 {
			t.Fatalf("describe dave: %+v", d)
		}
		if !errors.Is(desc["nobody"].Err, kerr.ResourceNotFound) {
			t.Fatalf("describe nobody: %v", desc["nobody"].Err)
		}
		alt, err = admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "dave", Mechanism: kadm.ScramSha256}}, nil)
		if err != nil || alt["dave"].Err != nil {
			t.Fatalf("delete dave: %v %v", err, alt["dave"].Err)
		}
		gone := newFranz(t, b.addr, kgo.SASL(scram.Auth{User: "dave", Pass: "dave-pw"}.AsSha256Mechanism()), kgo.RequestRetries(0))
		if err := gone.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("dave after delete: %v", err)
		}
	})
}
