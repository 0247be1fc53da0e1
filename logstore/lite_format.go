package logstore

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Lite engine key and value formats (see doc.go, "Lite engine"). Every key
// of a partition starts with the same 12-byte prefix, so one range covers a
// partition's data and its meta key, and the meta key (the bare prefix)
// sorts before the partition's first data key.
const (
	liteMetaKeyLen = 12 // topicSeq u64 | partition u32
	liteDataKeyLen = 20 // topicSeq u64 | partition u32 | baseOffset u64

	// liteMetaVersion is the first byte of every meta value.
	liteMetaVersion = 1
	// liteFormatVersion is the version in the format key's value.
	liteFormatVersion = 1
)

// liteFormatKey holds the database's magic and version. It is one byte long,
// so it never falls inside a partition's 12- or 20-byte keys.
var liteFormatKey = []byte{0x00}

// liteMagic starts the format key's value.
var liteMagic = [8]byte{'S', 'T', 'R', 'A', 'T', 'L', 'I', 'T'}

// liteKey is a decoded lite key.
type liteKey struct {
	Kind      liteKeyKind
	Seq       uint64
	Partition int32
	Offset    int64 // data keys only
}

type liteKeyKind uint8

const (
	liteKeyFormat liteKeyKind = iota + 1
	liteKeyMeta
	liteKeyData
)

// litePrefix is a partition's meta key and the prefix of its data keys.
func litePrefix(seq uint64, partition int32) [liteMetaKeyLen]byte {
	var p [liteMetaKeyLen]byte
	binary.BigEndian.PutUint64(p[0:], seq)
	binary.BigEndian.PutUint32(p[8:], uint32(partition))
	return p
}

// litePrefixEnd is the first key after every key of the partition: the next
// partition's prefix. Partitions are int32 >= 0, so partition+1 fits in u32.
func litePrefixEnd(seq uint64, partition int32) []byte {
	var p [liteMetaKeyLen]byte
	binary.BigEndian.PutUint64(p[0:], seq)
	binary.BigEndian.PutUint32(p[8:], uint32(partition)+1)
	return p[:]
}

// liteDataKey appends the data key of offset under prefix to dst.
func liteDataKey(dst []byte, prefix [liteMetaKeyLen]byte, offset int64) []byte {
	dst = append(dst, prefix[:]...)
	return binary.BigEndian.AppendUint64(dst, uint64(offset))
}

// liteDecodeKey parses a key read from the lite database.
func liteDecodeKey(k []byte) (liteKey, error) {
	switch len(k) {
	case len(liteFormatKey):
		if k[0] == liteFormatKey[0] {
			return liteKey{Kind: liteKeyFormat}, nil
		}
	case liteMetaKeyLen, liteDataKeyLen:
		part := binary.BigEndian.Uint32(k[8:])
		if part > math.MaxInt32 {
			return liteKey{}, fmt.Errorf("%w: lite key %x: partition %d out of range", ErrCorrupt, k, part)
		}
		lk := liteKey{Kind: liteKeyMeta, Seq: binary.BigEndian.Uint64(k), Partition: int32(part)}
		if len(k) == liteDataKeyLen {
			off := binary.BigEndian.Uint64(k[liteMetaKeyLen:])
			if off > math.MaxInt64 {
				return liteKey{}, fmt.Errorf("%w: lite key %x: offset out of range", ErrCorrupt, k)
			}
			lk.Kind, lk.Offset = liteKeyData, int64(off)
		}
		return lk, nil
	}
	return liteKey{}, fmt.Errorf("%w: lite key %x: unknown key of %d bytes", ErrCorrupt, k, len(k))
}

// liteMeta is a partition's persistent state, rewritten in the same pebble
// batch as every change to the partition, so it always agrees with the data
// keys after a crash.
type liteMeta struct {
	LSO, HW        int64
	Bytes, Batches int64
}

// appendTo encodes m: version byte, then four uvarints.
func (m liteMeta) appendTo(dst []byte) []byte {
	dst = append(dst, liteMetaVersion)
	for _, v := range [4]int64{m.LSO, m.HW, m.Bytes, m.Batches} {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	return dst
}

// liteDecodeMeta parses a meta value. It accepts exactly what appendTo
// writes: the version, four minimal uvarints that fit int64, LSO <= HW, and
// nothing after them.
func liteDecodeMeta(b []byte) (liteMeta, error) {
	if len(b) == 0 || b[0] != liteMetaVersion {
		return liteMeta{}, fmt.Errorf("%w: lite meta %x: unknown version", ErrCorrupt, b)
	}
	var vals [4]int64
	rest := b[1:]
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > math.MaxInt64 || n != uvarintLen(v) {
			return liteMeta{}, fmt.Errorf("%w: lite meta %x: bad field %d", ErrCorrupt, b, i)
		}
		vals[i], rest = int64(v), rest[n:]
	}
	if len(rest) != 0 {
		return liteMeta{}, fmt.Errorf("%w: lite meta %x: %d trailing bytes", ErrCorrupt, b, len(rest))
	}
	m := liteMeta{LSO: vals[0], HW: vals[1], Bytes: vals[2], Batches: vals[3]}
	if m.LSO > m.HW {
		return liteMeta{}, fmt.Errorf("%w: lite meta: log start offset %d above high watermark %d", ErrCorrupt, m.LSO, m.HW)
	}
	return m, nil
}

func uvarintLen(v uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], v)
}

// liteFormatValue is the value of liteFormatKey: magic, then version u32.
func liteFormatValue() []byte {
	return binary.BigEndian.AppendUint32(liteMagic[:], liteFormatVersion)
}

// liteCheckFormat validates the format key's value.
func liteCheckFormat(v []byte) error {
	if len(v) != len(liteMagic)+4 || [8]byte(v[:8]) != liteMagic {
		return fmt.Errorf("%w: lite database format key %x: bad magic", ErrCorrupt, v)
	}
	if ver := binary.BigEndian.Uint32(v[8:]); ver != liteFormatVersion {
		return fmt.Errorf("%w: lite database format version %d, this binary reads %d", ErrCorrupt, ver, liteFormatVersion)
	}
	return nil
}
