package kafka

// DescribeProducers: v0
//
// The producers a partition has state for (producer_state.go): id, epoch,
// last sequence, last append time, and the first offset of its open
// transaction (-1 when none), for `kafka-transactions.sh describe-producers`
// and find-hanging. The coordinator epoch is always 0 (one coordinator).

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 61, min: 0, max: 0, serve: handleDescribeProducers})
}

func handleDescribeProducers(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	s := rc.srv
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		allowed := s.authorize(rc, aclRead, rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			if !allowed {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else {
				sp.ActiveProducers, sp.ErrorCode = s.activeProducers(tp{rt.Topic, p})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// activeProducers lists the producers of t's state, by id.
func (s *Server) activeProducers(t tp) ([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, int16) {
	l, err := s.store.Partition(t.topic, t.partition)
	if err != nil {
		return nil, errorCode(err)
	}
	ps := s.producers.part(t)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := ps.ensureBuilt(l, s.producers.expiration, time.Now().UnixMilli()); err != nil {
		return nil, kerr.KafkaStorageError.Code
	}
	ps.view.RLock()
	defer ps.view.RUnlock()
	out := []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
	for pid, e := range ps.producers {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = pid, int32(e.epoch), e.lastSeq, e.lastMs
		ap.CurrentTxnStartOffset = -1
		if first, open := ps.view.ongoing[pid]; open {
			ap.CurrentTxnStartOffset = first
		}
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b kmsg.DescribeProducersResponseTopicPartitionActiveProducer) int {
		switch {
		case a.ProducerID < b.ProducerID:
			return -1
		case a.ProducerID > b.ProducerID:
			return 1
		}
		return 0
	})
	return out, 0
}
