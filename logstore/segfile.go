package logstore

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// File formats of the segment engine. Each file starts with a 24-byte header;
// see doc.go for the diagrams.
const (
	FileHeaderSize     = 24
	FileFormatVersion  = 1
	IndexEntrySize     = 8
	TimeIndexEntrySize = 12

	SegmentExt   = ".log"
	IndexExt     = ".index"
	TimeIndexExt = ".timeindex"
)

// Magics of the segment engine's files.
var (
	SegmentMagic   = [8]byte{'S', 'T', 'R', 'A', 'T', 'L', 'O', 'G'}
	IndexMagic     = [8]byte{'S', 'T', 'R', 'A', 'T', 'I', 'D', 'X'}
	TimeIndexMagic = [8]byte{'S', 'T', 'R', 'A', 'T', 'T', 'I', 'X'}
)

// SegmentFileName is "<baseOffset:020d><ext>".
func SegmentFileName(base int64, ext string) string {
	return fmt.Sprintf("%020d%s", base, ext)
}

// ParseSegmentFileName is the inverse of SegmentFileName.
func ParseSegmentFileName(name string) (base int64, ext string, ok bool) {
	i := strings.IndexByte(name, '.')
	if i != 20 {
		return 0, "", false
	}
	base, err := strconv.ParseInt(name[:i], 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, name[i:], true
}

// EncodeFileHeader returns the 24-byte header: magic, version, reserved, base offset.
func EncodeFileHeader(magic [8]byte, base int64) []byte {
	b := make([]byte, FileHeaderSize)
	copy(b, magic[:])
	binary.BigEndian.PutUint32(b[8:], FileFormatVersion)
	binary.BigEndian.PutUint64(b[16:], uint64(base))
	return b
}

// DecodeFileHeader checks magic and version and returns the base offset.
func DecodeFileHeader(b []byte, magic [8]byte) (int64, error) {
	if len(b) < FileHeaderSize {
		return 0, fmt.Errorf("%w: file header is %d bytes, want %d", ErrCorrupt, len(b), FileHeaderSize)
	}
	if [8]byte(b[:8]) != magic {
		return 0, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, b[:8], magic[:])
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != FileFormatVersion {
		return 0, fmt.Errorf("%w: unsupported file format version %d", ErrCorrupt, v)
	}
	base := int64(binary.BigEndian.Uint64(b[16:]))
	if base < 0 {
		return 0, fmt.Errorf("%w: negative base offset %d", ErrCorrupt, base)
	}
	return base, nil
}

// IndexEntry maps an offset (relative to the segment base) to the byte
// position of the batch that starts there in the .log file.
type IndexEntry struct {
	RelOffset uint32
	Position  uint32
}

// TimeIndexEntry records that the batch at RelOffset is the first in the
// segment whose max timestamp reached Timestamp (entries are added only when
// the segment's max timestamp grows).
type TimeIndexEntry struct {
	Timestamp int64
	RelOffset uint32
}

// AppendIndexEntry appends e's 8 bytes to dst.
func AppendIndexEntry(dst []byte, e IndexEntry) []byte {
	dst = binary.BigEndian.AppendUint32(dst, e.RelOffset)
	return binary.BigEndian.AppendUint32(dst, e.Position)
}

// AppendTimeIndexEntry appends e's 12 bytes to dst.
func AppendTimeIndexEntry(dst []byte, e TimeIndexEntry) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Timestamp))
	return binary.BigEndian.AppendUint32(dst, e.RelOffset)
}

// DecodeIndex parses a whole .index file. It fails with ErrCorrupt on a bad
// header, a size that is not header + n entries, or entries whose offsets or
// positions do not strictly increase, or positions inside the file header.
func DecodeIndex(b []byte) (base int64, entries []IndexEntry, err error) {
	base, err = DecodeFileHeader(b, IndexMagic)
	if err != nil {
		return 0, nil, err
	}
	body := b[FileHeaderSize:]
	if len(body)%IndexEntrySize != 0 {
		return base, nil, fmt.Errorf("%w: index body of %d bytes is not a multiple of %d", ErrCorrupt, len(body), IndexEntrySize)
	}
	entries = make([]IndexEntry, 0, len(body)/IndexEntrySize)
	for i := 0; i < len(body); i += IndexEntrySize {
		e := IndexEntry{RelOffset: binary.BigEndian.Uint32(body[i:]), Position: binary.BigEndian.Uint32(body[i+4:])}
		if e.Position < FileHeaderSize {
			return base, nil, fmt.Errorf("%w: index entry at byte %d points into the file header", ErrCorrupt, FileHeaderSize+i)
		}
		if n := len(entries); n > 0 && (e.RelOffset <= entries[n-1].RelOffset || e.Position <= entries[n-1].Position) {
			return base, nil, fmt.Errorf("%w: index entry at byte %d does not increase", ErrCorrupt, FileHeaderSize+i)
		}
		entries = append(entries, e)
	}
	return base, entries, nil
}

