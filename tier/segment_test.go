package tier

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

var goldenHeader = SegmentHeader{
	Topic: "orders", Partition: 3, BaseOffset: 100, LastOffset: 199, PayloadSize: 4096, PayloadCRC: 0xdeadbeef,
}

// goldenHeaderHex is goldenHeader encoded, annotated by field.
const goldenHeaderHex = "" +
	"5354524154 4f424a" + // magic "STRATOBJ"
	"0001" + // version 1
	"0046" + // header length 70 (64 + "orders")
	"00000000" + // flags
	"00000003" + // partition 3
	"deadbeef" + // payload crc32c
	"0000000000000064" + // base offset 100
	"00000000000000c7" + // last offset 199
	"0000000000001000" + // payload size 4096
	"0000000000000000" + // reserved
	"0006" + // topic length 6
	"0000" // reserved; the header crc32c and the topic follow

func TestSegmentHeaderGolden(t *testing.T) {
	b, err := EncodeSegmentHeader(nil, goldenHeader)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.ReplaceAll(goldenHeaderHex, " ", ""))
	if !bytes.Equal(b[:60], want) || string(b[64:]) != "orders" || len(b) != goldenHeader.Len() {
		t.Fatalf("encoding:\n got %x\nwant %x + crc + orders", b, want)
	}
	h, n, err := DecodeSegmentHeader(append(b, "payload"...))
	if err != nil || n != 70 || h != goldenHeader {
		t.Fatalf("decode: %+v %d %v", h, n, err)
	}
	h, err = ReadSegmentHeader(bytes.NewReader(append(b, "payload"...)))
	if err != nil || h != goldenHeader {
		t.Fatalf("read: %+v %v", h, err)
	}
}

func TestSegmentHeaderErrors(t *testing.T) {
	good, _ := EncodeSegmentHeader(nil, goldenHeader)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"fixed part only", good[:64], io.ErrUnexpectedEOF},
		{"topic cut", good[:68], io.ErrUnexpectedEOF},
		{"magic", flip(0), ErrCorrupt},
		{"version", flip(9), ErrCorrupt},
		{"length", flip(11), ErrCorrupt},
		{"flags", flip(13), ErrCorrupt},
		{"partition", flip(17), ErrCorrupt},
		{"base offset", flip(30), ErrCorrupt},
		{"reserved", flip(50), ErrCorrupt},
		{"header crc", flip(62), ErrCorrupt},
		{"topic", flip(66), ErrCorrupt},
	} {
		if _, _, err := DecodeSegmentHeader(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, h := range []SegmentHeader{
		{Topic: "", Partition: 0},
		{Topic: "a/b"},
		{Topic: ".."},
		{Topic: strings.Repeat("t", MaxTopicLen+1)},
		{Topic: "t", Partition: -1},
		{Topic: "t", BaseOffset: 5, LastOffset: 4},
		{Topic: "t", PayloadSize: -1},
	} {
		if _, err := EncodeSegmentHeader(nil, h); err == nil {
			t.Errorf("encode %+v: no error", h)
		}
	}
	long := SegmentHeader{Topic: strings.Repeat("t", MaxTopicLen), LastOffset: 1 << 62}
	b, err := EncodeSegmentHeader(nil, long)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := ReadSegmentHeader(bytes.NewReader(b)); err != nil || h != long {
		t.Fatalf("longest topic: %v", err)
	}
}

func TestSegmentKey(t *testing.T) {
	k, err := SegmentKey("orders", 3, 100, 199)
	if err != nil || k != "topics/orders/3/00000000000000000100-00000000000000000199.seg" {
		t.Fatalf("%q %v", k, err)
	}
	if ValidateKey(k) != nil || !strings.HasPrefix(k, SegmentPrefix("orders", 3)) {
		t.Fatalf("key %q: invalid or outside its prefix", k)
	}
	topic, p, b, l, err := ParseSegmentKey(k)
	if err != nil || topic != "orders" || p != 3 || b != 100 || l != 199 {
		t.Fatalf("parse: %s %d %d %d %v", topic, p, b, l, err)
	}
	k2, _ := SegmentKey("orders", 3, 200, 299)
	if !(k < k2) {
		t.Fatal("keys do not sort by offset")
	}
	for _, bad := range []string{
		"topics/orders/3/100-199.seg", "orders/3/00000000000000000100-00000000000000000199.seg",
		"topics/orders/x/00000000000000000100-00000000000000000199.seg",
		"topics/orders/3/00000000000000000199-00000000000000000100.seg",
		"topics/or/ders/3/00000000000000000100-00000000000000000199.seg",
		"topics/orders/03/00000000000000000100-00000000000000000199.seg",
	} {
		if _, _, _, _, err := ParseSegmentKey(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
	if _, err := SegmentKey("..", 0, 0, 0); err == nil {
		t.Error("topic '..' accepted")
	}
}

// FuzzDecodeSegmentHeader: the decoder never panics, and what it accepts
// re-encodes to the same bytes.
func FuzzDecodeSegmentHeader(f *testing.F) {
	good, _ := EncodeSegmentHeader(nil, goldenHeader)
	f.Add(good)
	f.Add(append(bytes.Clone(good), "payload"...))
	f.Add(good[:64])
	f.Add([]byte("STRATOBJ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := DecodeSegmentHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error with no marker: %v", err)
			}
			return
		}
		enc, err := EncodeSegmentHeader(nil, h)
		if err != nil {
			t.Fatalf("decoded header does not encode: %+v: %v", h, err)
		}
		if n != len(enc) || !bytes.Equal(enc, b[:n]) {
			t.Fatalf("round trip differs:\n in %x\nout %x", b[:n], enc)
		}
		r, err := ReadSegmentHeader(bytes.NewReader(b))
		if err != nil || r != h {
			t.Fatalf("ReadSegmentHeader disagrees: %+v %v", r, err)
		}
	})
}
