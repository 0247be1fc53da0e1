package kafka

// DeleteRecords: v0-2
//
// Moves a partition's log start offset up (Log.DeleteRecordsBefore);
// offset -1 means the high watermark. An offset above the high watermark
// is OFFSET_OUT_OF_RANGE. The response's low watermark is the new log
// start offset.
//
// Version notes: v2 flexible.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 21, min: 0, max: 2, serve: handleDeleteRecords})
}

func handleDeleteRecords(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		out := kmsg.NewDeleteRecordsResponseTopic()
		out.Topic = rt.Topic
		allowed := s.authorize(rc, aclDelete, rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewDeleteRecordsResponseTopicPartition()
			p.Partition, p.LowWatermark = rp.Partition, -1
			l, err := s.store.Partition(rt.Topic, rp.Partition)
			switch {
			case !allowed:
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case err != nil:
				p.ErrorCode = errorCode(err)
			default:
				off := rp.Offset
				if off == -1 {
					off = l.HighWatermark()
				}
				switch {
				case off < 0 || off > l.HighWatermark():
					p.ErrorCode = kerr.OffsetOutOfRange.Code
				case off <= l.LogStartOffset():
					p.LowWatermark = l.LogStartOffset()
				default:
					if err := l.DeleteRecordsBefore(off); err != nil {
						p.ErrorCode = errorCode(err)
					} else {
						p.LowWatermark = l.LogStartOffset()
					}
				}
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}
