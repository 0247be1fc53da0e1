package logstore

import (
	"bytes"
	"encoding/binary"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	liteTopicsFlag  = flag.Int("lite.topics", 10_000, "topics BenchmarkLiteMillionTopics creates (1000000 for the documented figure)")
	liteWorkersFlag = flag.Int("lite.workers", 64, "goroutines creating topics in BenchmarkLiteMillionTopics, as concurrent frontend connections")
)

// BenchmarkLiteMillionTopics creates -lite.topics lite topics in one
// database, the way a frontend does it (OpenLog, then Append of one
// ~100-byte record with the default flush.messages=1, from -lite.workers
// goroutines so that their WAL syncs are group-committed), keeps every log
// open, and reports per topic: the time, the Go heap and the resident
// memory it costs, and the bytes on disk after a flush.
//
//	go test ./logstore -run '^$' -bench LiteMillionTopics -benchtime 1x -lite.topics 1000000
func BenchmarkLiteMillionTopics(b *testing.B) {
	n, workers := *liteTopicsFlag, *liteWorkersFlag
	// Incompressible values, so that the disk figure is not flattered by
	// pebble's block compression.
	value := make([]byte, 100)
	for b.Loop() {
		dir := b.TempDir()
		db, err := OpenLiteDB(LiteOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		cfg := DefaultTopicConfig()
		cfg.Mode, cfg.Engine = ModePersistent, EngineLite
		logs := make([]Log, n)
		heap0, rss0 := liteMemNow()
		start := time.Now()
		var wg sync.WaitGroup
		var next sync.Mutex
		seq := 0
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					next.Lock()
					i := seq
					seq++
					next.Unlock()
					if i >= n {
						return
					}
					l, err := db.OpenLog(uint64(i)+1, 0, cfg)
					if err != nil {
						b.Error(err)
						return
					}
					v := bytes.Clone(value)
					binary.LittleEndian.PutUint64(v, uint64(i)*0x9e3779b97f4a7c15)
					for j := 8; j < len(v); j++ {
						v[j] = v[j-8]*31 + v[j-3] + byte(j)
					}
					batch, err := EncodeBatch([]Record{{Timestamp: time.Now().UnixMilli(), Key: []byte("agents/" + strconv.Itoa(i) + "/inbox"), Value: v}}, CompressionNone)
					if err == nil {
						_, err = l.Append(batch)
					}
					if err != nil {
						b.Error(err)
						return
					}
					logs[i] = l
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		heap1, rss1 := liteMemNow()
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		disk := liteDirBytes(b, dir)
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/topic")
		b.ReportMetric(float64(heap1-heap0)/float64(n), "heap-B/topic")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/topic")
		b.ReportMetric(float64(disk)/float64(n), "disk-B/topic")
		for _, l := range logs {
			if l != nil {
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// liteMemNow returns the live Go heap after a full GC, and the process's
// resident set (which also counts pebble's manually allocated memtables
// and block cache).
func liteMemNow() (heap, rss int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	return int64(ms.HeapAlloc), rss
}

func liteDirBytes(tb testing.TB, dir string) int64 {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return total
}

// BenchmarkLiteAppend appends 16 KiB batches of 1 KiB records to one lite
// partition on disk: synced per append (flush.messages=1), and written
// without sync with a 100 ms flush timer (flush.ms=100).
func BenchmarkLiteAppend(b *testing.B) {
	for _, tc := range []struct {
		name                   string
		flushMessages, flushMs int64
	}{
		{"flush.messages=1", 1, 0},
		{"flush.ms=100", 1 << 62, 100},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := OpenLiteDB(LiteOptions{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			cfg := engConfig()
			cfg.FlushMessages, cfg.FlushMs = tc.flushMessages, tc.flushMs
			l, err := db.OpenLog(1, 0, cfg)
			if err != nil {
				b.Fatal(err)
			}
			batch := engBenchBatch(b)
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
