package kafka

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// TestFetchEncodeMatchesKmsg holds the streaming Fetch encoder to kmsg's
// own encoding at every served version: the same response, with the
// batches as RecordBatches for kmsg and as chunks for us, must give the
// same bytes.
func TestFetchEncodeMatchesKmsg(t *testing.T) {
	batches := [][]byte{[]byte("first-batch-bytes"), []byte("second"), nil}
	for v := int16(4); v <= 17; v++ {
		build := func(withBytes bool) *kmsg.FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version = v
			r.ThrottleMillis, r.ErrorCode, r.SessionID = 7, 0, 42
			for ti, name := range []string{"a", "topic-b"} {
				ft := kmsg.NewFetchResponseTopic()
				ft.Topic = name
				ft.TopicID = [16]byte{byte(ti + 1), 2, 3}
				for pi, b := range batches {
					fp := kmsg.NewFetchResponseTopicPartition()
					fp.Partition = int32(pi)
					fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = 100, 99, 3
					fp.PreferredReadReplica = -1
					if pi == 1 {
						fp.ErrorCode = 1
						fp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 9, FirstOffset: 5}}
					}
					fp.RecordBatches = []byte{}
					if withBytes && b != nil {
						fp.RecordBatches = b
					}
					ft.Partitions = append(ft.Partitions, fp)
				}
				r.Topics = append(r.Topics, ft)
			}
			return r
		}
		want := build(true).AppendTo(nil)
		fr := &fetchResponse{FetchResponse: build(false)}
		for range fr.Topics {
			var rs []*logstore.ReadResult
			for _, b := range batches {
				if b == nil {
					rs = append(rs, nil)
					continue
				}
				// Two chunks per partition, to check chunk splicing.
				rs = append(rs, logstore.NewReadResult([]logstore.Chunk{{Data: b[:3]}, {Data: b[3:]}}, 0, 0, 0, nil))
			}
			fr.reads = append(fr.reads, rs)
		}
		got := fr.AppendTo(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("v%d: streamed encoding differs from kmsg\n got %x\nwant %x", v, got, want)
		}
		_, size := fr.pieces()
		if size != len(want) {
			t.Fatalf("v%d: pieces size %d, encoded %d", v, size, len(want))
		}
		// And kmsg decodes it back.
		dec := kmsg.NewPtrFetchResponse()
		dec.Version = v
		if err := dec.ReadFrom(got); err != nil {
			t.Fatalf("v%d: kmsg cannot decode: %v", v, err)
		}
	}
}
