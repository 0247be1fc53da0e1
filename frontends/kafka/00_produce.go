package kafka

// Produce: v3-11
//
// Each partition's record batches are framed (v2 batches only), checked
// against max.message.bytes, passed through producerGate (the idempotence
// and transactions seam, hooks.go) and appended with one Log.Append, which
// validates CRCs and stores the bytes as produced, whatever their
// compression. The partitions of one request append concurrently (each
// log group-commits on its own); the response waits for all of them. The
// log's flush policy decides durability, so acks=1 and acks=-1 both
// answer after the append returns; acks=0 gets no response at all, and
// a failed acks=0 produce closes the connection (Kafka's signal to the
// producer).
//
// Version notes: v3 transactional id, v2 batches only (Kafka 4's
// minimum); v5 log start offset; v8 record errors and error message; v9
// flexible; v10-11 current-leader tags (unused: we are always the
// leader); v12+ (transactions v2, topic ids) are not served.

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 0, min: 3, max: 11, serve: handleProduce})
}

func handleProduce(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1

	type job struct {
		t  tp
		p  *kmsg.ProduceResponseTopicPartition
		rp *kmsg.ProduceRequestTopicPartition
	}
	var jobs []job
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		out := &resp.Topics[i]
		*out = kmsg.NewProduceResponseTopic()
		out.Topic = rt.Topic
		out.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		allowed := s.authorize(rc, aclWrite, rt.Topic)
		for j := range rt.Partitions {
			p := &out.Partitions[j]
			*p = kmsg.NewProduceResponseTopicPartition()
			p.Partition = rt.Partitions[j].Partition
			p.BaseOffset, p.LogAppendTime, p.LogStartOffset = -1, -1, -1
			switch {
			case badAcks:
				p.ErrorCode = kerr.InvalidRequiredAcks.Code
			case !allowed:
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
			default:
				jobs = append(jobs, job{tp{rt.Topic, p.Partition}, p, &rt.Partitions[j]})
			}
		}
	}
	if len(jobs) == 1 {
		s.producePartition(rc, jobs[0].t, jobs[0].rp.Records, jobs[0].p)
	} else {
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.producePartition(rc, j.t, j.rp.Records, j.p)
			}()
		}
		wg.Wait()
	}
	if req.Acks == 0 {
		// No response; an error closes the connection instead, as Kafka
		// does, so the producer notices and refreshes its metadata.
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return nil, fmt.Errorf("kafka: acks=0 produce to %s/%d failed: %s", t.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
		return nil, nil
	}
	return resp, nil
}

// producePartition appends one partition's batches and fills p.
func (s *Server) producePartition(rc *reqCtx, t tp, records []byte, p *kmsg.ProduceResponseTopicPartition) {
	l, err := s.store.Partition(t.topic, t.partition)
	if err != nil {
		p.ErrorCode = errorCode(err)
		return
	}
	headers, code, msg := frameBatches(records, s.opts.MaxMessageBytes)
	if code != 0 {
		p.ErrorCode, p.ErrorMessage = code, &msg
		return
	}
	// Idempotence and transactions: the check, the append and the state
	// update of a producer's batch are atomic per partition (producer_state.go).
	defer s.producerLock(t, headers)()
	if dup, base, code := s.producerGate(rc, t, headers); code != 0 || dup {
		p.ErrorCode, p.BaseOffset = code, base
		p.LogStartOffset = l.LogStartOffset()
		return
	}
	res, err := l.Append(records)
	if err != nil {
		p.ErrorCode = errorCode(err)
		p.ErrorMessage = errorMessage(err)
		s.log.Debug("kafka: produce append failed", "topic", t.topic, "partition", t.partition, "err", err)
		return
	}
	s.producerAppended(t, headers, res)
	s.notify.signal(t)
	if s.opts.OnAppend != nil {
		s.opts.OnAppend(t.topic, t.partition, records) // Options.OnAppend: the Kafka -> MQTT seam
	}
	s.metrics.produced.Add(float64(len(records)))
	p.BaseOffset = res.BaseOffset
	p.LogStartOffset = l.LogStartOffset()
}

// frameBatches walks the produced bytes batch by batch (headers only: the
// log checks CRCs on append), sets each batch's partition leader epoch to
// 0, and returns their headers, or an error code
// and message: CORRUPT_MESSAGE for bytes that are not whole v2 batches,
// UNSUPPORTED_FOR_MESSAGE_FORMAT for magic 0/1, MESSAGE_TOO_LARGE for a
// batch above maxBytes, INVALID_RECORD for an empty batch.
func frameBatches(b []byte, maxBytes int32) ([]logstore.BatchHeader, int16, string) {
	if len(b) == 0 {
		return nil, kerr.CorruptMessage.Code, "no record batches"
	}
	var hs []logstore.BatchHeader
	for pos := 0; pos < len(b); {
		if len(b)-pos > 16 && b[pos+16] != 2 {
			return nil, kerr.UnsupportedForMessageFormat.Code, fmt.Sprintf("batch at byte %d has magic %d; only v2 batches are accepted", pos, b[pos+16])
		}
		h, err := logstore.ParseBatchHeader(b[pos:])
		if err != nil {
			return nil, kerr.CorruptMessage.Code, fmt.Sprintf("batch at byte %d: %v", pos, err)
		}
		if h.Size() > len(b)-pos {
			return nil, kerr.CorruptMessage.Code, fmt.Sprintf("batch at byte %d is %d bytes, only %d remain", pos, h.Size(), len(b)-pos)
		}
		if h.Size() > int(maxBytes) {
			return nil, kerr.MessageTooLarge.Code, fmt.Sprintf("batch of %d bytes is above max.message.bytes %d", h.Size(), maxBytes)
		}
		if h.NumRecords == 0 {
			return nil, kerr.InvalidRecord.Code, fmt.Sprintf("batch at byte %d has no records", pos)
		}
		// The partition leader epoch is the leader's, 0 here, as Kafka
		// stamps it on append (outside the CRC).
		logstore.SetLeaderEpoch(b[pos:], 0)
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, 0, ""
}
