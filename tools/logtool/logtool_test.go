package logtool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/logstore"
)

// writePartition writes segment files by hand from the documented format,
// so the tools are tested against the format itself; one segment per
// element of segs, each holding that many batches of two records.
func writePartition(t *testing.T, dir string, segs ...int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	for _, n := range segs {
		base := off
		log := logstore.EncodeFileHeader(logstore.SegmentMagic, base)
		idx := logstore.EncodeFileHeader(logstore.IndexMagic, base)
		tix := logstore.EncodeFileHeader(logstore.TimeIndexMagic, base)
		for i := 0; i < n; i++ {
			ts := 1_700_000_000_000 + off
			b, err := logstore.EncodeBatch([]logstore.Record{
				{Timestamp: ts, Key: []byte(fmt.Sprintf("key-%d", off)), Value: []byte(fmt.Sprintf("value-%d", off)),
					Headers: []logstore.RecordHeader{{Key: "h", Value: []byte("v")}}},
				{Timestamp: ts + 1, Value: []byte{0xff, 0x00, 0x01}},
			}, logstore.CompressionNone)
			if err != nil {
				t.Fatal(err)
			}
			logstore.SetBaseOffset(b, off)
			idx = logstore.AppendIndexEntry(idx, logstore.IndexEntry{RelOffset: uint32(off - base), Position: uint32(len(log))})
			tix = logstore.AppendTimeIndexEntry(tix, logstore.TimeIndexEntry{Timestamp: ts + 1, RelOffset: uint32(off - base)})
			log = append(log, b...)
			off += 2
		}
		for ext, data := range map[string][]byte{logstore.SegmentExt: log, logstore.IndexExt: idx, logstore.TimeIndexExt: tix} {
			if err := os.WriteFile(filepath.Join(dir, logstore.SegmentFileName(base, ext)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestVerifyClean(t *testing.T) {
	data := t.TempDir()
	writePartition(t, filepath.Join(data, "topics", "orders-0"), 3, 2)
	writePartition(t, filepath.Join(data, "topics", "orders-1"), 1)
	rep, err := Verify(data, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Partitions != 2 || rep.Segments != 3 || rep.Batches != 6 || len(rep.Notes) != 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestVerifyFindsCorruption(t *testing.T) {
	first := logstore.SegmentFileName(0, logstore.SegmentExt)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string // substring of the error: file and position
	}{
		{"flipped value byte", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, first), -2) }, first + ": logstore: corrupt data: at byte"},
		{"torn tail", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, first), -5) }, "torn batch at byte"},
		{"bad magic", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, first), 0) }, "bad magic"},
		{"index entry", func(t *testing.T, dir string) {
			flip(t, filepath.Join(dir, logstore.SegmentFileName(0, logstore.IndexExt)), logstore.FileHeaderSize+logstore.IndexEntrySize+7)
		}, ".index at byte 32: entry"},
		{"time index", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, logstore.SegmentFileName(0, logstore.TimeIndexExt)), -1)
		}, "not a multiple of 12"},
		{"offset gap", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, logstore.SegmentFileName(6, logstore.SegmentExt))); err != nil {
				t.Fatal(err)
			}
		}, "00000000000000000010.log at byte 0: base offset 10 does not follow the previous segment's end 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			dir := filepath.Join(data, "topics", "orders-0")
			writePartition(t, dir, 3, 2, 1)
			c.damage(t, dir)
			_, err := Verify(data, &bytes.Buffer{})
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("Verify = %v, want corruption", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestDump(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topics", "t-0")
	writePartition(t, dir, 2, 2)
	var out bytes.Buffer
	if err := Dump(dir, DumpOptions{From: 3, To: 4}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"batch offsets=2..3", "batch offsets=4..5", `offset=3 `, `offset=4 timestamp=2023-11-14T22:13:20.004Z key="key-4" headers=["h"="v"] value(7)="value-4"`} {
		if !strings.Contains(text, want) {
			t.Errorf("dump output lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"offset=2 ", "offset=5 ", "batch offsets=0..1", "batch offsets=6..7"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("dump output has %q outside --from/--to:\n%s", unwanted, text)
		}
	}
	out.Reset()
	if err := Dump(dir, DumpOptions{JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	var offsets []int64
	for sc.Scan() {
		var b jsonBatch
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if b.Codec != "none" || len(b.RecordList) != 2 || *b.RecordList[0].Value != fmt.Sprintf("value-%d", b.BaseOffset) || b.RecordList[1].Key != nil {
			t.Fatalf("batch %+v", b)
		}
		offsets = append(offsets, b.BaseOffset)
	}
	if fmt.Sprint(offsets) != "[0 2 4 6]" {
		t.Fatalf("batch offsets %v", offsets)
	}
	if err := Dump(t.TempDir(), DumpOptions{}, &out); err == nil || !strings.Contains(err.Error(), "no segment files") {
		t.Fatalf("empty dir: %v", err)
	}
}

func TestStats(t *testing.T) {
	data := t.TempDir()
	writePartition(t, filepath.Join(data, "topics", "a-0"), 3, 2)
	writePartition(t, filepath.Join(data, "topics", "a-1"))
	st, err := CollectStats(data, StatsOptions{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Partitions) != 2 {
		t.Fatalf("partitions %+v", st.Partitions)
	}
	p := st.Partitions[0]
	if p.Topic != "a" || p.Partition != 0 || p.Segments != 2 || p.Batches != 5 || p.StartOffset != 0 || p.NextOffset != 10 || p.Engine != "segment" || p.Mode != "?" {
		t.Fatalf("partition 0 stats %+v", p)
	}
	if q := st.Partitions[1]; q.Segments != 0 || q.NextOffset != 0 {
		t.Fatalf("partition 1 stats %+v", q)
	}
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, by int64) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()+by); err != nil {
		t.Fatal(err)
	}
}
