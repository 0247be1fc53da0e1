package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// OffsetDelete: v0 (KIP-496).
//
// An empty group's offsets are deleted outright. A group with members
// keeps the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC
// per partition) when its protocol type is "consumer"; any other protocol
// type with members answers NON_EMPTY_GROUP.
func init() {
	register(handler{key: 47, min: 0, max: 0, serve: serveOffsetDelete})
}

func serveOffsetDelete(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	return rc.srv.groups.deleteOffsets(kreq.(*kmsg.OffsetDeleteRequest)), nil
}

func (c *groupCoordinator) deleteOffsets(req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !c.ready() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	c.adoptStored([]string{req.Group})
	c.mu.Lock()
	g := c.mu.groups[req.Group]
	var subscribed map[string]struct{}
	switch {
	case c.mu.closed:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case g == nil || g.state == groupDead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.typ == groupTypeConsumer:
		subscribed = g.cg.subscribedTopicNames()
	case len(g.members) > 0:
		if g.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
		} else {
			subscribed = g.classicSubscribedTopics()
		}
	}
	c.mu.Unlock()
	if resp.ErrorCode != 0 {
		return resp
	}
	var del []meta.TopicPartition
	for _, t := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = t.Topic
		_, sub := subscribed[t.Topic]
		for _, p := range t.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = p.Partition
			if sub {
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else {
				del = append(del, meta.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(del) == 0 {
		return resp
	}
	ctx, cancel := c.storeCtx()
	_, err := c.store.DeleteOffsets(ctx, req.Group, del)
	cancel()
	if err != nil {
		resp.ErrorCode = storeErrCode(err)
	}
	return resp
}

// classicSubscribedTopics decodes the members' subscriptions of a
// "consumer" protocol group. mu held.
func (g *group) classicSubscribedTopics() map[string]struct{} {
	out := map[string]struct{}{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var md kmsg.ConsumerMemberMetadata
			if err := md.ReadFrom(p.Metadata); err == nil {
				for _, t := range md.Topics {
					out[t] = struct{}{}
				}
			}
		}
	}
	return out
}
