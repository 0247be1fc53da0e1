package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"strata/internal/flakylisten"
)

// A process out of file descriptors fails Accept with EMFILE; the listener
// must wait and go on accepting once descriptors are free, not close for
// good.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.AdvertisedAddr = "" })
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := flakylisten.New(inner, 5)
	go b.srv.Serve(ln)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("ping after failed accepts: %v", err)
	}
	if n := ln.Failed.Load(); n != 5 {
		t.Fatalf("%d failed accepts, want 5", n)
	}
}
