package logstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var (
	engSeedFlag = flag.Uint64("engines.seed", 0, "seed for TestEnginesRandomized (0: a new seed plus the fixed ones)")
	engOpsFlag  = flag.Int("engines.ops", 400, "operations per TestEnginesRandomized run")
)

// engConfig is the topic config of the engine tests: small segments so that
// the segment engine rolls, no time retention.
func engConfig() TopicConfig {
	c := DefaultTopicConfig()
	c.SegmentBytes = 8 << 10
	c.RetentionMs = -1
	return c
}

// engHandle is one open engine under test. reopen closes it and opens it
// again over the same storage (nil for memory); close releases everything.
type engHandle struct {
	Log
	reopen func(t testing.TB)
	close  func(t testing.TB)
}

// engTarget opens an engine over fresh storage. mem is the config of the
// memory front (memory and hybrid), cfg that of the durable log.
type engTarget struct {
	name string
	open func(t testing.TB, cfg, mem TopicConfig) *engHandle
}

func engTargets() []engTarget {
	return []engTarget{
		{"memory", engOpenMemory},
		{"lite", engOpenLite},
		{"segment", engOpenSegment},
		{"hybrid", engOpenHybrid},
	}
}

func engMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func engOpenMemory(_ testing.TB, _, mem TopicConfig) *engHandle {
	h := &engHandle{Log: NewMemoryLog(mem, nil)}
	h.close = func(t testing.TB) { engMust(t, h.Close()) }
	return h
}

// engOpenLite opens partition 3 of topic 7 in a lite database that also
// holds its neighbours (partitions 2 and 4, topics 6 and 8), and checks at
// close that no operation on partition 3 touched them.
func engOpenLite(t testing.TB, cfg, _ TopicConfig) *engHandle {
	fs := vfs.NewMem()
	open := func() *LiteDB {
		db, err := OpenLiteDB(LiteOptions{FS: fs, Dir: "lite"})
		engMust(t, err)
		return db
	}
	db := open()
	type neighbour struct {
		seq  uint64
		part int32
	}
	neighbours := []neighbour{{7, 2}, {7, 4}, {6, 3}, {8, 0}}
	batch := engSimpleBatch(t, 3, 1000)
	for _, n := range neighbours {
		l, err := db.OpenLog(n.seq, n.part, cfg)
		engMust(t, err)
		_, err = l.Append(batch)
		engMust(t, err)
		engMust(t, l.Close())
	}
	l, err := db.OpenLog(7, 3, cfg)
	engMust(t, err)
	h := &engHandle{Log: l}
	h.reopen = func(t testing.TB) {
		engMust(t, h.Close())
		engMust(t, db.Close())
		db = open()
		l, err := db.OpenLog(7, 3, cfg)
		engMust(t, err)
		h.Log = l
	}
	h.close = func(t testing.TB) {
		engMust(t, h.Close())
		for _, n := range neighbours {
			l, err := db.OpenLog(n.seq, n.part, cfg)
			engMust(t, err)
			r, err := l.Read(0, 1<<20)
			engMust(t, err)
			got, _ := r.Bytes()
			if l.HighWatermark() != 3 || !bytes.Equal(got, batch) {
				t.Errorf("lite neighbour %d/%d changed: hw %d, %d bytes", n.seq, n.part, l.HighWatermark(), len(got))
			}
			engMust(t, l.Close())
		}
		engMust(t, db.Close())
	}
	return h
}

func engOpenSegment(t testing.TB, cfg, _ TopicConfig) *engHandle {
	fs := vfs.NewMem()
	open := func() Log {
		l, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: "topics/t-0", Topic: "t", Partition: 0, Config: cfg})
		engMust(t, err)
		return l
	}
	h := &engHandle{Log: open()}
	h.reopen = func(t testing.TB) {
		engMust(t, h.Close())
		h.Log = open()
	}
	h.close = func(t testing.TB) { engMust(t, h.Close()) }
	return h
}

