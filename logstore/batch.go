package logstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka v2 RecordBatch header layout (big endian), as stored on disk and on
// the wire. The CRC32C covers bytes [21, end).
//
//	 0                   8           12          16 17          21    23
//	+-------------------+-----------+-----------+--+-----------+-----+
//	| baseOffset int64  | length i32| leaderEp  |mg| crc u32   |attr |
//	+-------------------+-----------+-----------+--+-----------+-----+
//	 23          27                  35                  43
//	+-----------+-------------------+-------------------+
//	|lastOffDelta| firstTimestamp   | maxTimestamp      |
//	+-----------+-------------------+-------------------+
//	 43                  51    53          57          61
//	+-------------------+-----+-----------+-----------+---------...
//	| producerId int64  |pEpoch| baseSeq   | numRecords| records
//	+-------------------+-----+-----------+-----------+---------...
//
// length counts the bytes after the length field: total = length + 12.
const (
	BatchHeaderSize = 61
	batchLengthOff  = 8
	batchEpochOff   = 12
	batchMagicOff   = 16
	batchCRCOff     = 17
	batchAttrOff    = 21
	batchLODOff     = 23
	batchFirstTSOff = 27
	batchMaxTSOff   = 35
	batchPIDOff     = 43
	batchCountOff   = 57
	// batchLogOverhead is baseOffset + length: the bytes not counted by length.
	batchLogOverhead = 12
	// MaxBatchSize caps one batch (Kafka's message.max.bytes is ~1 MiB by
	// default; we allow up to 64 MiB and refuse anything larger before
	// allocating for it).
	MaxBatchSize = 64 << 20

	// attrTimestampLogAppend is attribute bit 3: timestamps are broker time.
	attrTimestampLogAppend = 0x08
	attrTransactional      = 0x10
	attrControl            = 0x20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the parsed fixed header of one v2 record batch.
type BatchHeader struct {
	BaseOffset      int64
	Length          int32 // bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Size is the batch's total size in bytes.
func (h BatchHeader) Size() int { return int(h.Length) + batchLogOverhead }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec in attribute bits 0-2 (0 none, 1 gzip, 2 snappy,
// 3 lz4, 4 zstd).
func (h BatchHeader) Compression() int8 { return int8(h.Attributes & 0x07) }

// IsTransactional and IsControl report attribute bits 4 and 5.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch is a transaction control batch.
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// ParseBatchHeader decodes the fixed header at the start of b without
// checking the CRC. It fails if b is shorter than the header, the magic is
// not 2, or the length field is impossible; it does not require the whole
// batch to be present (see BatchSize for that).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrInvalidBatch, len(b))
	}
	h := BatchHeader{
		BaseOffset:      int64(binary.BigEndian.Uint64(b[0:])),
		Length:          int32(binary.BigEndian.Uint32(b[batchLengthOff:])),
		LeaderEpoch:     int32(binary.BigEndian.Uint32(b[batchEpochOff:])),
		Magic:           int8(b[batchMagicOff]),
		CRC:             binary.BigEndian.Uint32(b[batchCRCOff:]),
		Attributes:      int16(binary.BigEndian.Uint16(b[batchAttrOff:])),
		LastOffsetDelta: int32(binary.BigEndian.Uint32(b[batchLODOff:])),
		FirstTimestamp:  int64(binary.BigEndian.Uint64(b[batchFirstTSOff:])),
		MaxTimestamp:    int64(binary.BigEndian.Uint64(b[batchMaxTSOff:])),
		ProducerID:      int64(binary.BigEndian.Uint64(b[batchPIDOff:])),
		ProducerEpoch:   int16(binary.BigEndian.Uint16(b[51:])),
		BaseSequence:    int32(binary.BigEndian.Uint32(b[53:])),
		NumRecords:      int32(binary.BigEndian.Uint32(b[batchCountOff:])),
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, only v2 (magic 2) batches are supported", ErrInvalidBatch, h.Magic)
	}
	if h.Length < BatchHeaderSize-batchLogOverhead || int(h.Length) > MaxBatchSize {
		return h, fmt.Errorf("%w: length %d out of range", ErrInvalidBatch, h.Length)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("%w: negative lastOffsetDelta %d or record count %d", ErrInvalidBatch, h.LastOffsetDelta, h.NumRecords)
	}
	return h, nil
}

// CheckBatch validates one whole batch: header, exact size, CRC32C, and the
// record section's framing as kmsg decodes it. It returns the header.
func CheckBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: length field says %d bytes, have %d", ErrInvalidBatch, h.Size(), len(b))
	}
	if got := crc32.Checksum(b[batchAttrOff:], crc32c); got != h.CRC {
		return h, fmt.Errorf("%w: CRC32C mismatch (stored %08x, computed %08x)", ErrInvalidBatch, h.CRC, got)
	}
	var rb kmsg.RecordBatch
	if err := rb.UnsafeReadFrom(b); err != nil {
		return h, fmt.Errorf("%w: %v", ErrInvalidBatch, err)
	}
	if h.Compression() == 0 && h.NumRecords > 0 && int64(h.NumRecords)-1 > int64(h.LastOffsetDelta) {
		return h, fmt.Errorf("%w: %d records do not fit lastOffsetDelta %d", ErrInvalidBatch, h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// SplitBatches walks concatenated batches, validating each with CheckBatch,
// and calls fn with each batch's bytes (a sub-slice of b) and header. A
// trailing partial batch is an error.
func SplitBatches(b []byte, fn func(batch []byte, h BatchHeader) error) error {
	for pos := 0; pos < len(b); {
		h, err := ParseBatchHeader(b[pos:])
		if err != nil {
			return fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		end := pos + h.Size()
		if end > len(b) {
			return fmt.Errorf("batch at byte %d: %w: needs %d bytes, %d remain", pos, ErrInvalidBatch, h.Size(), len(b)-pos)
		}
		if _, err := CheckBatch(b[pos:end]); err != nil {
			return fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if err := fn(b[pos:end], h); err != nil {
			return err
		}
		pos = end
	}
	return nil
}

// SetBaseOffset rewrites the base offset of the batch at the start of b in
// place. The base offset is outside the CRC, so the CRC stays valid.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[0:], uint64(off))
}

// SetLeaderEpoch rewrites the partition leader epoch in place (outside the CRC).
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[batchEpochOff:], uint32(epoch))
}

// Record is one decoded record of a batch, for tools and tests.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// DecodeRecords decodes the records of one uncompressed or compressed batch.
// Compressed batches are decompressed with franz-go's codecs (gzip, snappy,
// lz4, zstd). It is for tools and tests; the data path never decodes records.
func DecodeRecords(batch []byte) ([]Record, error) {
	h, err := CheckBatch(batch)
	if err != nil {
		return nil, err
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidBatch, err)
	}
	raw := rb.Records
	if h.Compression() != 0 {
		raw, err = decompress(h.Compression(), raw)
		if err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrInvalidBatch, err)
		}
	}
	out := make([]Record, 0, h.NumRecords)
	for i := int32(0); i < h.NumRecords; i++ {
		var r kmsg.Record
		length, n := binary.Varint(raw)
		if n <= 0 || length < 0 || int64(len(raw)-n) < length {
			return nil, fmt.Errorf("%w: record %d: bad length", ErrInvalidBatch, i)
		}
		if err := r.ReadFrom(raw[:n+int(length)]); err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrInvalidBatch, i, err)
		}
		raw = raw[n+int(length):]
		rec := Record{
			Offset:    h.BaseOffset + int64(r.OffsetDelta),
			Timestamp: h.FirstTimestamp + r.TimestampDelta64,
			Key:       r.Key,
			Value:     r.Value,
		}
		for _, hd := range r.Headers {
			rec.Headers = append(rec.Headers, RecordHeader{Key: hd.Key, Value: hd.Value})
		}
		out = append(out, rec)
	}
	return out, nil
}
