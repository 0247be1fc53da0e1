package logstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// segBatch builds one v2 batch of n records stamped ts whose values start
// with prefix and are padded to valueSize bytes.
func segBatch(t testing.TB, n int, ts int64, prefix string, valueSize int) []byte {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		v := fmt.Sprintf("%s-%d", prefix, i)
		if len(v) < valueSize {
			v += strings.Repeat("x", valueSize-len(v))
		}
		recs[i] = Record{Timestamp: ts, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(v)}
	}
	b, err := EncodeBatch(recs, CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// segQuietLogger drops recovery warnings that tests provoke on purpose.
func segQuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// segTestConfig is a persistent-topic config with small segments.
func segTestConfig(segmentBytes int64) TopicConfig {
	c := DefaultTopicConfig()
	c.SegmentBytes = segmentBytes
	c.RetentionMs = -1
	return c
}

func segOpen(t testing.TB, fs vfs.FS, dir string, cfg TopicConfig) *SegmentLog {
	t.Helper()
	l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: dir, Topic: "t", Config: cfg, Logger: segQuietLogger()})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

// segReadAll reads [from, hw) batch by batch and returns the batches.
func segReadAll(t testing.TB, l Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	for off := from; off < l.HighWatermark(); {
		r, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		b, err := r.Bytes()
		r.Close()
		if err != nil {
			t.Fatalf("read bytes at %d: %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("empty read at %d below hw %d", off, l.HighWatermark())
		}
		if err := SplitBatches(b, func(batch []byte, _ BatchHeader) error {
			out = append(out, slices.Clone(batch))
			return nil
		}); err != nil {
			t.Fatalf("read at %d returned bad batches: %v", off, err)
		}
		off = r.NextOffset
	}
	return out
}

// segScanDir verifies every file in dir with VerifySegmentDir (ScanSegment
// on each .log, continuity, index files) and fails the test on any
// corruption; it returns the total batches seen.
func segScanDir(t testing.TB, fs vfs.FS, dir string) int {
	t.Helper()
	info, err := VerifySegmentDir(fs, dir)
	if err != nil {
		t.Fatalf("verify %s: %v", dir, err)
	}
	n := 0
	for _, s := range info.Segments {
		n += int(s.Batches)
	}
	return n
}

// segHarness drives a SegmentLog on a crashable MemFS for the data-driven
// tests, remembering every acknowledged batch to check reads byte for byte.
type segHarness struct {
	fs       *vfs.MemFS
	dir      string
	l        *SegmentLog
	opts     SegmentOptions
	now      atomic.Int64
	acked    map[int64][]byte // base offset -> stored bytes
	seq      int
	sealedMu sync.Mutex
	sealed   []SealedSegment
	uploaded map[int64]bool // segments the fake tier holds
}

func (h *segHarness) SegmentSealed(s SealedSegment) {
	h.sealedMu.Lock()
	defer h.sealedMu.Unlock()
	h.sealed = append(h.sealed, s)
}
func (h *segHarness) IsOffloaded(_ string, _ int32, base int64) bool {
	h.sealedMu.Lock()
	defer h.sealedMu.Unlock()
	return h.uploaded[base]
}
func (h *segHarness) OpenRemote(_ context.Context, _ string, _ int32, _, _, _ int64) (io.ReadCloser, error) {
	return nil, ErrOffsetOutOfRange
}

func (h *segHarness) open(t testing.TB) string {
	l, err := OpenSegmentLog(h.opts)
	if err != nil {
		h.l = nil
		return fmt.Sprintf("open error: %v", err)
	}
	h.l = l
	return h.state()
}

func (h *segHarness) state() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lso=%d hw=%d\n", h.l.LogStartOffset(), h.l.HighWatermark())
	h.l.mu.Lock()
	for _, s := range h.l.mu.segs {
		fmt.Fprintf(&b, "segment %d: offsets [%d,%d) bytes=%d index=%d timeindex=%d\n", s.base, s.base, s.next, s.size, len(s.index), len(s.tindex))
	}
	h.l.mu.Unlock()
	return b.String()
}