// engOpenHybrid puts a memory log (bounded by mem) in front of a segment log.
func engOpenHybrid(t testing.TB, cfg, mem TopicConfig) *engHandle {
	fs := vfs.NewMem()
	open := func() Log {
		behind, err := OpenSegmentLog(SegmentOptions{FS: fs, Dir: "topics/t-0", Topic: "t", Partition: 0, Config: cfg})
		engMust(t, err)
		hl, err := OpenHybridLog(NewMemoryLog(mem, nil), behind)
		engMust(t, err)
		return hl
	}
	h := &engHandle{Log: open()}
	h.reopen = func(t testing.TB) {
		engMust(t, h.Close())
		h.Log = open()
	}
	h.close = func(t testing.TB) { engMust(t, h.Close()) }
	return h
}

// engOpenHybridOverLite puts a 4 KiB memory front before a lite log.
func engOpenHybridOverLite(t testing.TB, cfg, _ TopicConfig) *engHandle {
	fs := vfs.NewMem()
	var db *LiteDB
	open := func() Log {
		var err error
		db, err = OpenLiteDB(LiteOptions{FS: fs, Dir: "lite"})
		engMust(t, err)
		behind, err := db.OpenLog(1, 0, cfg)
		engMust(t, err)
		mem := cfg
		mem.RetentionBytes = 4 << 10
		hl, err := OpenHybridLog(NewMemoryLog(mem, nil), behind)
		engMust(t, err)
		return hl
	}
	h := &engHandle{Log: open()}
	h.reopen = func(t testing.TB) {
		engMust(t, h.Close())
		engMust(t, db.Close())
		h.Log = open()
	}
	h.close = func(t testing.TB) {
		engMust(t, h.Close())
		engMust(t, db.Close())
	}
	return h
}

// engSimpleBatch is an uncompressed batch of n small records with
// timestamps ts, ts+1, ...
func engSimpleBatch(t testing.TB, n int, ts int64) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Timestamp: ts + int64(i), Key: []byte("k" + strconv.Itoa(i)), Value: []byte("value " + strconv.Itoa(i))}
	}
	b, err := EncodeBatch(recs, CompressionNone)
	engMust(t, err)
	return b
}

// engErrKind names the sentinel an error wraps, so that engines whose
// messages differ compare equal.
func engErrKind(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{ErrOffsetOutOfRange, "offset out of range"},
		{ErrNotBatchBoundary, "not a batch boundary"},
		{ErrInvalidBatch, "invalid batch"},
		{ErrClosed, "closed"},
		{ErrCorrupt, "corrupt"},
	} {
		if errors.Is(err, s.err) {
			return "error: " + s.name
		}
	}
	return "error: " + err.Error()
}

// engDescribeRead renders a read: each batch's offsets, max timestamp and
// size, then the offsets, then a digest of the bytes.
func engDescribeRead(t testing.TB, r *ReadResult, err error) string {
	if err != nil {
		return engErrKind(err)
	}
	defer r.Close()
	data, err := r.Bytes()
	if err != nil {
		return "error reading chunks: " + err.Error()
	}
	var sb strings.Builder
	for rest := data; len(rest) > 0; {
		h, err := CheckBatch(rest[:min(len(rest), max(BatchHeaderSize, engBatchSize(rest)))])
		if err != nil {
			fmt.Fprintf(&sb, "bad batch: %v\n", err)
			break
		}
		fmt.Fprintf(&sb, "batch %d..%d maxts=%d size=%d\n", h.BaseOffset, h.LastOffset(), h.MaxTimestamp, h.Size())
		rest = rest[h.Size():]
	}
	fmt.Fprintf(&sb, "next=%d hw=%d lso=%d bytes=%d sha=%x", r.NextOffset, r.HighWatermark, r.LogStartOffset, len(data), sha256.Sum256(data))
	return sb.String()
}

func engBatchSize(b []byte) int {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return 0
	}
	return h.Size()
}

// engModel is the reference: a slice of batches and two offsets.
type engModel struct {
	batches []engModelBatch
	lso, hw int64
}

type engModelBatch struct {
	base, next, maxTS int64
	data              []byte
}

