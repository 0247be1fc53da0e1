package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMQTTSecurityCLI drives `strata serve` with anonymous MQTT clients
// refused, `strata user` and `strata mqtt acl`, and mosquitto_pub/sub as
// the clients: a wrong password is refused, the rules the CLI adds
// decide subscriptions (%u) and are listed and removed by the CLI, and
// the admin API checks what it is given.
func TestMQTTSecurityCLI(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Fatal("mosquitto_sub is not installed: run scripts/test-deps.sh (Debian: apt-get install mosquitto-clients)")
	}
	pub, _ := exec.LookPath("mosquitto_pub")
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mqttPort := fmt.Sprint(freePort(t))
	s, err := spawnServer(t, dir, httpAddr, "--raft-addr", raftAddrFor(t, dir), "--mqtt-addr", "127.0.0.1:"+mqttPort,
		"--mqtt-allow-anonymous", "false")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	cli := func(stdin string, args ...string) string {
		t.Helper()
		r := runStrataStdin(t, stdin, append(args, "--server", s.url)...)
		if r.code != 0 {
			t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	mosq := func(bin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"-h", "127.0.0.1", "-p", mqttPort}, args...)...).CombinedOutput()
		return string(out), err
	}
	cli("dev-pw\n", "user", "add", "dev7", "--password-stdin")
	if out := cli("", "mqtt", "acl", "add", "--allow", "--topic", "devices/%u/#"); !strings.Contains(out, "added rule 1") {
		t.Fatalf("acl add: %s", out)
	}
	cli("", "mqtt", "acl", "add", "--deny", "--action", "subscribe", "--topic", "#")
	if out := cli("", "mqtt", "acl", "list"); !strings.Contains(out, "devices/%u/#") || !strings.Contains(out, "deny") {
		t.Fatalf("acl list:\n%s", out)
	}

	if out, err := mosq(pub, "-V", "mqttv311", "-u", "dev7", "-P", "wrong", "-t", "devices/dev7/t", "-m", "x"); err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
		t.Fatalf("wrong password: %v %s", err, out)
	}
	if out, err := mosq(pub, "-V", "mqttv5", "-t", "devices/dev7/t", "-m", "x"); err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Fatalf("anonymous: %v %s", err, out)
	}
	// The rules reach the broker within its refresh interval: retry the
	// refused subscription until it is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := mosq(sub, "-V", "mqttv311", "-u", "dev7", "-P", "dev-pw", "-t", "other/#", "-C", "1", "-W", "2")
		if strings.Contains(out, "denied") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription to other/# not refused: %v %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := make(chan string, 1)
	go func() {
		out, _ := mosq(sub, "-V", "mqttv5", "-u", "dev7", "-P", "dev-pw", "-t", "devices/dev7/#", "-C", "1", "-W", "8")
		got <- out
	}()
	deadline = time.Now().Add(8 * time.Second)
	var out string
	for out == "" && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		if o, err := mosq(pub, "-V", "mqttv5", "-u", "dev7", "-P", "dev-pw", "-t", "devices/dev7/temp", "-m", "21.5"); err != nil {
			t.Fatalf("publish: %v %s", err, o)
		}
		select {
		case out = <-got:
		default:
		}
	}
	if !strings.Contains(out, "21.5") {
		t.Fatalf("mosquitto_sub on devices/dev7/# got %q", out)
	}

	if out := cli("", "mqtt", "acl", "remove", "2"); !strings.Contains(out, "removed rule 2") {
		t.Fatalf("acl remove: %s", out)
	}
	if r := runStrataStdin(t, "", "mqtt", "acl", "remove", "2", "--server", s.url); r.code == 0 || !strings.Contains(r.stderr, "no MQTT ACL rule 2") {
		t.Fatalf("removing a removed rule: %d %s", r.code, r.stderr)
	}
	if _, m := httpGet(t, s.url+"/metrics"); !strings.Contains(m, `strata_mqtt_auth_failures_total{reason="password"} 1`) ||
		!strings.Contains(m, `strata_mqtt_acl_denied_total{action="subscribe"}`) {
		t.Fatalf("/metrics lacks the MQTT security counters:\n%s", m)
	}
	checkAPICases(t, s.url, []apiCase{
		{"GET", "/api/v1/mqtt/acls", "", 200, "", `"topic": "devices/%u/#"`},
		{"POST", "/api/v1/mqtt/acls", `{"permission":"deny","topic":"a/#","ip":"10.0.0.0/8","position":1}`, 201, "", `"id": 3`},
		{"POST", "/api/v1/mqtt/acls", `{"permission":"deny","topic":"a/#","ip":"10.0.0.0/8"}`, 200, "", `"created": false`},
		{"POST", "/api/v1/mqtt/acls", `{"permission":"deny","topic":"a/#","ip":"10.0.0.0/99"}`, 400, codeBadRequest, `CIDR`},
		{"POST", "/api/v1/mqtt/acls", `{"permission":"maybe","topic":"a"}`, 400, codeBadRequest, `allow or deny`},
		{"POST", "/api/v1/mqtt/acls", `{"permission":"allow","topic":"a","position":9}`, 400, codeBadRequest, `position 9`},
		{"DELETE", "/api/v1/mqtt/acls/x", "", 400, codeBadRequest, `positive integer`},
		{"DELETE", "/api/v1/mqtt/acls/99", "", 404, codeUnknownRule, `99`},
	})
}
