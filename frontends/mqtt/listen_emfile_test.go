package mqtt

import (
	"errors"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"strata/internal/flakylisten"
)

// A process out of file descriptors fails Accept with EMFILE; the listener
// must wait and go on accepting once descriptors are free, as Mosquitto
// does, not close for good.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	b := newBroker(t, Options{})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := flakylisten.New(inner, 5)
	done := make(chan error, 1)
	go func() { done <- b.srv.Serve(ln, ListenerTCP) }()
	c := dialV5(t, ln.Addr().String(), &paho.Connect{ClientID: "after-emfile", CleanStart: true, KeepAlive: 30}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "emfile/t", QoS: 1})
	if n := ln.Failed.Load(); n != 5 {
		t.Fatalf("%d failed accepts, want 5", n)
	}
	b.srv.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}