func (m *engModel) append(batches []byte) string {
	var add []engModelBatch
	off := m.hw
	err := SplitBatches(batches, func(b []byte, h BatchHeader) error {
		c := bytes.Clone(b)
		SetBaseOffset(c, off)
		add = append(add, engModelBatch{base: off, next: off + int64(h.LastOffsetDelta) + 1, maxTS: h.MaxTimestamp, data: c})
		off += int64(h.LastOffsetDelta) + 1
		return nil
	})
	if err != nil {
		return engErrKind(err)
	}
	res := AppendResult{BaseOffset: m.hw, LastOffset: off - 1, Batches: len(add)}
	for _, b := range add {
		n, _ := ParseBatchHeader(b.data)
		res.Records += int(n.NumRecords)
	}
	m.batches = append(m.batches, add...)
	m.hw = off
	return engDescribeAppend(res, nil)
}

func engDescribeAppend(res AppendResult, err error) string {
	if err != nil {
		return engErrKind(err)
	}
	return fmt.Sprintf("appended %d..%d batches=%d records=%d", res.BaseOffset, res.LastOffset, res.Batches, res.Records)
}

func (m *engModel) read(t testing.TB, offset int64, maxBytes int) string {
	if offset < m.lso || offset > m.hw {
		return engErrKind(ErrOffsetOutOfRange)
	}
	var chunks []Chunk
	next, size := offset, 0
	for _, b := range m.batches {
		if b.next <= offset {
			continue
		}
		if size > 0 && size+len(b.data) > maxBytes {
			break
		}
		chunks = append(chunks, Chunk{Data: b.data})
		size += len(b.data)
		next = b.next
	}
	return engDescribeRead(t, NewReadResult(chunks, next, m.hw, m.lso, nil), nil)
}

func (m *engModel) truncate(offset int64) string {
	if offset < m.lso || offset > m.hw {
		return engErrKind(ErrOffsetOutOfRange)
	}
	for i, b := range m.batches {
		if b.base == offset {
			m.batches = m.batches[:i]
			m.hw = offset
			return "ok"
		}
		if b.base < offset && offset < b.next {
			return engErrKind(ErrNotBatchBoundary)
		}
	}
	return "ok" // offset == hw
}

func (m *engModel) deleteBefore(offset int64) string {
	if offset > m.hw {
		return engErrKind(ErrOffsetOutOfRange)
	}
	if offset <= m.lso {
		return "ok"
	}
	for len(m.batches) > 0 && m.batches[0].next <= offset {
		m.batches = m.batches[1:]
	}
	m.lso = offset
	return "ok"
}

func (m *engModel) offsetForTime(ts int64) string {
	for _, b := range m.batches {
		if b.maxTS >= ts {
			return fmt.Sprint(max(b.base, m.lso))
		}
	}
	return fmt.Sprint(m.hw)
}

// engOp is one step of a randomized run, with its arguments fixed when the
// sequence is generated.
type engOp struct {
	kind     string
	data     []byte
	offset   int64
	maxBytes int
	ts       int64
}

func (op engOp) String() string {
	switch op.kind {
	case "append", "append-invalid":
		n := 0
		for rest := op.data; len(rest) >= BatchHeaderSize && engBatchSize(rest) > 0 && engBatchSize(rest) <= len(rest); rest = rest[engBatchSize(rest):] {
			n++
		}
		return fmt.Sprintf("%s (%d bytes, %d batches)", op.kind, len(op.data), n)
	case "read":
		return fmt.Sprintf("read offset=%d max=%d", op.offset, op.maxBytes)
	case "truncate", "delete-before":
		return fmt.Sprintf("%s offset=%d", op.kind, op.offset)
	case "offset-for-time":
		return fmt.Sprintf("offset-for-time ts=%d", op.ts)
	}
	return op.kind
}

