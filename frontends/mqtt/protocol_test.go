package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// rawConn speaks MQTT byte by byte, for what a well-behaved client never
// does (malformed packets, silence past keep alive, limits).
type rawConn struct {
	net.Conn
	br *bufio.Reader
	v  byte
}

func dialRaw(t testing.TB, addr string, v byte) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{Conn: nc, br: bufio.NewReader(nc), v: v}
}

func (r *rawConn) send(t testing.TB, b []byte) {
	t.Helper()
	if _, err := r.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (r *rawConn) sendPacket(t testing.TB, p Packet) { r.send(t, AppendPacket(nil, p, r.v)) }

// readRaw returns the next packet's bytes.
func (r *rawConn) readRaw(t testing.TB) []byte {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := r.br.ReadByte()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	out := []byte{h}
	n, shift := 0, 0
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
		n |= int(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		t.Fatal(err)
	}
	return append(out, body...)
}

func (r *rawConn) read(t testing.TB) Packet {
	t.Helper()
	b := r.readRaw(t)
	_, used, _ := decodeVarint(b[1:])
	p, err := DecodePacket(b[0], b[1+used:], r.v)
	if err != nil {
		t.Fatalf("decode % x: %v", b, err)
	}
	return p
}

// expectClosed reads until the server closes the connection; packets
// before the close are returned.
func (r *rawConn) expectClosed(t testing.TB, within time.Duration) []Packet {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(within))
	var got []Packet
	for {
		p, err := ReadPacket(r.br, r.v, 0)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v (got %v)", within, got)
			}
			return got
		}
		got = append(got, p)
	}
}

func connectPacket(v byte, id string, keepAlive uint16) *Connect {
	name := "MQTT"
	if v == Version31 {
		name = "MQIsdp"
	}
	return &Connect{ProtocolName: name, Version: v, CleanStart: true, KeepAlive: keepAlive, ClientID: id}
}

func TestGoldenConnack(t *testing.T) {
	b := newBroker(t, Options{})
	for _, c := range []struct{ connect, connack string }{
		{"connect-v31", "connack-v311"},
		{"connect-v311", "connack-v311"},
	} {
		r := dialRaw(t, b.tcp, 4)
		r.send(t, goldenPacket(t, c.connect))
		if got := r.readRaw(t); !bytes.Equal(got, goldenPacket(t, c.connack)) {
			t.Fatalf("%s: CONNACK % x, want % x", c.connect, got, goldenPacket(t, c.connack))
		}
		r.send(t, goldenPacket(t, "pingreq"))
		if got := r.readRaw(t); !bytes.Equal(got, goldenPacket(t, "pingresp")) {
			t.Fatalf("PINGRESP % x", got)
		}
		r.send(t, goldenPacket(t, "subscribe-v311"))
		if got := r.readRaw(t); !bytes.Equal(got, []byte{0x90, 0x03, 0x00, 0x01, 0x01}) {
			t.Fatalf("SUBACK % x", got)
		}
		r.send(t, goldenPacket(t, "disconnect-v311"))
		r.expectClosed(t, 2*time.Second)
	}
	// An unknown level of "MQTT": CONNACK 0x01, closed.
	r := dialRaw(t, b.tcp, 4)
	r.sendPacket(t, &Connect{ProtocolName: "MQTT", Version: 6, CleanStart: true, ClientID: "x"})
	if got := r.readRaw(t); !bytes.Equal(got, goldenPacket(t, "connack-v311-bad-version")) {
		t.Fatalf("bad version: % x", got)
	}
	r.expectClosed(t, 2*time.Second)
	// An empty client id with clean session 0 (3.1.1): 0x02.
	r = dialRaw(t, b.tcp, 4)
	cp := connectPacket(4, "", 0)
	cp.CleanStart = false
	r.sendPacket(t, cp)
	if p := r.read(t).(*Connack); p.Reason != ReasonCode(connackV3IdentifierRejected) {
		t.Fatalf("empty id: %v", p.Reason)
	}
	// MQTT 3.1 needs a client id.
	r = dialRaw(t, b.tcp, 4)
	r.sendPacket(t, connectPacket(3, "", 0))
	if p := r.read(t).(*Connack); p.Reason != ReasonCode(connackV3IdentifierRejected) {
		t.Fatalf("3.1 empty id: %v", p.Reason)
	}
	// A malformed 5.0 CONNECT (the reserved flag): CONNACK 0x81, closed;
	// a 3.1.1 one is closed without a word.
	for _, v := range []byte{5, 4} {
		r = dialRaw(t, b.tcp, v)
		bad := AppendPacket(nil, connectPacket(v, "x", 0), v)
		bad[9] |= 0x01 // connect flags: the reserved bit
		r.send(t, bad)
		got := r.expectClosed(t, 2*time.Second)
		if v == 5 && (len(got) != 1 || got[0].(*Connack).Reason != MalformedPacket) {
			t.Fatalf("bad 5.0 CONNECT: %v", got)
		}
		if v == 4 && len(got) != 0 {
			t.Fatalf("bad 3.1.1 CONNECT: %v", got)
		}
	}
	// A first packet that is not CONNECT closes the connection.
	r = dialRaw(t, b.tcp, 4)
	r.send(t, goldenPacket(t, "pingreq"))
	if got := r.expectClosed(t, 2*time.Second); len(got) != 0 {
		t.Fatalf("answered %v", got)
	}
}

