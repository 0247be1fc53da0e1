package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runStrataStdin runs the binary with stdin.
func runStrataStdin(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = t.TempDir(), cleanEnv(), strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSecurityCLI drives `strata serve` with SASL required, `strata user`
// and `strata acl`, and kcat as the Kafka client: a user added by the CLI
// logs in with SCRAM, an ACL added by the CLI takes WRITE away, a removed
// user cannot log in, and no password shows up in any output or log.
func TestSecurityCLI(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: run scripts/test-deps.sh (Debian: apt-get install kcat)")
	}
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kafkaAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, err := spawnServer(t, dir, httpAddr, "--raft-addr", raftAddrFor(t, dir), "--kafka-addr", kafkaAddr,
		"--kafka-allow-anonymous", "false", "--kafka-super-users", "User:admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	const alicePW, adminPW = "s3cret-alice,=pw", "admin-pw-9"
	cli := func(stdin string, args ...string) cliResult {
		t.Helper()
		r := runStrataStdin(t, stdin, append(args, "--server", s.url)...)
		if r.code != 0 {
			t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	var outputs []string
	outputs = append(outputs, cli(alicePW+"\n", "user", "add", "alice", "--password-stdin", "--mechanism", "SCRAM-SHA-256").stdout)
	outputs = append(outputs, cli("", "user", "add", "admin", "--password", adminPW).stdout)
	list := cli("", "user", "list")
	outputs = append(outputs, list.stdout)
	if !strings.Contains(list.stdout, "alice") || !strings.Contains(list.stdout, "SCRAM-SHA-256 (8192 iterations)") || !strings.Contains(list.stdout, "admin") {
		t.Fatalf("user list:\n%s", list.stdout)
	}

	kcatRun := func(user, pass string, stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", kafkaAddr, "-X", "security.protocol=SASL_PLAINTEXT",
			"-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=" + user, "-X", "sasl.password=" + pass}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := kcatRun("alice", alicePW, "one\ntwo\n", "-P", "-t", "cli-orders"); err != nil {
		t.Fatalf("alice produce before any ACL: %v\n%s", err, out)
	}
	out, err := kcatRun("alice", alicePW, "", "-C", "-t", "cli-orders", "-o", "beginning", "-e", "-q")
	if err != nil || out != "one\ntwo\n" {
		t.Fatalf("alice consume: %v %q", err, out)
	}

	// READ only: produce is refused (TOPIC_AUTHORIZATION_FAILED) once the
	// broker's ACL snapshot (1s) has the binding.
	add := cli("", "acl", "add", "--allow-principal", "User:alice", "--operation", "read", "--topic", "cli-orders")
	if !strings.Contains(add.stdout, "added 1 ACLs") {
		t.Fatalf("acl add: %s", add.stdout)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := kcatRun("alice", alicePW, "three\n", "-P", "-t", "cli-orders")
		if err != nil && strings.Contains(out, "authoriz") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice still produces with READ only: %v\n%s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out, err := kcatRun("alice", alicePW, "", "-C", "-t", "cli-orders", "-o", "beginning", "-e", "-q"); err != nil || !strings.HasPrefix(out, "one\ntwo\n") {
		t.Fatalf("alice consume with READ: %v %q", err, out)
	}
	acls := cli("", "acl", "list", "--topic", "cli-orders", "--resource-pattern-type", "match")
	if !strings.Contains(acls.stdout, "User:alice") || !strings.Contains(acls.stdout, "read") {
		t.Fatalf("acl list:\n%s", acls.stdout)
	}
	if r := runStrataStdin(t, "", "acl", "remove", "--server", s.url); r.code == 0 {
		t.Fatal("acl remove without a filter succeeded")
	}
	rm := cli("", "acl", "remove", "--principal", "User:alice")
	if !strings.Contains(rm.stdout, "removed 1 ACLs") {
		t.Fatalf("acl remove: %s", rm.stdout)
	}

	// HTTP: the users route shows mechanisms, never secrets.
	resp, err := http.Get(s.url + "/api/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	outputs = append(outputs, string(body))
	if !strings.Contains(string(body), `"mechanism": "SCRAM-SHA-256"`) || strings.Contains(string(body), "stored_key") {
		t.Fatalf("GET /api/v1/users: %s", body)
	}

	outputs = append(outputs, cli("", "user", "remove", "alice").stdout)
	if out, err := kcatRun("alice", alicePW, "", "-L", "-m", "3"); err == nil {
		t.Fatalf("a removed user logged in:\n%s", out)
	}
	if r := runStrataStdin(t, "", "user", "remove", "alice", "--server", s.url); r.code == 0 || !strings.Contains(r.stderr, "unknown user") {
		t.Fatalf("removing a removed user: %d %s", r.code, r.stderr)
	}
	s.stop(t)
	outputs = append(outputs, s.log())
	for _, o := range outputs {
		for _, pw := range []string{alicePW, adminPW} {
			if strings.Contains(o, pw) {
				t.Fatalf("a password shows up in output or logs:\n%s", o)
			}
		}
	}
}
