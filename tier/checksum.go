package tier

import (
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// castagnoli is the CRC32C table; every checksum in the tier is CRC32C.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC32C (Castagnoli) checksum of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// newCRC32C returns a running CRC32C hash.
func newCRC32C() hash.Hash32 { return crc32.New(castagnoli) }

// verifyReader passes a whole object through and checks its CRC32C and
// length at EOF: a mismatch turns the final io.EOF into an ErrCorrupt.
type verifyReader struct {
	rc   io.ReadCloser
	key  string
	want uint32
	size int64
	n    int64
	h    hash.Hash32
}

func newVerifyReader(rc io.ReadCloser, key string, want uint32, size int64) *verifyReader {
	return &verifyReader{rc: rc, key: key, want: want, size: size, h: newCRC32C()}
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
	}
	if err == io.EOF {
		if v.n != v.size {
			return n, fmt.Errorf("%w: %q: read %d bytes, object has %d", ErrCorrupt, v.key, v.n, v.size)
		}
		if got := v.h.Sum32(); got != v.want {
			return n, fmt.Errorf("%w: %q: crc32c %08x, stored %08x", ErrCorrupt, v.key, got, v.want)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }

// checkRange validates a Get's (off, length) against an object of size
// bytes and returns how many bytes the read yields. The rule, shared by
// every store: off 0 is always valid (whole or empty object); any other off
// must lie inside the object; length -1 reads to the end and a length past
// the end is cut at the end, as S3 does.
func checkRange(key string, off, length, size int64) (int64, error) {
	if off < 0 || length < -1 {
		return 0, fmt.Errorf("%w: %q: invalid range off=%d length=%d", ErrRange, key, off, length)
	}
	if off != 0 && off >= size {
		return 0, fmt.Errorf("%w: %q: offset %d, object has %d bytes", ErrRange, key, off, size)
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	return n, nil
}

// wholeObject reports whether a read of (off, length) covers an object of
// size bytes entirely, so its checksum can be verified.
func wholeObject(off, length, size int64) bool {
	return off == 0 && (length < 0 || length >= size)
}
