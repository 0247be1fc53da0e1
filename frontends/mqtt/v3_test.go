package mqtt

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// urls returns the broker's four listeners as paho.mqtt.golang URLs.
func (b *testBroker) urls() map[string]string {
	return map[string]string{
		"tcp": "tcp://" + b.tcp, "tls": "ssl://" + b.tls,
		"ws": "ws://" + b.ws + "/mqtt", "wss": "wss://" + b.wss + "/mqtt",
	}
}

func TestV3AllListeners(t *testing.T) {
	b := newBroker(t, Options{})
	for _, version := range []uint{3, 4} {
		for name, u := range b.urls() {
			t.Run(fmt.Sprintf("v%d/%s", version, name), func(t *testing.T) {
				tlsCfg := func(o *pahov3.ClientOptions) { o.SetTLSConfig(b.clientTLS) }
				id := fmt.Sprintf("v%d-%s", version, name)
				sub := dialV3(t, u, id+"-sub", version, true, tlsCfg)
				pub := dialV3(t, u, id+"-pub", version, true, tlsCfg)
				wait(t, sub.Subscribe("l/"+id+"/#", 2, nil))
				for q := byte(0); q <= 2; q++ {
					wait(t, pub.Publish("l/"+id+"/x", q, false, []byte{'0' + q}))
					m := sub.next(t)
					if m.Qos() != q || string(m.Payload()) != string('0'+q) || m.Topic() != "l/"+id+"/x" {
						t.Fatalf("QoS %d: got QoS %d %q on %q", q, m.Qos(), m.Payload(), m.Topic())
					}
				}
			})
		}
	}
}

func TestV3PersistentSessionAndDup(t *testing.T) {
	b := newBroker(t, Options{})
	u := "tcp://" + b.tcp
	// A subscriber that does not acknowledge: QoS 1 messages stay in flight.
	var nc net.Conn
	cut := func(o *pahov3.ClientOptions) {
		o.SetAutoAckDisabled(true)
		o.SetCustomOpenConnectionFn(func(uri *url.URL, _ pahov3.ClientOptions) (net.Conn, error) {
			c, err := net.Dial("tcp", uri.Host)
			nc = c
			return c, err
		})
	}
	sub := dialV3(t, u, "dup", 4, false, cut)
	wait(t, sub.Subscribe("dup/#", 1, nil))
	pub := dialV3(t, u, "dup-pub", 4, true, nil)
	wait(t, pub.Publish("dup/a", 1, false, "one"))
	if m := sub.next(t); m.Duplicate() {
		t.Fatal("first delivery has DUP")
	}
	nc.Close() // gone without acknowledging
	time.Sleep(100 * time.Millisecond)
	wait(t, pub.Publish("dup/a", 1, false, "two")) // queued for the offline session
	sub2 := dialV3(t, u, "dup", 4, false, nil)
	m := sub2.next(t)
	if string(m.Payload()) != "one" || !m.Duplicate() {
		t.Fatalf("redelivery: %q dup=%v", m.Payload(), m.Duplicate())
	}
	if m := sub2.next(t); string(m.Payload()) != "two" || m.Duplicate() {
		t.Fatalf("queued: %q dup=%v", m.Payload(), m.Duplicate())
	}
}

func TestV3RetainedAndWill(t *testing.T) {
	b := newBroker(t, Options{})
	u := "tcp://" + b.tcp
	pub := dialV3(t, u, "ret-pub", 4, true, nil)
	wait(t, pub.Publish("ret/a", 1, true, "first"))
	wait(t, pub.Publish("ret/a", 1, true, "second")) // replaces
	wait(t, pub.Publish("ret/b", 1, true, "b"))
	wait(t, pub.Publish("ret/b", 1, true, "")) // clears
	sub := dialV3(t, u, "ret-sub", 4, true, nil)
	wait(t, sub.Subscribe("ret/#", 1, nil))
	m := sub.next(t)
	if string(m.Payload()) != "second" || !m.Retained() {
		t.Fatalf("retained: %q retained=%v", m.Payload(), m.Retained())
	}
	select {
	case m := <-sub.msgs:
		t.Fatalf("cleared retained message delivered: %q on %s", m.Payload(), m.Topic())
	case <-time.After(200 * time.Millisecond):
	}
	// Will on an abnormal end only (3.1 and 3.1.1).
	for _, v := range []uint{3, 4} {
		var nc net.Conn
		w := dialV3(t, u, fmt.Sprintf("will-%d", v), v, true, func(o *pahov3.ClientOptions) {
			o.SetWill("ret/will", fmt.Sprintf("died %d", v), 1, false)
			o.SetCustomOpenConnectionFn(func(uri *url.URL, _ pahov3.ClientOptions) (net.Conn, error) {
				c, err := net.Dial("tcp", uri.Host)
				nc = c
				return c, err
			})
		})
		_ = w
		nc.Close()
		if m := sub.next(t); string(m.Payload()) != fmt.Sprintf("died %d", v) {
			t.Fatalf("will: %q", m.Payload())
		}
		ok := dialV3(t, u, fmt.Sprintf("nowill-%d", v), v, true, func(o *pahov3.ClientOptions) { o.SetWill("ret/will", "wrong", 1, false) })
		ok.Disconnect(50)
		select {
		case m := <-sub.msgs:
			t.Fatalf("will after a normal DISCONNECT: %q", m.Payload())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestV3Takeover(t *testing.T) {
	b := newBroker(t, Options{})
	lost := make(chan error, 1)
	dialV3(t, "tcp://"+b.tcp, "twice", 4, true, func(o *pahov3.ClientOptions) {
		o.SetConnectionLostHandler(func(_ pahov3.Client, err error) { lost <- err })
	})
	dialV3(t, "tcp://"+b.tcp, "twice", 4, true, nil)
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the first connection was not closed")
	}
}
