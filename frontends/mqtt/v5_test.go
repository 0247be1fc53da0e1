package mqtt

import (
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }

var _ = time.Second

func TestV5PubSubQoS(t *testing.T) {
	b := newBroker(t, Options{})
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "sub", CleanStart: true}, nil)
	sa := sub.sub(t, paho.SubscribeOptions{Topic: "q/+", QoS: 2})
	if sa.Reasons[0] != 2 {
		t.Fatalf("granted %v", sa.Reasons)
	}
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
	for q := byte(0); q <= 2; q++ {
		r := pub.pub(t, &paho.Publish{Topic: "q/x", QoS: q, Payload: []byte{'0' + q}})
		if q > 0 && r.ReasonCode != 0 {
			t.Fatalf("QoS %d reason %#x", q, r.ReasonCode)
		}
		m := sub.next(t)
		if m.QoS != q || string(m.Payload) != string('0'+q) {
			t.Fatalf("got QoS %d %q", m.QoS, m.Payload)
		}
	}
	// Ordered per topic at QoS 1.
	for i := range 100 {
		pub.pub(t, &paho.Publish{Topic: "q/o", QoS: 1, Payload: []byte{byte(i)}})
	}
	for i := range 100 {
		if m := sub.next(t); m.Payload[0] != byte(i) {
			t.Fatalf("message %d out of order: %d", i, m.Payload[0])
		}
	}
	// No subscribers: PUBACK 0x10.
	if r := pub.pub(t, &paho.Publish{Topic: "nobody", QoS: 1}); r.ReasonCode != 0x10 {
		t.Fatalf("no subscribers: reason %#x", r.ReasonCode)
	}
}

func TestV5ConnectFeatures(t *testing.T) {
	b := newBroker(t, Options{ServerKeepAlive: 5, TopicAliasMaximum: 4})
	// Assigned client identifier, server keep alive, response information.
	c := dialV5(t, b.tcp, &paho.Connect{CleanStart: true, KeepAlive: 60,
		Properties: &paho.ConnectProperties{RequestResponseInfo: true}}, nil)
	p := c.connack.Properties
	if p.AssignedClientID == "" {
		t.Fatal("no assigned client identifier")
	}
	if p.ServerKeepAlive == nil || *p.ServerKeepAlive != 5 {
		t.Fatalf("server keep alive %v", p.ServerKeepAlive)
	}
	if p.ResponseInfo != "response/"+p.AssignedClientID {
		t.Fatalf("response information %q", p.ResponseInfo)
	}
	if p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 4 || p.ReceiveMaximum == nil || *p.ReceiveMaximum != DefaultReceiveMaximum {
		t.Fatalf("topic alias maximum %v, receive maximum %v", p.TopicAliasMaximum, p.ReceiveMaximum)
	}
	// Takeover: the first connection gets DISCONNECT 0x8E.
	first := dialV5(t, b.tcp, &paho.Connect{ClientID: "same", CleanStart: true}, nil)
	dialV5(t, b.tcp, &paho.Connect{ClientID: "same", CleanStart: false}, nil)
	select {
	case d := <-first.discon:
		if d.ReasonCode != byte(SessionTakenOver) {
			t.Fatalf("takeover reason %#x", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first connection got no DISCONNECT")
	}
}

func TestV5SessionPresentAndExpiry(t *testing.T) {
	b := newBroker(t, Options{})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "p", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "off/#", QoS: 1})
	c.Disconnect(&paho.Disconnect{})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pp", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "off/1", QoS: 1, Payload: []byte("queued")})
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "p", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(1)}}, nil)
	if !c.connack.SessionPresent {
		t.Fatal("session not present")
	}
	if m := c.next(t); string(m.Payload) != "queued" {
		t.Fatalf("got %q", m.Payload)
	}
	c.Disconnect(&paho.Disconnect{})
	time.Sleep(1500 * time.Millisecond) // expiry 1s
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "p", CleanStart: false}, nil)
	if c.connack.SessionPresent {
		t.Fatal("session present after its expiry")
	}
	// Clean start discards a session.
	c.Disconnect(&paho.Disconnect{})
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "p2", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	c.Disconnect(&paho.Disconnect{})
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "p2", CleanStart: true}, nil)
	if c.connack.SessionPresent {
		t.Fatal("session present with clean start")
	}
}