// DecodeTimeIndex parses a whole .timeindex file, with the same checks as
// DecodeIndex (timestamps and offsets strictly increase).
func DecodeTimeIndex(b []byte) (base int64, entries []TimeIndexEntry, err error) {
	base, err = DecodeFileHeader(b, TimeIndexMagic)
	if err != nil {
		return 0, nil, err
	}
	body := b[FileHeaderSize:]
	if len(body)%TimeIndexEntrySize != 0 {
		return base, nil, fmt.Errorf("%w: time index body of %d bytes is not a multiple of %d", ErrCorrupt, len(body), TimeIndexEntrySize)
	}
	entries = make([]TimeIndexEntry, 0, len(body)/TimeIndexEntrySize)
	for i := 0; i < len(body); i += TimeIndexEntrySize {
		e := TimeIndexEntry{Timestamp: int64(binary.BigEndian.Uint64(body[i:])), RelOffset: binary.BigEndian.Uint32(body[i+8:])}
		if n := len(entries); n > 0 && (e.RelOffset <= entries[n-1].RelOffset || e.Timestamp <= entries[n-1].Timestamp) {
			return base, nil, fmt.Errorf("%w: time index entry at byte %d does not increase", ErrCorrupt, FileHeaderSize+i)
		}
		entries = append(entries, e)
	}
	return base, entries, nil
}

// ScanSegment reads a .log file of size bytes from r: the header, then each
// batch in turn, checked with CheckBatch (length, magic, CRC32C, framing) and
// for offset continuity (the first batch starts at the file's base offset,
// each next one at the previous one's next offset). fn (may be nil) sees each
// good batch; the batch slice is only valid during the call.
//
// It returns the header's base offset, validEnd (the byte position after the
// last good batch) and nextOffset (the offset after it). At a clean end err is
// nil. At the first bad or torn batch it stops and returns an error wrapping
// ErrCorrupt that names the byte position: recovery truncates to validEnd;
// tools report the error.
func ScanSegment(r io.ReaderAt, size int64, fn func(pos int64, h BatchHeader, batch []byte) error) (base, validEnd, nextOffset int64, err error) {
	hdr := make([]byte, FileHeaderSize)
	if size < FileHeaderSize {
		return 0, 0, 0, fmt.Errorf("%w: segment of %d bytes has no complete header", ErrCorrupt, size)
	}
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return 0, 0, 0, err
	}
	base, err = DecodeFileHeader(hdr, SegmentMagic)
	if err != nil {
		return 0, 0, 0, err
	}
	pos, next := int64(FileHeaderSize), base
	head := make([]byte, BatchHeaderSize)
	var buf []byte
	for pos < size {
		if size-pos < BatchHeaderSize {
			return base, pos, next, fmt.Errorf("%w: torn batch header at byte %d (%d bytes remain)", ErrCorrupt, pos, size-pos)
		}
		if _, err := r.ReadAt(head, pos); err != nil {
			return base, pos, next, err
		}
		h, err := ParseBatchHeader(head)
		if err != nil {
			return base, pos, next, fmt.Errorf("%w: at byte %d: %w", ErrCorrupt, pos, err)
		}
		if int64(h.Size()) > size-pos {
			return base, pos, next, fmt.Errorf("%w: torn batch at byte %d: needs %d bytes, %d remain", ErrCorrupt, pos, h.Size(), size-pos)
		}
		if cap(buf) < h.Size() {
			buf = make([]byte, h.Size())
		}
		b := buf[:h.Size()]
		if _, err := r.ReadAt(b, pos); err != nil {
			return base, pos, next, err
		}
		if _, err := CheckBatch(b); err != nil {
			return base, pos, next, fmt.Errorf("%w: at byte %d: %w", ErrCorrupt, pos, err)
		}
		if h.BaseOffset != next {
			return base, pos, next, fmt.Errorf("%w: batch at byte %d has base offset %d, want %d", ErrCorrupt, pos, h.BaseOffset, next)
		}
		if fn != nil {
			if err := fn(pos, h, b); err != nil {
				return base, pos, next, err
			}
		}
		pos += int64(h.Size())
		next = h.NextOffset()
	}
	return base, pos, next, nil
}
