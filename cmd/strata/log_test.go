package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/logstore"
)

// TestLogToolsCLI runs `strata log verify|stats|dump` as an operator would,
// on a data directory the store wrote, and checks verify's exit codes.
func TestLogToolsCLI(t *testing.T) {
	data := t.TempDir()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTopic("events", 1, map[string]string{logstore.KeySegmentBytes: "8192"}); err != nil {
		t.Fatal(err)
	}
	l, err := st.Partition("events", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		b, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: int64(1_700_000_000_000 + i), Key: []byte(fmt.Sprint(i)), Value: []byte(strings.Repeat("x", 300))}}, logstore.CompressionNone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	env := cleanEnv()

	res := runStrata(t, data, env, "log", "verify", data)
	if res.code != 0 || !strings.Contains(res.stdout, "ok: 1 partitions") || !strings.Contains(res.stdout, "40 batches") {
		t.Fatalf("verify clean: code %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	res = runStrata(t, data, env, "log", "stats", "--json", data)
	var stats struct {
		Partitions []struct {
			Topic      string `json:"topic"`
			Segments   int    `json:"segments"`
			NextOffset int64  `json:"next_offset"`
		} `json:"partitions"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &stats) != nil || len(stats.Partitions) != 1 ||
		stats.Partitions[0].NextOffset != 40 || stats.Partitions[0].Segments < 2 {
		t.Fatalf("stats: code %d stdout %s stderr %s", res.code, res.stdout, res.stderr)
	}

	res = runStrata(t, data, env, "log", "dump", "--json", "--from", "39", filepath.Join(data, "topics", "events-0"))
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.code != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"key":"39"`) {
		t.Fatalf("dump --from 39: code %d stdout %s stderr %s", res.code, res.stdout, res.stderr)
	}

	// Damage one byte of the first segment's first record value.
	seg := filepath.Join(data, "topics", "events-0", logstore.SegmentFileName(0, logstore.SegmentExt))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[logstore.FileHeaderSize+logstore.BatchHeaderSize+20] ^= 0xff
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res = runStrata(t, data, env, "log", "verify", data)
	if res.code != 1 || !strings.Contains(res.stderr, seg) || !strings.Contains(res.stderr, "at byte 24") || !strings.Contains(res.stderr, "CRC32C") {
		t.Fatalf("verify corrupt: want exit 1 naming %s at byte 24, got code %d\nstdout: %s\nstderr: %s", seg, res.code, res.stdout, res.stderr)
	}

	res = runStrata(t, data, env, "log", "dump", filepath.Join(data, "nope"))
	if res.code != 1 || !strings.Contains(res.stderr, "nope") {
		t.Fatalf("dump of a missing dir: code %d stderr %s", res.code, res.stderr)
	}
}

// TestLogStatsFromServer: topic configs live in raft once a server has run,
// so `strata log stats --server` asks the running server for modes, engines
// and the offsets of partitions that have no files (lite).
func TestLogStatsFromServer(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	defer srv.stop(t)
	env := cleanEnv("STRATA_SERVER=" + srv.url)
	for _, args := range [][]string{
		{"topic", "create", "seg", "--partitions", "2"},
		{"topic", "create", "inbox", "--config", "storage.engine=lite"},
	} {
		if res := runStrata(t, data, env, args...); res.code != 0 {
			t.Fatalf("%v: %s", args, res.stderr)
		}
	}
	res := runStrata(t, data, env, "log", "stats", "--json", data)
	var stats struct {
		Partitions []struct {
			Topic      string `json:"topic"`
			Partition  int32  `json:"partition"`
			Mode       string `json:"mode"`
			Engine     string `json:"engine"`
			NextOffset int64  `json:"next_offset"`
		} `json:"partitions"`
	}
	if res.code != 0 {
		t.Fatalf("stats: %s", res.stderr)
	}
	if err := json.Unmarshal([]byte(res.stdout), &stats); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range stats.Partitions {
		got[fmt.Sprintf("%s-%d", p.Topic, p.Partition)] = fmt.Sprintf("%s/%s/%d", p.Mode, p.Engine, p.NextOffset)
	}
	want := map[string]string{"seg-0": "persistent/segment/0", "seg-1": "persistent/segment/0", "inbox-0": "persistent/lite/0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stats --server: got %v, want %v", got, want)
	}
	res = runStrata(t, data, cleanEnv("STRATA_SERVER=http://127.0.0.1:1"), "log", "stats", data)
	if res.code != 1 || !strings.Contains(res.stderr, "is `strata serve` running there?") {
		t.Fatalf("stats with an unreachable server: code %d stderr %s", res.code, res.stderr)
	}
}
