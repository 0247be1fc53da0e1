package logstore

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// segGoldenDir holds a partition directory written by this engine (file
// format version 1): two segments, their index files and a clean
// checkpoint. TestSegmentGoldenFiles keeps the writer byte-compatible with
// it; the fuzz targets start from it. Regenerate with -rewrite.
const segGoldenDir = "testdata/segment/golden"

// segBuildGolden writes the golden partition into a MemFS, deterministically.
func segBuildGolden(t testing.TB) (*vfs.MemFS, string) {
	fs := vfs.NewMem()
	const dir = "/golden"
	cfg := segTestConfig(700)
	l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: dir, Topic: "golden", Config: cfg, IndexIntervalBytes: 150, Logger: segQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		// Timestamps rise but not monotonically, so the time index skips.
		ts := int64(1_700_000_000_000 + (i%3)*1000 + i*10)
		if _, err := l.Append(segBatch(t, 1+i%3, ts, fmt.Sprintf("golden-%d", i), 40)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return fs, dir
}

func segRewrite() bool {
	f := flag.Lookup("rewrite")
	return f != nil && f.Value.String() == "true"
}

func TestSegmentGoldenFiles(t *testing.T) {
	fs, dir := segBuildGolden(t)
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if segRewrite() {
		if err := os.RemoveAll(segGoldenDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(segGoldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := readWholeFile(fs, fs.PathJoin(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(segGoldenDir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(segGoldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var golden []string
	for _, e := range entries {
		golden = append(golden, e.Name())
	}
	if !slices.Equal(golden, names) {
		t.Fatalf("engine writes files %v, golden has %v", names, golden)
	}
	// Today's writer produces the golden bytes exactly.
	for _, n := range names {
		want, err := os.ReadFile(filepath.Join(segGoldenDir, n))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := readWholeFile(fs, fs.PathJoin(dir, n))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: written bytes differ from the golden file (format change? rerun with -rewrite only if intended)", n)
		}
	}
	// And today's reader opens the golden directory: clean checkpoint,
	// start offset 1, seven batches readable from 1 (of eight).
	mem := segCopyGolden(t)
	c, err := ReadCheckpoint(mem, "/g")
	if err != nil || !c.Clean || c.LogStartOffset != 1 {
		t.Fatalf("golden checkpoint: %+v %v", c, err)
	}
	l := segOpen(t, mem, "/g", segTestConfig(700))
	defer l.Close()
	if got := segReadAll(t, l, l.LogStartOffset()); len(got) != 7 {
		t.Fatalf("golden log reads %d batches, want 7", len(got))
	}
	if hw := l.HighWatermark(); hw != 15 {
		t.Fatalf("golden hw %d, want 15", hw)
	}
}

// segCopyGolden copies the golden directory into a MemFS at /g.
func segCopyGolden(t testing.TB) *vfs.MemFS {
	mem := vfs.NewMem()
	if err := mem.MkdirAll("/g", 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(segGoldenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(segGoldenDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		segWriteMem(t, mem, "/g/"+e.Name(), b)
	}
	return mem
}

func segWriteMem(t testing.TB, fs vfs.FS, path string, b []byte) {
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func segGoldenFile(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join(segGoldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeIndex feeds arbitrary bytes to the index, time index and
// checkpoint readers: they must not panic, and whatever they accept must
// re-encode to the same bytes (reserved header bytes aside).
func FuzzDecodeIndex(f *testing.F) {
	for _, n := range []string{"00000000000000000000.index", "00000000000000000000.timeindex", "00000000000000000007.index", "00000000000000000007.timeindex", CheckpointFileName} {
		f.Add(segGoldenFile(f, n))
	}
	f.Add([]byte{})
	f.Add(EncodeFileHeader(IndexMagic, 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		norm := slices.Clone(b)
		if len(norm) >= FileHeaderSize {
			clear(norm[12:16]) // reserved, ignored by the reader
		}
		if base, e, err := DecodeIndex(b); err == nil {
			if !bytes.Equal(EncodeIndex(base, e), norm) {
				t.Fatalf("index round trip differs")
			}
			for i := 1; i < len(e); i++ {
				if e[i].RelOffset <= e[i-1].RelOffset || e[i].Position <= e[i-1].Position {
					t.Fatalf("accepted non-increasing entries")
				}
			}
		}
		if base, e, err := DecodeTimeIndex(b); err == nil {
			if !bytes.Equal(EncodeTimeIndex(base, e), norm) {
				t.Fatalf("time index round trip differs")
			}
		}
		if c, err := DecodeCheckpoint(b); err == nil {
			if !bytes.Equal(EncodeCheckpoint(c), b) {
				t.Fatalf("checkpoint round trip differs")
			}
		}
	})
}

// FuzzRecoverySegment writes arbitrary bytes as the only .log file of a
// partition (after a valid header, or raw) with no checkpoint, so recovery
// scans it. Open must succeed without panicking, cut at the first damage,
// and leave a log that reads back whole valid batches with dense offsets,
// scans clean, takes an append, and reopens to the same state.
func FuzzRecoverySegment(f *testing.F) {
	seg := segGoldenFile(f, "00000000000000000000.log")
	f.Add(seg[FileHeaderSize:], true)
	f.Add(seg, false)
	f.Add(seg[FileHeaderSize:len(seg)-7], true)
	f.Add([]byte{}, true)
	f.Add([]byte("not a segment at all"), false)
	// Found by the fuzzer: a valid header whose base offset is not the
	// file name's, followed by a torn batch.
	f.Add([]byte("STRATLOG\x00\x00\x00\x010000000000000"), false)
	f.Fuzz(func(t *testing.T, data []byte, header bool) {
		fs := vfs.NewMem()
		const dir = "/f"
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := data
		if header {
			content = append(EncodeFileHeader(SegmentMagic, 0), data...)
		}
		segWriteMem(t, fs, dir+"/"+SegmentFileName(0, SegmentExt), content)
		opts := SegmentOptions{FS: fs, Dir: dir, Config: segTestConfig(1 << 20), Logger: segQuietLogger()}
		l, err := OpenSegmentLog(opts)
		if err != nil {
			t.Fatalf("recovery of a lone scanned segment failed: %v", err)
		}
		lso, hw := l.LogStartOffset(), l.HighWatermark()
		next := lso
		for _, b := range segReadAll(t, l, lso) {
			h, err := CheckBatch(b)
			if err != nil {
				t.Fatalf("recovered log returned a bad batch: %v", err)
			}
			if h.BaseOffset != next {
				t.Fatalf("batch at %d, want dense offset %d", h.BaseOffset, next)
			}
			next = h.NextOffset()
		}
		if next != hw {
			t.Fatalf("batches end at %d, hw is %d", next, hw)
		}
		b := segBatch(t, 2, 5, "fuzz", 3)
		res, err := l.Append(b)
		if err != nil || res.BaseOffset != hw {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		segScanDir(t, fs, dir)
		l, err = OpenSegmentLog(opts)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		if l.HighWatermark() != hw+2 || l.LogStartOffset() != lso {
			t.Fatalf("reopen: lso %d hw %d, want %d %d", l.LogStartOffset(), l.HighWatermark(), lso, hw+2)
		}
	})
}
