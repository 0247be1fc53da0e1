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

	"strata/cache"
	"strata/logstore"
	"strata/meta"
	"strata/tier"
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

	// tiered: the store uploads sealed segments of tiered topics to
	// objects (in memory, kept across restart) and reads evicted ones
	// back through a block cache.
	tiered    bool
	objects   tier.ObjectStore
	offloader *meta.ManifestOffloader
	blocks    *cache.Cache
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
	sopts := logstore.StoreOptions{Dir: b.dir, Catalog: c, Logger: testLogger()}
	if b.tiered {
		b.openTier(n, &sopts)
	}
	st, err := logstore.OpenStore(sopts)
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
	if b.offloader != nil {
		b.offloader.Close()
		b.blocks.Close()
	}
	b.catalog.Close()
	b.node.Close()
	b.srv = nil
}

// openTier sets up the object tier of a tiered broker: the manifest
// offloader (uploads) and the block cache (reads of evicted segments).
func (b *testBroker) openTier(n *meta.Node, sopts *logstore.StoreOptions) {
	t := b.t
	t.Helper()
	if b.objects == nil {
		b.objects = tier.NewMemory()
	}
	blocks, err := cache.Open(cache.Options{Store: b.objects, BlockSize: 4 << 10, L1Bytes: 1 << 20, FetchTimeout: 5 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	so, err := logstore.NewSegmentObjects(b.objects, tier.RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o, err := meta.NewManifestOffloader(meta.NewManifests(n), meta.ManifestOffloaderOptions{Logger: testLogger(), Objects: so,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.offloader, b.blocks = o, blocks
	sopts.Offloader, sopts.Remote, sopts.RetentionCheckInterval = o, blocks, 50*time.Millisecond
}

// restart closes everything and opens it again on the same directory
// (the listener gets a new port).
func (b *testBroker) restart() {
	b.close()
	b.open()
}
