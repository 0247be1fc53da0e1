package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestEncodeDecodeBatch(t *testing.T) {
	for _, codec := range []int8{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			in := []Record{
				{Timestamp: 1000, Key: []byte("k1"), Value: bytes.Repeat([]byte("v"), 300), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
				{Timestamp: 1005, Key: nil, Value: []byte("second")},
			}
			b, err := EncodeBatch(in, codec)
			if err != nil {
				t.Fatal(err)
			}
			h, err := CheckBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != codec || h.NumRecords != 2 || h.MaxTimestamp != 1005 || h.FirstTimestamp != 1000 {
				t.Fatalf("header %+v", h)
			}
			SetBaseOffset(b, 42)
			out, err := DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 2 || out[0].Offset != 42 || out[1].Offset != 43 || out[1].Timestamp != 1005 ||
				!bytes.Equal(out[0].Value, in[0].Value) || string(out[0].Key) != "k1" || out[0].Headers[0].Key != "h" || string(out[1].Value) != "second" {
				t.Fatalf("decoded %+v", out)
			}
		})
	}
}

func TestCheckBatchRejects(t *testing.T) {
	good, err := EncodeBatch([]Record{{Timestamp: 1, Value: []byte("hello")}}, CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func([]byte) []byte{
		"short":     func(b []byte) []byte { return b[:20] },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
		"magic":     func(b []byte) []byte { b[batchMagicOff] = 1; return b },
		"crc":       func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"length":    func(b []byte) []byte { b[batchLengthOff] = 0x7f; return b },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := mutate(append([]byte(nil), good...))
			if _, err := CheckBatch(b); !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("CheckBatch(%s) = %v, want ErrInvalidBatch", name, err)
			}
		})
	}
	two := append(append([]byte(nil), good...), good...)
	n := 0
	if err := SplitBatches(two, func([]byte, BatchHeader) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("SplitBatches = %v, %d batches", err, n)
	}
	if err := SplitBatches(two[:len(two)-3], func([]byte, BatchHeader) error { return nil }); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("partial tail: %v", err)
	}
}

func FuzzCheckBatch(f *testing.F) {
	good, _ := EncodeBatch([]Record{{Timestamp: 1, Key: []byte("k"), Value: []byte("hello")}}, CompressionNone)
	gz, _ := EncodeBatch([]Record{{Timestamp: 1, Value: []byte("hello")}, {Timestamp: 2}}, CompressionGzip)
	f.Add(good)
	f.Add(gz)
	f.Add(append(append([]byte(nil), good...), gz...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = SplitBatches(b, func(batch []byte, h BatchHeader) error {
			if h.Size() != len(batch) {
				t.Fatalf("header size %d, batch %d", h.Size(), len(batch))
			}
			_, _ = DecodeRecords(batch)
			return nil
		})
	})
}