// TestMalformedClosesOnlyThatConnection sends every malformed golden
// packet on its own connection while a paho client goes on working.
func TestMalformedClosesOnlyThatConnection(t *testing.T) {
	b := newBroker(t, Options{})
	ok := dialV5(t, b.tcp, &paho.Connect{ClientID: "bystander", CleanStart: true}, nil)
	ok.sub(t, paho.SubscribeOptions{Topic: "still/here", QoS: 1})
	bad := [][]byte{
		{0x36, 0x03, 0x00, 0x01, 0x74},             // PUBLISH QoS 3
		{0x60, 0x02, 0x00, 0x02},                   // PUBREL with flags 0
		{0x30, 0x04, 0x00, 0x02, 0xc3, 0x28},       // topic not UTF-8
		{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f},       // 5-byte length
		{0x82, 0x02, 0x00, 0x01},                   // SUBSCRIBE with no filter
		{0x10, 0x02, 0x00, 0x00},                   // a second CONNECT
		{0x00, 0x00},                               // type 0
		{0x30, 0x05, 0x00, 0x01, 0x2b, 0x00, 0x00}, // PUBLISH to "+"
	}
	bad5 := [][]byte{
		{0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x0b, 0x01},             // PUBLISH with a subscription identifier
		{0x30, 0x08, 0x00, 0x01, 0x74, 0x04, 0x08, 0x00, 0x01, 0x23}, // response topic "#"
		{0x30, 0x07, 0x00, 0x01, 0x74, 0x03, 0x23, 0x00, 0x00},       // topic alias 0
	}
	for _, v := range []byte{4, 5} {
		all := bad
		if v == 5 {
			all = append(append([][]byte(nil), bad...), bad5...)
		}
		for _, pk := range all {
			r := dialRaw(t, b.tcp, v)
			r.sendPacket(t, connectPacket(v, "bad", 0))
			r.read(t) // CONNACK
			r.send(t, pk)
			got := r.expectClosed(t, 2*time.Second)
			if v == 5 {
				if len(got) != 1 || got[0].Type() != DISCONNECT || !got[0].(*Disconnect).Reason.IsError() {
					t.Fatalf("% x: v5 got %v before the close, want one DISCONNECT with an error", pk, got)
				}
			} else if len(got) != 0 {
				t.Fatalf("% x: v4 got %v", pk, got)
			}
		}
	}
	ok.pub(t, &paho.Publish{Topic: "still/here", QoS: 1, Payload: []byte("fine")})
	if m := ok.next(t); string(m.Payload) != "fine" {
		t.Fatal(m)
	}
	if b.srv.Stats().MalformedClosed < int64(2*len(bad)) {
		t.Fatalf("malformed count %d", b.srv.Stats().MalformedClosed)
	}
}

func TestKeepAlive(t *testing.T) {
	b := newBroker(t, Options{})
	for _, v := range []byte{4, 5} {
		r := dialRaw(t, b.tcp, v)
		r.sendPacket(t, connectPacket(v, "ka", 1))
		r.read(t)
		start := time.Now()
		got := r.expectClosed(t, 4*time.Second)
		if d := time.Since(start); d < 1400*time.Millisecond {
			t.Fatalf("closed after %v, keep alive 1s allows 1.5s", d)
		}
		if v == 5 && (len(got) != 1 || got[0].(*Disconnect).Reason != KeepAliveTimeout) {
			t.Fatalf("v5 keep alive: %v", got)
		}
	}
	// Pings keep it open.
	r := dialRaw(t, b.tcp, 4)
	r.sendPacket(t, connectPacket(4, "ka2", 1))
	r.read(t)
	for range 4 {
		time.Sleep(700 * time.Millisecond)
		r.sendPacket(t, &Pingreq{})
		if p := r.read(t); p.Type() != PINGRESP {
			t.Fatal(p)
		}
	}
}

