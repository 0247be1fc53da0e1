package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup: v0-9.
//
//   - v1: RebalanceTimeoutMillis (v0: the session timeout is used)
//   - v4: MEMBER_ID_REQUIRED for a dynamic member joining without an id (KIP-394)
//   - v5: InstanceID, static membership (KIP-345)
//   - v6: flexible versions
//   - v7: ProtocolType and Protocol in the response
//   - v8: Reason
//   - v9: SkipAssignment for a static leader rejoining a stable group (KIP-814)
//
// A join that starts or joins a rebalance waits here until the rebalance
// completes (group_classic.go).
func init() {
	register(handler{key: 11, min: 0, max: 9, serve: serveJoinGroup})
}

func serveJoinGroup(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	c := rc.srv.groups
	reply, ch := replyChan()
	resp := c.locked(req, func() kmsg.Response { return c.join(callerOf(rc), req, reply) })
	if resp != nil {
		return resp, nil
	}
	return await(rc.ctx, ch)
}

// locked runs fn with mu held, unless the coordinator is loading or
// closed, which answer req with COORDINATOR_LOAD_IN_PROGRESS or
// COORDINATOR_NOT_AVAILABLE; then it wakes the persister.
func (c *groupCoordinator) locked(req kmsg.Request, fn func() kmsg.Response) kmsg.Response {
	if !c.ready() {
		return errorResponse(req, kerr.CoordinatorLoadInProgress.Code)
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return errorResponse(req, kerr.CoordinatorNotAvailable.Code)
	}
	resp := fn()
	c.mu.Unlock()
	c.kickPersister()
	return resp
}

// errorResponse answers a group request with code everywhere a code goes.
func errorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.ResponseKind().(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode, r.Generation = code, -1
		return r
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = code
		return r
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = code
		return r
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = code
		return r
	case *kmsg.ConsumerGroupHeartbeatResponse:
		r.ErrorCode = code
		return r
	case *kmsg.OffsetDeleteResponse:
		r.ErrorCode = code
		return r
	case *kmsg.ListGroupsResponse:
		r.ErrorCode = code
		return r
	case *kmsg.OffsetCommitResponse:
		q := req.(*kmsg.OffsetCommitRequest)
		for _, t := range q.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			r.Topics = append(r.Topics, st)
		}
		return r
	}
	panic(fmt.Sprintf("kafka: errorResponse: unexpected request key %d", req.Key()))
}