func TestV5SubscriptionOptions(t *testing.T) {
	b := newBroker(t, Options{RefuseSubscribe: []string{"test/nosubscribe"}})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "o", CleanStart: true}, nil)
	// No local: our own publish does not come back.
	c.sub(t, paho.SubscribeOptions{Topic: "nl", QoS: 1, NoLocal: true})
	c.pub(t, &paho.Publish{Topic: "nl", QoS: 1, Payload: []byte("x")})
	c.none(t, 200*time.Millisecond)
	// Retain as published keeps the flag on a live message.
	c.sub(t, paho.SubscribeOptions{Topic: "rap", QoS: 1, RetainAsPublished: true})
	c.sub(t, paho.SubscribeOptions{Topic: "norap", QoS: 1})
	c.pub(t, &paho.Publish{Topic: "rap", QoS: 1, Retain: true, Payload: []byte("r")})
	if m := c.next(t); !m.Retain {
		t.Fatal("retain as published: RETAIN=0")
	}
	c.pub(t, &paho.Publish{Topic: "norap", QoS: 1, Retain: true, Payload: []byte("r")})
	if m := c.next(t); m.Retain {
		t.Fatal("live message without retain as published: RETAIN=1")
	}
	// Retain handling: 0 sends, 1 sends only for a new subscription, 2 never.
	other := dialV5(t, b.tcp, &paho.Connect{ClientID: "o2", CleanStart: true}, nil)
	other.sub(t, paho.SubscribeOptions{Topic: "rh", QoS: 1, RetainHandling: 0})
	other.none(t, 50*time.Millisecond)
	c.pub(t, &paho.Publish{Topic: "rh", QoS: 1, Retain: true, Payload: []byte("kept")})
	other.next(t)
	other.sub(t, paho.SubscribeOptions{Topic: "rh", QoS: 1, RetainHandling: 0})
	if m := other.next(t); !m.Retain || string(m.Payload) != "kept" {
		t.Fatalf("retain handling 0: %+v", m)
	}
	other.sub(t, paho.SubscribeOptions{Topic: "rh", QoS: 1, RetainHandling: 1})
	other.none(t, 200*time.Millisecond)
	other.sub(t, paho.SubscribeOptions{Topic: "rh/#", QoS: 1, RetainHandling: 1})
	other.next(t)
	other.sub(t, paho.SubscribeOptions{Topic: "+", QoS: 1, RetainHandling: 2})
	other.none(t, 200*time.Millisecond)
	// Subscription identifiers.
	ctx := t.Context()
	id := 7
	if _, err := other.Subscribe(ctx, &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &id},
		Subscriptions: []paho.SubscribeOptions{{Topic: "sid/+", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	c.pub(t, &paho.Publish{Topic: "sid/a", QoS: 1, Payload: []byte("s")})
	if m := other.next(t); m.Properties == nil || m.Properties.SubscriptionIdentifier == nil || *m.Properties.SubscriptionIdentifier != 7 {
		t.Fatalf("subscription identifier missing: %+v", m.Properties)
	}
	// Refused and invalid filters.
	sa := c.sub(t, paho.SubscribeOptions{Topic: "test/nosubscribe", QoS: 1}, paho.SubscribeOptions{Topic: "ok", QoS: 2})
	if sa.Reasons[0] != 0x80 || sa.Reasons[1] != 2 {
		t.Fatalf("refuse-subscribe reasons %v", sa.Reasons)
	}
	if sa.Properties == nil || sa.Properties.ReasonString == "" {
		t.Fatal("no reason string on a refused subscription")
	}
	ua, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"ok", "never"}})
	if err != nil || ua.Reasons[0] != 0 || ua.Reasons[1] != 0x11 {
		t.Fatalf("unsubscribe: %v %v", ua, err)
	}
}

func TestV5MessageProperties(t *testing.T) {
	b := newBroker(t, Options{})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "mp", CleanStart: true}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "props", QoS: 1})
	pf := byte(1)
	c.pub(t, &paho.Publish{Topic: "props", QoS: 1, Payload: []byte("héllo"), Properties: &paho.PublishProperties{
		PayloadFormat: &pf, ContentType: "text/plain", ResponseTopic: "reply/here", CorrelationData: []byte{9, 8},
		MessageExpiry: u32(100), User: paho.UserProperties{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}}})
	m := c.next(t)
	p := m.Properties
	if p.PayloadFormat == nil || *p.PayloadFormat != 1 || p.ContentType != "text/plain" || p.ResponseTopic != "reply/here" ||
		string(p.CorrelationData) != "\x09\x08" || len(p.User) != 2 || p.User[1].Value != "2" {
		t.Fatalf("properties %+v", p)
	}
	if p.MessageExpiry == nil || *p.MessageExpiry > 100 || *p.MessageExpiry < 99 {
		t.Fatalf("message expiry %v", p.MessageExpiry)
	}
	// Payload format 1 with bytes that are not UTF-8: PUBACK 0x99.
	r := c.pub(t, &paho.Publish{Topic: "props", QoS: 1, Payload: []byte{0xff, 0xfe}, Properties: &paho.PublishProperties{PayloadFormat: &pf}})
	if r.ReasonCode != byte(PayloadFormatInvalid) {
		t.Fatalf("invalid UTF-8 payload: reason %#x", r.ReasonCode)
	}
	c.none(t, 100*time.Millisecond)
	// $SYS is the broker's.
	if r := c.pub(t, &paho.Publish{Topic: "$SYS/x", QoS: 1}); r.ReasonCode != byte(NotAuthorized) {
		t.Fatalf("$SYS publish: reason %#x", r.ReasonCode)
	}
}

