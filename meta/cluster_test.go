package meta

import (
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
