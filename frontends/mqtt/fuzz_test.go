package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// goldenSeeds returns the bytes of every packet in testdata/packets.txt.
func goldenSeeds(t testing.TB) [][]byte {
	data, err := os.ReadFile("testdata/packets.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var cur []string
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "decode ") || strings.HasPrefix(l, "read "):
			in, cur = true, nil
		case l == "----" && in:
			out = append(out, goldenHex(t, strings.Join(cur, "\n")))
			in = false
		case in:
			cur = append(cur, l)
		}
	}
	return out
}

// FuzzDecode: ReadPacket never panics or over-reads, and what it accepts
// re-encodes to bytes that decode to the same packet.
func FuzzDecode(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		for _, v := range []byte{0, 3, 4, 5} {
			f.Add(v, s)
		}
	}
	f.Fuzz(func(t *testing.T, v byte, b []byte) {
		v %= 6
		if v == 1 || v == 2 {
			v = 4
		}
		p, err := ReadPacket(bufio.NewReader(bytes.NewReader(b)), v, 1<<16)
		if err != nil {
			return
		}
		ver := v
		if c, ok := p.(*Connect); ok {
			ver = c.Version
		}
		enc := AppendPacket(nil, p, ver)
		q, err := ReadPacket(bufio.NewReader(bytes.NewReader(enc)), v, 1<<16)
		if err != nil {
			t.Fatalf("re-encoded % x does not decode: %v (from % x)", enc, err, b)
		}
		if describe(p) != describe(q) {
			t.Fatalf("round trip:\n%s\n%s", describe(p), describe(q))
		}
	})
}

// panicCatcher is a slog handler that records error-level records (a
// connection handler panic is logged at error level and recovered).
type panicCatcher struct {
	mu   sync.Mutex
	msgs []string
}

func (h *panicCatcher) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *panicCatcher) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { sb.WriteString(" " + a.String()); return true })
	h.msgs = append(h.msgs, sb.String())
	return nil
}
func (h *panicCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicCatcher) WithGroup(string) slog.Handler      { return h }

func (h *panicCatcher) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.msgs
	h.msgs = nil
	return m
}

// FuzzConnection drives the connection state machine: a CONNECT (3.1,
// 3.1.1 or 5.0), then arbitrary bytes, over an in-memory pipe to a
// broker that also has a subscriber. No input may panic a handler,
// leave the connection's goroutines running, or break other clients.
func FuzzConnection(f *testing.F) {
	seeds := goldenSeeds(f)
	var seq []byte
	for _, s := range seeds {
		f.Add(byte(4), s)
		f.Add(byte(5), s)
		seq = append(seq, s...)
	}
	f.Add(byte(5), seq)
	f.Add(byte(3), []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x23, 0x02, 0x34, 0x07, 0x00, 0x01, 0x74, 0x00, 0x05, 0x68, 0x69, 0x62, 0x06, 0x00, 0x05})

	catcher := &panicCatcher{}
	s, err := NewServer(Options{Logger: slog.New(catcher), SysInterval: -1, ConnectTimeout: time.Second, MaxPacketSize: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	// A bystander session with subscriptions, so publishes fan out.
	by := newSession(s, "bystander")
	s.mu.Lock()
	s.mu.sessions["bystander"] = by
	s.mu.Unlock()
	for _, flt := range []string{"#", "$share/g/#", "t"} {
		group, filter, _ := parseShare(flt)
		sb := &subscriber{sess: by, opts: Subscription{Filter: flt, QoS: 2}}
		by.mu.subs[flt] = sb
		s.tree.add(filter, group, sb)
	}

	f.Fuzz(func(t *testing.T, v byte, data []byte) {
		v = 3 + v%3
		client, server := net.Pipe()
		s.startConn(server, ListenerTCP)
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, client)
			close(done)
		}()
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		id := "fuzz"
		client.Write(AppendPacket(nil, connectPacket(v, id, 0), v))
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection not closed")
		}
		// The connection's goroutines end.
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.mu.Lock()
			n := len(s.mu.conns)
			s.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d connections still registered", n)
			}
			time.Sleep(time.Millisecond)
		}
		if msgs := catcher.take(); len(msgs) > 0 {
			t.Fatalf("error logged: %v", msgs)
		}
	})
}
