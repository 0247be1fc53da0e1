package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func liteTestOpen(t *testing.T, fs vfs.FS, dir string) *LiteDB {
	t.Helper()
	db, err := OpenLiteDB(LiteOptions{FS: fs, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func liteTestLog(t *testing.T, db *LiteDB, seq uint64, part int32, cfg TopicConfig) Log {
	t.Helper()
	l, err := db.OpenLog(seq, part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// liteReadAll reads every batch of l from its start offset.
func liteReadAll(t *testing.T, l Log) []byte {
	t.Helper()
	r, err := l.Read(l.LogStartOffset(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

// TestLiteRestart checks on a real directory that every partition's
// batches, high watermark, start offset and sizes survive closing and
// reopening the database, including after truncation and deletion, and
// that DeleteLog removes one partition and nothing else.
func TestLiteRestart(t *testing.T) {
	dir := t.TempDir()
	db := liteTestOpen(t, vfs.Default, dir)
	cfg := engConfig()
	type part struct {
		seq uint64
		p   int32
	}
	parts := []part{{1, 0}, {1, 1}, {2, 0}, {3, 7}}
	want := map[part]LogStats{}
	data := map[part][]byte{}
	for i, pp := range parts {
		l := liteTestLog(t, db, pp.seq, pp.p, cfg)
		for j := range 5 + i {
			if _, err := l.Append(engSimpleBatch(t, 1+j%3, int64(1000*j))); err != nil {
				t.Fatal(err)
			}
		}
		switch i {
		case 1:
			engMust(t, l.Truncate(3))
		case 2:
			engMust(t, l.DeleteRecordsBefore(5))
		case 3:
			engMust(t, l.DeleteRecordsBefore(l.HighWatermark()))
		}
		want[pp] = l.Stats()
		data[pp] = liteReadAll(t, l)
		engMust(t, l.Close())
	}
	engMust(t, db.Close())

	db = liteTestOpen(t, vfs.Default, dir)
	for _, pp := range parts {
		l := liteTestLog(t, db, pp.seq, pp.p, cfg)
		if got := l.Stats(); got != want[pp] {
			t.Errorf("%v after restart: %+v, want %+v", pp, got, want[pp])
		}
		if got := liteReadAll(t, l); !bytes.Equal(got, data[pp]) {
			t.Errorf("%v after restart: %d bytes differ from the %d before", pp, len(got), len(data[pp]))
		}
		engMust(t, l.Close())
	}
	engMust(t, db.DeleteLog(1, 0))
	l := liteTestLog(t, db, 1, 0, cfg)
	if st := l.Stats(); st.HighWatermark != 0 || st.LogStartOffset != 0 || st.Bytes != 0 || st.Batches != 0 {
		t.Errorf("deleted partition reopens as %+v, want empty", st)
	}
	engMust(t, l.Close())
	l = liteTestLog(t, db, 1, 1, cfg)
	if got := l.Stats(); got != want[part{1, 1}] {
		t.Errorf("DeleteLog(1, 0) changed partition 1: %+v", got)
	}
	engMust(t, l.Close())
	engMust(t, db.Close())
}

// TestLiteCrash uses a file system that keeps only synced data when it
// "crashes", to check the flush policies: flush.messages=1 loses nothing
// acknowledged; larger flush.messages syncs every that many records;
// flush.ms syncs in the background; Sync syncs.
func TestLiteCrash(t *testing.T) {
	crashOpen := func(t *testing.T, fs *vfs.MemFS, cfg TopicConfig) (Log, func()) {
		db := liteTestOpen(t, fs.CrashClone(vfs.CrashCloneCfg{}), "lite")
		l := liteTestLog(t, db, 9, 0, cfg)
		return l, func() { engMust(t, l.Close()); engMust(t, db.Close()) }
	}
	t.Run("flush.messages=1", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		db := liteTestOpen(t, fs, "lite")
		cfg := engConfig()
		l := liteTestLog(t, db, 9, 0, cfg)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if _, err := l.Append(engSimpleBatch(t, 2, int64(g*100+i))); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		engMust(t, l.DeleteRecordsBefore(3))
		before := liteReadAll(t, l)
		after, closeAfter := crashOpen(t, fs, cfg)
		if after.HighWatermark() != 80 || after.LogStartOffset() != 3 {
			t.Errorf("after crash hw=%d lso=%d, want 80 and 3", after.HighWatermark(), after.LogStartOffset())
		}
		if got := liteReadAll(t, after); !bytes.Equal(got, before) {
			t.Errorf("after crash the log differs: %d bytes, want %d", len(got), len(before))
		}
		closeAfter()
		engMust(t, l.Close())
		engMust(t, db.Close())
	})
	t.Run("flush.messages=3", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		db := liteTestOpen(t, fs, "lite")
		cfg := engConfig()
		cfg.FlushMessages = 3
		l := liteTestLog(t, db, 9, 0, cfg)
		for i := range 2 {
			if _, err := l.Append(engSimpleBatch(t, 1, int64(i))); err != nil {
				t.Fatal(err)
			}
		}
		after, closeAfter := crashOpen(t, fs, cfg)
		if hw := after.HighWatermark(); hw != 0 {
			t.Errorf("2 unsynced records survived a crash (hw %d): the appends were synced", hw)
		}
		closeAfter()
		if _, err := l.Append(engSimpleBatch(t, 1, 2)); err != nil {
			t.Fatal(err)
		}
		after, closeAfter = crashOpen(t, fs, cfg)
		if hw := after.HighWatermark(); hw != 3 {
			t.Errorf("after the third record and a crash hw=%d, want 3", hw)
		}
		closeAfter()
		if _, err := l.Append(engSimpleBatch(t, 1, 3)); err != nil {
			t.Fatal(err)
		}
		engMust(t, l.Sync())
		after, closeAfter = crashOpen(t, fs, cfg)
		if hw := after.HighWatermark(); hw != 4 {
			t.Errorf("after Sync and a crash hw=%d, want 4", hw)
		}
		closeAfter()
		engMust(t, l.Close())
		engMust(t, db.Close())
	})
	t.Run("flush.ms=20", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		db := liteTestOpen(t, fs, "lite")
		cfg := engConfig()
		cfg.FlushMessages, cfg.FlushMs = 1_000_000, 20
		l := liteTestLog(t, db, 9, 0, cfg)
		start := time.Now()
		if _, err := l.Append(engSimpleBatch(t, 5, 0)); err != nil {
			t.Fatal(err)
		}
		for {
			after, closeAfter := crashOpen(t, fs, cfg)
			hw := after.HighWatermark()
			closeAfter()
			if hw == 5 {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("flush.ms=20: the append was not synced after %v", time.Since(start))
			}
			time.Sleep(5 * time.Millisecond)
		}
		engMust(t, l.Close())
		engMust(t, db.Close())
	})
}

// TestLiteConcurrent appends to one partition from several goroutines
// while others read and delete old records, and checks that offsets are
// dense and unique, reads never pass the high watermark, and every batch
// reads back as appended.
func TestLiteConcurrent(t *testing.T) {
	db := liteTestOpen(t, vfs.NewMem(), "lite")
	l := liteTestLog(t, db, 5, 1, engConfig())
	const writers, perWriter = 6, 40
	var mu sync.Mutex
	appended := map[int64][]byte{} // base offset -> batch as appended
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				b := engSimpleBatch(t, 1+(w+i)%4, int64(w*1000+i))
				res, err := l.Append(b)
				if err != nil {
					t.Error(err)
					return
				}
				SetBaseOffset(b, res.BaseOffset)
				mu.Lock()
				appended[res.BaseOffset] = b
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := l.Read(l.LogStartOffset(), 4096)
			if errors.Is(err, ErrOffsetOutOfRange) {
				continue // the start moved between the two calls
			}
			if err != nil {
				t.Error(err)
				return
			}
			if r.NextOffset > r.HighWatermark {
				t.Errorf("read up to %d past the high watermark %d", r.NextOffset, r.HighWatermark)
			}
			r.Close()
		}
	}()
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if err := l.DeleteRecordsBefore(l.HighWatermark() / 4); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()

	lso := l.LogStartOffset()
	r, err := l.Read(lso, 1<<30)
	engMust(t, err)
	data, _ := r.Bytes()
	next := int64(-1)
	engMust(t, SplitBatches(data, func(b []byte, h BatchHeader) error {
		if next >= 0 && h.BaseOffset != next {
			return fmt.Errorf("batch at %d follows one ending at %d", h.BaseOffset, next)
		}
		if !bytes.Equal(b, appended[h.BaseOffset]) {
			return fmt.Errorf("batch at %d differs from the one appended there", h.BaseOffset)
		}
		next = h.NextOffset()
		return nil
	}))
	total := int64(0)
	for _, b := range appended {
		h, _ := ParseBatchHeader(b)
		total += int64(h.NumRecords)
	}
	if next != total || l.HighWatermark() != total {
		t.Errorf("records end at %d, hw %d, want %d", next, l.HighWatermark(), total)
	}
	engMust(t, l.Close())
	engMust(t, db.Close())
}

// TestLiteLifecycle checks the rules around opening, deleting and closing.
func TestLiteLifecycle(t *testing.T) {
	db := liteTestOpen(t, vfs.NewMem(), "lite")
	cfg := engConfig()
	l := liteTestLog(t, db, 1, 0, cfg)
	if _, err := db.OpenLog(1, 0, cfg); err == nil {
		t.Error("a second OpenLog of an open partition succeeded")
	}
	if err := db.DeleteLog(1, 0); err == nil {
		t.Error("DeleteLog of an open partition succeeded")
	}
	if _, err := db.OpenLog(1, -1, cfg); !errors.Is(err, ErrUnknownPartition) {
		t.Errorf("OpenLog(partition -1) = %v, want ErrUnknownPartition", err)
	}
	if _, err := l.Append(nil); !errors.Is(err, ErrInvalidBatch) {
		t.Errorf("Append(nil) = %v, want ErrInvalidBatch", err)
	}
	_, err := l.Append(engSimpleBatch(t, 1, 1))
	engMust(t, err)
	engMust(t, l.Close())
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := l.Read(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	l = liteTestLog(t, db, 1, 0, cfg) // closing released it
	engMust(t, db.Close())
	for name, err := range map[string]error{
		"Append":    func() error { _, err := l.Append(engSimpleBatch(t, 1, 1)); return err }(),
		"Read":      func() error { _, err := l.Read(0, 1); return err }(),
		"Truncate":  l.Truncate(0),
		"Close":     l.Close(),
		"OpenLog":   func() error { _, err := db.OpenLog(2, 0, cfg); return err }(),
		"DeleteLog": db.DeleteLog(2, 0),
		"db.Close":  db.Close(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after the database closed = %v, want ErrClosed", name, err)
		}
	}
}

// TestLiteRejectsForeignData checks that the database's format key and a
// partition's meta key are validated.
func TestLiteRejectsForeignData(t *testing.T) {
	put := func(fs vfs.FS, key, value []byte) {
		pdb, err := pebble.Open("lite", &pebble.Options{FS: fs, Logger: litePebbleLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}})
		engMust(t, err)
		engMust(t, pdb.Set(key, value, pebble.Sync))
		engMust(t, pdb.Close())
	}
	t.Run("bad format key", func(t *testing.T) {
		fs := vfs.NewMem()
		put(fs, liteFormatKey, []byte("STRATLIT\x00\x00\x00\x09"))
		if _, err := OpenLiteDB(LiteOptions{FS: fs, Dir: "lite"}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("open with format version 9 = %v, want ErrCorrupt", err)
		}
	})
	t.Run("no format key", func(t *testing.T) {
		fs := vfs.NewMem()
		put(fs, []byte("someone else's key"), []byte("v"))
		if _, err := OpenLiteDB(LiteOptions{FS: fs, Dir: "lite"}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("open of a foreign database = %v, want ErrCorrupt", err)
		}
	})
	t.Run("bad meta", func(t *testing.T) {
		fs := vfs.NewMem()
		engMust(t, liteTestOpen(t, fs, "lite").Close())
		p := litePrefix(4, 2)
		put(fs, p[:], []byte{liteMetaVersion, 9, 3, 0, 0}) // start offset 9 above high watermark 3
		db := liteTestOpen(t, fs, "lite")
		if _, err := db.OpenLog(4, 2, engConfig()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenLog with a bad meta key = %v, want ErrCorrupt", err)
		}
		engMust(t, db.Close())
	})
}

// TestLiteCrashWhileAppending crashes (keeps only what was synced, plus a
// random half of the unsynced writes) while goroutines append with
// flush.messages=1, and checks that every append acknowledged before the
// crash is there byte for byte, and that the partition's offsets and sizes
// agree with the batches that survived.
func TestLiteCrashWhileAppending(t *testing.T) {
	fs := vfs.NewCrashableMem()
	db := liteTestOpen(t, fs, "lite")
	cfg := engConfig()
	l := liteTestLog(t, db, 3, 1, cfg)
	var mu sync.Mutex
	acked := map[int64][]byte{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := engSimpleBatch(t, 1+(w+i)%3, int64(i))
				res, err := l.Append(b)
				if err != nil {
					t.Error(err)
					return
				}
				SetBaseOffset(b, res.BaseOffset)
				mu.Lock()
				acked[res.BaseOffset] = b
				mu.Unlock()
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for crash := range 8 {
		time.Sleep(time.Duration(1+rng.IntN(5)) * time.Millisecond)
		mu.Lock()
		before := maps.Clone(acked)
		mu.Unlock()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(crash), 7))})
		cdb := liteTestOpen(t, clone, "lite")
		cl := liteTestLog(t, cdb, 3, 1, cfg)
		data := liteReadAll(t, cl)
		got := map[int64][]byte{}
		var bytesSeen, next int64
		engMust(t, SplitBatches(data, func(b []byte, h BatchHeader) error {
			if h.BaseOffset != next {
				return fmt.Errorf("crash %d: batch at %d follows one ending at %d", crash, h.BaseOffset, next)
			}
			got[h.BaseOffset] = b
			bytesSeen += int64(len(b))
			next = h.NextOffset()
			return nil
		}))
		st := cl.Stats()
		if st.HighWatermark != next || st.Bytes != bytesSeen || st.Batches != int64(len(got)) {
			t.Errorf("crash %d: stats %+v disagree with the %d batches (%d bytes) up to %d", crash, st, len(got), bytesSeen, next)
		}
		for off, b := range before {
			if !bytes.Equal(got[off], b) {
				t.Fatalf("crash %d: the batch acknowledged at offset %d is missing or different", crash, off)
			}
		}
		engMust(t, cl.Close())
		engMust(t, cdb.Close())
	}
	close(stop)
	wg.Wait()
	engMust(t, l.Close())
	engMust(t, db.Close())
}
