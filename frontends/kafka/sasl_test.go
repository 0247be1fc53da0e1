package kafka

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"strata/meta"
)

// startSecureBroker starts a broker on which every connection must
// authenticate (loopback included), with the users given (name ->
// password, both SCRAM mechanisms).
func startSecureBroker(t testing.TB, users map[string]string, edit ...func(*Options)) *testBroker {
	t.Helper()
	b := startBroker(t, append([]func(*Options){func(o *Options) {
		o.Security.Anonymous = AnonymousDeny
		o.Security.FailedAuthDelay = -1
	}}, edit...)...)
	sec := meta.NewSecurity(b.node)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, pw := range users {
		if _, err := sec.SetPassword(ctx, name, pw, nil, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// roundTrip produces n records to topic with cl and reads them back with a
// client built from opts.
func roundTrip(t *testing.T, addr, topic string, cl *kgo.Client, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs := testRecords(topic, 10)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	got := consumeN(t, addr, topic, len(recs), opts...)
	for i := range recs {
		sameRecord(t, recs[i], got[i])
	}
}

// TestSASLFranz authenticates franz-go with PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 and round-trips records; a wrong password, an unknown
// user and no SASL at all are refused.
func TestSASLFranz(t *testing.T) {
	b := startSecureBroker(t, map[string]string{"alice": "alice-secret", "bob,=x": "p,=ss"})
	mechs := map[string]func(user, pass string) sasl.Mechanism{
		"PLAIN":         func(u, p string) sasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
		"SCRAM-SHA-256": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
		"SCRAM-SHA-512": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
	}
	for name, mech := range mechs {
		t.Run(name, func(t *testing.T) {
			for _, user := range []string{"alice", "bob,=x"} {
				pw := map[string]string{"alice": "alice-secret", "bob,=x": "p,=ss"}[user]
				opt := kgo.SASL(mech(user, pw))
				cl := newFranz(t, b.addr, opt, kgo.DefaultProduceTopic("sasl-"+strings.ToLower(name)), kgo.AllowAutoTopicCreation())
				roundTrip(t, b.addr, "sasl-"+strings.ToLower(name), cl, opt)
			}
			for _, bad := range [][2]string{{"alice", "wrong"}, {"nobody", "alice-secret"}} {
				cl := newFranz(t, b.addr, kgo.SASL(mech(bad[0], bad[1])), kgo.RequestRetries(0))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cl.Ping(ctx)
				cancel()
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("%s/%s: ping error %v, want SASL_AUTHENTICATION_FAILED", bad[0], bad[1], err)
				}
			}
		})
	}
	t.Run("no-sasl", func(t *testing.T) {
		cl := newFranz(t, b.addr, kgo.RequestRetries(0))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// ApiVersions passes; Metadata closes the connection.
		if _, err := cl.Request(ctx, kmsgMetadataAll()); err == nil {
			t.Fatal("metadata without SASL succeeded on a broker that requires it")
		}
	})
}

// TestSASLAnonymousLoopback: the default policy lets a loopback client in
// unauthenticated, and SASL still works on the same broker.
func TestSASLAnonymousLoopback(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := meta.NewSecurity(b.node).SetPassword(ctx, "carol", "carol-pw", []string{meta.MechScramSHA256}, 0); err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("anon"), kgo.AllowAutoTopicCreation())
	roundTrip(t, b.addr, "anon", cl)
	opt := kgo.SASL(scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha256Mechanism())
	cl2 := newFranz(t, b.addr, opt, kgo.DefaultProduceTopic("anon2"), kgo.AllowAutoTopicCreation())
	roundTrip(t, b.addr, "anon2", cl2, opt)
	// carol has no SCRAM-SHA-512 credential.
	bad := newFranz(t, b.addr, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism()), kgo.RequestRetries(0))
	if err := bad.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("SCRAM-SHA-512 without that credential: %v", err)
	}
}

// franzScram adapts franz-go's SCRAM client to sarama's SCRAMClient, so
// that sarama runs a real client implementation of SCRAM (its examples
// use xdg-go/scram, which this module does not depend on).
type franzScram struct {
	sha512 bool
	sess   sasl.Session
	done   bool
	user   string
	pass   string
}

func (f *franzScram) Begin(user, pass, _ string) error { f.user, f.pass = user, pass; return nil }
func (f *franzScram) Done() bool                       { return f.done }
func (f *franzScram) Step(challenge string) (string, error) {
	if f.sess == nil {
		a := scram.Auth{User: f.user, Pass: f.pass}
		m := a.AsSha256Mechanism()
		if f.sha512 {
			m = a.AsSha512Mechanism()
		}
		sess, first, err := m.Authenticate(context.Background(), "")
		f.sess = sess
		return string(first), err
	}
	done, out, err := f.sess.Challenge([]byte(challenge))
	f.done = done
	return string(out), err
}

