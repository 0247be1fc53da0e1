package kafka

// OffsetForLeaderEpoch: v2-4
//
// Every partition has had one leader epoch, 0, since it was created, so
// epoch 0 (or any later epoch asked for) ends at the high watermark; a
// current_leader_epoch above 0 is UNKNOWN_LEADER_EPOCH (the client knows
// of an epoch we never had). Clients use this after a fetch to check for
// log truncation, which never happens here.
//
// Version notes: v2 current leader epoch; v3 replica id; v4 flexible.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 23, min: 2, max: 4, serve: handleOffsetForLeaderEpoch})
}

func handleOffsetForLeaderEpoch(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		out := kmsg.NewOffsetForLeaderEpochResponseTopic()
		out.Topic = rt.Topic
		allowed := s.authorize(rc, aclDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			p.Partition = rp.Partition
			p.LeaderEpoch, p.EndOffset = -1, -1
			l, err := s.store.Partition(rt.Topic, rp.Partition)
			switch {
			case !allowed:
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case err != nil:
				p.ErrorCode = errorCode(err)
			case rp.CurrentLeaderEpoch > 0:
				p.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch < 0:
				// No epoch asked for: undefined, as Kafka answers.
			default:
				p.LeaderEpoch, p.EndOffset = 0, l.HighWatermark()
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}
