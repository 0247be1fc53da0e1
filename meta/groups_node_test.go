package meta

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestShardClientsOverNode runs the typed clients of shards 3 to 7 over a
// real single-replica Node (Dragonboat: proposals through raft, lookups
// through SyncRead) and checks that a restart, replaying the raft log,
// keeps what they wrote.
func TestShardClientsOverNode(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	open := func() *Node {
		n, err := OpenNode(NodeOptions{NodeID: 1, RaftAddr: addr, Dir: filepath.Join(dir, "meta"), RTT: 20 * time.Millisecond, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	n := open()
	groups, manifests, security, routes, datasets := NewGroups(n), NewManifests(n), NewSecurity(n), NewRoutes(n), NewDatasets(n)
	offs := make([]OffsetCommit, 50)
	for i := range offs {
		offs[i] = OffsetCommit{Topic: "t", Partition: int32(i), Offset: int64(i * 10)}
	}
	if err := groups.CommitOffsets(ctx, "g", nil, 1, offs); err != nil {
		t.Fatal(err)
	}
	if _, err := manifests.AddSegment(ctx, "t", 0, SegmentEntry{Base: 0, Last: 9, Size: 100, CRC: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := security.SetPassword(ctx, "alice", "pw", []string{MechScramSHA256}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := routes.Add(ctx, RouteRule{ID: "r", Filter: "a/+", Topic: "a-{1}"}); err != nil {
		t.Fatal(err)
	}
	if _, err := datasets.Put(ctx, Dataset{Name: "d", Source: "file:///d", Format: FormatRaw}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := routes.Add(ctx, RouteRule{ID: "r", Filter: "b/+", Topic: "b"}); !RejectedWith(err, RejectExists) {
		t.Fatalf("a rejection through raft: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = open()
	defer n.Close()
	groups, manifests, security, routes, datasets = NewGroups(n), NewManifests(n), NewSecurity(n), NewRoutes(n), NewDatasets(n)
	if got, err := groups.FetchOffsets(ctx, "g", nil); err != nil || len(got) != 50 || got[49].Offset != 490 {
		t.Fatalf("offsets after restart: %d, %v", len(got), err)
	}
	if _, ok, err := manifests.Segment(ctx, "t", 0, 0); !ok || err != nil {
		t.Fatalf("manifest after restart: %v %v", ok, err)
	}
	if ok, err := security.Authenticate(ctx, "alice", "pw"); !ok || err != nil {
		t.Fatalf("login after restart: %v %v", ok, err)
	}
	if rules, err := routes.List(ctx); err != nil || len(rules) != 1 {
		t.Fatalf("routes after restart: %+v %v", rules, err)
	}
	if _, ok, err := datasets.Get(ctx, "d"); !ok || err != nil {
		t.Fatalf("dataset after restart: %v %v", ok, err)
	}
	if _, err := readOp[[]GroupSummary](ctx, n, ShardGroups, "no_such_lookup", nil); !RejectedWith(err, RejectInvalid) {
		t.Fatalf("a bad lookup through SyncRead: %v", err)
	}
}