func TestV5MessageExpiry(t *testing.T) {
	b := newBroker(t, Options{})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "ex", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "ex/#", QoS: 1})
	c.Disconnect(&paho.Disconnect{})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "exp", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "ex/short", QoS: 1, Payload: []byte("gone"), Properties: &paho.PublishProperties{MessageExpiry: u32(1)}})
	pub.pub(t, &paho.Publish{Topic: "ex/long", QoS: 1, Payload: []byte("kept"), Properties: &paho.PublishProperties{MessageExpiry: u32(10)}})
	time.Sleep(2100 * time.Millisecond)
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "ex", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	m := c.next(t)
	if string(m.Payload) != "kept" {
		t.Fatalf("got %q, want the unexpired message", m.Payload)
	}
	if e := *m.Properties.MessageExpiry; e > 8 || e < 7 {
		t.Fatalf("message expiry not decremented: %d", e)
	}
	c.none(t, 200*time.Millisecond)
}

func TestV5TopicAliases(t *testing.T) {
	b := newBroker(t, Options{TopicAliasMaximum: 2})
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "ta-sub", CleanStart: true, Properties: &paho.ConnectProperties{TopicAliasMaximum: u16(1)}}, nil)
	sub.sub(t, paho.SubscribeOptions{Topic: "alias/#", QoS: 1})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "ta-pub", CleanStart: true}, nil)
	// Client to server: set alias 1, then use it alone.
	pub.pub(t, &paho.Publish{Topic: "alias/a", QoS: 1, Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: u16(1)}})
	pub.pub(t, &paho.Publish{Topic: "", QoS: 1, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: u16(1)}})
	pub.pub(t, &paho.Publish{Topic: "alias/b", QoS: 1, Payload: []byte("3")})
	// Server to client: the subscriber allows one alias.
	m1, m2, m3 := sub.next(t), sub.next(t), sub.next(t)
	if m1.Topic != "alias/a" || m1.Properties.TopicAlias == nil || *m1.Properties.TopicAlias != 1 {
		t.Fatalf("first: topic %q alias %v", m1.Topic, m1.Properties.TopicAlias)
	}
	if m2.Topic != "" || *m2.Properties.TopicAlias != 1 || string(m2.Payload) != "2" {
		t.Fatalf("second: topic %q alias %v", m2.Topic, m2.Properties.TopicAlias)
	}
	if m3.Topic != "alias/b" || m3.Properties.TopicAlias != nil {
		t.Fatalf("third (over the client's maximum): topic %q alias %v", m3.Topic, m3.Properties.TopicAlias)
	}
	// An alias over the server's maximum is a DISCONNECT 0x94.
	pub.Publish(t.Context(), &paho.Publish{Topic: "alias/c", QoS: 0, Properties: &paho.PublishProperties{TopicAlias: u16(3)}})
	select {
	case d := <-pub.discon:
		if d.ReasonCode != byte(TopicAliasInvalid) {
			t.Fatalf("reason %#x", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		// paho refuses an alias over the server's maximum itself.
	}
}

func TestV5ReceiveMaximumAndFlowControl(t *testing.T) {
	b := newBroker(t, Options{})
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "rm", CleanStart: true, Properties: &paho.ConnectProperties{ReceiveMaximum: u16(2)}},
		func(c *paho.ClientConfig) {
			c.EnableManualAcknowledgment = true
			c.SendAcksInterval = 10 * time.Millisecond
		})
	sub.sub(t, paho.SubscribeOptions{Topic: "rm", QoS: 1})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "rm-pub", CleanStart: true}, nil)
	for i := range 5 {
		pub.pub(t, &paho.Publish{Topic: "rm", QoS: 1, Payload: []byte{byte('0' + i)}})
	}
	a, bb := sub.next(t), sub.next(t)
	sub.none(t, 300*time.Millisecond) // the window is 2
	sub.Ack(a)
	sub.Ack(bb)
	for i := 2; i < 5; i++ {
		m := sub.next(t)
		if m.Payload[0] != byte('0'+i) {
			t.Fatalf("message %d: %q", i, m.Payload)
		}
		sub.Ack(m)
	}
}

