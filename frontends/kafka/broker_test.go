package kafka

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strata/logstore"
	"strata/meta"
)

// testBroker is one strata process's worth of Kafka broker: a
// single-replica meta node, a Store over its catalogue and a Server on
// 127.0.0.1:0, all in one temp data directory that survives restart.
type testBroker struct {
	t       testing.TB
	dir     string
	raft    string
	opts    Options
	node    *meta.Node
	catalog *meta.Catalog
	store   *logstore.Store
	srv     *Server
	addr    string
}

// testLogger is quiet unless STRATA_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func freeTCPAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBroker opens a broker in a new temp dir; edit adjusts Options.
func startBroker(t testing.TB, edit ...func(*Options)) *testBroker {
	t.Helper()
	b := &testBroker{t: t, dir: t.TempDir(), raft: freeTCPAddr(t)}
	for _, f := range edit {
		f(&b.opts)
	}
	b.open()
	t.Cleanup(b.close)
	return b
}

func (b *testBroker) open() {
	t := b.t
	t.Helper()
	n, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: b.raft, Dir: filepath.Join(b.dir, "meta"),
		RTT: 10 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !n.Ready(ctx) {
		n.Close()
		t.Fatal("meta node not ready")
	}
	for !n.Status().HasLeader {
		time.Sleep(5 * time.Millisecond)
	}
	c, err := meta.NewCatalog(n, meta.CatalogOptions{Timeout: 10 * time.Second, Logger: testLogger()})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: b.dir, Catalog: c, Logger: testLogger()})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	opts := b.opts
	opts.Store, opts.Node, opts.Logger = st, n, testLogger()
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.node, b.catalog, b.store, b.srv, b.addr = n, c, st, srv, addr.String()
}

func (b *testBroker) close() {
	if b.srv == nil {
		return
	}
	b.srv.Close()
	if err := b.store.Close(); err != nil {
		b.t.Errorf("close store: %v", err)
	}
	b.catalog.Close()
	b.node.Close()
	b.srv = nil
}

// restart closes everything and opens it again on the same directory
// (the listener gets a new port).
func (b *testBroker) restart() {
	b.close()
	b.open()
}
