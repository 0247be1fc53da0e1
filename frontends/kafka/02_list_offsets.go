package kafka

// ListOffsets: v1-10
//
// Timestamps: -2 earliest (log start offset), -1 latest (high watermark;
// the last stable offset for read_committed), -3 the record with the
// largest timestamp (v7+; a scan of the batch headers), -4 earliest local
// (v8+; the log start offset: every engine serves reads from its start),
// -5 latest tiered (v9+; -1: tiered offsets are not reported), t >= 0 the
// first record with a timestamp >= t (the time index finds its batch,
// the batch's records give the record), or -1/-1 when there is none.
//
// Version notes: v2 isolation level; v4 current leader epoch and leader
// epoch (always 0); v6 flexible; v7 max timestamp; v8 earliest local; v9
// latest tiered; v10 timeout (unused: nothing here waits).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 2, min: 1, max: 10, serve: handleListOffsets})
}

func handleListOffsets(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		out := kmsg.NewListOffsetsResponseTopic()
		out.Topic = rt.Topic
		allowed := s.authorize(rc, aclDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.Partition = rp.Partition
			p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, 0
			l, err := s.store.Partition(rt.Topic, rp.Partition)
			switch {
			case !allowed:
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case err != nil:
				p.ErrorCode = errorCode(err)
			case rp.CurrentLeaderEpoch > 0:
				p.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				p.Offset, p.Timestamp, err = s.listOffset(tp{rt.Topic, rp.Partition}, l, rp.Timestamp, req.IsolationLevel)
				if err != nil {
					p.ErrorCode = errorCode(err)
					p.Offset, p.Timestamp = -1, -1
				}
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}

// listOffset answers one partition: the offset and timestamp for ts.
func (s *Server) listOffset(t tp, l logstore.Log, ts int64, isolation int8) (int64, int64, error) {
	hw := l.HighWatermark()
	switch ts {
	case -1:
		if isolation == 1 {
			return s.lastStableOffset(t, hw), -1, nil
		}
		return hw, -1, nil
	case -2, -4:
		return l.LogStartOffset(), -1, nil
	case -5:
		return -1, -1, nil
	case -3:
		return maxTimestampOffset(l)
	}
	if ts < 0 {
		return -1, -1, errInvalidTimestamp
	}
	off, err := l.OffsetForTime(ts)
	if err != nil {
		return -1, -1, err
	}
	for off < hw {
		batch, err := firstBatch(l, off)
		if err != nil {
			return -1, -1, err
		}
		recs, h, err := batchRecords(batch)
		if err != nil {
			return -1, -1, err
		}
		for _, r := range recs {
			if r.Offset >= off && r.Timestamp >= ts {
				return r.Offset, r.Timestamp, nil
			}
		}
		off = h.NextOffset()
	}
	return -1, -1, nil
}

var errInvalidTimestamp = errors.New("kafka: invalid ListOffsets timestamp")

// firstBatch returns the bytes of the batch that holds off.
func firstBatch(l logstore.Log, off int64) ([]byte, error) {
	rr, err := l.Read(off, 1)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	b, err := rr.Bytes()
	if err != nil {
		return nil, err
	}
	h, err := logstore.ParseBatchHeader(b)
	if err != nil || h.Size() > len(b) {
		return nil, logstore.ErrCorrupt
	}
	return append([]byte(nil), b[:h.Size()]...), nil
}

// batchRecords decodes a batch's records with their effective timestamps
// (LogAppendTime batches: the batch's max timestamp for every record).
func batchRecords(batch []byte) ([]logstore.Record, logstore.BatchHeader, error) {
	h, err := logstore.ParseBatchHeader(batch)
	if err != nil {
		return nil, h, err
	}
	recs, err := logstore.DecodeRecords(batch)
	if err != nil {
		return nil, h, err
	}
	if h.Attributes&0x08 != 0 {
		for i := range recs {
			recs[i].Timestamp = h.MaxTimestamp
		}
	}
	return recs, h, nil
}

// maxTimestampScanBytes is how much one read of the max-timestamp scan takes.
const maxTimestampScanBytes = 1 << 20

// maxTimestampOffset finds the record with the largest timestamp (the
// first such record): a scan of every batch header, then a decode of the
// winning batch. -1, -1 for an empty log.
func maxTimestampOffset(l logstore.Log) (int64, int64, error) {
	off, hw := l.LogStartOffset(), l.HighWatermark()
	bestTS, bestBase := int64(-1), int64(-1)
	for off < hw {
		rr, err := l.Read(off, maxTimestampScanBytes)
		if err != nil {
			return -1, -1, err
		}
		b, err := rr.Bytes()
		next := rr.NextOffset
		rr.Close()
		if err != nil {
			return -1, -1, err
		}
		for pos := 0; pos < len(b); {
			h, err := logstore.ParseBatchHeader(b[pos:])
			if err != nil {
				return -1, -1, err
			}
			if !h.IsControl() && h.MaxTimestamp > bestTS {
				bestTS, bestBase = h.MaxTimestamp, h.BaseOffset
			}
			pos += h.Size()
		}
		if next <= off {
			break
		}
		off = next
	}
	if bestBase < 0 {
		return -1, -1, nil
	}
	batch, err := firstBatch(l, bestBase)
	if err != nil {
		return -1, -1, err
	}
	recs, _, err := batchRecords(batch)
	if err != nil {
		return -1, -1, err
	}
	for _, r := range recs {
		if r.Timestamp == bestTS {
			return r.Offset, r.Timestamp, nil
		}
	}
	return bestBase, bestTS, nil
}
