package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// strataBin is the binary built once for the tests that run it as a
// process, as an operator would.
var strataBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	strataBin = filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", strataBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building strata:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test process's environment without STRATA_* variables,
// plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// cliResult is what one run of the binary produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runStrata runs the binary to completion in dir with env.
func runStrata(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
		}
		res.code = ee.ExitCode()
	}
	return res
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// raftAddrs keeps one raft address per data directory: a meta node's raft
// address is part of its identity, so a restart must reuse it.
var raftAddrs sync.Map

func raftAddrFor(t *testing.T, dataDir string) string {
	t.Helper()
	a, _ := raftAddrs.LoadOrStore(dataDir, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	return a.(string)
}

// server is a `strata serve` child process.
type server struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr bytes.Buffer
	// exited is closed when the process has exited; waitErr is then set.
	exited  chan struct{}
	waitErr error
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.Write(p)
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// startServer starts `strata serve` on dataDir with only the HTTP and raft
// listeners (on free loopback ports; a single meta node) and waits until
// /readyz says 200. The port was
// free a moment before; if another process took it meanwhile, it retries.
func startServer(t *testing.T, dataDir string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := tryStartServer(t, dataDir)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

func tryStartServer(t *testing.T, dataDir string) (*server, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, err := spawnServer(t, dataDir, addr, "--raft-addr", raftAddrFor(t, dataDir))
	if err != nil {
		return nil, err
	}
	return s, s.waitReady(15 * time.Second)
}

// spawnServer starts `strata serve` on dataDir with the HTTP listener at
// httpAddr, no other client listener, and extra flags; it does not wait.
func spawnServer(t *testing.T, dataDir, httpAddr string, extra ...string) (*server, error) {
	s := &server{url: "http://" + httpAddr, exited: make(chan struct{})}
	args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", httpAddr,
		"--kafka-addr=", "--mqtt-addr=", "--mqtt-tls-addr=", "--mqtt-ws-addr=", "--flight-addr=",
		"--log-level", "debug"}, extra...)
	s.cmd = exec.Command(strataBin, args...)
	s.cmd.Dir = t.TempDir()
	s.cmd.Env = cleanEnv()
	s.cmd.Stderr = s
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	return s, nil
}

// waitReady polls /readyz until it says 200.
func (s *server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("strata serve exited before it was ready: %v\n%s", s.waitErr, s.log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("strata serve not ready after %v\n%s", timeout, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit (code 0).
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		if s.waitErr != nil {
			t.Fatalf("strata serve after SIGTERM: %v\n%s", s.waitErr, s.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("strata serve did not exit within 15s of SIGTERM\n%s", s.log())
	}
	for _, want := range []string{"shutting down", "strata stopped"} {
		if !strings.Contains(s.log(), want) {
			t.Errorf("server log lacks %q:\n%s", want, s.log())
		}
	}
}
