package faultproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, msg []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	return got, err
}

func TestProxyFaults(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msg := []byte("hello through the proxy")

	// Healthy.
	if got, err := roundTrip(p.Addr(), msg); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("healthy: %q %v", got, err)
	}

	// Delay: each chunk waits.
	p.SetDelay(50 * time.Millisecond)
	start := time.Now()
	if _, err := roundTrip(p.Addr(), msg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("delay: round trip took %v, want >= 100ms (two chunks)", d)
	}
	p.SetDelay(0)

	// Refuse: dials fail.
	p.Refuse()
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("refuse: dial succeeded")
	}
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(p.Addr(), msg); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("healed: %q %v", got, err)
	}

	// CutAll: an open connection breaks.
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(msg)
	io.ReadFull(c, make([]byte, len(msg)))
	p.CutAll()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("cut: read succeeded")
	}

	// CutAfter: the downstream stops after n bytes.
	p.CutAfter(5)
	if got, err := roundTrip(p.Addr(), msg); err == nil {
		t.Fatalf("cut after 5: got %q, want an error", got)
	}
	p.Heal()
	if got, err := roundTrip(p.Addr(), msg); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("healed: %q %v", got, err)
	}
	if p.Accepted() < 4 {
		t.Fatalf("accepted %d", p.Accepted())
	}
}
