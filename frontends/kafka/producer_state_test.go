package kafka

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// TestProducerStateRules holds partProducers.check and record to Kafka's
// sequence rules, step by step; offsets are given as a log would.
func TestProducerStateRules(t *testing.T) {
	type step struct {
		name  string
		pid   int64
		epoch int16
		seq   int32
		n     int32
		// want: 0 accepted (recorded at the next offset), -1 a duplicate
		// at dupBase, else the error code.
		want    int16
		dupBase int64
	}
	const dup = -1
	steps := []step{
		{"unknown producer, any sequence", 1, 0, 40, 2, 0, 0},
		{"next", 1, 0, 42, 1, 0, 0},
		{"retry of the first", 1, 0, 40, 2, dup, 0},
		{"retry of the second", 1, 0, 42, 1, dup, 2},
		{"same first sequence, other length", 1, 0, 42, 2, kerr.OutOfOrderSequenceNumber.Code, 0},
		{"gap", 1, 0, 44, 1, kerr.OutOfOrderSequenceNumber.Code, 0},
		{"b3", 1, 0, 43, 1, 0, 0},
		{"b4", 1, 0, 44, 1, 0, 0},
		{"b5", 1, 0, 45, 1, 0, 0},
		{"b6", 1, 0, 46, 1, 0, 0},
		{"the first left the window of five", 1, 0, 40, 2, kerr.OutOfOrderSequenceNumber.Code, 0},
		{"the second is still in it", 1, 0, 42, 1, dup, 2},
		{"old epoch", 1, -1 + 0, 47, 1, kerr.InvalidProducerEpoch.Code, 0},
		{"new epoch not at 0", 1, 1, 47, 1, kerr.OutOfOrderSequenceNumber.Code, 0},
		{"new epoch at 0", 1, 1, 0, 3, 0, 0},
		{"the old epoch is fenced now", 1, 0, 47, 1, kerr.InvalidProducerEpoch.Code, 0},
		{"retry in the new epoch", 1, 1, 0, 3, dup, 7},
		{"wrap: last sequence MaxInt32", 2, 0, 2147483646, 2, 0, 0},
		{"wrap: next is 0", 2, 0, 0, 1, 0, 0},
		{"wrap: retry across the wrap", 2, 0, 2147483646, 2, dup, 10},
	}
	ps := &partProducers{producers: map[int64]*producerEntry{}}
	ps.view.ongoing = map[int64]int64{}
	next := int64(0)
	for _, s := range steps {
		h := logstore.BatchHeader{ProducerID: s.pid, ProducerEpoch: s.epoch, BaseSequence: s.seq, LastOffsetDelta: s.n - 1, NumRecords: s.n}
		if s.name == "old epoch" {
			h.ProducerEpoch = -1
		}
		isDup, base, code := ps.check(h)
		switch {
		case s.want == dup:
			if !isDup || base != s.dupBase || code != 0 {
				t.Fatalf("%s: dup %v base %d code %d, want a duplicate at %d", s.name, isDup, base, code, s.dupBase)
			}
		case isDup || code != s.want:
			t.Fatalf("%s: dup %v code %d (%v), want code %d", s.name, isDup, code, kerr.ErrorForCode(code), s.want)
		case code == 0:
			ps.record(h, next, -1, 1)
			next += int64(s.n)
		}
	}
}

