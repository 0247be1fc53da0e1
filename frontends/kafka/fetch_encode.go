package kafka

import (
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// piece is one part of a streamed response body: bytes, or n bytes at pos
// of a segment file.
type piece struct {
	b    []byte
	file fdFile
	pos  int64
	n    int64
}

// fetchResponse is a Fetch response whose record batches stay where the
// log keeps them: reads[i][j] holds the batches of Topics[i].Partitions[j]
// (nil = none). The writer streams it (conn.writeStreamed) and then
// releases the reads, which pin their segment files until then.
type fetchResponse struct {
	*kmsg.FetchResponse
	reads [][]*logstore.ReadResult
}

var _ streamer = (*fetchResponse)(nil)

func (f *fetchResponse) release() {
	for _, rs := range f.reads {
		for _, r := range rs {
			if r != nil {
				r.Close()
			}
		}
	}
	f.reads = nil
}

// AppendTo encodes the whole response into dst (file chunks read in), for
// callers that need bytes (tests, fuzzing); the writer uses pieces.
func (f *fetchResponse) AppendTo(dst []byte) []byte {
	ps, _ := f.pieces()
	for _, p := range ps {
		if p.file == nil {
			dst = append(dst, p.b...)
			continue
		}
		at := len(dst)
		dst = append(dst, make([]byte, p.n)...)
		if _, err := p.file.ReadAt(dst[at:], p.pos); err != nil {
			// A segment file that cannot be read: the batch bytes are
			// zeros, which the client rejects by CRC.
			clear(dst[at:])
		}
	}
	return dst
}

// pieces encodes the response as kmsg's FetchResponse.AppendTo does for
// versions 4-17, with each partition's RecordBatches taken from its read
// instead: the length prefix from the read's size, then the read's chunks
// as pieces of their own. Tagged fields are always empty (we lead every
// partition: no diverging epoch, current leader or snapshot id; no node
// endpoints). fetch_encode_test.go holds this to kmsg's encoding.
func (f *fetchResponse) pieces() ([]piece, int) {
	v := f.Version
	flex := v >= 12
	var (
		ps   []piece
		size int
		buf  = make([]byte, 0, 256)
	)
	cut := func() {
		if len(buf) > 0 {
			ps = append(ps, piece{b: buf})
			size += len(buf)
			buf = make([]byte, 0, 256)
		}
	}
	arrayLen := func(n int) {
		if flex {
			buf = kbin.AppendCompactArrayLen(buf, n)
		} else {
			buf = kbin.AppendArrayLen(buf, n)
		}
	}
	if v >= 1 {
		buf = kbin.AppendInt32(buf, f.ThrottleMillis)
	}
	if v >= 7 {
		buf = kbin.AppendInt16(buf, f.ErrorCode)
		buf = kbin.AppendInt32(buf, f.SessionID)
	}
	arrayLen(len(f.Topics))
	for i := range f.Topics {
		t := &f.Topics[i]
		switch {
		case v >= 13:
			buf = kbin.AppendUuid(buf, t.TopicID)
		case flex:
			buf = kbin.AppendCompactString(buf, t.Topic)
		default:
			buf = kbin.AppendString(buf, t.Topic)
		}
		arrayLen(len(t.Partitions))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			buf = kbin.AppendInt32(buf, p.Partition)
			buf = kbin.AppendInt16(buf, p.ErrorCode)
			buf = kbin.AppendInt64(buf, p.HighWatermark)
			buf = kbin.AppendInt64(buf, p.LastStableOffset)
			if v >= 5 {
				buf = kbin.AppendInt64(buf, p.LogStartOffset)
			}
			if flex {
				buf = kbin.AppendCompactNullableArrayLen(buf, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			} else {
				buf = kbin.AppendNullableArrayLen(buf, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			}
			for _, a := range p.AbortedTransactions {
				buf = kbin.AppendInt64(buf, a.ProducerID)
				buf = kbin.AppendInt64(buf, a.FirstOffset)
				if flex {
					buf = kbin.AppendUvarint(buf, 0)
				}
			}
			if v >= 11 {
				buf = kbin.AppendInt32(buf, p.PreferredReadReplica)
			}
			var rr *logstore.ReadResult
			if i < len(f.reads) && j < len(f.reads[i]) {
				rr = f.reads[i][j]
			}
			switch {
			case rr != nil:
				n := int(rr.Size())
				if flex {
					buf = kbin.AppendUvarint(buf, uint32(n)+1)
				} else {
					buf = kbin.AppendInt32(buf, int32(n))
				}
				for _, c := range rr.Chunks {
					if c.Size() == 0 {
						continue
					}
					cut()
					if c.File == nil {
						ps = append(ps, piece{b: c.Data})
					} else {
						ps = append(ps, piece{file: c.File, pos: c.Pos, n: c.Len})
					}
					size += int(c.Size())
				}
			case flex:
				buf = kbin.AppendCompactNullableBytes(buf, p.RecordBatches)
			default:
				buf = kbin.AppendNullableBytes(buf, p.RecordBatches)
			}
			if flex {
				buf = kbin.AppendUvarint(buf, 0) // partition tags
			}
		}
		if flex {
			buf = kbin.AppendUvarint(buf, 0) // topic tags
		}
	}
	if flex {
		buf = kbin.AppendUvarint(buf, 0) // response tags
	}
	cut()
	return ps, size
}
