package crashtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child describes the child run: the test to run (a name for -test.run)
// and the environment variables that tell it what to do.
type Child struct {
	Test string
	Env  []string
	// StartTimeout bounds the wait for the child's first line (its setup
	// can be slow under -race on a loaded machine). Default 60 s.
	StartTimeout time.Duration
}

// Kill starts the child, waits for its first line of output, lets it run
// for after, kills it with SIGKILL and returns its stdout lines. It fails
// the test when the child does not start writing, or when its stderr
// contains one of failMarks (the child's own failure before the kill).
func Kill(t testing.TB, c Child, after time.Duration, failMarks ...string) []string {
	t.Helper()
	if c.StartTimeout <= 0 {
		c.StartTimeout = 60 * time.Second
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+c.Test+"$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), c.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	lines := make(chan []string)
	go func() {
		var got []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if len(got) == 0 {
				close(started)
			}
			got = append(got, sc.Text())
		}
		if len(got) == 0 {
			close(started)
		}
		lines <- got
	}()
	select {
	case <-started:
	case <-time.After(c.StartTimeout):
		_ = cmd.Process.Kill()
		<-lines
		_ = cmd.Wait()
		t.Fatalf("%s: the child wrote nothing within %v:\n%s", c.Test, c.StartTimeout, stderr.String())
	}
	time.Sleep(after)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := <-lines
	_ = cmd.Wait()
	for _, mark := range append(failMarks, "FAIL") {
		if strings.Contains(stderr.String(), mark) {
			t.Fatalf("%s: the child failed before the kill:\n%s", c.Test, stderr.String())
		}
	}
	return got
}