func TestLimits(t *testing.T) {
	b := newBroker(t, Options{MaxPacketSize: 128, ReceiveMaximum: 2, MaxConnections: 3})
	// Server maximum packet size: DISCONNECT 0x95, closed.
	r := dialRaw(t, b.tcp, 5)
	r.sendPacket(t, connectPacket(5, "big", 0))
	ca := r.read(t).(*Connack)
	if ca.Props.MaximumPacketSize != 128 {
		t.Fatalf("CONNACK maximum packet size %d", ca.Props.MaximumPacketSize)
	}
	r.sendPacket(t, &Publish{Topic: "t", Payload: make([]byte, 200)})
	if got := r.expectClosed(t, 2*time.Second); len(got) != 1 || got[0].(*Disconnect).Reason != PacketTooLarge {
		t.Fatalf("too large: %v", got)
	}
	// Server receive maximum: a third unreleased QoS 2 publish is 0x93.
	r = dialRaw(t, b.tcp, 5)
	r.sendPacket(t, connectPacket(5, "rm", 0))
	r.read(t)
	for id := uint16(1); id <= 3; id++ {
		r.sendPacket(t, &Publish{QoS: 2, PacketID: id, Topic: "t", Payload: []byte("x")})
		if id < 3 {
			if p := r.read(t).(*Ack); p.Kind != PUBREC {
				t.Fatal(p)
			}
		}
	}
	if got := r.expectClosed(t, 2*time.Second); len(got) != 1 || got[0].(*Disconnect).Reason != ReceiveMaximumExceeded {
		t.Fatalf("receive maximum: %v", got)
	}
	// QoS 2 exactly once: a resent PUBLISH is not delivered again.
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "q2sub", CleanStart: true}, nil)
	sub.sub(t, paho.SubscribeOptions{Topic: "q2", QoS: 2})
	r = dialRaw(t, b.tcp, 5)
	r.sendPacket(t, connectPacket(5, "q2", 0))
	r.read(t)
	for range 2 {
		r.sendPacket(t, &Publish{QoS: 2, Dup: true, PacketID: 9, Topic: "q2", Payload: []byte("once")})
		if p := r.read(t).(*Ack); p.Kind != PUBREC || p.PacketID != 9 {
			t.Fatal(p)
		}
	}
	r.sendPacket(t, &Ack{Kind: PUBREL, PacketID: 9})
	if p := r.read(t).(*Ack); p.Kind != PUBCOMP {
		t.Fatal(p)
	}
	sub.next(t)
	sub.none(t, 200*time.Millisecond)
	// Maximum connections (3: sub and r are two): the fourth gets 0x97 / 0x03.
	dialRaw(t, b.tcp, 5).sendPacket(t, connectPacket(5, "third", 0))
	time.Sleep(100 * time.Millisecond)
	r5 := dialRaw(t, b.tcp, 5)
	r5.sendPacket(t, connectPacket(5, "fourth", 0))
	if p := r5.read(t).(*Connack); p.Reason != QuotaExceeded {
		t.Fatalf("v5 over the maximum: %v", p.Reason)
	}
	r4 := dialRaw(t, b.tcp, 4)
	r4.sendPacket(t, connectPacket(4, "fourth", 0))
	if p := r4.read(t).(*Connack); p.Reason != ReasonCode(connackV3ServerUnavailable) {
		t.Fatalf("v4 over the maximum: %v", p.Reason)
	}
}

func TestClientMaximumPacketSize(t *testing.T) {
	b := newBroker(t, Options{})
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "small", CleanStart: true, Properties: &paho.ConnectProperties{MaximumPacketSize: u32(100)}}, nil)
	sub.sub(t, paho.SubscribeOptions{Topic: "sz", QoS: 1})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "szp", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "sz", QoS: 1, Payload: make([]byte, 200)})
	pub.pub(t, &paho.Publish{Topic: "sz", QoS: 1, Payload: []byte("fits")})
	if m := sub.next(t); string(m.Payload) != "fits" {
		t.Fatalf("got %d bytes", len(m.Payload))
	}
}