func (h *segHarness) ls() string {
	names, err := h.fs.List(h.dir)
	if err != nil {
		return err.Error()
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		st, err := h.fs.Stat(h.fs.PathJoin(h.dir, n))
		if err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "%s %d", n, st.Size())
		if n == CheckpointFileName {
			c, err := ReadCheckpoint(h.fs, h.dir)
			if err != nil {
				fmt.Fprintf(&b, " %v", err)
			} else {
				fmt.Fprintf(&b, " clean=%t lso=%d recovery-point=%d end=%d", c.Clean, c.LogStartOffset, c.RecoveryPoint, c.EndOffset)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestSegmentDataDriven(t *testing.T) {
	// The test files are the regular files of testdata/segment; its
	// golden/ directory holds binary fixtures (segment_fuzz_test.go).
	entries, err := os.ReadDir("testdata/segment")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		path := filepath.Join("testdata/segment", e.Name())
		t.Run(e.Name(), func(t *testing.T) { segRunDataDriven(t, path) })
	}
}

func segRunDataDriven(t *testing.T, path string) {
	{
		h := &segHarness{fs: vfs.NewCrashableMem(), dir: "/data/topics/t-0", acked: map[int64][]byte{}}
		h.now.Store(1_000_000)
		defer func() {
			if h.l != nil {
				_ = h.l.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	}
}

func (h *segHarness) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "open":
		cfg := segTestConfig(DefaultSegmentBytes)
		interval := 0
		d.MaybeScanArgs(t, "segment-bytes", &cfg.SegmentBytes)
		d.MaybeScanArgs(t, "segment-ms", &cfg.SegmentMs)
		d.MaybeScanArgs(t, "retention-bytes", &cfg.RetentionBytes)
		d.MaybeScanArgs(t, "retention-ms", &cfg.RetentionMs)
		d.MaybeScanArgs(t, "flush-messages", &cfg.FlushMessages)
		d.MaybeScanArgs(t, "index-interval", &interval)
		d.MaybeScanArgs(t, "mode", &cfg.Mode)
		h.opts = SegmentOptions{
			FS: h.fs, Dir: h.dir, Topic: "t", Config: cfg, Offloader: h, Logger: segQuietLogger(),
			Now: func() time.Time { return time.UnixMilli(h.now.Load()) }, IndexIntervalBytes: interval,
		}
		return h.open(t)

	case "reconfigure":
		cfg := h.l.Config()
		d.MaybeScanArgs(t, "segment-bytes", &cfg.SegmentBytes)
		d.MaybeScanArgs(t, "segment-ms", &cfg.SegmentMs)
		d.MaybeScanArgs(t, "retention-bytes", &cfg.RetentionBytes)
		d.MaybeScanArgs(t, "retention-ms", &cfg.RetentionMs)
		d.MaybeScanArgs(t, "flush-messages", &cfg.FlushMessages)
		d.MaybeScanArgs(t, "mode", &cfg.Mode)
		if err := h.l.Reconfigure(cfg); err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		h.opts.Config = cfg
		return "ok"

	case "advance":
		var ms int64
		d.ScanArgs(t, "ms", &ms)
		h.now.Add(ms)
		return fmt.Sprintf("now=%d", h.now.Load())

	case "append":
		// append [batches=1] [records=1] [ts=now] [size=0]
		batches, records, size := 1, 1, 0
		ts := h.now.Load()
		d.MaybeScanArgs(t, "batches", &batches)
		d.MaybeScanArgs(t, "records", &records)
		d.MaybeScanArgs(t, "ts", &ts)
		d.MaybeScanArgs(t, "size", &size)
		var in [][]byte
		var all []byte
		for range batches {
			h.seq++
			b := segBatch(t, records, ts, fmt.Sprintf("m%d", h.seq), size)
			in = append(in, b)
			all = append(all, b...)
		}
		res, err := h.l.Append(all)
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		off := res.BaseOffset
		for _, b := range in {
			SetBaseOffset(b, off)
			h.acked[off] = b
			off += int64(records)
		}
		return fmt.Sprintf("offsets [%d,%d] batches=%d records=%d bytes=%d", res.BaseOffset, res.LastOffset, res.Batches, res.Records, len(all))

	case "append-invalid":
		b := segBatch(t, 1, 0, "bad", 0)
		b[len(b)-1] ^= 0xff
		_, err := h.l.Append(b)
		return fmt.Sprintf("error: %v", err)

	case "read":
		var off int64
		maxBytes := 1 << 20
		d.ScanArgs(t, "offset", &off)
		d.MaybeScanArgs(t, "max", &maxBytes)
		r, err := h.l.Read(off, maxBytes)
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		defer r.Close()
		b, err := r.Bytes()
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		var out strings.Builder
		err = SplitBatches(b, func(batch []byte, bh BatchHeader) error {
			match := "ok"
			if want, ok := h.acked[bh.BaseOffset]; !ok || !bytes.Equal(want, batch) {
				match = "MISMATCH"
			}
			fmt.Fprintf(&out, "batch [%d,%d] maxts=%d bytes=%d %s\n", bh.BaseOffset, bh.LastOffset(), bh.MaxTimestamp, len(batch), match)
			return nil
		})
		if err != nil {
			return fmt.Sprintf("bad batches: %v", err)
		}
		fmt.Fprintf(&out, "chunks=%d next=%d hw=%d lso=%d", len(r.Chunks), r.NextOffset, r.HighWatermark, r.LogStartOffset)
		return out.String()

	case "offset-for-time":
		var ts int64
		d.ScanArgs(t, "ts", &ts)
		off, err := h.l.OffsetForTime(ts)
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		return fmt.Sprintf("offset=%d", off)

	case "truncate":
		var off int64
		d.ScanArgs(t, "offset", &off)
		if err := h.l.Truncate(off); err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		for o := range h.acked {
			if o >= off {
				delete(h.acked, o)
			}
		}
		return h.state()

	case "delete-records":
		var off int64
		d.ScanArgs(t, "before", &off)
		if err := h.l.DeleteRecordsBefore(off); err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		return h.state()

	case "retention":
		lso, err := h.l.ApplyRetention(h.now.Load())
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		return fmt.Sprintf("new lso=%d\n%s", lso, h.state())

	case "sync":
		if err := h.l.Sync(); err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		return "ok"

	case "stats":
		s := h.l.Stats()
		return fmt.Sprintf("engine=%s lso=%d hw=%d bytes=%d segments=%d batches=%d", s.Engine, s.LogStartOffset, s.HighWatermark, s.Bytes, s.Segments, s.Batches)

	case "sealed":
		h.sealedMu.Lock()
		defer h.sealedMu.Unlock()
		var b strings.Builder
		for _, s := range h.sealed {
			fmt.Fprintf(&b, "sealed %s-%d base=%d last=%d size=%d maxts=%d %s\n", s.Topic, s.Partition, s.BaseOffset, s.LastOffset, s.Size, s.MaxTimestamp, h.fs.PathBase(s.Path))
		}
		h.sealed = nil
		return b.String()

	case "upload":
		// The fake tier reports a segment as safely offloaded.
		var base int64
		d.ScanArgs(t, "base", &base)
		h.sealedMu.Lock()
		if h.uploaded == nil {
			h.uploaded = map[int64]bool{}
		}
		h.uploaded[base] = true
		h.sealedMu.Unlock()
		return "ok"

	case "close":
		err := h.l.Close()
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		if err := h.l.Close(); !errors.Is(err, ErrClosed) {
			return fmt.Sprintf("second close: %v", err)
		}
		if _, err := h.l.Append(segBatch(t, 1, 0, "late", 0)); !errors.Is(err, ErrClosed) {
			return fmt.Sprintf("append after close: %v", err)
		}
		if _, err := h.l.Read(0, 1); !errors.Is(err, ErrClosed) {
			return fmt.Sprintf("read after close: %v", err)
		}
		h.l = nil
		return "ok"

	case "reopen":
		if h.l != nil {
			if err := h.l.Close(); err != nil {
				return fmt.Sprintf("close error: %v", err)
			}
		}
		return h.open(t)

	case "crash-reopen":
		// Keep exactly what was fsynced, as after a power loss; the old
		// log keeps running on the old FS until it is closed.
		clone := h.fs.CrashClone(vfs.CrashCloneCfg{})
		if h.l != nil {
			_ = h.l.Close()
		}
		h.fs = clone
		h.opts.FS = clone
		out := h.open(t)
		if h.l != nil {
			// Unsynced acknowledged batches may be gone: forget them.
			for o := range h.acked {
				if o >= h.l.HighWatermark() {
					delete(h.acked, o)
				}
			}
		}
		return out

	case "ls":
		return h.ls()

	case "scan":
		var b strings.Builder
		names, _ := h.fs.List(h.dir)
		sort.Strings(names)
		for _, name := range names {
			if _, ext, ok := ParseSegmentFileName(name); !ok || ext != SegmentExt {
				continue
			}
			f, err := h.fs.Open(h.fs.PathJoin(h.dir, name))
			if err != nil {
				return err.Error()
			}
			st, _ := f.Stat()
			n := 0
			_, end, next, err := ScanSegment(f, st.Size(), func(int64, BatchHeader, []byte) error { n++; return nil })
			_ = f.Close()
			fmt.Fprintf(&b, "%s: batches=%d end=%d next=%d err=%v\n", name, n, end, next, err)
		}
		return b.String()

	case "write-file", "append-file", "corrupt-file", "truncate-file", "remove-file":
		// Damage a file behind the log's back, durably.
		var name string
		d.ScanArgs(t, "name", &name)
		path := h.fs.PathJoin(h.dir, name)
		if d.Cmd == "remove-file" {
			if err := h.fs.Remove(path); err != nil {
				return err.Error()
			}
			return "ok"
		}
		data, err := readWholeFile(h.fs, path)
		if err != nil && d.Cmd != "write-file" {
			return err.Error()
		}
		switch d.Cmd {
		case "write-file":
			data = []byte(strings.TrimSpace(d.Input))
		case "append-file":
			var n int
			d.ScanArgs(t, "bytes", &n)
			data = append(data, bytes.Repeat([]byte{0xab}, n)...)
		case "corrupt-file":
			var pos int
			d.ScanArgs(t, "pos", &pos)
			if pos < 0 {
				pos += len(data)
			}
			data[pos] ^= 0xff
		case "truncate-file":
			var n int
			d.ScanArgs(t, "size", &n)
			if n < 0 {
				n += len(data)
			}
			data = data[:n]
		}
		if err := writeFileAtomic(h.fs, path, data); err != nil {
			return err.Error()
		}
		if err := syncDir(h.fs, h.dir); err != nil {
			return err.Error()
		}
		return "ok"

	default:
		t.Fatalf("unknown command %q", d.Cmd)
		return ""
	}
}

// TestSegmentConcurrentAppendRead runs appenders and readers together: every
// acknowledged batch must read back byte-identical at its offset, offsets must
// be dense, and reads never see a batch above the HW they report.
func TestSegmentConcurrentAppendRead(t *testing.T) {
	for _, flush := range []int64{1, 1000} {
		t.Run(fmt.Sprintf("flush.messages=%d", flush), func(t *testing.T) {
			dir := t.TempDir()
			cfg := segTestConfig(64 << 10)
			cfg.FlushMessages = flush
			l := segOpen(t, vfs.Default, dir, cfg)
			const writers, perWriter = 4, 60
			var mu sync.Mutex
			acked := map[int64][]byte{}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var readErr atomic.Value
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					hw := l.HighWatermark()
					if hw == 0 {
						continue
					}
					r, err := l.Read(rand.Int64N(hw), 8<<10)
					if err != nil {
						readErr.Store(err)
						return
					}
					b, err := r.Bytes()
					r.Close()
					if err == nil {
						err = SplitBatches(b, func(_ []byte, h BatchHeader) error {
							if h.NextOffset() > r.HighWatermark {
								return fmt.Errorf("batch [%d,%d] above hw %d", h.BaseOffset, h.LastOffset(), r.HighWatermark)
							}
							return nil
						})
					}
					if err != nil {
						readErr.Store(err)
						return
					}
				}
			}()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						n := 1 + (w+i)%5
						b := segBatch(t, n, int64(i), fmt.Sprintf("w%d-%d", w, i), 100)
						res, err := l.Append(b)
						if err != nil {
							t.Error(err)
							return
						}
						if res.LastOffset-res.BaseOffset != int64(n-1) || res.Records != n {
							t.Errorf("append of %d records got %+v", n, res)
						}
						SetBaseOffset(b, res.BaseOffset)
						mu.Lock()
						acked[res.BaseOffset] = b
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(stop)
			if err := readErr.Load(); err != nil {
				t.Fatalf("concurrent read: %v", err)
			}
			got := segReadAll(t, l, 0)
			if len(got) != writers*perWriter {
				t.Fatalf("read %d batches, acknowledged %d", len(got), writers*perWriter)
			}
			next := int64(0)
			for _, b := range got {
				h, _ := ParseBatchHeader(b)
				if h.BaseOffset != next {
					t.Fatalf("batch at %d, want dense offset %d", h.BaseOffset, next)
				}
				if !bytes.Equal(acked[h.BaseOffset], b) {
					t.Fatalf("batch %d differs from what was acknowledged", h.BaseOffset)
				}
				next = h.NextOffset()
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if n := segScanDir(t, vfs.Default, dir); n != writers*perWriter {
				t.Fatalf("scan found %d batches, want %d", n, writers*perWriter)
			}
			l = segOpen(t, vfs.Default, dir, cfg)
			defer l.Close()
			if got2 := segReadAll(t, l, 0); len(got2) != len(got) {
				t.Fatalf("after reopen read %d batches, want %d", len(got2), len(got))
			}
		})
	}
}

// TestSegmentReadPinsFiles checks that a ReadResult stays readable after
// retention deletes its segment and after Truncate rewrites it.
func TestSegmentReadPinsFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := segTestConfig(4 << 10)
	cfg.RetentionBytes = 0
	l := segOpen(t, vfs.Default, dir, cfg)
	defer l.Close()
	var first []byte
	for i := range 20 {
		b := segBatch(t, 2, 1, fmt.Sprint(i), 400)
		res, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			SetBaseOffset(b, res.BaseOffset)
			first = b
		}
	}
	r, err := l.Read(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Chunks) != 1 || r.Chunks[0].File == nil {
		t.Fatalf("want one file chunk, got %+v", r.Chunks)
	}
	lso, err := l.ApplyRetention(time.Now().UnixMilli())
	if err != nil || lso == 0 {
		t.Fatalf("retention: lso=%d err=%v", lso, err)
	}
	if _, err := l.Read(0, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below lso: %v", err)
	}
	b, err := r.Bytes()
	if err != nil || !bytes.Equal(b, first) {
		t.Fatalf("pinned read after retention: err=%v equal=%t", err, bytes.Equal(b, first))
	}

	// Truncate the active segment under a pinned reader.
	hw := l.HighWatermark()
	r2, err := l.Read(hw-2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	want, _ := r2.Bytes()
	if err := l.Truncate(hw - 2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(segBatch(t, 2, 1, "other", 400)); err != nil {
		t.Fatal(err)
	}
	got, err := r2.Bytes()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("pinned read after truncate+append changed: err=%v", err)
	}
}

