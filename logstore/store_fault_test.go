package logstore

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// storeScenario is a run of admin operations and appends over the segment,
// hybrid, memory and lite engines. Each step reports its error; the fault
// test runs it with one write failing at a time. An admin step that fails
// on the injected fault must leave the topic as it was, in memory and in
// the catalogue (later steps may fail because of it; they are not checked).
func storeScenario(t *testing.T, s *Store) []error {
	batch, _ := EncodeBatch([]Record{{Key: []byte("k"), Value: []byte("v")}}, 0)
	inCatalog := func(name string) (TopicMeta, bool) {
		metas, err := s.catalog.Load()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metas {
			if m.Name == name {
				return m, true
			}
		}
		return TopicMeta{}, false
	}
	appendTo := func(name string, p int32) error {
		l, err := s.Partition(name, p)
		if err != nil {
			return err
		}
		_, err = l.Append(append([]byte(nil), batch...))
		return err
	}
	create := func(name string, n int32, cfg map[string]string) error {
		_, err := s.CreateTopic(name, n, cfg)
		if errors.Is(err, errorfs.ErrInjected) {
			if _, terr := s.Topic(name); !errors.Is(terr, ErrUnknownTopic) {
				t.Errorf("failed create of %s (%v) left the topic visible: %v", name, err, terr)
			}
			if _, ok := inCatalog(name); ok {
				t.Errorf("failed create of %s (%v) left a catalogue entry", name, err)
			}
			dirs, _ := s.fs.List(s.topicsDir())
			for _, d := range dirs {
				if strings.HasPrefix(d, name+"-") {
					t.Errorf("failed create of %s (%v) left the directory %s", name, err, d)
				}
			}
		}
		return err
	}
	grow := func(name string, n int32) error {
		before, _ := s.Topic(name)
		_, err := s.CreatePartitions(name, n)
		if errors.Is(err, errorfs.ErrInjected) {
			after, _ := s.Topic(name)
			m, _ := inCatalog(name)
			if after.Partitions != before.Partitions || m.Partitions != before.Partitions {
				t.Errorf("failed CreatePartitions of %s (%v): %d partitions, catalogue %d; want %d", name, err, after.Partitions, m.Partitions, before.Partitions)
			}
		}
		return err
	}
	del := func(name string) error {
		err := s.DeleteTopic(name)
		if errors.Is(err, errorfs.ErrInjected) {
			if _, terr := s.Topic(name); terr != nil {
				t.Errorf("failed delete of %s (%v) left the topic unusable: %v", name, err, terr)
			}
			if _, ok := inCatalog(name); !ok {
				t.Errorf("failed delete of %s (%v) removed the catalogue entry", name, err)
			}
		}
		return err
	}
	alter := func(name string, set map[string]string) error {
		_, err := s.AlterTopicConfig(name, set, nil)
		return err
	}
	return []error{
		create("seg", 2, nil),
		appendTo("seg", 1),
		create("lite", 1, map[string]string{KeyStorageEngine: EngineLite}),
		appendTo("lite", 0),
		create("hyb", 1, map[string]string{KeyStorageMode: ModeHybrid}),
		appendTo("hyb", 0),
		create("mem", 1, map[string]string{KeyStorageMode: ModeMemory}),
		alter("seg", map[string]string{KeyRetentionMs: "60000"}),
		grow("seg", 3),
		appendTo("seg", 2),
		del("seg"),
		create("seg", 1, nil),
		del("lite"),
		del("hyb"),
		s.Sync(),
	}
}

