package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
	"time"
)

func BenchmarkDecodePublish(b *testing.B) {
	for _, v := range []byte{Version311, Version5} {
		p := &Publish{QoS: 1, PacketID: 7, Topic: "factory/line1/temp", Payload: make([]byte, 64)}
		if v == Version5 {
			p.Props.ContentType = "application/json"
			p.Props.Set(PropContentType)
			p.Props.User = []UserProperty{{"site", "a"}}
		}
		raw := AppendPacket(nil, p, v)
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			r := bufio.NewReader(nil)
			for range b.N {
				r.Reset(bytes.NewReader(raw))
				if _, err := ReadPacket(r, v, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	p := &Publish{QoS: 1, PacketID: 7, Topic: "factory/line1/temp", Payload: make([]byte, 64)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for range b.N {
		buf = AppendPacket(buf[:0], p, Version5)
	}
}

// BenchmarkFanOut publishes one QoS 0 message to N sessions attached to
// connections whose writers are not running: the cost of matching and
// queueing, not of sockets (the queues are emptied between messages).
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			s, err := NewServer(Options{SysInterval: -1, OutboundQueue: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			conns := make([]*conn, n)
			for i := range n {
				ss := newSession(s, fmt.Sprintf("c%d", i))
				c := &conn{srv: s, out: newOutq(1 << 30), window: 64, sess: ss}
				conns[i] = c
				ss.mu.conn = c
				sb := &subscriber{sess: ss, opts: Subscription{Filter: "factory/+/temp"}}
				ss.mu.subs["factory/+/temp"] = sb
				s.tree.add("factory/+/temp", "", sb)
			}
			m := &Message{Topic: "factory/line1/temp", Payload: make([]byte, 64), Created: time.Now()}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if s.publish(m) != n {
					b.Fatal("not delivered")
				}
				b.StopTimer()
				for _, c := range conns {
					c.out.mu.items = c.out.mu.items[:0]
					c.out.mu.qos0 = 0
					select {
					case <-c.out.wake:
					default:
					}
				}
				b.StartTimer()
			}
		})
	}
}
