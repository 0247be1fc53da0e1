package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestJSONLIndexTable(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []span
		err        bool
	}{
		{"empty", "", nil, false},
		{"one line no newline", `{"a":1}`, []span{{0, 7}}, false},
		{"two lines", "{\"a\":1}\n{\"a\":22}\n", []span{{0, 7}, {8, 8}}, false},
		{"blank lines and crlf", "\n{\"a\":1}\r\n  \n\n[1]\n", []span{{1, 7}, {14, 3}}, false},
		{"bad json", "{\"a\":1}\n{oops\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := buildJSONLIndex(strings.NewReader(tc.data), int64(len(tc.data)), func(_ int, l []byte) error {
				if !json.Valid(l) {
					return errors.New("not JSON")
				}
				return nil
			})
			if tc.err {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ix.Lines, tc.want) {
				t.Fatalf("lines %v, want %v", ix.Lines, tc.want)
			}
			back, err := decodeJSONLIndex(encodeJSONLIndex(ix))
			if err != nil {
				t.Fatal(err)
			}
			if back.ObjectSize != ix.ObjectSize || !slices.Equal(back.Lines, ix.Lines) {
				t.Fatalf("round trip %+v, want %+v", back, ix)
			}
		})
	}
}

func TestJSONLIndexRejectsDamage(t *testing.T) {
	var data bytes.Buffer
	for i := range 50 {
		fmt.Fprintf(&data, "{\"i\":%d}\n", i)
	}
	ix, err := buildJSONLIndex(bytes.NewReader(data.Bytes()), int64(data.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := encodeJSONLIndex(ix)
	for i := range enc {
		bad := slices.Clone(enc)
		bad[i] ^= 0x40
		if _, err := decodeJSONLIndex(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: err %v, want ErrCorrupt", i, err)
		}
	}
	for n := range len(enc) {
		if _, err := decodeJSONLIndex(enc[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err %v", n, err)
		}
	}
}

// FuzzJSONLIndex: the decoder never panics, accepts only indexes whose
// spans lie in order inside the object, and re-encodes what it accepts to
// the same bytes.
func FuzzJSONLIndex(f *testing.F) {
	f.Add(encodeJSONLIndex(jsonlIndex{ObjectSize: 0}))
	f.Add(encodeJSONLIndex(jsonlIndex{ObjectSize: 20, Lines: []span{{0, 7}, {8, 8}}}))
	f.Add(encodeJSONLIndex(jsonlIndex{ObjectSize: 1 << 40, Lines: []span{{1 << 30, 1 << 20}}}))
	f.Add([]byte(jsonlIndexMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := decodeJSONLIndex(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var end int64
		for _, s := range ix.Lines {
			if s.Off < end || s.Len <= 0 || s.Off+s.Len > ix.ObjectSize {
				t.Fatalf("accepted span %+v after %d in %d bytes", s, end, ix.ObjectSize)
			}
			end = s.Off + s.Len
		}
		if !bytes.Equal(encodeJSONLIndex(ix), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
