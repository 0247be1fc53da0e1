package meta

import (
	"context"
	"testing"
)

func TestDatasetsDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/datasets", newDatasetsMachine)
}

func TestDatasetsClient(t *testing.T) {
	ctx := context.Background()
	c := NewDatasets(newMemProposer())
	d := Dataset{Name: "ds", Source: "file:///data/ds", Format: FormatJSONL, CreatedMs: 1,
		Shards: []DatasetShard{{Key: "a.jsonl", Rows: 10, Bytes: 100}, {Key: "b.jsonl", Rows: 5, Bytes: 50}}}
	if created, err := c.Put(ctx, d, false); !created || err != nil {
		t.Fatalf("Put = %v, %v", created, err)
	}
	if created, err := c.Put(ctx, d, false); created || err != nil {
		t.Fatalf("identical second Put = %v, %v", created, err)
	}
	d2 := d
	d2.Source = "file:///elsewhere"
	if _, err := c.Put(ctx, d2, false); !RejectedWith(err, RejectExists) {
		t.Fatalf("second Put of another dataset: %v", err)
	}
	got, ok, err := c.Get(ctx, "ds")
	if !ok || err != nil || got.Rows() != 15 || len(got.Shards) != 2 {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 1 || list[0].Rows != 15 || list[0].Bytes != 150 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	cur := Cursor{Name: "job", Dataset: "ds", Epoch: 2, Seed: 9, WorldSize: 4, Position: 8, UpdatedMs: 10}
	if back, err := c.CommitCursor(ctx, cur, false); err != nil || back != cur {
		t.Fatalf("CommitCursor = %+v, %v", back, err)
	}
	cur.Position = 4
	if _, err := c.CommitCursor(ctx, cur, false); !RejectedWith(err, RejectConflict) {
		t.Fatalf("going back: %v", err)
	}
	if _, err := c.CommitCursor(ctx, cur, true); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if back, ok, err := c.GetCursor(ctx, "job"); !ok || err != nil || back.Position != 4 {
		t.Fatalf("GetCursor = %+v %v %v", back, ok, err)
	}
	if cs, err := c.ListCursors(ctx, ""); err != nil || len(cs) != 1 {
		t.Fatalf("ListCursors = %+v, %v", cs, err)
	}
	if err := c.DeleteCursor(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.GetCursor(ctx, "job"); ok {
		t.Fatal("cursor outlived DeleteCursor")
	}
	if n, err := c.Delete(ctx, "ds"); n != 0 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if _, ok, err := c.Get(ctx, "ds"); ok || err != nil {
		t.Fatalf("Get after Delete = %v %v", ok, err)
	}
}
