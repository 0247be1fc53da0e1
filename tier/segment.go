package tier

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Segment objects: see doc.go for the diagram.
const (
	SegmentMagic      = "STRATOBJ"
	SegmentVersion    = 1
	SegmentFixedSize  = 64  // the header's fixed part; the topic name follows
	MaxTopicLen       = 249 // Kafka's limit
	segmentKeyPrefix  = "topics/"
	segmentKeySuffix  = ".seg"
	segmentHeaderCRC0 = 60 // the header CRC sits at [60,64)
)

// SegmentHeader opens every segment object: it names the data without
// the manifest, so an object store can be audited or rebuilt from itself.
type SegmentHeader struct {
	Topic       string
	Partition   int32
	BaseOffset  int64 // first offset in the payload
	LastOffset  int64 // last offset in the payload (inclusive)
	PayloadSize int64 // bytes after the header
	PayloadCRC  uint32
}

// Len returns the encoded header's length: 64 plus the topic name.
func (h SegmentHeader) Len() int { return SegmentFixedSize + len(h.Topic) }

// Validate checks the header's fields.
func (h SegmentHeader) Validate() error {
	switch {
	case !validTopic(h.Topic):
		return fmt.Errorf("tier: segment header: topic %q", h.Topic)
	case h.Partition < 0:
		return fmt.Errorf("tier: segment header: partition %d", h.Partition)
	case h.BaseOffset < 0 || h.LastOffset < h.BaseOffset:
		return fmt.Errorf("tier: segment header: offsets %d-%d", h.BaseOffset, h.LastOffset)
	case h.PayloadSize < 0:
		return fmt.Errorf("tier: segment header: payload size %d", h.PayloadSize)
	}
	return nil
}

