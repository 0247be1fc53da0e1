package kafka

// WriteTxnMarkers: v0-1
//
// Writes COMMIT or ABORT markers for a producer to the partitions named.
// Kafka's coordinator sends it to partition leaders; here the coordinator
// writes its own markers (txn.go), and this API serves operators'
// tools: `kafka-transactions.sh abort` ends a hanging transaction with it.
// A marker for a producer with no open transaction on a partition is
// written and changes nothing.
//
// Version notes: v1 flexible. v2 (transaction version per marker) is not
// served.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 27, min: 0, max: 1, serve: handleWriteTxnMarkers})
}

func handleWriteTxnMarkers(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	s := rc.srv
	// Kafka's check: CLUSTER_ACTION on the cluster (security: aclClusterAction, authz.go).
	allowed := s.authorize(rc, aclClusterAction, "")
	for _, m := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = m.ProducerID
		for _, rt := range m.Topics {
			st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				sp.Partition = p
				switch {
				case !allowed:
					sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				case m.ProducerID < 0 || m.ProducerEpoch < 0:
					sp.ErrorCode = kerr.InvalidProducerIDMapping.Code
				default:
					if _, err := s.store.Partition(rt.Topic, p); err != nil {
						sp.ErrorCode = errorCode(err)
					} else if err := s.writeMarker(tp{rt.Topic, p}, m.ProducerID, m.ProducerEpoch, m.Committed); err != nil {
						sp.ErrorCode = errorCode(err)
					}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			sm.Topics = append(sm.Topics, st)
		}
		resp.Markers = append(resp.Markers, sm)
	}
	return resp, nil
}
