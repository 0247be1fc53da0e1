package logstore

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// Benchmarks of the segment engine next to the raw file system, in one run:
//
//	go test ./logstore -run '^$' -bench 'Append|RawWrite|Read' -benchtime 2s
//
// BenchmarkAppend and BenchmarkRawWrite write the same 16 KiB batches (16
// records of 1 KiB); BenchmarkSegmentRead and BenchmarkRawRead read the same
// files, with a warm page cache and with a cold one (pages dropped with
// fadvise(DONTNEED) before each pass).

// segBenchBatch is a 16-record batch of 1 KiB values (~16.3 KiB).
func segBenchBatch(b *testing.B) []byte {
	return segBatch(b, 16, time.Now().UnixMilli(), "bench", 1000)
}

func segBenchOpen(b *testing.B, dir string, flushMessages, flushMs int64) *SegmentLog {
	cfg := segTestConfig(DefaultSegmentBytes)
	cfg.FlushMessages, cfg.FlushMs = flushMessages, flushMs
	l, err := OpenSegmentLog(SegmentOptions{FS: vfs.Default, Dir: dir, Config: cfg, Logger: segQuietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkAppend(b *testing.B) {
	batch := segBenchBatch(b)
	run := func(b *testing.B, flushMessages, flushMs int64, appenders int) {
		l := segBenchOpen(b, b.TempDir(), flushMessages, flushMs)
		defer l.Close()
		b.SetBytes(int64(len(batch)))
		b.ResetTimer()
		if appenders == 1 {
			for b.Loop() {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			var failed atomic.Value
			b.SetParallelism(appenders)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(batch); err != nil {
						failed.Store(err)
						return
					}
				}
			})
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	}
	b.Run("fsync-per-batch", func(b *testing.B) { run(b, 1, 0, 1) })
	b.Run("flush.ms=100", func(b *testing.B) { run(b, 1<<62, 100, 1) })
	// Group commit: concurrent appenders share one write and one fsync.
	b.Run("fsync-per-batch/parallel", func(b *testing.B) { run(b, 1, 0, 8) })
}

func BenchmarkRawWrite(b *testing.B) {
	batch := segBenchBatch(b)
	run := func(b *testing.B, every time.Duration) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(batch)))
		last := time.Now()
		b.ResetTimer()
		for b.Loop() {
			if _, err := f.Write(batch); err != nil {
				b.Fatal(err)
			}
			if every == 0 || time.Since(last) >= every {
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				last = time.Now()
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	}
	b.Run("fsync-per-batch", func(b *testing.B) { run(b, 0) })
	b.Run("fsync-100ms", func(b *testing.B) { run(b, 100*time.Millisecond) })
}

// segBenchReadDir writes a 64 MiB log of 16 KiB batches in 16 MiB segments
// and closes it (fsynced), returning the directory and the .log files.
func segBenchReadDir(b *testing.B) (string, []string, int64) {
	dir := b.TempDir()
	cfg := segTestConfig(16 << 20)
	cfg.FlushMessages = 1 << 62
	l, err := OpenSegmentLog(SegmentOptions{FS: vfs.Default, Dir: dir, Config: cfg, Logger: segQuietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	batch := segBenchBatch(b)
	for n := 0; n < 64<<20; n += len(batch) {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+SegmentExt))
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		total += st.Size()
	}
	return dir, files, total
}

// segDropCache evicts the files' pages from the page cache.
func segDropCache(b *testing.B, files []string) {
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
}

func BenchmarkSegmentRead(b *testing.B) {
	dir, files, total := segBenchReadDir(b)
	l, err := OpenSegmentLog(SegmentOptions{FS: vfs.Default, Dir: dir, Config: segTestConfig(16 << 20), Logger: segQuietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	buf := make([]byte, 2<<20)
	pass := func(b *testing.B) {
		for off := l.LogStartOffset(); off < l.HighWatermark(); {
			r, err := l.Read(off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range r.Chunks {
				if _, err := c.File.ReadAt(buf[:c.Len], c.Pos); err != nil {
					b.Fatal(err)
				}
			}
			off = r.NextOffset
			r.Close()
		}
	}
	segReadPasses(b, files, total, pass)
}

func BenchmarkRawRead(b *testing.B) {
	_, files, total := segBenchReadDir(b)
	buf := make([]byte, 1<<20)
	pass := func(b *testing.B) {
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			for pos := int64(0); ; {
				n, err := f.ReadAt(buf, pos)
				pos += int64(n)
				if err != nil {
					break
				}
			}
			_ = f.Close()
		}
	}
	segReadPasses(b, files, total, pass)
}

// segReadPasses runs pass as sub-benchmarks "warm" (page cache kept) and
// "cold" (the files' pages dropped before each pass), total bytes a pass.
func segReadPasses(b *testing.B, files []string, total int64, pass func(*testing.B)) {
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				if cold {
					b.StopTimer()
					segDropCache(b, files)
					b.StartTimer()
				}
				pass(b)
			}
		})
	}
}
