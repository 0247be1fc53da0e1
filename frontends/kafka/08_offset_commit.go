package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// OffsetCommit: v0-10.
//
//   - v1: Generation and MemberID; a per-partition Timestamp (ignored)
//   - v2-v4: RetentionTimeMillis (ignored; offsets live until deleted)
//   - v6: LeaderEpoch per partition
//   - v7: InstanceID (KIP-345)
//   - v8: flexible versions
//   - v9: KIP-848 member epochs in Generation; GROUP_ID_NOT_FOUND for a
//     generation >= 0 on an unknown group (ILLEGAL_GENERATION before)
//   - v10: topics by TopicID
//
// Offsets are stored in meta (one proposal per request) before the reply,
// so an acknowledged commit survives a restart.
func init() {
	register(handler{key: 8, min: 0, max: 10, serve: serveOffsetCommit})
}

func serveOffsetCommit(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	return rc.srv.groups.commitOffsets(kreq.(*kmsg.OffsetCommitRequest)), nil
}

func (c *groupCoordinator) commitOffsets(req *kmsg.OffsetCommitRequest) kmsg.Response {
	if !c.ready() {
		return errorResponse(req, kerr.CoordinatorLoadInProgress.Code)
	}
	if !validGroupID(req.Group) {
		return errorResponse(req, kerr.InvalidGroupID.Code)
	}
	resp := errorResponse(req, 0).(*kmsg.OffsetCommitResponse)
	setAll := func(code int16) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
		return resp
	}
	names := make([]string, len(req.Topics))
	unknownID := make([]bool, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
		if req.Version >= 10 {
			r, ok := c.topics.topicByID(t.TopicID)
			if !ok {
				unknownID[i] = true
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
				}
				continue
			}
			names[i] = r.name
		}
	}

	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return setAll(kerr.CoordinatorNotAvailable.Code)
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			c.mu.Unlock()
			if req.Version >= 9 {
				return setAll(kerr.GroupIDNotFound.Code)
			}
			return setAll(kerr.IllegalGeneration.Code)
		}
		// A simple group: offsets without membership.
		g = c.getOrCreate(req.Group)
	}
	var cm *cmember
	var code int16
	if g.typ == groupTypeConsumer {
		cm, code = g.cg.validateCommit(req.Version, req.MemberID, req.Generation)
	} else {
		code = g.validateClassicCommit(req.MemberID, strOrEmpty(req.InstanceID), req.Generation)
	}
	if code != 0 {
		c.mu.Unlock()
		return setAll(code)
	}
	type slot struct{ t, p int }
	var offsets []meta.OffsetCommit
	var slots []slot
	for i, t := range req.Topics {
		if unknownID[i] {
			continue
		}
		ref, known := c.topics.topic(names[i])
		for j, p := range t.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			md := strOrEmpty(p.Metadata)
			switch {
			case !known || p.Partition < 0 || p.Partition >= ref.partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case len(md) > meta.MaxOffsetMetadata:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case p.Offset < 0:
				sp.ErrorCode = kerr.InvalidCommitOffsetSize.Code
			case cm != nil && !cm.commitEpochOK(ref.id, p.Partition, req.Generation):
				sp.ErrorCode = kerr.StaleMemberEpoch.Code
			default:
				offsets = append(offsets, meta.OffsetCommit{
					Topic: names[i], Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: md,
				})
				slots = append(slots, slot{i, j})
			}
		}
	}
	now := c.clock.now().UnixMilli()
	c.mu.Unlock()
	c.kickPersister()

	if len(offsets) == 0 {
		return resp
	}
	ctx, cancel := c.storeCtx()
	err := c.store.CommitOffsets(ctx, req.Group, nil, now, offsets)
	cancel()
	if err != nil {
		c.log.Warn("kafka: committing offsets", "group", req.Group, "err", err)
		code := storeErrCode(err)
		for _, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = code
		}
	} else {
		c.metrics.commits.Add(float64(len(offsets)))
	}
	return resp
}
