package logstore

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestLiteKeys(t *testing.T) {
	p := litePrefix(0x0102030405060708, 0x0a0b0c0d)
	key := liteDataKey(nil, p, 0x1122334455667788)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	if !bytes.Equal(key, want) {
		t.Fatalf("data key %x, want %x", key, want)
	}
	k, err := liteDecodeKey(key)
	if err != nil || k != (liteKey{Kind: liteKeyData, Seq: 0x0102030405060708, Partition: 0x0a0b0c0d, Offset: 0x1122334455667788}) {
		t.Fatalf("decode data key: %+v, %v", k, err)
	}
	k, err = liteDecodeKey(p[:])
	if err != nil || k != (liteKey{Kind: liteKeyMeta, Seq: 0x0102030405060708, Partition: 0x0a0b0c0d}) {
		t.Fatalf("decode meta key: %+v, %v", k, err)
	}
	if k, err := liteDecodeKey(liteFormatKey); err != nil || k.Kind != liteKeyFormat {
		t.Fatalf("decode format key: %+v, %v", k, err)
	}
	// Order: format key, then per partition the meta key, then its data
	// keys by offset, all before the next partition.
	p00 := litePrefix(0, 0)
	keys := [][]byte{
		liteFormatKey,
		p00[:],
		liteDataKey(nil, litePrefix(0, 0), 0),
		liteDataKey(nil, litePrefix(0, 0), math.MaxInt64),
		litePrefixEnd(0, 0),
		liteDataKey(nil, litePrefix(0, 1), 5),
		liteDataKey(nil, litePrefix(1, 0), 0),
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Errorf("key %x does not sort before %x", keys[i-1], keys[i])
		}
	}
	for _, bad := range [][]byte{nil, {1}, make([]byte, 13), append(bytes.Clone(key[:8]), 0x80, 0, 0, 0), append(bytes.Clone(key[:12]), 0x80, 0, 0, 0, 0, 0, 0, 0)} {
		if _, err := liteDecodeKey(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode %x = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestLiteMeta(t *testing.T) {
	for _, m := range []liteMeta{{}, {LSO: 3, HW: 10, Bytes: 500, Batches: 4}, {LSO: math.MaxInt64, HW: math.MaxInt64, Bytes: math.MaxInt64, Batches: math.MaxInt64}} {
		b := m.appendTo(nil)
		got, err := liteDecodeMeta(b)
		if err != nil || got != m {
			t.Errorf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	if got := (liteMeta{LSO: 1, HW: 2, Bytes: 300, Batches: 1}).appendTo(nil); !bytes.Equal(got, []byte{1, 1, 2, 0xac, 0x02, 1}) {
		t.Errorf("encoding %x", got)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 0}, {1, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {1, 0x80, 0, 0, 0, 0}, {1, 5, 4, 0, 0}} {
		if _, err := liteDecodeMeta(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode %x = %v, want ErrCorrupt", bad, err)
		}
	}
	if err := liteCheckFormat(liteFormatValue()); err != nil {
		t.Errorf("format value: %v", err)
	}
}

// FuzzLiteDecode feeds arbitrary bytes to every decoder of bytes read from
// the lite database: keys, meta values and the format value. Whatever
// decodes must encode back to the same bytes.
func FuzzLiteDecode(f *testing.F) {
	f.Add(liteDataKey(nil, litePrefix(7, 3), 42))
	p := litePrefix(7, 3)
	f.Add(p[:])
	f.Add(liteFormatKey)
	f.Add(liteFormatValue())
	f.Add(liteMeta{LSO: 3, HW: 10, Bytes: 500, Batches: 4}.appendTo(nil))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := liteDecodeKey(b); err == nil {
			var re []byte
			switch k.Kind {
			case liteKeyFormat:
				re = liteFormatKey
			case liteKeyMeta:
				p := litePrefix(k.Seq, k.Partition)
				re = p[:]
			case liteKeyData:
				re = liteDataKey(nil, litePrefix(k.Seq, k.Partition), k.Offset)
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("key %x decodes to %+v, which encodes to %x", b, k, re)
			}
			if k.Partition < 0 || k.Offset < 0 {
				t.Fatalf("key %x decodes to negative fields %+v", b, k)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("key error %v is not ErrCorrupt", err)
		}
		if m, err := liteDecodeMeta(b); err == nil {
			if re := m.appendTo(nil); !bytes.Equal(re, b) {
				t.Fatalf("meta %x decodes to %+v, which encodes to %x", b, m, re)
			}
			if m.LSO < 0 || m.LSO > m.HW || m.Bytes < 0 || m.Batches < 0 {
				t.Fatalf("meta %x decodes to impossible %+v", b, m)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("meta error %v is not ErrCorrupt", err)
		}
		if err := liteCheckFormat(b); err == nil && !bytes.Equal(b, liteFormatValue()) {
			t.Fatalf("format value %x accepted", b)
		} else if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("format error %v is not ErrCorrupt", err)
		}
	})
}