func TestSys(t *testing.T) {
	b := newBroker(t, Options{SysInterval: 50 * time.Millisecond})
	all := dialV5(t, b.tcp, &paho.Connect{ClientID: "all", CleanStart: true}, nil)
	all.sub(t, paho.SubscribeOptions{Topic: "#", QoS: 0}, paho.SubscribeOptions{Topic: "+/broker/#", QoS: 0})
	sys := dialV5(t, b.tcp, &paho.Connect{ClientID: "sys", CleanStart: true}, nil)
	sys.sub(t, paho.SubscribeOptions{Topic: "$SYS/broker/clients/connected", QoS: 0})
	m := sys.next(t)
	if !m.Retain || string(m.Payload) == "" {
		t.Fatalf("$SYS: %+v", m)
	}
	sys.sub(t, paho.SubscribeOptions{Topic: "$SYS/broker/version", QoS: 0})
	if m := sys.next(t); !strings.HasPrefix(string(m.Payload), "strata") {
		t.Fatalf("$SYS version %q", m.Payload)
	}
	all.none(t, 200*time.Millisecond) // leading wildcards do not match $ topics
}

// TestSlowSubscriber: a subscriber that stops reading does not slow a
// publisher or a fast subscriber; its QoS 0 copies are dropped and
// counted, its QoS 1 copies wait in its bounded queue (oldest dropped).
func TestSlowSubscriber(t *testing.T) {
	b := newBroker(t, Options{OutboundQueue: 256, MaxQueuedMessages: 1000, MaxInflight: 4})
	slow := dialRaw(t, b.tcp, 4)
	slow.sendPacket(t, connectPacket(4, "slow", 0))
	slow.read(t)
	slow.sendPacket(t, &Subscribe{PacketID: 1, Subs: []Subscription{{Filter: "flood/#", QoS: 1}}})
	slow.read(t)
	// The slow one never reads again; its socket buffers fill.
	fast := dialV5(t, b.tcp, &paho.Connect{ClientID: "fast", CleanStart: true}, nil)
	fast.sub(t, paho.SubscribeOptions{Topic: "flood/#", QoS: 1})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "flooder", CleanStart: true}, nil)

	// QoS 0 flood: 8 MB for each subscriber.
	payload := make([]byte, 4096)
	const n = 2000
	for i := range n {
		payload[0] = byte(i)
		pub.pub(t, &paho.Publish{Topic: "flood/0", QoS: 0, Payload: payload})
	}
	got0 := 0
	for done := false; !done; {
		select {
		case <-fast.msgs:
			got0++
		case <-time.After(500 * time.Millisecond):
			done = true
		}
	}
	// The fast subscriber's own queue is bounded too: under a flood it may
	// lose some, but most arrive; the slow one loses most.
	if got0 < n/10 {
		t.Fatalf("fast subscriber got %d QoS 0 of %d", got0, n)
	}
	if d := b.srv.Stats().DroppedQoS0; d == 0 { // socket buffers take some of the 8 MB, never all
		t.Fatalf("QoS 0 dropped for the slow subscriber: %d", d)
	}

	// QoS 1: flow control. The slow one's window (4) and queue (1000) fill,
	// the oldest are dropped; the fast one gets every message, in order.
	const n1 = 1300
	for i := range n1 {
		pub.pub(t, &paho.Publish{Topic: "flood/1", QoS: 1, Payload: []byte{byte(i >> 8), byte(i)}})
	}
	// In order; a gap only where the broker counted a drop (a fast
	// subscriber that falls 1000 behind, as under -race, loses the oldest).
	next, got := 0, 0
	for next < n1 {
		select {
		case m := <-fast.msgs:
			v := int(m.Payload[0])<<8 | int(m.Payload[1])
			if v < next {
				t.Fatalf("QoS 1 message %d arrived after %d", v, next-1)
			}
			next = v + 1
			got++
		case <-time.After(10 * time.Second):
			t.Fatalf("fast subscriber stalled after %d of %d QoS 1 messages", got, n1)
		}
	}
	st := b.srv.Stats()
	slowDrops := int64(n1 - 4 - 1000) // the slow one never acknowledges: window 4, queue 1000
	if fastDrops := int64(n1 - got); st.DroppedQueued != slowDrops+fastDrops {
		t.Fatalf("QoS 1 drops counted %d, want %d for the slow subscriber and %d for the fast one (%+v)", st.DroppedQueued, slowDrops, fastDrops, st)
	}
	if got < 1000 {
		t.Fatalf("fast subscriber got %d of %d", got, n1)
	}
}

