package mqtt

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// recordingRouter is a Router that takes its time and remembers what it
// made durable; topics under "fail/" are refused.
type recordingRouter struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recordingRouter) Route(_ context.Context, from *ClientInfo, m *Message) error {
	if strings.HasPrefix(m.Topic, "fail/") {
		return QuotaExceeded
	}
	time.Sleep(20 * time.Millisecond) // a durable append
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, from.ClientID+" "+m.Topic+" "+string(m.Payload))
	return nil
}

func (r *recordingRouter) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m == s {
			return true
		}
	}
	return false
}

func TestRouterAndInject(t *testing.T) {
	router := &recordingRouter{}
	b := newBroker(t, Options{Router: router})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "dev1", CleanStart: true}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "from/kafka/#", QoS: 1})
	// PUBACK comes after Route returned.
	c.pub(t, &paho.Publish{Topic: "factory/1/temp", QoS: 1, Payload: []byte("21")})
	if !router.has("dev1 factory/1/temp 21") {
		t.Fatal("PUBACK before the router made the message durable")
	}
	// A refusing router: the reason goes back in PUBACK (5.0) ...
	if r := c.pub(t, &paho.Publish{Topic: "fail/x", QoS: 1, Payload: []byte("no")}); r.ReasonCode != byte(QuotaExceeded) {
		t.Fatalf("router refusal: reason %#x", r.ReasonCode)
	}
	// ... and a 3.x client is disconnected, to resend.
	lost := make(chan struct{}, 1)
	v3 := dialV3(t, "tcp://"+b.tcp, "dev3", 4, true, func(o *pahov3.ClientOptions) {
		o.SetConnectionLostHandler(func(pahov3.Client, error) { lost <- struct{}{} })
	})
	v3.Publish("fail/y", 1, false, "x")
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("3.1.1 client not disconnected after a router failure")
	}
	// Inject: reverse delivery, retained too.
	if err := b.srv.Inject(t.Context(), Message{Topic: "from/kafka/a", Payload: []byte("k"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); m.Topic != "from/kafka/a" || string(m.Payload) != "k" || m.QoS != 1 {
		t.Fatalf("injected: %+v", m)
	}
	if err := b.srv.Inject(t.Context(), Message{Topic: "from/kafka/r", Payload: []byte("kept"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	c.next(t)
	late := dialV5(t, b.tcp, &paho.Connect{ClientID: "late", CleanStart: true}, nil)
	late.sub(t, paho.SubscribeOptions{Topic: "from/kafka/r", QoS: 1})
	if m := late.next(t); string(m.Payload) != "kept" || !m.Retain {
		t.Fatalf("injected retained: %+v", m)
	}
	if err := b.srv.Inject(t.Context(), Message{Topic: "bad/+"}); err != TopicNameInvalid {
		t.Fatalf("wildcard topic injected: %v", err)
	}
}

func TestStoresSurviveRestart(t *testing.T) {
	sessions, retained := NewMemorySessionStore(), NewMemoryRetainedStore()
	b := newBroker(t, Options{Sessions: sessions, Retained: retained})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "keep", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "keep/#", QoS: 1})
	c.pub(t, &paho.Publish{Topic: "state", QoS: 1, Retain: true, Payload: []byte("on")})
	c.Disconnect(&paho.Disconnect{})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "keep-pub", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "keep/1", QoS: 1, Payload: []byte("while away")})
	b.srv.Close()

	b2 := newBroker(t, Options{Sessions: sessions, Retained: retained})
	c = dialV5(t, b2.tcp, &paho.Connect{ClientID: "keep", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
	if !c.connack.SessionPresent {
		t.Fatal("session lost across the restart")
	}
	if m := c.next(t); string(m.Payload) != "while away" {
		t.Fatalf("queued message: %q", m.Payload)
	}
	pub = dialV5(t, b2.tcp, &paho.Connect{ClientID: "keep-pub", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "keep/2", QoS: 1, Payload: []byte("after")})
	if m := c.next(t); string(m.Payload) != "after" {
		t.Fatalf("subscription lost across the restart: %q", m.Payload)
	}
	c.sub(t, paho.SubscribeOptions{Topic: "state", QoS: 1})
	if m := c.next(t); string(m.Payload) != "on" || !m.Retain {
		t.Fatalf("retained message lost across the restart: %+v", m)
	}
}

// testAuth accepts user "u" with password "p", and the enhanced method
// "TEST": challenge "c1", expected answer "r1".
type testAuth struct{ AllowAll }

func (testAuth) Authenticate(_ context.Context, req *ConnectRequest) (string, error) {
	if req.Username != "u" || string(req.Password) != "p" {
		return "", BadUserNameOrPassword
	}
	return "user:u", nil
}

func (testAuth) StartAuth(_ context.Context, req *ConnectRequest) (AuthExchange, error) {
	if req.AuthMethod != "TEST" {
		return nil, BadAuthenticationMethod
	}
	return &testExchange{}, nil
}

type testExchange struct{ step int }

func (e *testExchange) Step(_ context.Context, in []byte) ([]byte, bool, string, error) {
	e.step++
	switch {
	case e.step == 1 && string(in) == "hello":
		return []byte("c1"), false, "", nil
	case e.step == 2 && string(in) == "r1":
		return []byte("ok"), true, "scram:u", nil
	}
	return nil, false, "", NotAuthorized
}

// testAuthz denies publishing and subscribing under secret/, and client
// "nosy" may not receive "news".
type testAuthz struct{}

func (testAuthz) Authorize(r *AuthzRequest) bool {
	switch r.Action {
	case ActionPublish, ActionSubscribe:
		return !strings.HasPrefix(r.Topic, "secret/")
	case ActionReceive:
		return !(r.Client.ClientID == "nosy" && r.Topic == "news")
	}
	return true
}

type autherFunc struct{ f func(*paho.Auth) *paho.Auth }

func (a autherFunc) Authenticate(x *paho.Auth) *paho.Auth { return a.f(x) }
func (autherFunc) Authenticated()                         {}

func TestSecuritySeams(t *testing.T) {
	b := newBroker(t, Options{Authenticator: testAuth{}, Authorizer: testAuthz{}})
	// Plain authentication.
	nc := dial(t, b.tcp)
	cl := paho.NewClient(paho.ClientConfig{Conn: nc})
	ca, err := cl.Connect(t.Context(), &paho.Connect{ClientID: "x", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("bad")})
	if err == nil || ca == nil || ca.ReasonCode != byte(BadUserNameOrPassword) {
		t.Fatalf("bad password: %v %+v", err, ca)
	}
	v3 := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("tcp://" + b.tcp).SetClientID("x3").SetUsername("u").SetPassword("bad").SetProtocolVersion(4))
	if tok := v3.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() == nil || !strings.Contains(tok.Error().Error(), "user name or password") {
		t.Fatalf("3.1.1 bad password: %v", tok.Error())
	}
	good := dialV5(t, b.tcp, &paho.Connect{ClientID: "good", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}, nil)
	// Enhanced authentication over AUTH packets.
	var challenges atomic.Int32
	enh := dialV5(t, b.tcp, &paho.Connect{ClientID: "enh", CleanStart: true, Properties: &paho.ConnectProperties{AuthMethod: "TEST", AuthData: []byte("hello")}},
		func(c *paho.ClientConfig) {
			c.AuthHandler = autherFunc{func(a *paho.Auth) *paho.Auth {
				challenges.Add(1)
				if string(a.Properties.AuthData) != "c1" {
					t.Errorf("challenge %q", a.Properties.AuthData)
				}
				return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: "TEST", AuthData: []byte("r1")}}
			}}
		})
	if string(enh.connack.Properties.AuthData) != "ok" || enh.connack.Properties.AuthMethod != "TEST" {
		t.Fatalf("CONNACK after AUTH: %+v", enh.connack.Properties)
	}
	// Re-authentication (AUTH 0x19) runs the exchange again on the live connection.
	ar, err := enh.Authenticate(t.Context(), &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "TEST", AuthData: []byte("hello")}})
	if err != nil || !ar.Success || ar.ReasonCode != 0 || challenges.Load() != 2 {
		t.Fatalf("re-authentication: %+v %v (%d challenges answered)", ar, err, challenges.Load())
	}
	// A failed one ends the connection with the reason.
	ar, err = enh.Authenticate(t.Context(), &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "TEST", AuthData: []byte("wrong")}})
	if err != nil || ar.Success || ar.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("failed re-authentication: %+v %v", ar, err)
	}
	nc = dial(t, b.tcp)
	cl = paho.NewClient(paho.ClientConfig{Conn: nc})
	ca, _ = cl.Connect(t.Context(), &paho.Connect{ClientID: "y", CleanStart: true, Properties: &paho.ConnectProperties{AuthMethod: "OTHER"}})
	if ca == nil || ca.ReasonCode != byte(BadAuthenticationMethod) {
		t.Fatalf("unknown method: %+v", ca)
	}
	// Authorization.
	if r := good.pub(t, &paho.Publish{Topic: "secret/x", QoS: 1}); r.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("publish: %#x", r.ReasonCode)
	}
	if sa := good.sub(t, paho.SubscribeOptions{Topic: "secret/#", QoS: 1}); sa.Reasons[0] != byte(NotAuthorized) {
		t.Fatalf("subscribe: %v", sa.Reasons)
	}
	nosy := dialV5(t, b.tcp, &paho.Connect{ClientID: "nosy", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}, nil)
	nosy.sub(t, paho.SubscribeOptions{Topic: "news", QoS: 1}, paho.SubscribeOptions{Topic: "weather", QoS: 1})
	good.sub(t, paho.SubscribeOptions{Topic: "news", QoS: 1})
	good.pub(t, &paho.Publish{Topic: "news", QoS: 1, Payload: []byte("n")})
	good.pub(t, &paho.Publish{Topic: "weather", QoS: 1, Payload: []byte("w")})
	if m := nosy.next(t); m.Topic != "weather" {
		t.Fatalf("nosy received %q", m.Topic)
	}
	if m := good.next(t); m.Topic != "news" {
		t.Fatalf("good received %q", m.Topic)
	}
}
