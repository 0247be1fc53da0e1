package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// storeHarness drives a Store on an in-memory file system from the
// testdata/store scripts. Commands:
//
//	open | close | reopen
//	create name=N [partitions=P] [config=(k=v,...)]
//	alter name=N [set=(k=v,...)] [remove=(k,...)]
//	add-partitions name=N total=P
//	delete name=N
//	topics                      every topic, its config overrides and partitions
//	append name=N partition=P [records=R] [ts=MS]
//	read name=N partition=P offset=O
//	retention now=MS            run one retention pass at that clock
//	stray dir=D                 make <data>/topics/D with a junk segment file
//	ls                          the data directory and <data>/topics
//	catalog                     the catalogue as stored
type storeHarness struct {
	fs  vfs.FS
	s   *Store
	now atomic.Int64 // ms since the epoch
}

const storeTestDir = "/data"

func TestStoreDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/store", func(t *testing.T, path string) {
		h := &storeHarness{fs: vfs.NewMem()}
		h.now.Store(1_000_000)
		defer func() {
			if h.s != nil {
				_ = h.s.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := h.run(t, d)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

func (h *storeHarness) open() error {
	s, err := OpenStore(StoreOptions{
		Dir:    storeTestDir,
		FS:     h.fs,
		Now:    func() time.Time { return time.UnixMilli(h.now.Load()) },
		Logger: storeTestLogger(),
		// The scripts run retention by hand; keep the loop out of the way.
		RetentionCheckInterval: time.Hour,
	})
	if err != nil {
		return err
	}
	h.s = s
	return nil
}

func (h *storeHarness) run(t *testing.T, d *datadriven.TestData) (string, error) {
	name := argString(d, "name", "")
	switch d.Cmd {
	case "open":
		return "ok\n", h.open()
	case "close":
		err := h.s.Close()
		h.s = nil
		return "ok\n", err
	case "reopen":
		if err := h.s.Close(); err != nil {
			return "", err
		}
		h.s = nil
		return "ok\n", h.open()
	case "create":
		info, err := h.s.CreateTopic(name, int32(argInt(d, "partitions", 1)), argMap(d, "config"))
		if err != nil {
			return "", err
		}
		return formatTopicInfo(info), nil
	case "alter":
		var remove []string
		if d.HasArg("remove") {
			for _, a := range d.CmdArgs {
				if a.Key == "remove" {
					remove = a.Vals
				}
			}
		}
		info, err := h.s.AlterTopicConfig(name, argMap(d, "set"), remove)
		if err != nil {
			return "", err
		}
		return formatTopicInfo(info), nil
	case "add-partitions":
		info, err := h.s.CreatePartitions(name, int32(argInt(d, "total", 0)))
		if err != nil {
			return "", err
		}
		return formatTopicInfo(info), nil
	case "delete":
		return "ok\n", h.s.DeleteTopic(name)
	case "topics":
		var b strings.Builder
		for _, info := range h.s.Topics() {
			b.WriteString(formatTopicInfo(info))
		}
		if b.Len() == 0 {
			return "(none)\n", nil
		}
		return b.String(), nil
	case "append":
		l, err := h.s.Partition(name, int32(argInt(d, "partition", 0)))
		if err != nil {
			return "", err
		}
		n := argInt(d, "records", 1)
		ts := int64(argInt(d, "ts", int(h.now.Load())))
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Timestamp: ts, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		}
		batch, err := EncodeBatch(recs, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.Append(batch)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("offsets [%d,%d]\n", res.BaseOffset, res.LastOffset), nil
	case "read":
		l, err := h.s.Partition(name, int32(argInt(d, "partition", 0)))
		if err != nil {
			return "", err
		}
		res, err := l.Read(int64(argInt(d, "offset", 0)), 1<<20)
		if err != nil {
			return "", err
		}
		defer res.Close()
		data, err := res.Bytes()
		if err != nil {
			return "", err
		}
		var b strings.Builder
		err = SplitBatches(data, func(batch []byte, hdr BatchHeader) error {
			recs, err := DecodeRecords(batch)
			if err != nil {
				return err
			}
			for _, r := range recs {
				fmt.Fprintf(&b, "%d %s=%s\n", r.Offset, r.Key, r.Value)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "next=%d hw=%d lso=%d\n", res.NextOffset, res.HighWatermark, res.LogStartOffset)
		return b.String(), nil
	case "retention":
		h.now.Store(int64(argInt(d, "now", int(h.now.Load()))))
		return "ok\n", h.s.RunRetention()
	case "stray":
		// A partition directory the catalogue does not know, with junk in it.
		dir := h.fs.PathJoin(storeTestDir, TopicsDirName, argString(d, "dir", ""))
		if err := h.fs.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		return "ok\n", storeWriteFileAtomic(h.fs, h.fs.PathJoin(dir, SegmentFileName(0, ".log")), []byte("not a segment"))
	case "ls":
		var b strings.Builder
		h.ls(&b, storeTestDir, "")
		return b.String(), nil
	case "catalog":
		data, err := storeReadFile(h.fs, h.fs.PathJoin(storeTestDir, CatalogFileName))
		if err != nil {
			return "", err
		}
		cf, err := decodeCatalog(data)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "next_seq=%d\n", cf.NextSeq)
		for _, tm := range cf.Topics {
			fmt.Fprintf(&b, "%s seq=%d partitions=%d configs=%s\n", tm.Name, tm.Seq, tm.Partitions, formatMap(tm.Configs))
		}
		return b.String(), nil
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
		return "", nil
	}
}

func (h *storeHarness) ls(b *strings.Builder, dir, indent string) {
	names, err := h.fs.List(dir)
	if err != nil {
		fmt.Fprintf(b, "%serror: %v\n", indent, err)
		return
	}
	slices.Sort(names)
	for _, n := range names {
		p := h.fs.PathJoin(dir, n)
		fi, err := h.fs.Stat(p)
		if err != nil {
			fmt.Fprintf(b, "%s%s: %v\n", indent, n, err)
			continue
		}
		if !fi.IsDir() {
			fmt.Fprintf(b, "%s%s\n", indent, n)
			continue
		}
		fmt.Fprintf(b, "%s%s/\n", indent, n)
		// Partition directories and pebble hold the engines' own files,
		// which their tests pin down.
		if dir == storeTestDir && n != LiteDirName {
			h.ls(b, p, indent+"  ")
		}
	}
}

func formatTopicInfo(info TopicInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: partitions=%d %s/%s overrides=%s\n", info.Name, info.Partitions, info.Config.Mode, info.Config.Engine, formatMap(info.Overrides))
	for p, st := range info.PartitionStats {
		fmt.Fprintf(&b, "  %d: %s lso=%d hw=%d\n", p, st.Engine, st.LogStartOffset, st.HighWatermark)
	}
	return b.String()
}

func formatMap(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func argString(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return def
}

func argInt(d *datadriven.TestData, key string, def int) int {
	s := argString(d, key, "")
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("%s: %s=%q is not an integer", d.Pos, key, s))
	}
	return v
}

// argMap reads key=(k1=v1,k2=v2) into a map; nil when absent.
func argMap(d *datadriven.TestData, key string) map[string]string {
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		m := map[string]string{}
		for _, kv := range a.Vals {
			k, v, _ := strings.Cut(kv, "=")
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		return m
	}
	return nil
}

func TestStoreOptions(t *testing.T) {
	var o StoreOptions
	if err := o.Validate(); err == nil {
		t.Fatal("empty Dir accepted")
	}
	o = StoreOptions{Dir: "d", RetentionCheckInterval: -time.Second}
	if err := o.Validate(); err == nil {
		t.Fatal("negative interval accepted")
	}
	o = StoreOptions{Dir: "d"}
	o.EnsureDefaults()
	if o.FS == nil || o.Offloader == nil || o.Logger == nil || o.Now == nil || o.RetentionCheckInterval != DefaultRetentionCheckInterval {
		t.Fatalf("EnsureDefaults left zero fields: %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreLocksDataDir(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(StoreOptions{Dir: dir, Logger: storeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(StoreOptions{Dir: dir, Logger: storeTestLogger()}); err == nil || !strings.Contains(err.Error(), "another strata") {
		t.Fatalf("second OpenStore on one dir = %v, want a lock error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if _, err := s.Topic("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Topic after Close = %v, want ErrClosed", err)
	}
	s, err = OpenStore(StoreOptions{Dir: dir, Logger: storeTestLogger()})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	s.Close()
}

// A bad catalogue stops the store from opening rather than losing topics.
func TestStoreRefusesCorruptCatalog(t *testing.T) {
	fs := vfs.NewMem()
	if err := fs.MkdirAll(storeTestDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := storeWriteFileAtomic(fs, fs.PathJoin(storeTestDir, CatalogFileName), []byte(`{"magic":"strata-catalog","version":7}`)); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: fs, Logger: storeTestLogger()})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenStore on a corrupt catalogue = %v, want ErrCorrupt", err)
	}
	// The lock was released: a fixed catalogue opens.
	if err := fs.Remove(fs.PathJoin(storeTestDir, CatalogFileName)); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: fs, Logger: storeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestStoreRetentionLoop(t *testing.T) {
	var now atomic.Int64
	now.Store(10_000_000)
	s, err := OpenStore(StoreOptions{
		Dir: storeTestDir, FS: vfs.NewMem(), Logger: storeTestLogger(),
		Now:                    func() time.Time { return time.UnixMilli(now.Load()) },
		RetentionCheckInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTopic("m", 1, map[string]string{KeyStorageMode: ModeMemory, KeyRetentionMs: "1000"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Partition("m", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		batch, _ := EncodeBatch([]Record{{Timestamp: now.Load() + int64(i), Value: []byte("x")}}, 0)
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	now.Add(60_000) // every batch is now past retention.ms
	deadline := time.Now().Add(10 * time.Second)
	for l.LogStartOffset() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the retention loop never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: vfs.NewMem(), Logger: storeTestLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic("a", 2, map[string]string{KeyStorageMode: ModeMemory}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic("b", 3, map[string]string{KeyStorageEngine: EngineLite}); err != nil {
		t.Fatal(err)
	}
	l, _ := s.Partition("a", 1)
	batch, _ := EncodeBatch([]Record{{Value: []byte("x")}, {Value: []byte("y")}}, 0)
	if _, err := l.Append(batch); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(99, 100); err == nil {
		t.Fatal("read past HW succeeded")
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"strata_topics", nil, 2},
		{"strata_partitions", nil, 5},
		{"strata_engine_partitions", map[string]string{"engine": "lite"}, 3},
		{"strata_engine_partitions", map[string]string{"engine": "memory"}, 2},
		{"strata_engine_log_bytes", map[string]string{"engine": "memory"}, float64(len(batch))},
		{"strata_log_high_watermark", map[string]string{"topic": "a", "partition": "0", "engine": "memory"}, 0},
		{"strata_log_high_watermark", map[string]string{"topic": "a", "partition": "1", "engine": "memory"}, 2},
		{"strata_log_append_records_total", nil, 2},
		{"strata_log_append_batches_total", nil, 1},
		{"strata_log_read_errors_total", nil, 1},
	} {
		got, ok := gatherValue(t, reg, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Lite partitions are only in the per-engine totals.
	if _, ok := gatherValue(t, reg, "strata_log_high_watermark", map[string]string{"topic": "b", "partition": "0", "engine": "lite"}); ok {
		t.Error("per-partition series exported for a lite partition")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close unregisters, so a new store can register on the same registry.
	s, err = OpenStore(StoreOptions{Dir: storeTestDir, FS: vfs.NewMem(), Logger: storeTestLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Admin changes race with readers and appenders; run with -race.
func TestStoreConcurrentAdminAndAppends(t *testing.T) {
	s, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: vfs.NewMem(), Logger: storeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTopic("steady", 2, map[string]string{KeyStorageMode: ModeMemory}); err != nil {
		t.Fatal(err)
	}
	batch, _ := EncodeBatch([]Record{{Value: []byte("x")}}, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := "steady"
				if w%2 == 1 {
					name = "churn"
				}
				l, err := s.Partition(name, int32(w%2))
				if err != nil {
					if name == "steady" {
						t.Errorf("Partition(steady): %v", err)
						return
					}
					continue
				}
				b := slices.Clone(batch)
				if _, err := l.Append(b); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("append to %s: %v", name, err)
					return
				}
				_ = s.Topics()
			}
		})
	}
	for i := range 30 {
		if _, err := s.CreateTopic("churn", 2, map[string]string{KeyStorageMode: ModeMemory}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AlterTopicConfig("churn", map[string]string{KeyRetentionMs: fmt.Sprint(1000 + i)}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTopic("churn"); err != nil {
			t.Fatal(err)
		}
	}
	// The admin loop may finish before the workers got going.
	steady, _ := s.Partition("steady", 0)
	for deadline := time.Now().Add(10 * time.Second); steady.HighWatermark() < 10 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if info, err := s.Topic("steady"); err != nil || info.PartitionStats[0].HighWatermark == 0 {
		t.Fatalf("steady topic: %+v, %v", info, err)
	}
}

func storeTestLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// gatherValue finds one sample by name and labels in a gather.
func gatherValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// A partition that cannot open stops OpenStore with an error naming it, and
// releases everything the other partitions opened.
func TestStoreOpenFailureNamesPartition(t *testing.T) {
	fs := vfs.NewMem()
	s, err := OpenStore(StoreOptions{Dir: storeTestDir, FS: fs, Logger: storeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := s.CreateTopic(name, 4, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bad := fs.PathJoin(storeTestDir, TopicsDirName, PartitionDirName("b", 2))
	if err := fs.RemoveAll(bad); err != nil {
		t.Fatal(err)
	}
	// A file where the partition directory belongs.
	if err := storeWriteFileAtomic(fs, bad, []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStore(StoreOptions{Dir: storeTestDir, FS: fs, Logger: storeTestLogger()})
	if err == nil || !strings.Contains(err.Error(), "b-2") {
		t.Fatalf("OpenStore with a broken partition = %v, want an error naming b-2", err)
	}
	if err := fs.Remove(bad); err != nil {
		t.Fatal(err)
	}
	s, err = OpenStore(StoreOptions{Dir: storeTestDir, FS: fs, Logger: storeTestLogger()})
	if err != nil {
		t.Fatalf("reopen after the repair: %v", err)
	}
	if got := len(s.Topics()); got != 3 {
		t.Fatalf("%d topics after reopen, want 3", got)
	}
	s.Close()
}
