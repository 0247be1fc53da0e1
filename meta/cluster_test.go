package meta

import (
	"context"
	"testing"
	"time"
)

func TestClusterDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/cluster", func() machine { return newClusterMachine() })
}

func TestNodeInfoAlive(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	n := NodeInfo{ID: 1, LastSeen: now.Add(-5 * time.Second)}
	if !n.Alive(now, 6*time.Second) || n.Alive(now, 4*time.Second) {
		t.Fatalf("Alive: last seen 5s ago, timeouts 6s/4s")
	}
	if (NodeInfo{ID: 2}).Alive(now, time.Hour) {
		t.Fatal("a node never seen is alive")
	}
}

func TestClusterClient(t *testing.T) {
	p := newMachineProposer()
	c := NewCluster(p)
	ctx := context.Background()
	reg, err := EncodeCommand(OpNodeRegister, map[string]any{"id": 1, "raft_addr": "127.0.0.1:7101", "at": time.Unix(5, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Propose(ctx, ShardCluster, reg); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPlacement(ctx, "orders", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPlacement(ctx, "orders", 1, 7); !isRejection(err, RejectNotFound) {
		t.Fatalf("placement on an unknown node: %v", err)
	}
	if node, ok, err := c.Placement(ctx, "orders", 0); err != nil || !ok || node != 1 {
		t.Fatalf("Placement = %d %v %v", node, ok, err)
	}
	if _, ok, err := c.Placement(ctx, "orders", 1); err != nil || ok {
		t.Fatalf("Placement of an unplaced partition = %v %v", ok, err)
	}
	if ps, err := c.Placements(ctx, ""); err != nil || len(ps) != 1 || ps[0] != (Placement{Topic: "orders", Partition: 0, Node: 1}) {
		t.Fatalf("Placements = %+v %v", ps, err)
	}
	if err := c.DeletePlacements(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if ps, err := c.Placements(ctx, "orders"); err != nil || len(ps) != 0 {
		t.Fatalf("Placements after delete = %+v %v", ps, err)
	}
	if nodes, err := c.Nodes(ctx); err != nil || len(nodes) != 1 || nodes[0].RaftAddr != "127.0.0.1:7101" {
		t.Fatalf("Nodes = %+v %v", nodes, err)
	}
}
