package logtool

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"strata/logstore"
)

// TestToolsOnEngineOutput runs the tools over files the real Store and
// segment engine wrote, not hand-made fixtures: verify is clean, stats
// agrees with the engine's own offsets, dump shows the records.
func TestToolsOnEngineOutput(t *testing.T) {
	data := t.TempDir()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTopic("orders", 2, map[string]string{logstore.KeySegmentBytes: "4096"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTopic("inbox", 1, map[string]string{logstore.KeyStorageEngine: logstore.EngineLite}); err != nil {
		t.Fatal(err)
	}
	log, err := st.Partition("orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		b, err := logstore.EncodeBatch([]logstore.Record{
			{Timestamp: int64(1_700_000_000_000 + i), Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{'v'}, 100)},
			{Timestamp: int64(1_700_000_000_000 + i), Value: []byte(fmt.Sprintf("second-%d", i))},
		}, int8(i%5))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	engine := log.Stats()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if engine.Segments < 2 {
		t.Fatalf("want several segments with segment.bytes=4096, engine reports %+v", engine)
	}

	rep, err := Verify(data, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("verify on engine output: %v", err)
	}
	if rep.Partitions != 2 || rep.Batches != 60 || len(rep.Notes) != 0 {
		t.Fatalf("verify report %+v", rep)
	}

	stats, err := CollectStats(data, StatsOptions{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]PartitionStats{}
	for _, p := range stats.Partitions {
		byName[logstore.PartitionDirName(p.Topic, p.Partition)] = p
	}
	o0 := byName["orders-0"]
	if o0.NextOffset != engine.HighWatermark || o0.StartOffset != engine.LogStartOffset || o0.Segments != engine.Segments || o0.Engine != "segment" || o0.Mode != "persistent" {
		t.Fatalf("stats %+v disagree with the engine %+v", o0, engine)
	}
	if in := byName["inbox-0"]; in.Engine != "lite" || in.NextOffset != -1 {
		t.Fatalf("lite partition stats %+v", in)
	}
	if stats.LiteBytes == 0 {
		t.Fatal("lite database size is 0")
	}

	var out bytes.Buffer
	if err := Dump(filepath.Join(data, "topics", "orders-0"), DumpOptions{From: 117, To: 118}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`offset=117 timestamp=2023-11-14T22:13:20.058Z key=null`, `value(9)="second-58"`, `offset=118 timestamp=2023-11-14T22:13:20.059Z key="k59"`, "codec=lz4", "codec=zstd"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dump lacks %q:\n%s", want, out.String())
		}
	}
}