// engGenerate makes n operations from seed, running them on a model as it
// goes so that offsets are chosen from the model's state, and returns them
// with the model's output for each.
func engGenerate(t testing.TB, seed uint64, n int) ([]engOp, []string) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	m := &engModel{}
	clock := int64(1_700_000_000_000)
	codecs := []int8{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}
	words := []string{"sensor", "temp", "21.5", "agent", "inbox", "hello", "strata", "kafka", "mqtt", " "}
	randBatch := func() []byte {
		recs := make([]Record, 1+rng.IntN(6))
		clock += int64(rng.IntN(50))
		for i := range recs {
			var v []byte
			for len(v) < rng.IntN(300) {
				v = append(v, words[rng.IntN(len(words))]...)
			}
			if rng.IntN(4) == 0 {
				v = binaryNoise(rng, rng.IntN(200))
			}
			recs[i] = Record{Timestamp: clock + int64(rng.IntN(41)) - 20, Value: v}
			if rng.IntN(2) == 0 {
				recs[i].Key = []byte("key-" + strconv.Itoa(rng.IntN(10)))
			}
			if rng.IntN(5) == 0 {
				recs[i].Headers = []RecordHeader{{Key: "qos", Value: []byte{byte(rng.IntN(3))}}}
			}
		}
		b, err := EncodeBatch(recs, codecs[rng.IntN(len(codecs))])
		engMust(t, err)
		return b
	}
	var ops []engOp
	var want []string
	for len(ops) < n {
		var op engOp
		switch p := rng.IntN(100); {
		case p < 35:
			op.kind = "append"
			for range 1 + rng.IntN(3) {
				op.data = append(op.data, randBatch()...)
			}
		case p < 38:
			op.kind = "append-invalid"
			op.data = append(randBatch(), randBatch()...)
			op.data[len(op.data)-1] ^= 0x55 // the second batch's CRC fails: nothing is stored
		case p < 75:
			op.kind = "read"
			op.maxBytes = []int{0, 1, 100, 700, 2000, 8000, 1 << 20}[rng.IntN(7)]
			switch q := rng.IntN(10); {
			case q < 7:
				op.offset = m.lso + rng.Int64N(m.hw-m.lso+1)
			case q < 8 && len(m.batches) > 0:
				op.offset = max(m.lso, m.batches[rng.IntN(len(m.batches))].base)
			case q < 9:
				op.offset = m.hw + 1 + rng.Int64N(3)
			default:
				op.offset = m.lso - 1 - rng.Int64N(3)
			}
		case p < 81:
			op.kind = "truncate"
			var bases []int64
			for _, b := range m.batches {
				if b.base >= m.lso {
					bases = append(bases, b.base)
				}
			}
			switch q := rng.IntN(10); {
			case q < 6 && len(bases) > 0:
				// Mostly near the end, as replication truncates.
				op.offset = bases[max(0, len(bases)-1-rng.IntN(min(len(bases), 4)))]
			case q < 8:
				op.offset = m.lso + rng.Int64N(m.hw-m.lso+1) // often inside a batch
			case q < 9:
				op.offset = m.hw + 1
			default:
				op.offset = m.lso - 1
			}
		case p < 86:
			op.kind = "delete-before"
			op.offset = m.lso + rng.Int64N((m.hw-m.lso)/2+1)
			if rng.IntN(10) == 0 {
				op.offset = m.hw + 1
			}
		case p < 93:
			op.kind = "offset-for-time"
			op.ts = clock - 200 + rng.Int64N(260)
		case p < 96:
			op.kind = "reopen"
		case p < 98:
			op.kind = "sync"
		default:
			op.kind = "stats"
		}
		var out string
		switch op.kind {
		case "append", "append-invalid":
			out = m.append(op.data)
		case "read":
			out = m.read(t, op.offset, op.maxBytes)
		case "truncate":
			out = m.truncate(op.offset)
		case "delete-before":
			out = m.deleteBefore(op.offset)
		case "offset-for-time":
			out = m.offsetForTime(op.ts)
		default:
			out = "ok"
		}
		ops = append(ops, op)
		want = append(want, fmt.Sprintf("%s\nhw=%d lso=%d", out, m.hw, m.lso))
	}
	return ops, want
}