// TestStoreFaultInjection fails the n-th write operation of the scenario,
// for every n. Each time the store must report the error and stay
// consistent, and a crash right after the failure (only synced data
// survives) must reopen cleanly with every partition readable.
//
// The lite engine's own files are left alone: pebble's reaction to I/O
// errors is pebble's, tested there; here the Store's steps are the subject.
func TestStoreFaultInjection(t *testing.T) {
	isWrite := func(op errorfs.Op) bool {
		return op.Kind.ReadOrWrite() == errorfs.OpIsWrite && !strings.Contains(op.Path, "/"+LiteDirName)
	}
	// Count the write operations of a clean run.
	var total atomic.Int64
	counting := errorfs.Wrap(vfs.NewCrashableMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if isWrite(op) {
			total.Add(1)
		}
		return nil
	}))
	s, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: counting, Logger: storeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	opened := total.Load()
	for i, err := range storeScenario(t, s) {
		if err != nil {
			t.Fatalf("clean run, step %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := total.Load()
	if n-opened < 20 {
		t.Fatalf("the scenario made only %d write operations; the test would prove little", n-opened)
	}

	var sawErrors atomic.Int64
	for fail := opened + 1; fail <= n; fail++ {
		t.Run(fmt.Sprint(fail), func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			var count atomic.Int64
			var failedOp atomic.Value
			fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if isWrite(op) && count.Add(1) == fail {
					failedOp.Store(op)
					return errorfs.ErrInjected
				}
				return nil
			}))
			s, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: fs, Logger: storeTestLogger()})
			if err != nil {
				t.Fatal(err)
			}
			var crashed *vfs.MemFS
			errs := storeScenario(t, s)
			for i, err := range errs {
				if err != nil && crashed == nil {
					sawErrors.Add(1)
					// Crash now: keep only what was synced.
					crashed = mem.CrashClone(vfs.CrashCloneCfg{})
					if !errors.Is(err, errorfs.ErrInjected) {
						t.Logf("step %d failed with %v (op %+v)", i, err, failedOp.Load())
					}
				}
			}
			checkStoreConsistent(t, s)
			_ = s.Close() // may report the injected error again

			// The same FS, now without faults, reopens consistent.
			s, err = OpenStore(StoreOptions{Dir: storeTestDir, FS: mem, Logger: storeTestLogger()})
			if err != nil {
				t.Fatalf("reopen after fault %v: %v", failedOp.Load(), err)
			}
			checkStoreConsistent(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if crashed == nil {
				return
			}
			s, err = OpenStore(StoreOptions{Dir: storeTestDir, FS: crashed, Logger: storeTestLogger()})
			if err != nil {
				t.Fatalf("reopen after a crash at fault %v: %v", failedOp.Load(), err)
			}
			checkStoreConsistent(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Most faults must surface as a step's error; the rest hit writes whose
	// failure is retried or absorbed (a stale-directory removal, a close).
	if got := sawErrors.Load(); got < (n-opened)/2 {
		t.Fatalf("only %d of %d injected faults surfaced as errors", got, n-opened)
	}
	t.Logf("%d write operations, %d faults surfaced as step errors", n-opened, sawErrors.Load())
}

// checkStoreConsistent requires every listed topic to have its partitions
// open and readable from the log start offset.
func checkStoreConsistent(t *testing.T, s *Store) {
	t.Helper()
	for _, info := range s.Topics() {
		if int(info.Partitions) != len(info.PartitionStats) {
			t.Errorf("topic %s: %d partitions but %d logs", info.Name, info.Partitions, len(info.PartitionStats))
		}
		for p := range info.Partitions {
			l, err := s.Partition(info.Name, p)
			if err != nil {
				t.Errorf("topic %s partition %d: %v", info.Name, p, err)
				continue
			}
			res, err := l.Read(l.LogStartOffset(), 1<<20)
			if err != nil {
				// A log whose writer failed may refuse reads; it must say so
				// with an error, not with wrong data.
				continue
			}
			data, err := res.Bytes()
			res.Close()
			if err != nil {
				continue
			}
			if err := SplitBatches(data, func(b []byte, _ BatchHeader) error {
				_, err := CheckBatch(b)
				return err
			}); err != nil {
				t.Errorf("topic %s partition %d: a read returned a bad batch: %v", info.Name, p, err)
			}
		}
	}
}
