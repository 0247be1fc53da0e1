package kafka

// TxnOffsetCommit: v0-4
//
// Holds offsets of a group in the producer's transaction: they are
// committed to the group when EndTxn commits and dropped when it aborts
// (txn.go). The group must have been added with AddOffsetsToTxn. From v3
// the member and generation are checked against the group as OffsetCommit
// checks them (KIP-447: a zombie of a rebalanced consumer cannot commit),
// unless both are unset (member "" and generation -1).
//
// Version notes: v1 is v0; v2 leader epoch per partition; v3 flexible,
// generation, member id and instance id, PRODUCER_FENCED for a stale
// epoch (KIP-588); v4 TRANSACTION_ABORTABLE may be returned (never here).
// v5 (KIP-890 part 2: the group added implicitly) and v6 are not served.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 28, min: 0, max: 4, serve: handleTxnOffsetCommit})
}

func handleTxnOffsetCommit(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	var offsets []meta.TxnOffset
	for _, rt := range req.Topics {
		for _, p := range rt.Partitions {
			offsets = append(offsets, meta.TxnOffset{
				Group: req.Group, Topic: rt.Topic, Partition: p.Partition, Offset: p.Offset,
				LeaderEpoch: p.LeaderEpoch, Metadata: strOrEmpty(p.Metadata),
			})
		}
	}
	var all int16
	var codes []int16
	switch {
	case req.Group == "":
		all = kerr.InvalidGroupID.Code
	case !rc.srv.groups.ready():
		all = kerr.CoordinatorLoadInProgress.Code
	case req.Version >= 3 && (req.MemberID != "" || req.Generation != -1):
		all = rc.srv.groups.validateTxnCommit(req.Group, req.MemberID, strOrEmpty(req.InstanceID), req.Generation)
	}
	if all == 0 {
		all, codes = rc.srv.txns.commitOffsets(req, offsets)
	}
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p.Partition, all
			if all == 0 && codes != nil {
				sp.ErrorCode = codes[i]
			}
			i++
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// validateTxnCommit checks a TxnOffsetCommit's member and generation
// against the group, as commitOffsets does for OffsetCommit: 0 when the
// offsets may be held. A group that does not exist is ILLEGAL_GENERATION.
func (c *groupCoordinator) validateTxnCommit(group, memberID, instanceID string, generation int32) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.mu.groups[group]
	if g == nil {
		if generation >= 0 {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	if g.typ == groupTypeConsumer {
		// Versions of OffsetCommit from 9 take KIP-848 member epochs,
		// which is what the generation carries for these groups.
		_, code := g.cg.validateCommit(9, memberID, generation)
		if code == kerr.StaleMemberEpoch.Code {
			code = kerr.IllegalGeneration.Code
		}
		return code
	}
	return g.validateClassicCommit(memberID, instanceID, generation)
}