// validTopic: a Kafka-legal topic name ([a-zA-Z0-9._-], 1 to 249 chars,
// not "." or "..").
func validTopic(t string) bool {
	if t == "" || len(t) > MaxTopicLen || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// EncodeSegmentHeader appends the encoded header to dst.
func EncodeSegmentHeader(dst []byte, h SegmentHeader) ([]byte, error) {
	if err := h.Validate(); err != nil {
		return dst, err
	}
	var b [SegmentFixedSize]byte
	copy(b[0:8], SegmentMagic)
	be := binary.BigEndian
	be.PutUint16(b[8:], SegmentVersion)
	be.PutUint16(b[10:], uint16(h.Len()))
	// b[12:16] flags, zero in version 1
	be.PutUint32(b[16:], uint32(h.Partition))
	be.PutUint32(b[20:], h.PayloadCRC)
	be.PutUint64(b[24:], uint64(h.BaseOffset))
	be.PutUint64(b[32:], uint64(h.LastOffset))
	be.PutUint64(b[40:], uint64(h.PayloadSize))
	// b[48:56] reserved, zero
	be.PutUint16(b[56:], uint16(len(h.Topic)))
	// b[58:60] reserved, zero
	crc := newCRC32C()
	crc.Write(b[:segmentHeaderCRC0])
	io.WriteString(crc, h.Topic)
	be.PutUint32(b[60:], crc.Sum32())
	dst = append(dst, b[:]...)
	return append(dst, h.Topic...), nil
}

// DecodeSegmentHeader decodes the header at the start of b and returns it
// with its encoded length. A b too short for the header is an error
// wrapping io.ErrUnexpectedEOF; bad bytes are ErrCorrupt.
func DecodeSegmentHeader(b []byte) (SegmentHeader, int, error) {
	if len(b) < SegmentFixedSize {
		return SegmentHeader{}, 0, fmt.Errorf("tier: segment header: %d of %d bytes: %w", len(b), SegmentFixedSize, io.ErrUnexpectedEOF)
	}
	be := binary.BigEndian
	if string(b[0:8]) != SegmentMagic {
		return SegmentHeader{}, 0, fmt.Errorf("%w: segment header: bad magic %q", ErrCorrupt, b[0:8])
	}
	if v := be.Uint16(b[8:]); v != SegmentVersion {
		return SegmentHeader{}, 0, fmt.Errorf("%w: segment header: version %d", ErrCorrupt, v)
	}
	topicLen := int(be.Uint16(b[56:]))
	hlen := int(be.Uint16(b[10:]))
	if topicLen > MaxTopicLen || hlen != SegmentFixedSize+topicLen {
		return SegmentHeader{}, 0, fmt.Errorf("%w: segment header: length %d, topic length %d", ErrCorrupt, hlen, topicLen)
	}
	if len(b) < hlen {
		return SegmentHeader{}, 0, fmt.Errorf("tier: segment header: %d of %d bytes: %w", len(b), hlen, io.ErrUnexpectedEOF)
	}
	crc := newCRC32C()
	crc.Write(b[:segmentHeaderCRC0])
	crc.Write(b[SegmentFixedSize:hlen])
	if got, want := crc.Sum32(), be.Uint32(b[60:]); got != want {
		return SegmentHeader{}, 0, fmt.Errorf("%w: segment header: crc32c %08x, stored %08x", ErrCorrupt, got, want)
	}
	if be.Uint32(b[12:]) != 0 || be.Uint64(b[48:]) != 0 || be.Uint16(b[58:]) != 0 {
		return SegmentHeader{}, 0, fmt.Errorf("%w: segment header: reserved bytes set", ErrCorrupt)
	}
	h := SegmentHeader{
		Topic:       string(b[SegmentFixedSize:hlen]),
		Partition:   int32(be.Uint32(b[16:])),
		PayloadCRC:  be.Uint32(b[20:]),
		BaseOffset:  int64(be.Uint64(b[24:])),
		LastOffset:  int64(be.Uint64(b[32:])),
		PayloadSize: int64(be.Uint64(b[40:])),
	}
	if err := h.Validate(); err != nil {
		return SegmentHeader{}, 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return h, hlen, nil
}

// ReadSegmentHeader reads and decodes a header from r, leaving r at the
// payload's first byte.
func ReadSegmentHeader(r io.Reader) (SegmentHeader, error) {
	buf := make([]byte, SegmentFixedSize, SegmentFixedSize+MaxTopicLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return SegmentHeader{}, fmt.Errorf("tier: segment header: %w", err)
	}
	// The fixed part alone decodes to "short" (the topic follows) or fails.
	if _, _, err := DecodeSegmentHeader(buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		if err == nil {
			err = fmt.Errorf("%w: segment header: no topic", ErrCorrupt)
		}
		return SegmentHeader{}, err
	}
	buf = buf[:SegmentFixedSize+int(binary.BigEndian.Uint16(buf[56:]))]
	if _, err := io.ReadFull(r, buf[SegmentFixedSize:]); err != nil {
		return SegmentHeader{}, fmt.Errorf("tier: segment header: %w", err)
	}
	h, _, err := DecodeSegmentHeader(buf)
	return h, err
}

// SegmentKey names a segment object:
// topics/<topic>/<partition>/<baseOffset:020d>-<lastOffset:020d>.seg.
// Keys sort by offset within a partition.
func SegmentKey(topic string, partition int32, base, last int64) (string, error) {
	h := SegmentHeader{Topic: topic, Partition: partition, BaseOffset: base, LastOffset: last}
	if err := h.Validate(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s/%d/%020d-%020d%s", segmentKeyPrefix, topic, partition, base, last, segmentKeySuffix), nil
}

// SegmentPrefix is the key prefix of a partition's segment objects, for
// List.
func SegmentPrefix(topic string, partition int32) string {
	return fmt.Sprintf("%s%s/%d/", segmentKeyPrefix, topic, partition)
}

// ParseSegmentKey is SegmentKey's inverse.
func ParseSegmentKey(key string) (topic string, partition int32, base, last int64, err error) {
	bad := func() (string, int32, int64, int64, error) {
		return "", 0, 0, 0, fmt.Errorf("tier: not a segment key: %q", key)
	}
	rest, ok := strings.CutPrefix(key, segmentKeyPrefix)
	if !ok {
		return bad()
	}
	rest, ok = strings.CutSuffix(rest, segmentKeySuffix)
	if !ok {
		return bad()
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return bad()
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	offs := strings.Split(parts[2], "-")
	if err1 != nil || len(offs) != 2 || len(offs[0]) != 20 || len(offs[1]) != 20 {
		return bad()
	}
	b, err2 := strconv.ParseInt(offs[0], 10, 64)
	l, err3 := strconv.ParseInt(offs[1], 10, 64)
	if err2 != nil || err3 != nil {
		return bad()
	}
	if k, err := SegmentKey(parts[0], int32(p), b, l); err != nil || k != key {
		return bad()
	}
	return parts[0], int32(p), b, l, nil
}