func TestOfflineQueueDropsOldest(t *testing.T) {
	b := newBroker(t, Options{MaxQueuedMessages: 5})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "oq", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "oq", QoS: 1})
	c.Disconnect(&paho.Disconnect{})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "oqp", CleanStart: true}, nil)
	for i := range 10 {
		pub.pub(t, &paho.Publish{Topic: "oq", QoS: 1, Payload: []byte{byte(i)}})
	}
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "oq", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	for i := 5; i < 10; i++ {
		if m := c.next(t); m.Payload[0] != byte(i) {
			t.Fatalf("got %d, want %d", m.Payload[0], i)
		}
	}
	c.none(t, 200*time.Millisecond)
	if d := b.srv.Stats().DroppedQueued; d != 5 {
		t.Fatalf("dropped %d", d)
	}
}

func TestProblemInfoAndShutdown(t *testing.T) {
	b := newBroker(t, Options{RefuseSubscribe: []string{"no"}})
	// Request problem information 0: no reason string on SUBACK.
	r := dialRaw(t, b.tcp, 5)
	cp := connectPacket(5, "quiet", 0)
	cp.Props.RequestProblemInfo = 0
	cp.Props.Set(PropRequestProblemInfo)
	r.sendPacket(t, cp)
	r.read(t)
	r.sendPacket(t, &Subscribe{PacketID: 1, Subs: []Subscription{{Filter: "no"}}})
	sa := r.read(t).(*Suback)
	if sa.Reasons[0] != UnspecifiedError || sa.Props.Has(PropReasonString) {
		t.Fatalf("SUBACK %+v", sa)
	}
	// With it (the default): a reason string.
	loud := dialRaw(t, b.tcp, 5)
	loud.sendPacket(t, connectPacket(5, "loud", 0))
	loud.read(t)
	loud.sendPacket(t, &Subscribe{PacketID: 1, Subs: []Subscription{{Filter: "no"}}})
	if sa := loud.read(t).(*Suback); !sa.Props.Has(PropReasonString) {
		t.Fatalf("SUBACK without a reason string: %+v", sa)
	}
	// Close: 5.0 clients get DISCONNECT 0x8B.
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "bye", CleanStart: true}, nil)
	b.srv.Close()
	select {
	case d := <-c.discon:
		if d.ReasonCode != byte(ServerShuttingDown) {
			t.Fatalf("reason %#x", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT at shutdown")
	}
	if got := loud.expectClosed(t, 5*time.Second); len(got) != 1 || got[0].(*Disconnect).Reason != ServerShuttingDown {
		t.Fatalf("raw client at shutdown: %v", got)
	}
}

// TestOverlappingSubscriptions: one copy per session, the highest QoS,
// every matching subscription identifier; no-local per subscription.
func TestOverlappingSubscriptions(t *testing.T) {
	b := newBroker(t, Options{})
	r := dialRaw(t, b.tcp, 5)
	r.sendPacket(t, connectPacket(5, "ov", 0))
	r.read(t)
	for i, f := range []struct {
		filter string
		qos    byte
	}{{"ov/+", 0}, {"ov/#", 1}, {"+/x", 2}} {
		s := &Subscribe{PacketID: uint16(i + 1), Subs: []Subscription{{Filter: f.filter, QoS: f.qos}}}
		s.Props.SubscriptionIDs = []uint32{uint32(i + 1)}
		r.sendPacket(t, s)
		r.read(t)
	}
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "ovp", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "ov/x", QoS: 1, Payload: []byte("once")})
	p := r.read(t).(*Publish)
	ids := append([]uint32(nil), p.Props.SubscriptionIDs...)
	slices.Sort(ids)
	if p.QoS != 1 || !slices.Equal(ids, []uint32{1, 2, 3}) {
		t.Fatalf("QoS %d, subscription identifiers %v", p.QoS, ids)
	}
	r.sendPacket(t, &Ack{Kind: PUBACK, PacketID: p.PacketID})
	pub.pub(t, &paho.Publish{Topic: "ov/y", QoS: 0, Payload: []byte("second")})
	if p := r.read(t).(*Publish); string(p.Payload) != "second" || len(p.Props.SubscriptionIDs) != 2 {
		t.Fatalf("second: %q ids %v", p.Payload, p.Props.SubscriptionIDs)
	}
}
