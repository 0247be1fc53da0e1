package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Compression codecs, as in batch attribute bits 0-2.
const (
	CompressionNone   int8 = 0
	CompressionGzip   int8 = 1
	CompressionSnappy int8 = 2
	CompressionLZ4    int8 = 3
	CompressionZstd   int8 = 4
)

var (
	decompressorOnce sync.Once
	decompressor     kgo.Decompressor
)

func decompress(codec int8, src []byte) ([]byte, error) {
	decompressorOnce.Do(func() { decompressor = kgo.DefaultDecompressor() })
	return decompressor.Decompress(src, kgo.CompressionCodecType(codec))
}

// EncodeBatch builds one v2 record batch (base offset 0, CreateTime
// timestamps) from records, compressed with codec. Record offsets become
// deltas 0..n-1 and Timestamp is kept per record. It is how non-Kafka
// frontends (MQTT, tools, benchmarks) turn messages into stored batches.
func EncodeBatch(records []Record, codec int8) ([]byte, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: a batch needs at least one record", ErrInvalidBatch)
	}
	first, maxTS := records[0].Timestamp, records[0].Timestamp
	for _, r := range records {
		first = min(first, r.Timestamp)
		maxTS = max(maxTS, r.Timestamp)
	}
	var raw []byte
	for i, r := range records {
		kr := kmsg.Record{
			TimestampDelta64: r.Timestamp - first,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		body := kr.AppendTo(nil)
		// AppendTo wrote Length (0) as a 1-byte varint; replace it with the real length.
		body = body[1:]
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
	}
	attrs := int16(0)
	if codec != CompressionNone {
		c, err := compressorFor(codec)
		if err != nil {
			return nil, err
		}
		out, used := c.Compress(new(bytes.Buffer), raw)
		if used != kgo.CompressionCodecType(codec) {
			return nil, fmt.Errorf("logstore: codec %d unavailable", codec)
		}
		raw = append([]byte(nil), out...)
		attrs = int16(codec)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(records)),
		Records:              raw,
	}
	rb.Length = int32(BatchHeaderSize - batchLogOverhead + len(raw))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[batchCRCOff:], crc32.Checksum(b[batchAttrOff:], crc32c))
	return b, nil
}

var compressors sync.Map // int8 -> kgo.Compressor

func compressorFor(codec int8) (kgo.Compressor, error) {
	if c, ok := compressors.Load(codec); ok {
		return c.(kgo.Compressor), nil
	}
	var cc kgo.CompressionCodec
	switch codec {
	case CompressionGzip:
		cc = kgo.GzipCompression()
	case CompressionSnappy:
		cc = kgo.SnappyCompression()
	case CompressionLZ4:
		cc = kgo.Lz4Compression()
	case CompressionZstd:
		cc = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("logstore: unknown compression codec %d", codec)
	}
	c, err := kgo.DefaultCompressor(cc)
	if err != nil {
		return nil, err
	}
	compressors.Store(codec, c)
	return c, nil
}