// TestSASLSarama runs sarama's PLAIN and SCRAM over SaslHandshake v1
// (SaslAuthenticate) and v0 (bare tokens).
func TestSASLSarama(t *testing.T) {
	b := startSecureBroker(t, map[string]string{"sam": "sam-pw", "s": "p"})
	cases := []struct {
		name      string
		mechanism sarama.SASLMechanism
		version   int16
		sha512    bool
	}{
		{"plain-v1", sarama.SASLTypePlaintext, sarama.SASLHandshakeV1, false},
		{"plain-v0", sarama.SASLTypePlaintext, sarama.SASLHandshakeV0, false},
		// A bare PLAIN token shorter than a request header ("\x00s\x00p").
		{"plain-v0-short", sarama.SASLTypePlaintext, sarama.SASLHandshakeV0, false},
		{"scram256-v1", sarama.SASLTypeSCRAMSHA256, sarama.SASLHandshakeV1, false},
		{"scram512-v1", sarama.SASLTypeSCRAMSHA512, sarama.SASLHandshakeV1, true},
		{"scram256-v0", sarama.SASLTypeSCRAMSHA256, sarama.SASLHandshakeV0, false},
		{"scram512-v0", sarama.SASLTypeSCRAMSHA512, sarama.SASLHandshakeV0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := func(pass string) *sarama.Config {
				cfg := sarama.NewConfig()
				cfg.Version = sarama.V3_6_0_0
				cfg.Net.SASL.Enable = true
				cfg.Net.SASL.Mechanism = c.mechanism
				cfg.Net.SASL.Version = c.version
				cfg.Net.SASL.Handshake = true
				cfg.Net.SASL.User, cfg.Net.SASL.Password = "sam", pass
				if c.name == "plain-v0-short" {
					cfg.Net.SASL.User, cfg.Net.SASL.Password = "s", pass[:1]
				}
				cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &franzScram{sha512: c.sha512} }
				cfg.Producer.Return.Successes = true
				cfg.Producer.RequiredAcks = sarama.WaitForAll
				cfg.Metadata.Retry.Max = 0
				// sarama refuses SASL v0 together with ApiVersions (a v0
				// broker predates it).
				cfg.ApiVersionsRequest = c.version != sarama.SASLHandshakeV0
				return cfg
			}
			topic := "sarama-" + c.name
			pw := "sam-pw"
			if c.name == "plain-v0-short" {
				pw = "p"
			}
			p, err := sarama.NewSyncProducer([]string{b.addr}, cfg(pw))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i := range 5 {
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			opt := kgo.SASL(plain.Auth{User: "sam", Pass: "sam-pw"}.AsMechanism())
			if got := consumeN(t, b.addr, topic, 5, opt); string(got[4].Value) != "4" {
				t.Fatalf("read back %q", got[4].Value)
			}
			if _, err := sarama.NewClient([]string{b.addr}, cfg("xwrong")); err == nil {
				t.Fatal("sarama with a wrong password connected")
			}
		})
	}
}

// TestSASLKcat drives librdkafka (kcat) with SCRAM-SHA-256 and PLAIN:
// produce, then consume what was produced.
func TestSASLKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: run scripts/test-deps.sh (Debian: apt-get install kcat)")
	}
	b := startSecureBroker(t, map[string]string{"kay": "kay-pw"})
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			topic := "kcat-" + strings.ToLower(mech)
			args := func(pass string, extra ...string) []string {
				return append([]string{"-b", b.addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
					"-X", "sasl.username=kay", "-X", "sasl.password=" + pass, "-t", topic}, extra...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			prod := exec.CommandContext(ctx, kcat, args("kay-pw", "-P", "-K", ":")...)
			prod.Stdin = strings.NewReader("k1:one\nk2:two\nk3:three\n")
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat -P: %v\n%s", err, out)
			}
			out, err := exec.CommandContext(ctx, kcat, args("kay-pw", "-C", "-o", "beginning", "-e", "-f", "%k=%s\n")...).Output()
			if err != nil {
				t.Fatalf("kcat -C: %v\n%s", err, out)
			}
			if got := string(out); got != "k1=one\nk2=two\nk3=three\n" {
				t.Fatalf("kcat consumed %q", got)
			}
			bad, err := exec.CommandContext(ctx, kcat, args("nope", "-L", "-m", "3")...).CombinedOutput()
			if err == nil {
				t.Fatalf("kcat -L with a wrong password succeeded:\n%s", bad)
			}
		})
	}
}

func kmsgMetadataAll() kmsg.Request { return kmsg.NewPtrMetadataRequest() }
