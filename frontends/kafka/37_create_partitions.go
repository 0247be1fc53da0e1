package kafka

// CreatePartitions: v0-3
//
// Grows a topic's partition count; an assignment may only name this
// broker. validate_only checks and changes nothing.
//
// Version notes: v2 flexible; v3 no change on the wire.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 37, min: 0, max: 3, serve: handleCreatePartitions})
}

func handleCreatePartitions(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		out := kmsg.NewCreatePartitionsResponseTopic()
		out.Topic = rt.Topic
		var err error
		for _, a := range rt.Assignment {
			for _, r := range a.Replicas {
				if r != s.opts.BrokerID {
					out.ErrorCode = kerr.InvalidReplicaAssignment.Code
				}
			}
		}
		switch {
		case out.ErrorCode != 0:
		case !s.authorize(rc, aclAlter, rt.Topic):
			out.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case req.ValidateOnly:
			var ti logstore.TopicInfo
			if ti, err = s.store.Topic(rt.Topic); err == nil && rt.Count <= ti.Partitions {
				err = fmt.Errorf("%w: topic %q has %d partitions; the count can only grow (asked for %d)", logstore.ErrInvalidPartitions, rt.Topic, ti.Partitions, rt.Count)
			}
		default:
			_, err = s.store.CreatePartitions(rt.Topic, rt.Count)
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}