func binaryNoise(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// engRun applies op to an engine and renders the result as the model does.
func engRun(t testing.TB, h *engHandle, op engOp) string {
	var out string
	switch op.kind {
	case "append", "append-invalid":
		in := bytes.Clone(op.data)
		res, err := h.Append(in)
		if !bytes.Equal(in, op.data) {
			t.Fatalf("Append modified the caller's bytes")
		}
		out = engDescribeAppend(res, err)
	case "read":
		r, err := h.Read(op.offset, op.maxBytes)
		out = engDescribeRead(t, r, err)
	case "truncate":
		out = engOK(h.Truncate(op.offset))
	case "delete-before":
		out = engOK(h.DeleteRecordsBefore(op.offset))
	case "offset-for-time":
		off, err := h.OffsetForTime(op.ts)
		out = fmt.Sprint(off)
		if err != nil {
			out = engErrKind(err)
		}
	case "reopen":
		if h.reopen != nil {
			h.reopen(t)
		}
		out = "ok"
	case "sync":
		out = engOK(h.Sync())
	case "stats":
		st := h.Stats()
		out = "ok"
		if st.HighWatermark != h.HighWatermark() || st.LogStartOffset != h.LogStartOffset() {
			out = fmt.Sprintf("stats say hw=%d lso=%d", st.HighWatermark, st.LogStartOffset)
		}
	}
	return fmt.Sprintf("%s\nhw=%d lso=%d", out, h.HighWatermark(), h.LogStartOffset())
}

func engOK(err error) string {
	if err != nil {
		return engErrKind(err)
	}
	return "ok"
}

// TestEnginesRandomized runs one random sequence of operations against
// every engine and requires each engine's every output (append offsets,
// read bytes, errors, offsets) to equal the model's, hence each other's.
// The hybrid log runs three times: with room for everything in memory,
// with a 4 KiB memory front so that most reads go to the segment log
// behind, and in front of a lite log (it needs only the Log interface).
func TestEnginesRandomized(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if *engSeedFlag != 0 {
		seeds = []uint64{*engSeedFlag}
	} else {
		seeds = append(seeds, uint64(time.Now().UnixNano()))
	}
	targets := engTargets()
	targets = append(targets, engTarget{"hybrid-small", func(t testing.TB, cfg, _ TopicConfig) *engHandle {
		mem := cfg
		mem.RetentionBytes = 4 << 10
		return engOpenHybrid(t, cfg, mem)
	}}, engTarget{"hybrid-over-lite", engOpenHybridOverLite})
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d (rerun with -engines.seed=%d)", seed, seed)
			ops, want := engGenerate(t, seed, *engOpsFlag)
			for _, target := range targets {
				t.Run(target.name, func(t *testing.T) {
					h := target.open(t, engConfig(), engConfig())
					for i, op := range ops {
						got := engRun(t, h, op)
						if got != want[i] {
							t.Fatalf("seed %d, op %d: %s\n got: %s\nwant: %s\n(rerun with -engines.seed=%d)", seed, i, op, got, want[i], seed)
						}
					}
					h.close(t)
				})
			}
		})
	}
}

// TestEnginesDataDriven runs the scripts in testdata/engines. "new
// engines=a,b,..." opens the listed engines; every later command runs on
// each, and the engines must print the same thing.
func TestEnginesDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/engines", func(t *testing.T, path string) {
		var handles []*engHandle
		var names []string
		closeAll := func() {
			for _, h := range handles {
				h.close(t)
			}
			handles, names = nil, nil
		}
		defer closeAll()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "new" {
				closeAll()
				cfg, mem := engConfig(), engConfig()
				for _, a := range d.CmdArgs {
					switch a.Key {
					case "engines":
						names = strings.Split(a.Vals[0], ",")
					case "retention.bytes":
						v, _ := strconv.ParseInt(a.Vals[0], 10, 64)
						cfg.RetentionBytes, mem.RetentionBytes = v, v
					case "retention.ms":
						v, _ := strconv.ParseInt(a.Vals[0], 10, 64)
						cfg.RetentionMs, mem.RetentionMs = v, v
					case "memory.bytes":
						v, _ := strconv.ParseInt(a.Vals[0], 10, 64)
						mem.RetentionBytes = v
					default:
						d.Fatalf(t, "unknown argument %s", a.Key)
					}
				}
				for _, n := range names {
					i := slices.IndexFunc(engTargets(), func(e engTarget) bool { return e.name == n })
					if i < 0 {
						d.Fatalf(t, "unknown engine %s", n)
					}
					handles = append(handles, engTargets()[i].open(t, cfg, mem))
				}
				return ""
			}
			outs := make([]string, len(handles))
			for i, h := range handles {
				outs[i] = engDataDrivenCmd(t, d, h)
			}
			same := true
			for _, o := range outs {
				same = same && o == outs[0]
			}
			if same && len(outs) > 0 {
				return outs[0]
			}
			var sb strings.Builder
			for i, o := range outs {
				fmt.Fprintf(&sb, "%s:\n%s\n", names[i], o)
			}
			return sb.String()
		})
	})
}

