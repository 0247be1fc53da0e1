package meta

import (
	"context"
	"testing"
)

func TestProducersDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/producers", newProducersMachine)
}

// TestProducersClient drives the typed client over a bare machine.
func TestProducersClient(t *testing.T) {
	ctx := context.Background()
	c := NewProducers(newMemProposer())
	first, err := c.AllocProducerIDs(ctx, 3)
	if err != nil || first != 0 {
		t.Fatalf("AllocProducerIDs = %d, %v", first, err)
	}
	if next, err := c.AllocProducerIDs(ctx, 1); err != nil || next != 3 {
		t.Fatalf("second AllocProducerIDs = %d, %v", next, err)
	}
	txn := TxnMeta{TransactionalID: "tx", ProducerID: 2, TimeoutMs: 1000, State: TxnEmpty, StartMs: -1}
	if _, err := c.PutTxn(ctx, txn, -1, -1); err != nil {
		t.Fatal(err)
	}
	txn.ProducerEpoch, txn.State = 1, TxnOngoing
	if _, err := c.PutTxn(ctx, txn, 2, 5); !RejectedWith(err, RejectConflict) {
		t.Fatalf("a stale compare-and-set: %v, want a conflict", err)
	}
	if _, err := c.PutTxn(ctx, txn, 2, 0); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.GetTxn(ctx, "tx")
	if err != nil || !ok || got.ProducerEpoch != 1 || got.State != TxnOngoing {
		t.Fatalf("GetTxn = %+v, %v, %v", got, ok, err)
	}
	if all, err := c.ListTxns(ctx); err != nil || len(all) != 1 {
		t.Fatalf("ListTxns = %v, %v", all, err)
	}
	if next, err := c.NextProducerID(ctx); err != nil || next != 4 {
		t.Fatalf("NextProducerID = %d, %v", next, err)
	}
	if err := c.DeleteTxn(ctx, "tx"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.GetTxn(ctx, "tx"); ok || err != nil {
		t.Fatalf("GetTxn after delete = %v, %v", ok, err)
	}
}
