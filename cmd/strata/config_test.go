package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigPrecedence checks flag > STRATA_* env > strata.yaml > default
// through the binary's --print-config.
func TestConfigPrecedence(t *testing.T) {
	const file = "http-addr: 127.0.0.1:9001\nlog-level: debug\nkafka-addr: 127.0.0.1:9999\nretention-check-interval: 1m\n"
	for _, tc := range []struct {
		name  string
		file  string // ./strata.yaml, if not empty
		other string // ./other.yaml, if not empty
		env   []string
		args  []string
		want  []string // lines of the printed YAML
	}{
		{
			name: "defaults",
			want: []string{"data-dir: ./data", "http-addr: 127.0.0.1:8080", "kafka-addr: 127.0.0.1:9092", "mqtt-addr: 127.0.0.1:1883",
				"mqtt-tls-addr: 127.0.0.1:8883", "mqtt-ws-addr: 127.0.0.1:8083", "flight-addr: 127.0.0.1:8815", "raft-addr: 127.0.0.1:7100",
				"node-id: 1", `peers: ""`, "join: false", "retention-check-interval: 5m0s", "shutdown-timeout: 30s", "log-level: info", "log-format: text",
				"tier: file://data/objects", `tier-endpoint: ""`},
		},
		{
			name: "tier follows data-dir unless set",
			args: []string{"--data-dir", "/srv/strata"},
			want: []string{"data-dir: /srv/strata", "tier: file:///srv/strata/objects"},
		},
		{
			name: "s3 tier with an endpoint",
			env:  []string{"STRATA_TIER_ENDPOINT=http://127.0.0.1:9000"},
			args: []string{"--tier", "s3://bucket/strata"},
			want: []string{"tier: s3://bucket/strata", "tier-endpoint: http://127.0.0.1:9000"},
		},
		{
			name: "file over default",
			file: file,
			want: []string{"http-addr: 127.0.0.1:9001", "log-level: debug", "kafka-addr: 127.0.0.1:9999", "retention-check-interval: 1m0s", "log-format: text"},
		},
		{
			name: "env over file",
			file: file,
			env:  []string{"STRATA_HTTP_ADDR=127.0.0.1:9002", "STRATA_RETENTION_CHECK_INTERVAL=10s", "STRATA_LOG_FORMAT=json"},
			want: []string{"http-addr: 127.0.0.1:9002", "log-level: debug", "retention-check-interval: 10s", "log-format: json"},
		},
		{
			name: "flag over env",
			file: file,
			env:  []string{"STRATA_HTTP_ADDR=127.0.0.1:9002"},
			args: []string{"--http-addr", "127.0.0.1:9003", "--log-level", "warn"},
			want: []string{"http-addr: 127.0.0.1:9003", "log-level: warn", "kafka-addr: 127.0.0.1:9999"},
		},
		{
			name: "empty values disable listeners",
			file: file,
			env:  []string{"STRATA_KAFKA_ADDR="},
			args: []string{"--mqtt-addr="},
			want: []string{`kafka-addr: ""`, `mqtt-addr: ""`, "http-addr: 127.0.0.1:9001"},
		},
		{
			name:  "--config names another file",
			file:  file,
			other: "http-addr: 127.0.0.1:9004\n",
			args:  []string{"--config", "other.yaml"},
			want:  []string{"http-addr: 127.0.0.1:9004", "log-level: info"},
		},
		{
			name: "cluster keys",
			file: "node-id: 2\npeers: 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103\nraft-addr: 127.0.0.1:7102\n",
			want: []string{"node-id: 2", "peers: 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103", "raft-addr: 127.0.0.1:7102"},
		},
		{
			name: "join from env",
			env:  []string{"STRATA_JOIN=true", "STRATA_NODE_ID=4"},
			want: []string{"join: true", "node-id: 4"},
		},
		{
			name:  "STRATA_CONFIG names another file",
			other: "data-dir: /srv/strata\n",
			env:   []string{"STRATA_CONFIG=other.yaml"},
			want:  []string{"data-dir: /srv/strata"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeIf(t, filepath.Join(dir, "strata.yaml"), tc.file)
			writeIf(t, filepath.Join(dir, "other.yaml"), tc.other)
			r := runStrata(t, dir, cleanEnv(tc.env...), append([]string{"serve", "--print-config"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			for _, want := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == want
				}
				if !found {
					t.Errorf("--print-config lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// TestConfigErrors checks that a bad config stops serve with a message
// naming the key, before anything starts.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		args []string
		want string
	}{
		{name: "unknown file key", file: "htp-addr: :8080\n", want: "unknown key htp-addr"},
		{name: "file not yaml", file: "http-addr: [\n", want: "strata.yaml"},
		{name: "missing --config", args: []string{"--config", "nope.yaml"}, want: "nope.yaml"},
		{name: "bad duration in env", env: []string{"STRATA_RETENTION_CHECK_INTERVAL=soon"}, want: `retention-check-interval="soon" is not a duration`},
		{name: "bad duration in file", file: "shutdown-timeout: 0s\n", want: "shutdown-timeout=0s must be positive"},
		{name: "bad address", args: []string{"--kafka-addr", "9092"}, want: `kafka-addr="9092" is not host:port`},
		{name: "bad log level", env: []string{"STRATA_LOG_LEVEL=loud"}, want: `log-level="loud"`},
		{name: "bad log format", args: []string{"--log-format", "xml"}, want: `log-format="xml", want text or json`},
		{name: "empty raft address", args: []string{"--raft-addr="}, want: "raft-addr is empty: meta (Dragonboat) needs a raft listener"},
		{name: "node id 0", args: []string{"--node-id", "0"}, want: "node-id=0: node IDs start at 1"},
		{name: "node id not a number", env: []string{"STRATA_NODE_ID=one"}, want: `node-id=one is not a non-negative integer`},
		{name: "bad join", env: []string{"STRATA_JOIN=maybe"}, want: `join=maybe is not true or false`},
		{name: "bad peers", args: []string{"--peers", "1:127.0.0.1:7100"}, want: `is not ID=host:port`},
		{name: "peers without this node", args: []string{"--peers", "2=127.0.0.1:7102"}, want: "does not list this node (node-id=1)"},
		{name: "peers disagree with raft-addr", args: []string{"--peers", "1=127.0.0.1:7101"}, want: "gives node 1 the address 127.0.0.1:7101, but raft-addr is 127.0.0.1:7100"},
		{name: "join with peers", args: []string{"--join", "--peers", "1=127.0.0.1:7100"}, want: "join and peers are both set"},
		{name: "tier in memory", args: []string{"--tier", "mem://"}, want: `tier="mem://": an in-memory tier loses its objects`},
		{name: "bad tier scheme", args: []string{"--tier", "gs://bucket"}, want: `tier="gs://bucket"`},
		{name: "tier endpoint without s3", args: []string{"--tier-endpoint", "http://127.0.0.1:9000"}, want: "tier-endpoint=\"http://127.0.0.1:9000\" is set, but tier="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeIf(t, filepath.Join(dir, "strata.yaml"), tc.file)
			r := runStrata(t, dir, cleanEnv(tc.env...), append([]string{"serve", "--print-config"}, tc.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func writeIf(t *testing.T, path, content string) {
	t.Helper()
	if content == "" {
		return
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
