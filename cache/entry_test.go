package cache

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestEntryGolden pins the L2 entry bytes (the diagram in doc.go).
func TestEntryGolden(t *testing.T) {
	got := appendEntry(nil, "k", 2, []byte("abc"))
	want := "5354524154424c4b" + // magic "STRATBLK"
		"0100" + // version 1
		"0100" + // key length 1
		"03000000" + // data length 3
		"0200000000000000" + // block index 2
		"b73f4b36" + // crc32c("abc")
		"dacd5b8c" + // crc32c(bytes 0..27 and the key)
		"6b" + // key "k"
		"616263" // data "abc"
	if hex.EncodeToString(got) != want {
		t.Fatalf("entry\n got %x\nwant %s", got, want)
	}
	h, data, err := decodeEntry(got)
	if err != nil || h.Key != "k" || h.Index != 2 || string(data) != "abc" {
		t.Fatalf("decode: %+v %q %v", h, data, err)
	}
}

func TestEntryDecodeErrors(t *testing.T) {
	good := appendEntry(nil, "seg/0001", 7, bytes.Repeat([]byte{9}, 50))
	for _, tc := range []struct {
		name string
		b    func() []byte
	}{
		{"empty", func() []byte { return nil }},
		{"short header", func() []byte { return good[:20] }},
		{"bad magic", func() []byte { b := bytes.Clone(good); b[0] = 'X'; return b }},
		{"bad version", func() []byte { b := bytes.Clone(good); b[8] = 2; return b }},
		{"key cut", func() []byte { return good[:entryFixedLen+3] }},
		{"index flipped", func() []byte { b := bytes.Clone(good); b[16] ^= 1; return b }},
		{"torn data", func() []byte { return good[:len(good)-1] }},
		{"extra data", func() []byte { return append(bytes.Clone(good), 0) }},
		{"data flipped", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeEntry(tc.b()); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzDecodeHeader: the decoder never panics, and whatever it accepts
// re-encodes to the same bytes.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(appendEntry(nil, "k", 2, []byte("abc")))
	f.Add(appendEntry(nil, "topics/t-0/00000000000000000000.log", 12, bytes.Repeat([]byte{1}, 100)))
	f.Add(appendEntry(nil, "", 0, nil))
	f.Add([]byte("STRATBLK"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		if h.headerLen() > len(b) {
			t.Fatalf("header length %d beyond input %d", h.headerLen(), len(b))
		}
		h2, data, err := decodeEntry(b)
		if err != nil {
			return
		}
		if h2 != h {
			t.Fatalf("decodeEntry header %+v != decodeHeader %+v", h2, h)
		}
		if re := appendEntry(nil, h.Key, h.Index, data); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", re, b)
		}
	})
}