// TestSegmentFlushPolicies checks when data is on disk: with
// flush.messages=1 every acknowledged batch survives a crash; with a large
// flush.messages and flush.ms the timer syncs within a few intervals.
func TestSegmentFlushPolicies(t *testing.T) {
	t.Run("per-append", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		cfg := segTestConfig(8 << 10)
		l := segOpen(t, fs, "/p", cfg)
		for i := range 30 {
			if _, err := l.Append(segBatch(t, 3, int64(i), fmt.Sprint(i), 200)); err != nil {
				t.Fatal(err)
			}
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{})
		_ = l.Close()
		l2 := segOpen(t, crashed, "/p", cfg)
		defer l2.Close()
		if hw := l2.HighWatermark(); hw != 90 {
			t.Fatalf("after crash hw=%d, want all 90 acknowledged records", hw)
		}
		if len(segReadAll(t, l2, 0)) != 30 {
			t.Fatal("acknowledged batches lost")
		}
	})
	t.Run("flush.ms", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		cfg := segTestConfig(1 << 20)
		cfg.FlushMessages = 1 << 40
		cfg.FlushMs = 10
		l := segOpen(t, fs, "/p", cfg)
		defer l.Close()
		if _, err := l.Append(segBatch(t, 3, 1, "a", 10)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			l2 := segOpen(t, fs.CrashClone(vfs.CrashCloneCfg{}), "/p", cfg)
			hw := l2.HighWatermark()
			_ = l2.Close()
			if hw == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("flush.ms=10 did not fsync within 5s (hw after crash %d)", hw)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("flush.messages=5", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		cfg := segTestConfig(1 << 20)
		cfg.FlushMessages = 5
		l := segOpen(t, fs, "/p", cfg)
		defer l.Close()
		hwAfterCrash := func() int64 {
			l2 := segOpen(t, fs.CrashClone(vfs.CrashCloneCfg{}), "/p", cfg)
			defer l2.Close()
			return l2.HighWatermark()
		}
		for i := range 4 {
			if _, err := l.Append(segBatch(t, 1, 1, fmt.Sprint(i), 10)); err != nil {
				t.Fatal(err)
			}
		}
		if hw := hwAfterCrash(); hw != 0 {
			t.Fatalf("4 unsynced messages: hw after crash %d, want 0", hw)
		}
		if _, err := l.Append(segBatch(t, 1, 1, "5", 10)); err != nil {
			t.Fatal(err)
		}
		// The fsync follows the answer; Sync waits for it through the queue.
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if hw := hwAfterCrash(); hw != 5 {
			t.Fatalf("after 5 messages: hw after crash %d, want 5", hw)
		}
	})
}