func engDataDrivenCmd(t *testing.T, d *datadriven.TestData, h *engHandle) string {
	intArg := func(key string, def int64) int64 {
		if !d.HasArg(key) {
			return def
		}
		var v int64
		d.ScanArgs(t, key, &v)
		return v
	}
	switch d.Cmd {
	case "append":
		// append [batches=1] [records=1] [ts=1000] [step=1] [value=10] [codec=none]
		var in []byte
		nb, nr, ts, step, vsize := intArg("batches", 1), intArg("records", 1), intArg("ts", 1000), intArg("step", 1), intArg("value", 10)
		codec := CompressionNone
		if d.HasArg("codec") {
			var name string
			d.ScanArgs(t, "codec", &name)
			codec = int8(slices.Index([]string{"none", "gzip", "snappy", "lz4", "zstd"}, name))
		}
		for b := range nb {
			recs := make([]Record, nr)
			for r := range recs {
				i := b*nr + int64(r)
				recs[r] = Record{Timestamp: ts + i*step, Key: []byte(fmt.Sprint("k", i)), Value: bytes.Repeat([]byte{'a' + byte(i%26)}, int(vsize))}
			}
			batch, err := EncodeBatch(recs, codec)
			engMust(t, err)
			in = append(in, batch...)
		}
		res, err := h.Append(in)
		return engDescribeAppend(res, err)
	case "append-invalid":
		b := engSimpleBatch(t, 1, 1)
		b[len(b)-1] ^= 1
		res, err := h.Append(b)
		return engDescribeAppend(res, err)
	case "read":
		r, err := h.Read(intArg("offset", 0), int(intArg("max", 1<<20)))
		return engDescribeRead(t, r, err)
	case "truncate":
		return engOK(h.Truncate(intArg("offset", 0)))
	case "delete-before":
		return engOK(h.DeleteRecordsBefore(intArg("offset", 0)))
	case "retention":
		lso, err := h.ApplyRetention(intArg("now", 0))
		if err != nil {
			return engErrKind(err)
		}
		return fmt.Sprintf("lso=%d", lso)
	case "offset-for-time":
		off, err := h.OffsetForTime(intArg("ts", 0))
		if err != nil {
			return engErrKind(err)
		}
		return fmt.Sprint(off)
	case "reopen":
		if h.reopen != nil {
			h.reopen(t)
		}
		return fmt.Sprintf("hw=%d lso=%d", h.HighWatermark(), h.LogStartOffset())
	case "stats":
		st := h.Stats()
		return fmt.Sprintf("hw=%d lso=%d bytes=%d batches=%d", st.HighWatermark, st.LogStartOffset, st.Bytes, st.Batches)
	case "offsets":
		return fmt.Sprintf("hw=%d lso=%d", h.HighWatermark(), h.LogStartOffset())
	case "dropped":
		m, ok := h.Log.(*MemoryLog)
		if !ok {
			d.Fatalf(t, "dropped: not a memory log")
		}
		b, n := m.Dropped()
		return fmt.Sprintf("dropped batches=%d bytes=%d", b, n)
	case "sync":
		return engOK(h.Sync())
	case "close":
		err := h.Close()
		h.Log = engClosedLog{h.Log}
		return engOK(err)
	}
	d.Fatalf(t, "unknown command %s", d.Cmd)
	return ""
}

// engClosedLog wraps a log closed by a script, so the harness does not
// close it again and later commands see ErrClosed from the real log.
type engClosedLog struct{ Log }

func (engClosedLog) Close() error { return nil }
