package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"strata/logstore"
)

// writeRolledTopics writes a pre-meta data directory (catalog.json) whose
// segment topics each have sealed segments, as a server that crashed before
// recording them in the manifest would leave them; it returns the count of
// sealed segments per topic.
func writeRolledTopics(t *testing.T, data string, topics ...string) map[string]int {
	t.Helper()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sealed := map[string]int{}
	for _, name := range topics {
		if _, err := st.CreateTopic(name, 1, map[string]string{logstore.KeySegmentBytes: "4096"}); err != nil {
			t.Fatal(err)
		}
		l, err := st.Partition(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			b, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: make([]byte, 1500)}}, logstore.CompressionNone)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(b); err != nil {
				t.Fatal(err)
			}
		}
		sealed[name] = l.Stats().Segments - 1
		if sealed[name] < 2 {
			t.Fatalf("%s: only %d sealed segments", name, sealed[name])
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return sealed
}

// TestServeManifestsAndGroups: `strata serve` records sealed segments in the
// manifest (the offloader and the start-up reconciliation agree, with no
// problem), removes the entries of segments retention deleted (a restart
// finds nothing to reconcile), and drops a deleted topic's manifests and
// group offsets; the group commands commit, list, describe and delete
// offsets, with the errors an operator sees.
func TestServeManifestsAndGroups(t *testing.T) {
	data := t.TempDir()
	sealed := writeRolledTopics(t, data, "keep", "drop")
	raft := raftAddrFor(t, data)
	start := func() *server {
		t.Helper()
		srv, err := spawnServer(t, data, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--raft-addr", raft, "--retention-check-interval", "100ms")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.waitReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	reconciled := regexp.MustCompile(`segment manifests reconciled.* partitions=(\d+) actions=(\d+) problems=(\d+)`)
	m := waitLog(t, srv, reconciled)
	if m[1] != "2" || m[3] != "0" {
		t.Fatalf("start-up reconciliation: %q\n%s", m, srv.log())
	}
	cwd := t.TempDir()
	cli := func(args ...string) cliResult {
		return runStrata(t, cwd, cleanEnv("STRATA_SERVER="+srv.url), args...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := cli(args...)
		if r.code != 0 {
			t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}

	// Groups: commit in one batch, list, describe.
	if out := ok("group", "commit", "billing", "--offset", "keep:0=5", "--offset", "drop:0=7", "--metadata", "m1"); out != "committed 2 offsets for group billing\n" {
		t.Fatalf("commit: %q", out)
	}
	ok("group", "commit", "audit", "--offset", "drop:0=1", "-o", "json")
	mustMatch(t, ok("group", "list"), `(?m)^GROUP\s+STATE\s+MEMBERS\s+OFFSETS$`, `(?m)^audit\s+Empty\s+0\s+1$`, `(?m)^billing\s+Empty\s+0\s+2$`)
	mustMatch(t, ok("group", "describe", "billing"), `(?m)^Group:\s+billing$`, `(?m)^State:\s+Empty$`,
		`(?m)^TOPIC\s+PARTITION\s+OFFSET\s+COMMITTED AT\s+METADATA$`, `(?m)^drop\s+0\s+7\s+\S+\s+m1$`, `(?m)^keep\s+0\s+5\s+\S+\s+m1$`)
	var g groupOffsetsJSON
	if err := json.Unmarshal([]byte(ok("group", "commit", "billing", "--offset", "keep:0=6", "-o", "json")), &commitOffsetsJSON{}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(ok("group", "describe", "billing", "-o", "json")), &g); err != nil || len(g.Offsets) != 2 ||
		g.Offsets[1].Topic != "keep" || g.Offsets[1].Offset != 6 || g.Offsets[1].Metadata != "" || g.Offsets[0].Offset != 7 {
		t.Fatalf("describe -o json: %+v %v", g, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "commit", "billing", "--offset", "nope:0=1"}, `unknown topic: "nope"`},
		{[]string{"group", "commit", "billing", "--offset", "keep:1=1"}, `topic "keep" has partitions 0..0, not 1`},
		{[]string{"group", "commit", "billing", "--offset", "keep:0"}, `--offset "keep:0": want topic:partition=offset`},
		{[]string{"group", "commit", "billing", "--offset", "keep:0=-1"}, `offset "-1" is not a non-negative integer`},
		{[]string{"group", "commit", "billing", "--offset", "keep:0=1", "--offset", "keep:0=2"}, "keep:0 is given twice"},
		{[]string{"group", "commit", "billing"}, "give at least one --offset"},
		{[]string{"group", "describe", "ghost"}, `unknown group: "ghost"`},
		{[]string{"group", "delete", "ghost"}, `unknown group: "ghost"`},
		{[]string{"group", "list", "-o", "yaml"}, `-o "yaml": want table or json`},
	} {
		if r := cli(tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("strata %s: exit %d, stderr %q; want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	if code, body := httpPost(t, srv.url+"/api/v1/groups/billing/offsets", `{"offsets":[]}`); code != http.StatusBadRequest || !strings.Contains(body, "at least one") {
		t.Errorf("empty commit: %d %s", code, body)
	}

	// Deleting a topic drops its manifests and every group's offsets for it.
	ok("topic", "delete", "drop")
	waitLog(t, srv, regexp.MustCompile(fmt.Sprintf(`segment manifests dropped.* segments=%d`, sealed["drop"])))
	waitLog(t, srv, regexp.MustCompile(`committed offsets dropped.* offsets=2`))
	if r := cli("group", "describe", "audit"); r.code != 1 || !strings.Contains(r.stderr, `unknown group: "audit"`) {
		t.Errorf("a group whose only offsets were for the deleted topic: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(ok("group", "describe", "billing", "-o", "json")), &g); err != nil || len(g.Offsets) != 1 || g.Offsets[0].Topic != "keep" {
		t.Fatalf("billing after the delete: %+v %v", g, err)
	}
	if out := ok("group", "delete", "billing"); out != "deleted group billing\n" {
		t.Fatalf("group delete: %q", out)
	}
	if out := ok("group", "list", "-o", "json"); !strings.Contains(out, `"groups": []`) {
		t.Fatalf("groups after the deletes: %s", out)
	}

	// Retention deletes keep's sealed segments; their entries leave the
	// manifest, so the next start has nothing to reconcile.
	ok("topic", "alter", "keep", "--config", "retention.bytes=1")
	waitLog(t, srv, regexp.MustCompile(`retention deleted segments.* topic=keep`))
	time.Sleep(200 * time.Millisecond) // the offloader's queue drains
	srv.stop(t)
	srv = start()
	defer srv.stop(t)
	m = waitLog(t, srv, reconciled)
	if m[1] != "1" || m[2] != "0" || m[3] != "0" {
		t.Fatalf("reconciliation after retention: %q\n%s", m, srv.log())
	}
}

// waitLog waits until the server's log matches re (its stderr reaches the
// test through a pipe, a little behind) and returns the submatches.
func waitLog(t *testing.T, srv *server, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(srv.log()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server log never matched %s:\n%s", re, srv.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