// TestSegmentCheckpointCodec round-trips the checkpoint and rejects damage.
func TestSegmentCheckpointCodec(t *testing.T) {
	c := Checkpoint{Clean: true, LogStartOffset: 5, RecoveryPoint: 100, EndOffset: 120, ActiveBase: 100, ActiveSize: 4096}
	b := EncodeCheckpoint(c)
	if len(b) != CheckpointSize || string(b[:8]) != "STRATCKP" {
		t.Fatalf("encoded %x", b)
	}
	got, err := DecodeCheckpoint(b)
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := range b {
		bad := slices.Clone(b)
		bad[i] ^= 0x01
		if _, err := DecodeCheckpoint(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipping byte %d: err=%v, want ErrCorrupt", i, err)
		}
	}
	if _, err := DecodeCheckpoint(b[:63]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short checkpoint: %v", err)
	}
}

// TestSegmentQueueBlocksWhenFull checks the bounded queue's policy: with a
// queue of 1 and many appenders, every Append still completes.
func TestSegmentQueueBlocksWhenFull(t *testing.T) {
	l, err := OpenSegmentLog(SegmentOptions{FS: vfs.NewMem(), Dir: "/q", Config: segTestConfig(1 << 20), QueueSize: 1, Logger: segQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				if _, err := l.Append(segBatch(t, 1, 1, fmt.Sprint(i, j), 10)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if hw := l.HighWatermark(); hw != 160 {
		t.Fatalf("hw=%d, want 160", hw)
	}
}

// TestSegmentReconfigureRejectsModeChange checks the Log contract.
func TestSegmentReconfigureRejectsModeChange(t *testing.T) {
	l := segOpen(t, vfs.NewMem(), "/r", segTestConfig(1<<20))
	defer l.Close()
	cfg := l.Config()
	cfg.Engine = EngineLite
	if err := l.Reconfigure(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("engine change: %v", err)
	}
	cfg = l.Config()
	cfg.SegmentBytes = 10
	if err := l.Reconfigure(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("tiny segment.bytes: %v", err)
	}
}

// TestSegmentVerifyDir checks the tools' verifier: clean on what the engine
// writes, and the first damage named by file and byte position.
func TestSegmentVerifyDir(t *testing.T) {
	mem := segCopyGolden(t)
	info, err := VerifySegmentDir(mem, "/g")
	if err != nil {
		t.Fatalf("golden dir: %v", err)
	}
	if len(info.Segments) != 2 || info.HighWatermark != 15 || info.LogStartOffset != 1 || info.Checkpoint == nil || !info.Checkpoint.Clean {
		t.Fatalf("golden dir info: %+v", info)
	}
	var batches int64
	for _, s := range info.Segments {
		batches += s.Batches
		if s.IndexMissing || s.TimeIndexEntries == 0 {
			t.Fatalf("segment %d: index files not seen: %+v", s.Base, s)
		}
	}
	if batches != 8 {
		t.Fatalf("verify counted %d batches, want 8", batches)
	}

	damage := func(name string, pos int) error {
		mem := segCopyGolden(t)
		path := "/g/" + name
		b, err := readWholeFile(mem, path)
		if err != nil {
			t.Fatal(err)
		}
		b[pos] ^= 0x40
		segWriteMem(t, mem, path, b)
		_, err = VerifySegmentDir(mem, "/g")
		return err
	}
	for _, tc := range []struct {
		name string
		pos  int
		want string
	}{
		{"00000000000000000000.log", 100, "00000000000000000000.log: logstore: corrupt data: at byte 24"},
		{"00000000000000000007.log", 3, "00000000000000000007.log at byte 0"},
		{"00000000000000000000.index", FileHeaderSize + 3, "00000000000000000000.index"},
		{"00000000000000000007.timeindex", FileHeaderSize + 7, "00000000000000000007.timeindex"},
		{CheckpointFileName, 20, "checkpoint: logstore: corrupt data: checkpoint CRC32C mismatch"},
	} {
		err := damage(tc.name, tc.pos)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("damage %s at %d: %v, want ErrCorrupt mentioning %q", tc.name, tc.pos, err, tc.want)
		}
	}
}

// TestSegmentDirLock checks that a partition directory has one writer: a
// second open fails while the first log is open and works after Close.
func TestSegmentDirLock(t *testing.T) {
	dir := t.TempDir()
	l := segOpen(t, vfs.Default, dir, segTestConfig(1<<20))
	if _, err := OpenSegmentLog(SegmentOptions{Dir: dir, Config: segTestConfig(1 << 20), Logger: segQuietLogger()}); err == nil {
		t.Fatal("second open of a directory in use succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = segOpen(t, vfs.Default, dir, segTestConfig(1<<20))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentOffsetOverflow checks that a log near the int64 offset limit
// refuses an append that would pass it, and keeps working.
func TestSegmentOffsetOverflow(t *testing.T) {
	fs := vfs.NewMem()
	if err := fs.MkdirAll("/o", 0o755); err != nil {
		t.Fatal(err)
	}
	base := int64(math.MaxInt64 - 3)
	segWriteMem(t, fs, "/o/"+SegmentFileName(base, SegmentExt), EncodeFileHeader(SegmentMagic, base))
	l := segOpen(t, fs, "/o", segTestConfig(1<<20))
	defer l.Close()
	if hw := l.HighWatermark(); hw != base {
		t.Fatalf("hw %d, want %d", hw, base)
	}
	if _, err := l.Append(segBatch(t, 4, 1, "big", 1)); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("append past the limit: %v", err)
	}
	res, err := l.Append(segBatch(t, 3, 1, "fits", 1))
	if err != nil || res.LastOffset != math.MaxInt64-1 {
		t.Fatalf("append up to the limit: %+v %v", res, err)
	}
}
