package meta

import (
	"context"
	"errors"
	"fmt"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

func TestGroupsDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/groups", newGroupsMachine)
}

func TestGroupsClient(t *testing.T) {
	ctx := context.Background()
	g := NewGroups(newMemProposer())
	offs := []OffsetCommit{{Topic: "t", Partition: 0, Offset: 5}, {Topic: "t", Partition: 1, Offset: 7, Metadata: "x"}}
	if err := g.CommitOffsets(ctx, "g", nil, 100, offs); err != nil {
		t.Fatal(err)
	}
	got, err := g.FetchOffsets(ctx, "g", nil)
	if err != nil || len(got) != 2 || got[1].Offset != 7 || got[1].Metadata != "x" || got[0].CommitTimeMs != 100 {
		t.Fatalf("FetchOffsets = %+v, %v", got, err)
	}
	got, err = g.FetchOffsets(ctx, "g", []TopicPartition{{"t", 1}})
	if err != nil || len(got) != 1 || got[0].Partition != 1 {
		t.Fatalf("FetchOffsets(t-1) = %+v, %v", got, err)
	}
	if _, ok, err := g.GetGroup(ctx, "g"); ok || err != nil {
		t.Fatalf("GetGroup of a group without metadata: ok=%v err=%v", ok, err)
	}
	md := GroupMetadata{Group: "g", ProtocolType: "consumer", Generation: 1, State: "Stable", Leader: "a", Members: []GroupMember{{MemberID: "a"}}}
	noMeta := int32(-1)
	if err := g.PutGroup(ctx, md, &noMeta); err != nil {
		t.Fatal(err)
	}
	if back, ok, err := g.GetGroup(ctx, "g"); !ok || err != nil || back.Leader != "a" || len(back.Members) != 1 {
		t.Fatalf("GetGroup = %+v %v %v", back, ok, err)
	}
	stale := int32(0)
	err = g.CommitOffsets(ctx, "g", &stale, 200, offs)
	if !errors.Is(err, ErrRejected) || !RejectedWith(err, RejectConflict) {
		t.Fatalf("stale generation commit: %v", err)
	}
	if want := `meta: groups commit_offsets: conflict: group "g" is at generation 1, not 0`; err.Error() != want {
		t.Fatalf("error text %q, want %q", err, want)
	}
	if err := g.DeleteGroup(ctx, "g"); !RejectedWith(err, RejectConflict) {
		t.Fatalf("DeleteGroup of a group with members: %v", err)
	}
	md.Members, md.Leader, md.State, md.Generation = nil, "", "Empty", 2
	if err := g.PutGroup(ctx, md, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := g.DeleteOffsets(ctx, "g", []TopicPartition{{"t", 0}}); n != 1 || err != nil {
		t.Fatalf("DeleteOffsets = %d, %v", n, err)
	}
	if n, err := g.DropTopic(ctx, "t"); n != 1 || err != nil {
		t.Fatalf("DropTopic = %d, %v", n, err)
	}
	list, err := g.ListGroups(ctx)
	if err != nil || len(list) != 1 || list[0].State != "Empty" {
		t.Fatalf("ListGroups = %+v, %v", list, err)
	}
	if err := g.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := g.DeleteGroup(ctx, "g"); !RejectedWith(err, RejectNotFound) {
		t.Fatalf("second DeleteGroup: %v", err)
	}
	// A bad lookup is a Rejection (Node.Read gives up on it at once).
	if _, err := readOp[[]GroupSummary](ctx, newMemProposer(), ShardGroups, "no_such_lookup", nil); !RejectedWith(err, RejectInvalid) {
		t.Fatalf("bad lookup: %v", err)
	}
	if _, err := readOp[[]GroupSummary](ctx, newMemProposer(), ShardGroups, "fetch_offsets", groupBody{Group: "g"}); err == nil {
		t.Fatal("a lookup result of the wrong type was accepted")
	}
	// A proposer failure (no quorum) is passed through, wrapped.
	p := newMemProposer()
	boom := errors.New("shard not ready")
	p.setFail(boom)
	if err := NewGroups(p).CommitOffsets(ctx, "g", nil, 1, offs); !errors.Is(err, boom) || errors.Is(err, ErrRejected) {
		t.Fatalf("proposer failure: %v", err)
	}
}

// BenchmarkGroupsApply applies one commit_offsets of 100 partitions
// through the adapter (decode, validate, apply, encode the result): the
// state machine's share of an offset commit, without raft.
func BenchmarkGroupsApply(b *testing.B) {
	offs := make([]OffsetCommit, 100)
	for i := range offs {
		offs[i] = OffsetCommit{Topic: fmt.Sprintf("topic-%d", i%4), Partition: int32(i), Offset: int64(1000 + i), LeaderEpoch: 3}
	}
	cmd, err := EncodeCommand("commit_offsets", commitOffsetsBody{Group: "bench", TimeMs: 1, Offsets: offs})
	if err != nil {
		b.Fatal(err)
	}
	a := &adapter{m: newGroupsMachine()}
	b.SetBytes(int64(len(cmd)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		res, err := a.Update(sm.Entry{Index: uint64(i + 1), Cmd: cmd})
		if err != nil || res.Value != ResultOK {
			b.Fatalf("%v %s", err, res.Data)
		}
	}
}
