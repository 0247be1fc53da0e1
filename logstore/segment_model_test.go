package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestSegmentRandomizedModel runs random operations (appends, reads,
// truncates, delete-records, retention, OffsetForTime, clean reopens and
// crashes that keep only fsynced data) against a SegmentLog and a plain
// in-memory model. With flush.messages=1 every acknowledged operation is
// durable, so even after a crash the log must answer exactly like the model.
func TestSegmentRandomizedModel(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { segRunModel(t, seed, 250) })
	}
}

type segModelBatch struct {
	base, last, maxTS int64
	data              []byte
}

type segModel struct {
	batches []segModelBatch
	lso, hw int64
}

// read is what Log.Read must return: whole batches from the one holding
// offset while they fit in max, at least one.
func (m *segModel) read(offset int64, maxBytes int) ([]byte, int64) {
	var out []byte
	next := offset
	for _, b := range m.batches {
		if b.last < offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b.data) > maxBytes {
			break
		}
		out = append(out, b.data...)
		next = b.last + 1
		if len(out) >= maxBytes {
			break
		}
	}
	return out, next
}

func (m *segModel) offsetForTime(ts int64) int64 {
	for _, b := range m.batches {
		if b.last >= m.lso && b.maxTS >= ts {
			return max(b.base, m.lso)
		}
	}
	return m.hw
}

func segRunModel(t *testing.T, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, seed*31))
	fs := vfs.NewCrashableMem()
	const dir = "/m/p"
	cfg := segTestConfig(int64(300 + rng.IntN(1500)))
	open := func() *SegmentLog {
		l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: dir, Config: cfg, Logger: segQuietLogger(), IndexIntervalBytes: 64 + rng.IntN(512)})
		if err != nil {
			t.Fatalf("seed %d: open: %v", seed, err)
		}
		return l
	}
	l := open()
	defer func() { _ = l.Close() }()
	m := &segModel{}
	var history []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d after %v: %s", seed, history, fmt.Sprintf(format, args...))
	}
	seq := 0
	for op := 0; op < ops; op++ {
		switch k := rng.IntN(100); {
		case k < 45:
			n := 1 + rng.IntN(3)
			var in []byte
			var parts [][]byte
			for range n {
				seq++
				b := segBatch(t, 1+rng.IntN(4), int64(1000+rng.IntN(500)), fmt.Sprint(seq), rng.IntN(120))
				parts = append(parts, b)
				in = append(in, b...)
			}
			res, err := l.Append(in)
			history = append(history, fmt.Sprintf("append(%d)", n))
			if err != nil {
				fail("append: %v", err)
			}
			if res.BaseOffset != m.hw {
				fail("append at %d, model hw %d", res.BaseOffset, m.hw)
			}
			off := res.BaseOffset
			for _, b := range parts {
				h, _ := ParseBatchHeader(b)
				SetBaseOffset(b, off)
				m.batches = append(m.batches, segModelBatch{base: off, last: off + int64(h.LastOffsetDelta), maxTS: h.MaxTimestamp, data: b})
				off += int64(h.LastOffsetDelta) + 1
			}
			m.hw = off
		case k < 70:
			if m.hw == m.lso {
				continue
			}
			offset := m.lso + rng.Int64N(m.hw-m.lso+1)
			maxBytes := rng.IntN(1200)
			history = append(history, fmt.Sprintf("read(%d,%d)", offset, maxBytes))
			r, err := l.Read(offset, maxBytes)
			if err != nil {
				fail("read: %v", err)
			}
			got, _ := r.Bytes()
			r.Close()
			want, next := m.read(offset, maxBytes)
			if !bytes.Equal(got, want) || r.NextOffset != next || r.HighWatermark != m.hw || r.LogStartOffset != m.lso {
				fail("read(%d,%d): %d bytes next %d hw %d lso %d, model %d bytes next %d hw %d lso %d",
					offset, maxBytes, len(got), r.NextOffset, r.HighWatermark, r.LogStartOffset, len(want), next, m.hw, m.lso)
			}
		case k < 75:
			// Truncate to a batch boundary at or above the start offset.
			var cands []int64
			for _, b := range m.batches {
				if b.base >= m.lso {
					cands = append(cands, b.base)
				}
			}
			cands = append(cands, m.hw)
			to := cands[rng.IntN(len(cands))]
			history = append(history, fmt.Sprintf("truncate(%d)", to))
			if err := l.Truncate(to); err != nil {
				fail("truncate: %v", err)
			}
			for len(m.batches) > 0 && m.batches[len(m.batches)-1].base >= to {
				m.batches = m.batches[:len(m.batches)-1]
			}
			m.hw = to
		case k < 78:
			// An offset inside a batch is refused.
			for _, b := range m.batches {
				if b.last > b.base && b.base >= m.lso {
					history = append(history, fmt.Sprintf("truncate(%d)", b.base+1))
					if err := l.Truncate(b.base + 1); !errors.Is(err, ErrNotBatchBoundary) {
						fail("truncate inside batch [%d,%d]: %v", b.base, b.last, err)
					}
					break
				}
			}
		case k < 83:
			to := m.lso + rng.Int64N(m.hw-m.lso+1)
			history = append(history, fmt.Sprintf("delete-records(%d)", to))
			if err := l.DeleteRecordsBefore(to); err != nil {
				fail("delete records: %v", err)
			}
			m.lso = max(m.lso, to)
		case k < 86:
			c := cfg
			c.RetentionBytes = int64(rng.IntN(3000))
			if err := l.Reconfigure(c); err != nil {
				fail("reconfigure: %v", err)
			}
			lso, err := l.ApplyRetention(0)
			history = append(history, fmt.Sprintf("retention(%d)=%d", c.RetentionBytes, lso))
			if err != nil {
				fail("retention: %v", err)
			}
			if lso < m.lso || lso > m.hw {
				fail("retention moved lso to %d outside [%d, %d]", lso, m.lso, m.hw)
			}
			boundary := lso == m.lso || lso == m.hw
			for _, b := range m.batches {
				boundary = boundary || b.base == lso
			}
			if !boundary {
				fail("retention lso %d is not a batch boundary", lso)
			}
			m.lso = lso
			if err := l.Reconfigure(cfg); err != nil {
				fail("reconfigure: %v", err)
			}
		case k < 90:
			ts := int64(900 + rng.IntN(700))
			history = append(history, fmt.Sprintf("offset-for-time(%d)", ts))
			got, err := l.OffsetForTime(ts)
			if err != nil {
				fail("offset for time: %v", err)
			}
			if want := m.offsetForTime(ts); got != want {
				fail("offset for time %d: %d, model %d", ts, got, want)
			}
		case k < 95:
			history = append(history, "crash")
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(2) * 50, RNG: rng})
			_ = l.Close()
			fs = crashed
			l = open()
		default:
			history = append(history, "reopen")
			if err := l.Close(); err != nil {
				fail("close: %v", err)
			}
			l = open()
		}
		if l.HighWatermark() != m.hw || l.LogStartOffset() != m.lso {
			fail("hw %d lso %d, model hw %d lso %d", l.HighWatermark(), l.LogStartOffset(), m.hw, m.lso)
		}
		// Keep history short: the last operations matter for a failure.
		if len(history) > 12 {
			history = history[len(history)-12:]
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	n := segScanDir(t, fs, dir)
	t.Logf("seed %d: hw %d lso %d, %d batches on disk", seed, m.hw, m.lso, n)
	l = open()
}
