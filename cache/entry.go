package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// L2 entry format; the diagram is in doc.go.
const (
	entryMagic      = "STRATBLK"
	entryVersion    = 1
	entryFixedLen   = 32
	maxEntryKeyLen  = 1<<16 - 1
	entryFileSuffix = ".blk"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt marks an L2 entry whose bytes fail a check (magic, version,
// header CRC, length, data CRC). The cache drops such an entry and refetches
// the block; callers of ReadAt never see it.
var ErrCorrupt = errors.New("cache: corrupt L2 entry")

// entryHeader is the decoded header of one L2 entry.
type entryHeader struct {
	Key     string
	Index   int64
	DataLen uint32
	DataCRC uint32
}

// headerLen is the encoded header length (fixed part plus key).
func (h *entryHeader) headerLen() int { return entryFixedLen + len(h.Key) }

// appendEntry appends the encoded entry (header and data) to dst.
func appendEntry(dst []byte, key string, index int64, data []byte) []byte {
	if len(key) > maxEntryKeyLen {
		panic("cache: key longer than an L2 entry can hold")
	}
	start := len(dst)
	dst = append(dst, entryMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, entryVersion)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(index))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(data, castagnoli))
	hcrcAt := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = append(dst, key...)
	hcrc := crc32.Update(crc32.Checksum(dst[start:hcrcAt], castagnoli), castagnoli, dst[hcrcAt+4:])
	binary.LittleEndian.PutUint32(dst[hcrcAt:], hcrc)
	return append(dst, data...)
}

// decodeHeader decodes the header at the start of b. It needs the fixed part
// and the key; the data need not be present. Every failure wraps ErrCorrupt.
func decodeHeader(b []byte) (entryHeader, error) {
	var h entryHeader
	if len(b) < entryFixedLen {
		return h, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(b), entryFixedLen)
	}
	if string(b[:8]) != entryMagic {
		return h, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[:8])
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != entryVersion {
		return h, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, entryVersion)
	}
	klen := int(binary.LittleEndian.Uint16(b[10:]))
	if len(b) < entryFixedLen+klen {
		return h, fmt.Errorf("%w: %d bytes, header with key needs %d", ErrCorrupt, len(b), entryFixedLen+klen)
	}
	h.DataLen = binary.LittleEndian.Uint32(b[12:])
	idx := binary.LittleEndian.Uint64(b[16:])
	h.DataCRC = binary.LittleEndian.Uint32(b[24:])
	want := binary.LittleEndian.Uint32(b[28:])
	got := crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, b[32:32+klen])
	if got != want {
		return h, fmt.Errorf("%w: header crc %08x, want %08x", ErrCorrupt, got, want)
	}
	if idx > 1<<62 {
		return h, fmt.Errorf("%w: block index %d", ErrCorrupt, idx)
	}
	h.Index = int64(idx)
	h.Key = string(b[32 : 32+klen])
	return h, nil
}

// decodeEntry decodes a whole entry and verifies its length and data CRC; the
// returned data aliases b.
func decodeEntry(b []byte) (entryHeader, []byte, error) {
	h, err := decodeHeader(b)
	if err != nil {
		return h, nil, err
	}
	if want := h.headerLen() + int(h.DataLen); len(b) != want {
		return h, nil, fmt.Errorf("%w: %d bytes, entry needs %d (torn)", ErrCorrupt, len(b), want)
	}
	data := b[h.headerLen():]
	if got := crc32.Checksum(data, castagnoli); got != h.DataCRC {
		return h, nil, fmt.Errorf("%w: data crc %08x, want %08x", ErrCorrupt, got, h.DataCRC)
	}
	return h, data, nil
}