// memLog is a partition of an in-memory store.
func memLog(t *testing.T) logstore.Log {
	t.Helper()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: "/p", FS: vfs.NewMem(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateTopic("p", 1, nil); err != nil {
		t.Fatal(err)
	}
	l, err := st.Partition("p", 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestProducerStateRebuild appends idempotent, transactional and marker
// batches, then rebuilds the state from the log: the windows, the open
// transaction (last stable offset) and the aborted index are what the
// live state had; a read_committed read is cut at the last stable offset.
func TestProducerStateRebuild(t *testing.T) {
	l := memLog(t)
	now := time.Now().UnixMilli()
	live := &partProducers{}
	if err := live.ensureBuilt(l, DefaultProducerIDExpiration, now); err != nil {
		t.Fatal(err)
	}
	appendBatch := func(b []byte, ctl int16) int64 {
		t.Helper()
		h, err := logstore.ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() {
			if dup, _, code := live.check(h); dup || code != 0 {
				t.Fatalf("batch refused: dup %v code %d", dup, code)
			}
		}
		res, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		live.record(h, res.BaseOffset, ctl, now)
		return res.BaseOffset
	}
	abort, commit := int16(kmsg.ControlRecordKeyTypeAbort), int16(kmsg.ControlRecordKeyTypeCommit)
	appendBatch(producerBatch(1, 0, 0, 3, false), -1)          // 0-2 idempotent
	appendBatch(producerBatch(2, 0, 0, 2, true), -1)           // 3-4 txn of 2, aborted below
	appendBatch(producerBatch(1, 0, 3, 1, false), -1)          // 5
	appendBatch(markerBatch(2, 0, false, now), abort)          // 6 ABORT
	appendBatch(producerBatch(3, 0, 0, 2, true), -1)           // 7-8 txn of 3, committed
	appendBatch(markerBatch(3, 0, true, now), commit)          // 9 COMMIT
	openAt := appendBatch(producerBatch(2, 1, 0, 2, true), -1) // 10-11 txn of 2, open
	appendBatch(producerBatch(1, 0, 4, 2, false), -1)          // 12-13

	hw := l.HighWatermark()
	if lso, _ := live.lastStable(hw); lso != openAt {
		t.Fatalf("live last stable offset %d, want %d", lso, openAt)
	}
	rebuilt := &partProducers{}
	if err := rebuilt.ensureBuilt(l, DefaultProducerIDExpiration, now); err != nil {
		t.Fatal(err)
	}
	for _, ps := range []*partProducers{live, rebuilt} {
		if lso, _ := ps.lastStable(hw); lso != openAt {
			t.Fatalf("last stable offset %d, want %d", lso, openAt)
		}
		ab := ps.abortedIn(0, hw, 0)
		if len(ab) != 1 || ab[0].ProducerID != 2 || ab[0].FirstOffset != 3 {
			t.Fatalf("aborted %+v, want producer 2 from 3", ab)
		}
		if ab := ps.abortedIn(7, hw, 0); len(ab) != 0 {
			t.Fatalf("aborted from 7: %+v, want none", ab)
		}
		h, _ := logstore.ParseBatchHeader(producerBatch(1, 0, 3, 1, false))
		if dup, base, _ := ps.check(h); !dup || base != 5 {
			t.Fatalf("retry of offset 5: dup %v base %d", dup, base)
		}
		h, _ = logstore.ParseBatchHeader(producerBatch(2, 0, 2, 1, true))
		if _, _, code := ps.check(h); code != kerr.InvalidProducerEpoch.Code {
			t.Fatalf("producer 2 at its old epoch: code %d", code)
		}
	}

	rr, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	if err := trimRead(rr, openAt); err != nil {
		t.Fatal(err)
	}
	if rr.NextOffset != openAt {
		t.Fatalf("trimmed read ends at %d, want %d", rr.NextOffset, openAt)
	}
	var last int64
	if err := walkBatches(rr, func(h logstore.BatchHeader, _ int, _ int64, _ func() ([]byte, error)) bool {
		last = h.LastOffset()
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if last != openAt-1 {
		t.Fatalf("trimmed read's last offset %d, want %d", last, openAt-1)
	}
}

// TestMarkerBatch: the control batch decodes as Kafka writes it.
func TestMarkerBatch(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := markerBatch(7, 3, commit, 1000)
		h, err := logstore.CheckBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 7 || h.ProducerEpoch != 3 || h.BaseSequence != -1 || h.NumRecords != 1 {
			t.Fatalf("marker header %+v", h)
		}
		want := int16(kmsg.ControlRecordKeyTypeAbort)
		if commit {
			want = int16(kmsg.ControlRecordKeyTypeCommit)
		}
		if got := controlType(func() ([]byte, error) { return b, nil }); got != want {
			t.Fatalf("marker type %d, want %d", got, want)
		}
		recs, _ := logstore.DecodeRecords(b)
		var m kmsg.EndTxnMarker
		if err := m.ReadFrom(recs[0].Value); err != nil || m.Version != 0 {
			t.Fatalf("marker value %+v: %v", m, err)
		}
	}
}
