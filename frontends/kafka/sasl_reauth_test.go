package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSASLReauthFranz: with a session lifetime, franz-go re-authenticates
// on its connections (KIP-368) and keeps producing and consuming.
func TestSASLReauthFranz(t *testing.T) {
	b := startSecureBroker(t, map[string]string{"rita": "rita-pw"}, func(o *Options) {
		o.Security.SessionLifetime = 1500 * time.Millisecond
	})
	opt := kgo.SASL(scram.Auth{User: "rita", Pass: "rita-pw"}.AsSha256Mechanism())
	cl := newFranz(t, b.addr, opt, kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); n++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := b.srv.sec.reauthentications.Load(); got == 0 {
		t.Fatal("no re-authentication in 4s with a 1.5s session lifetime")
	}
	consumeN(t, b.addr, "reauth", n, opt)
}

// TestSASLSessionExpiry: a client that does not re-authenticate is cut off
// at its next request after the session ends; a re-authentication as
// someone else is refused.
func TestSASLSessionExpiry(t *testing.T) {
	b := startSecureBroker(t, map[string]string{"rita": "rita-pw", "sam": "sam-pw"}, func(o *Options) {
		o.Security.SessionLifetime = 300 * time.Millisecond
	})
	login := func(c *rawConn, user, pass string, corr int32) *kmsg.SASLAuthenticateResponse {
		t.Helper()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Mechanism = MechPlain
		c.request(hs, 1, corr)
		if _, body, err := c.response(false); err != nil {
			t.Fatal(err)
		} else if r := kmsg.NewPtrSASLHandshakeResponse(); r.ReadFrom(body) != nil || r.ErrorCode != 0 {
			t.Fatalf("handshake: %v %+v", r.ReadFrom(body), r)
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SASLAuthBytes = []byte("\x00" + user + "\x00" + pass)
		c.request(au, 1, corr+1)
		_, body, err := c.response(false)
		if err != nil {
			t.Fatal(err)
		}
		r := kmsg.NewPtrSASLAuthenticateResponse()
		r.Version = 1
		if err := r.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return r
	}
	metadata := func(c *rawConn, corr int32) error {
		c.request(kmsg.NewPtrMetadataRequest(), 1, corr)
		_, _, err := c.response(false)
		return err
	}

	c := dialRaw(t, b.addr)
	if r := login(c, "rita", "rita-pw", 1); r.ErrorCode != 0 || r.SessionLifetimeMillis != 300 {
		t.Fatalf("login: %+v", r)
	}
	if err := metadata(c, 3); err != nil {
		t.Fatalf("metadata within the session: %v", err)
	}
	if r := login(c, "rita", "rita-pw", 4); r.ErrorCode != 0 {
		t.Fatalf("re-authentication: %+v", r)
	}
	time.Sleep(400 * time.Millisecond)
	if err := metadata(c, 6); err == nil {
		t.Fatal("a request after the session expired was answered")
	}

	c = dialRaw(t, b.addr)
	login(c, "rita", "rita-pw", 1)
	if r := login(c, "sam", "sam-pw", 3); r.ErrorCode == 0 {
		t.Fatal("re-authentication as another user succeeded")
	}
	if err := metadata(c, 5); err == nil {
		t.Fatal("the connection stayed open after a refused re-authentication")
	}

	// Without a lifetime a second handshake is ILLEGAL_SASL_STATE.
	b2 := startSecureBroker(t, map[string]string{"rita": "rita-pw"})
	c = dialRaw(t, b2.addr)
	if r := login(c, "rita", "rita-pw", 1); r.SessionLifetimeMillis != 0 {
		t.Fatalf("lifetime %d without SessionLifetime", r.SessionLifetimeMillis)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = MechPlain
	c.request(hs, 1, 3)
	_, body, err := c.response(false)
	if err != nil {
		t.Fatal(err)
	}
	r := kmsg.NewPtrSASLHandshakeResponse()
	if err := r.ReadFrom(body); err != nil || r.ErrorCode != 34 {
		t.Fatalf("second handshake: %v code %d, want ILLEGAL_SASL_STATE (34)", err, r.ErrorCode)
	}
}
