package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeEndToEnd runs `strata serve` and drives it with the real CLI:
// the topic lifecycle in JSON and table output, the errors an operator sees,
// /metrics, a SIGTERM shutdown, and a restart that keeps the topics.
func TestServeEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	env := cleanEnv("STRATA_SERVER=" + srv.url)
	cwd := t.TempDir()
	cli := func(args ...string) cliResult { return runStrata(t, cwd, env, args...) }
	ok := func(args ...string) string {
		t.Helper()
		r := cli(args...)
		if r.code != 0 {
			t.Fatalf("strata %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	fails := func(want string, args ...string) {
		t.Helper()
		r := cli(args...)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("strata %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
	decode := func(out string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
	}

	// Create, in both output formats.
	var orders topicJSON
	decode(ok("topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=3600000", "--config", "flush.ms=50", "-o", "json"), &orders)
	if orders.Name != "orders" || orders.Partitions != 3 || len(orders.PartitionStats) != 3 ||
		orders.Overrides["retention.ms"] != "3600000" || orders.Configs["storage.mode"] != "persistent" || len(orders.ID) != 36 {
		t.Fatalf("created topic: %+v", orders)
	}
	out := ok("topic", "create", "agent-7.inbox", "--config", "storage.engine=lite")
	mustMatch(t, out, `(?m)^Topic:\s+agent-7\.inbox$`, `(?m)^storage\.engine\s+lite\s+override$`, `(?m)^0\s+lite\s+0\s+0\s+0\s+0$`)
	ok("topic", "create", "scratch", "--config", "storage.mode=memory", "-p", "2")

	// List.
	mustMatch(t, ok("topic", "list"),
		`(?m)^NAME\s+PARTITIONS\s+MODE\s+ENGINE\s+BYTES$`,
		`(?m)^agent-7\.inbox\s+1\s+persistent\s+lite\s+0$`,
		`(?m)^orders\s+3\s+persistent\s+segment\s+0$`,
		`(?m)^scratch\s+2\s+memory\s+memory\s+0$`)
	var list topicListJSON
	decode(ok("topic", "list", "-o", "json"), &list)
	if len(list.Topics) != 3 || list.Topics[0].Name != "agent-7.inbox" || list.Topics[2].Name != "scratch" {
		t.Fatalf("topic list -o json: %+v", list)
	}

	// Describe.
	mustMatch(t, ok("topic", "describe", "orders"),
		`(?m)^Partitions:\s+3$`,
		`(?m)^retention\.ms\s+3600000\s+override$`,
		`(?m)^segment\.bytes\s+1073741824\s+default$`,
		`(?m)^PARTITION\s+ENGINE\s+START OFFSET\s+HIGH WATERMARK\s+BYTES\s+SEGMENTS$`,
		`(?m)^2\s+segment\s+0\s+0\s+0\s+\d+$`)

	// Alter: set, reset to default and grow in one command.
	orders = topicJSON{} // json.Unmarshal merges into maps it finds
	decode(ok("topic", "alter", "orders", "--config", "retention.ms=1000", "--delete-config", "flush.ms", "--partitions", "4", "-o", "json"), &orders)
	if orders.Partitions != 4 || orders.Configs["retention.ms"] != "1000" || orders.Configs["flush.ms"] != "0" || len(orders.Overrides) != 1 {
		t.Fatalf("altered topic: %+v", orders)
	}

	// Errors name the problem and exit 1.
	fails(`invalid topic name: "bad name" has the character ' '`, "topic", "create", "bad name")
	fails(`retention.ms="soon" is not an integer`, "topic", "create", "x", "--config", "retention.ms=soon")
	fails(`unknown key "retention.hours"`, "topic", "create", "x", "--config", "retention.hours=1")
	fails("storage.mode cannot change after creation", "topic", "alter", "orders", "--config", "storage.mode=memory")
	fails("the count can only grow", "topic", "alter", "orders", "--partitions", "2")
	fails(`topic already exists: "orders"`, "topic", "create", "orders")
	fails(`unknown topic: "nope"`, "topic", "describe", "nope")
	fails(`unknown topic: "nope"`, "topic", "delete", "nope")
	fails(`--config "retention.ms": want key=value`, "topic", "create", "x", "--config", "retention.ms")
	fails("nothing to alter", "topic", "alter", "orders")
	fails(`-o "yaml": want table or json`, "topic", "list", "-o", "yaml")
	fails("accepts 1 arg(s), received 0", "topic", "create")
	fails("invalid partition count: 0", "topic", "create", "x", "-p", "0")

	// Delete.
	if out := ok("topic", "delete", "agent-7.inbox"); out != "deleted topic agent-7.inbox\n" {
		t.Fatalf("topic delete: %q", out)
	}
	var deleted map[string]string
	decode(ok("topic", "delete", "scratch", "-o", "json"), &deleted)
	if deleted["deleted"] != "scratch" {
		t.Fatalf("topic delete -o json: %v", deleted)
	}

	// Health, readiness, metrics.
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		if code, body := httpGet(t, srv.url+path); code != http.StatusOK || body != want {
			t.Errorf("GET %s = %d %q", path, code, body)
		}
	}
	_, metrics := httpGet(t, srv.url+"/metrics")
	mustMatch(t, metrics,
		`(?m)^strata_topics 1$`,
		`(?m)^strata_partitions 4$`,
		`(?m)^strata_log_high_watermark\{engine="segment",partition="3",topic="orders"\} 0$`,
		`(?m)^strata_log_bytes\{engine="segment",partition="0",topic="orders"\} 0$`,
		`(?m)^strata_build_info\{`,
		`(?m)^strata_process_open_fds `,
		`(?m)^go_goroutines `)

	// A second server on the same data directory is refused.
	r := runStrata(t, cwd, cleanEnv(), "serve", "--data-dir", dataDir, "--http-addr=", "--kafka-addr=", "--mqtt-addr=",
		"--mqtt-tls-addr=", "--mqtt-ws-addr=", "--flight-addr=", "--raft-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if r.code != 1 || !strings.Contains(r.stderr, "is another strata using it?") {
		t.Errorf("second serve on one data dir: exit %d, stderr %q", r.code, r.stderr)
	}

	// SIGTERM: clean exit; a restart keeps the topics and their configs.
	srv.stop(t)
	srv = startServer(t, dataDir)
	env = cleanEnv("STRATA_SERVER=" + srv.url)
	list = topicListJSON{}
	decode(ok("topic", "list", "-o", "json"), &list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "orders" || list.Topics[0].Partitions != 4 || list.Topics[0].Configs["retention.ms"] != "1000" {
		t.Fatalf("after restart: %+v", list)
	}
	srv.stop(t)

	// With no server, the CLI says where it looked and what to do.
	r = runStrata(t, cwd, cleanEnv(), "topic", "list", "--server", srv.url)
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") || !strings.Contains(r.stderr, "strata serve") || !strings.Contains(r.stderr, srv.url) {
		t.Errorf("topic list with the server down: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := runStrata(t, t.TempDir(), cleanEnv(), "version")
	if r.code != 0 {
		t.Fatalf("strata version: exit %d: %s", r.code, r.stderr)
	}
	mustMatch(t, r.stdout, `(?m)^strata \S+$`, `(?m)^commit \S+$`, `(?m)^go1\.\d+`)
}

func mustMatch(t *testing.T, s string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(s) {
			t.Errorf("output does not match %s:\n%s", p, s)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
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

// TestServeKill9KeepsAcknowledgedTopics kills the server with SIGKILL while
// a client creates and deletes topics. After a restart every create that
// was acknowledged (201) is there unless its delete was acknowledged (204),
// and every deleted topic whose delete was acknowledged is gone.
func TestServeKill9KeepsAcknowledgedTopics(t *testing.T) {
	dataDir := t.TempDir()
	for round := range 3 {
		srv := startServer(t, dataDir)
		acked := map[string]bool{} // name -> exists, per acknowledged responses
		stop := make(chan struct{})
		done := make(chan struct{})
		firstAck := make(chan struct{}) // closed at the first acknowledged create
		var ackOnce sync.Once
		go func() {
			defer close(done)
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("r%d-t%d", round, i)
				body := fmt.Sprintf(`{"name":%q,"partitions":2}`, name)
				resp, err := client.Post(srv.url+"/api/v1/topics", "application/json", strings.NewReader(body))
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					ackOnce.Do(func() { close(firstAck) })
					acked[name] = true
				}
				if i%3 == 0 {
					req, _ := http.NewRequest(http.MethodDelete, srv.url+"/api/v1/topics/"+name, nil)
					resp, err := client.Do(req)
					if err != nil {
						// Killed mid-delete: the delete may or may not have
						// happened, so the topic's fate is unknown.
						delete(acked, name)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusNoContent {
						acked[name] = false
					}
				}
			}
		}()
		// Kill at a point that varies by round, after the first
		// acknowledged create (a loaded machine may take a while to get
		// there, and a kill before it would prove nothing).
		select {
		case <-firstAck:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no create was acknowledged within 30 s", round)
		}
		time.Sleep(time.Duration(50+100*round) * time.Millisecond)
		if err := srv.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-srv.exited
		close(stop)
		<-done

		srv = startServer(t, dataDir)
		code, body := httpGet(t, srv.url+"/api/v1/topics")
		if code != http.StatusOK {
			t.Fatalf("list after kill -9: %d %s", code, body)
		}
		var list topicListJSON
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		have := map[string]topicJSON{}
		for _, tp := range list.Topics {
			have[tp.Name] = tp
		}
		created := 0
		for name, exists := range acked {
			tp, ok := have[name]
			switch {
			case exists && !ok:
				t.Errorf("round %d: acknowledged topic %s is gone after kill -9", round, name)
			case !exists && ok:
				t.Errorf("round %d: topic %s came back after an acknowledged delete", round, name)
			case ok && (tp.Partitions != 2 || len(tp.PartitionStats) != 2):
				t.Errorf("round %d: topic %s reopened with %+v", round, name, tp)
			}
			if exists {
				created++
			}
		}
		t.Logf("round %d: %d acknowledged creates, %d topics after restart", round, created, len(list.Topics))
		if created == 0 {
			t.Errorf("round %d: no create was acknowledged before the kill; the test proved nothing", round)
		}
		srv.stop(t)
	}
}
