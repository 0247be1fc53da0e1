package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// OffsetFetch: v0-10.
//
//   - v1: offsets from meta (v0 read ZooKeeper offsets in Kafka; here the same store)
//   - v2: top-level ErrorCode; null Topics fetches every committed partition
//   - v5: LeaderEpoch per partition
//   - v6: flexible versions
//   - v7: RequireStable (KIP-447): UNSTABLE_OFFSET_COMMIT while an open
//     transaction holds offsets of the group (txn.go)
//   - v8: several groups in one request (KIP-709)
//   - v9: MemberID and MemberEpoch, checked for KIP-848 groups
//   - v10: topics by TopicID
//
// A partition without a committed offset answers offset -1; an unknown
// group answers -1 everywhere rather than an error, as Kafka does.
func init() {
	register(handler{key: 9, min: 0, max: 10, serve: serveOffsetFetch})
}

func serveOffsetFetch(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	return rc.srv.groups.fetchOffsets(kreq.(*kmsg.OffsetFetchRequest)), nil
}

func (c *groupCoordinator) fetchOffsets(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	groups := req.Groups
	if req.Version < 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		if req.Topics != nil {
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic, rt.Partitions = t.Topic, t.Partitions
				rg.Topics = append(rg.Topics, rt)
			}
		}
		groups = []kmsg.OffsetFetchRequestGroup{rg}
	}
	for _, rg := range groups {
		sg := c.fetchGroupOffsets(req.Version, rg)
		// KIP-447: offsets an open transaction holds for the group are not
		// stable yet; the consumer retries (txn.go hasPendingOffsets).
		if req.RequireStable && sg.ErrorCode == 0 && c.srv != nil && c.srv.txns != nil && c.srv.txns.hasPendingOffsets(rg.Group) {
			sg.ErrorCode = kerr.UnstableOffsetCommit.Code
		}
		resp.Groups = append(resp.Groups, sg)
	}
	if req.Version < 8 {
		g0 := resp.Groups[0]
		resp.Groups = nil
		resp.ErrorCode = g0.ErrorCode
		for _, t := range g0.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if req.Version < 2 && g0.ErrorCode != 0 && sp.ErrorCode == 0 {
					sp.ErrorCode = g0.ErrorCode // v0-1 have no top-level code
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp
}

func (c *groupCoordinator) fetchGroupOffsets(version int16, rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	// Response topics mirror the request's (when it names topics).
	for _, t := range rg.Topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		sg.Topics = append(sg.Topics, st)
	}
	if !c.ready() {
		sg.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return sg
	}
	var partitions []meta.TopicPartition
	if rg.Topics != nil {
		partitions = []meta.TopicPartition{}
		for i, t := range rg.Topics {
			if version >= 10 {
				r, ok := c.topics.topicByID(t.TopicID)
				if !ok {
					for j := range sg.Topics[i].Partitions {
						sg.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
					}
					continue
				}
				sg.Topics[i].Topic = r.name
			}
			for _, p := range t.Partitions {
				partitions = append(partitions, meta.TopicPartition{Topic: sg.Topics[i].Topic, Partition: p})
			}
		}
	}

	c.mu.Lock()
	if g := c.mu.groups[rg.Group]; g != nil && g.typ == groupTypeConsumer && version >= 9 {
		// KIP-848: a member's fetch must carry its current epoch; an
		// admin fetch (no member id, epoch < 0) is not checked.
		if rg.MemberID != nil || rg.MemberEpoch >= 0 {
			m := g.cg.members[strOrEmpty(rg.MemberID)]
			switch {
			case m == nil:
				sg.ErrorCode = kerr.UnknownMemberID.Code
			case rg.MemberEpoch != m.epoch:
				sg.ErrorCode = kerr.StaleMemberEpoch.Code
			}
		}
	}
	c.mu.Unlock()
	if sg.ErrorCode != 0 {
		return sg
	}
	if len(partitions) == 0 && rg.Topics != nil {
		return sg
	}

	ctx, cancel := c.storeCtx()
	got, err := c.store.FetchOffsets(ctx, rg.Group, partitions)
	cancel()
	if err != nil {
		sg.ErrorCode = storeErrCode(err)
		return sg
	}
	if rg.Topics == nil {
		// Every committed partition, grouped by topic (got is sorted).
		for _, o := range got {
			if n := len(sg.Topics); n == 0 || sg.Topics[n-1].Topic != o.Topic {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = o.Topic
				if version >= 10 {
					if r, ok := c.topics.topic(o.Topic); ok {
						st.TopicID = r.id
					}
				}
				sg.Topics = append(sg.Topics, st)
			}
			st := &sg.Topics[len(sg.Topics)-1]
			sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = o.Partition, o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			st.Partitions = append(st.Partitions, sp)
		}
		return sg
	}
	byTP := make(map[meta.TopicPartition]meta.CommittedOffset, len(got))
	for _, o := range got {
		byTP[meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o
	}
	for i := range sg.Topics {
		st := &sg.Topics[i]
		for j := range st.Partitions {
			sp := &st.Partitions[j]
			if sp.ErrorCode != 0 {
				continue
			}
			if o, ok := byTP[meta.TopicPartition{Topic: st.Topic, Partition: sp.Partition}]; ok {
				sp.Offset, sp.LeaderEpoch, sp.Metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			} else {
				sp.Metadata = kmsg.StringPtr("")
			}
		}
	}
	return sg
}
