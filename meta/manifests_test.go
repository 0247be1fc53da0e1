package meta

import (
	"context"
	"testing"
)

func TestManifestsDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/manifests", newManifestsMachine)
}

func TestManifestsClient(t *testing.T) {
	ctx := context.Background()
	c := NewManifests(newMemProposer())
	seg := SegmentEntry{Base: 0, Last: 9, Size: 100, CRC: 7, MaxTimestamp: 5}
	if added, err := c.AddSegment(ctx, "t", 0, seg); !added || err != nil {
		t.Fatalf("AddSegment = %v, %v", added, err)
	}
	if added, err := c.AddSegment(ctx, "t", 0, seg); added || err != nil {
		t.Fatalf("AddSegment again = %v, %v", added, err)
	}
	bad := seg
	bad.CRC = 8
	if _, err := c.AddSegment(ctx, "t", 0, bad); !RejectedWith(err, RejectConflict) {
		t.Fatalf("AddSegment with another CRC: %v", err)
	}
	if ch, err := c.SetState(ctx, "t", 0, 0, SegmentUploading, "k"); !ch || err != nil {
		t.Fatalf("SetState uploading = %v, %v", ch, err)
	}
	if ch, err := c.SetState(ctx, "t", 0, 0, SegmentOffloaded, ""); !ch || err != nil {
		t.Fatalf("SetState offloaded = %v, %v", ch, err)
	}
	e, ok, err := c.Segment(ctx, "t", 0, 0)
	if !ok || err != nil || e.State != SegmentOffloaded || e.ObjectKey != "k" {
		t.Fatalf("Segment = %+v %v %v", e, ok, err)
	}
	if _, ok, err := c.Segment(ctx, "t", 0, 1); ok || err != nil {
		t.Fatalf("Segment(1) = %v %v", ok, err)
	}
	if _, err := c.AddSegment(ctx, "t", 1, SegmentEntry{Base: 0, Last: 0, Size: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddSegment(ctx, "t", 0, SegmentEntry{Base: 10, Last: 19, Size: 30}); err != nil {
		t.Fatal(err)
	}
	if segs, err := c.Partition(ctx, "t", 0); err != nil || len(segs) != 2 || segs[1].State != SegmentLocal {
		t.Fatalf("Partition = %+v, %v", segs, err)
	}
	if all, err := c.All(ctx); err != nil || len(all) != 2 {
		t.Fatalf("All = %+v, %v", all, err)
	}
	if n, err := c.Truncate(ctx, "t", 0, 15); n != 1 || err != nil {
		t.Fatalf("Truncate = %d, %v", n, err)
	}
	if e, err := c.RemoveSegment(ctx, "t", 0, 0); err != nil || e.ObjectKey != "k" {
		t.Fatalf("RemoveSegment = %+v, %v", e, err)
	}
	if n, err := c.DropPartition(ctx, "t", 1); n != 1 || err != nil {
		t.Fatalf("DropPartition = %d, %v", n, err)
	}
	if _, err := c.AddSegment(ctx, "t", 2, SegmentEntry{Base: 0, Last: 0, Size: 30}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.DropTopic(ctx, "t"); n != 1 || err != nil {
		t.Fatalf("DropTopic = %d, %v", n, err)
	}
	if ms, err := c.Topic(ctx, "t"); err != nil || len(ms) != 0 {
		t.Fatalf("Topic after drop = %+v, %v", ms, err)
	}
}