func TestV5WillDelay(t *testing.T) {
	b := newBroker(t, Options{})
	watch := dialV5(t, b.tcp, &paho.Connect{ClientID: "watch", CleanStart: true}, nil)
	watch.sub(t, paho.SubscribeOptions{Topic: "will/#", QoS: 1})

	dialWill := func(id string, delay uint32) (*v5Client, net.Conn) {
		nc, err := net.Dial("tcp", b.tcp)
		if err != nil {
			t.Fatal(err)
		}
		c := connectV5(t, nc, &paho.Connect{ClientID: id, CleanStart: true,
			Properties:     &paho.ConnectProperties{SessionExpiryInterval: u32(10)},
			WillMessage:    &paho.WillMessage{Topic: "will/" + id, QoS: 1, Payload: []byte("gone " + id)},
			WillProperties: &paho.WillProperties{WillDelayInterval: u32(delay)}}, nil)
		return c, nc
	}
	// Abnormal end, delay 0: the will comes at once.
	_, nc := dialWill("w0", 0)
	nc.Close()
	if m := watch.next(t); m.Topic != "will/w0" {
		t.Fatalf("will on %q", m.Topic)
	}
	// Delay 1: not before a second.
	_, nc = dialWill("w1", 1)
	start := time.Now()
	nc.Close()
	m := watch.next(t)
	if m.Topic != "will/w1" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("will %q after %v", m.Topic, time.Since(start))
	}
	// Reconnecting within the delay cancels it.
	_, nc = dialWill("w2", 1)
	nc.Close()
	time.Sleep(100 * time.Millisecond)
	dialV5(t, b.tcp, &paho.Connect{ClientID: "w2", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(10)}}, nil)
	watch.none(t, 1500*time.Millisecond)
	// A normal DISCONNECT drops the will; 0x04 publishes it.
	c, _ := dialWill("w3", 0)
	c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	watch.none(t, 300*time.Millisecond)
	c, _ = dialWill("w4", 0)
	c.Disconnect(&paho.Disconnect{ReasonCode: 0x04})
	if m := watch.next(t); m.Topic != "will/w4" {
		t.Fatalf("will on %q", m.Topic)
	}
	// So does a DISCONNECT with an error reason.
	c, _ = dialWill("w5", 0)
	c.Disconnect(&paho.Disconnect{ReasonCode: 0x80})
	if m := watch.next(t); m.Topic != "will/w5" {
		t.Fatalf("will on %q", m.Topic)
	}
}

func TestV5SharedSubscriptions(t *testing.T) {
	b := newBroker(t, Options{})
	a := dialV5(t, b.tcp, &paho.Connect{ClientID: "sa", CleanStart: true}, nil)
	bb := dialV5(t, b.tcp, &paho.Connect{ClientID: "sb", CleanStart: true}, nil)
	a.sub(t, paho.SubscribeOptions{Topic: "$share/g/jobs/+", QoS: 1})
	bb.sub(t, paho.SubscribeOptions{Topic: "$share/g/jobs/+", QoS: 1})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "sp", CleanStart: true}, nil)
	for i := range 10 {
		pub.pub(t, &paho.Publish{Topic: "jobs/x", QoS: 1, Payload: []byte{byte(i)}})
	}
	seen := map[byte]int{}
	na, nb := 0, 0
	for range 10 {
		select {
		case m := <-a.msgs:
			seen[m.Payload[0]]++
			na++
		case m := <-bb.msgs:
			seen[m.Payload[0]]++
			nb++
		case <-time.After(5 * time.Second):
			t.Fatalf("shared: got %d+%d of 10", na, nb)
		}
	}
	if len(seen) != 10 || na == 0 || nb == 0 {
		t.Fatalf("shared delivery: %v (a %d, b %d)", seen, na, nb)
	}
	a.none(t, 100*time.Millisecond)
	bb.none(t, 10*time.Millisecond)

	// Hand-off: a member that never acknowledges goes away; its messages
	// go to the other member.
	nc, err := net.Dial("tcp", b.tcp)
	if err != nil {
		t.Fatal(err)
	}
	slow := connectV5(t, nc, &paho.Connect{ClientID: "sslow", CleanStart: true}, func(c *paho.ClientConfig) { c.EnableManualAcknowledgment = true })
	a.Disconnect(&paho.Disconnect{})
	slow.sub(t, paho.SubscribeOptions{Topic: "$share/g/jobs/+", QoS: 1})
	for i := range 6 {
		pub.pub(t, &paho.Publish{Topic: "jobs/y", QoS: 1, Payload: []byte{byte(100 + i)}})
	}
	got := map[byte]bool{}
	for range 3 {
		got[slow.next(t).Payload[0]] = true // delivered, never acknowledged
	}
	for range 3 {
		got[bb.next(t).Payload[0]] = true
	}
	nc.Close() // abnormal: 3 unacknowledged messages
	for range 3 {
		m := bb.next(t)
		if !got[m.Payload[0]] {
			t.Fatalf("hand-off delivered %d, not one of the unacknowledged", m.Payload[0])
		}
	}
}
