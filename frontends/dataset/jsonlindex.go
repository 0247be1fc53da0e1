package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The JSONL line index: the byte span of every sample (non-blank line) of
// one JSONL object, stored beside it as <key>.strata-idx. Format in doc.go.

// IndexSuffix names a JSONL object's index: the object's key plus this.
const IndexSuffix = ".strata-idx"

const (
	jsonlIndexMagic   = "STRAJIDX"
	jsonlIndexVersion = 1
	jsonlIndexHeader  = 24
	// MaxLineBytes bounds one JSONL sample.
	MaxLineBytes = 64 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt marks bytes that fail the checks of their format (a JSONL
// index, a Parquet or Arrow footer, a JSON line): damage, not an I/O
// failure.
var ErrCorrupt = errors.New("dataset: corrupt")

// span is one sample's bytes: [Off, Off+Len) of the object, without its
// line terminator.
type span struct{ Off, Len int64 }

// jsonlIndex is the decoded index of one object.
type jsonlIndex struct {
	ObjectSize int64
	Lines      []span
}

// encodeJSONLIndex writes the index.
func encodeJSONLIndex(ix jsonlIndex) []byte {
	b := make([]byte, jsonlIndexHeader, jsonlIndexHeader+len(ix.Lines)*3+4)
	copy(b, jsonlIndexMagic)
	binary.LittleEndian.PutUint16(b[8:], jsonlIndexVersion)
	binary.LittleEndian.PutUint16(b[10:], 0)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(ix.Lines)))
	binary.LittleEndian.PutUint64(b[16:], uint64(ix.ObjectSize))
	var end int64
	for _, s := range ix.Lines {
		b = binary.AppendUvarint(b, uint64(s.Off-end))
		b = binary.AppendUvarint(b, uint64(s.Len))
		end = s.Off + s.Len
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

// decodeJSONLIndex parses and checks an index: magic, version, CRC, every
// span inside the object and after the previous one, and no bytes left.
func decodeJSONLIndex(b []byte) (jsonlIndex, error) {
	var ix jsonlIndex
	if len(b) < jsonlIndexHeader+4 {
		return ix, fmt.Errorf("%w: jsonl index: %d bytes is shorter than its header", ErrCorrupt, len(b))
	}
	if string(b[:8]) != jsonlIndexMagic {
		return ix, fmt.Errorf("%w: jsonl index: bad magic", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != jsonlIndexVersion {
		return ix, fmt.Errorf("%w: jsonl index: version %d (want %d)", ErrCorrupt, v, jsonlIndexVersion)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32c) != sum {
		return ix, fmt.Errorf("%w: jsonl index: CRC mismatch", ErrCorrupt)
	}
	n := binary.LittleEndian.Uint32(b[12:])
	size := binary.LittleEndian.Uint64(b[16:])
	if size > 1<<62 {
		return ix, fmt.Errorf("%w: jsonl index: object size %d", ErrCorrupt, size)
	}
	ix.ObjectSize = int64(size)
	entries := body[jsonlIndexHeader:]
	if uint64(n) > uint64(len(entries))/2 { // every entry takes at least two bytes
		return ix, fmt.Errorf("%w: jsonl index: %d lines in %d bytes", ErrCorrupt, n, len(entries))
	}
	ix.Lines = make([]span, 0, n)
	var end uint64
	for i := range n {
		gap, k := binary.Uvarint(entries)
		if k <= 0 || k != uvarintLen(gap) {
			return ix, fmt.Errorf("%w: jsonl index: line %d: bad varint", ErrCorrupt, i)
		}
		entries = entries[k:]
		ln, k := binary.Uvarint(entries)
		if k <= 0 || k != uvarintLen(ln) {
			return ix, fmt.Errorf("%w: jsonl index: line %d: bad varint", ErrCorrupt, i)
		}
		entries = entries[k:]
		if gap > size-end || ln == 0 || ln > MaxLineBytes || ln > size-end-gap {
			return ix, fmt.Errorf("%w: jsonl index: line %d lies outside the object's %d bytes", ErrCorrupt, i, size)
		}
		off := end + gap
		ix.Lines = append(ix.Lines, span{Off: int64(off), Len: int64(ln)})
		end = off + ln
	}
	if len(entries) != 0 {
		return ix, fmt.Errorf("%w: jsonl index: %d bytes after the last line", ErrCorrupt, len(entries))
	}
	return ix, nil
}

// buildJSONLIndex scans a JSONL object: every line that is not blank is a
// sample and must be valid JSON. A final line without a newline counts.
// check (may be nil) sees every sample, with its number, to validate it.
func buildJSONLIndex(r io.Reader, size int64, check func(n int, line []byte) error) (jsonlIndex, error) {
	ix := jsonlIndex{ObjectSize: size}
	br := bufio.NewReaderSize(r, 256<<10)
	var off int64
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > MaxLineBytes {
				return ix, fmt.Errorf("%w: line %d at byte %d is over %d bytes", ErrCorrupt, len(ix.Lines)+1, off, MaxLineBytes)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return ix, err
		}
		n := int64(len(line))
		body := bytes.TrimRight(line, "\r\n")
		if t := bytes.TrimSpace(body); len(t) > 0 {
			if len(body) > MaxLineBytes {
				return ix, fmt.Errorf("%w: line %d at byte %d is over %d bytes", ErrCorrupt, len(ix.Lines)+1, off, MaxLineBytes)
			}
			if check != nil {
				if cerr := check(len(ix.Lines), body); cerr != nil {
					return ix, fmt.Errorf("%w: line at byte %d: %v", ErrCorrupt, off, cerr)
				}
			}
			ix.Lines = append(ix.Lines, span{Off: off, Len: int64(len(body))})
		}
		off += n
		line = line[:0]
		if err != nil {
			break
		}
	}
	if off != size {
		return ix, fmt.Errorf("%w: read %d bytes of an object of %d", ErrCorrupt, off, size)
	}
	return ix, nil
}

// uvarintLen is the length of v's minimal uvarint encoding: the decoder
// refuses longer ones, so an index has one encoding.
func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}
