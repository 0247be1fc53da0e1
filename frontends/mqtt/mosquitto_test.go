package mqtt

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mosquittoBin returns the path of a mosquitto command-line client; a
// missing one fails the test (never skips): scripts/test-deps.sh installs
// it.
func mosquittoBin(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package mosquitto-clients (apt-get install mosquitto-clients, or scripts/test-deps.sh)", name)
	}
	return p
}

// mosqArgs are the connection arguments for the broker's TCP or TLS
// listener. Debian's mosquitto clients (2.0.x, libmosquitto) have no
// WebSocket transport, so WebSocket is covered by the paho clients.
func (b *testBroker) mosqArgs(listener, version string) []string {
	a := []string{"-h", "127.0.0.1", "-V", version}
	switch listener {
	case "tcp":
		a = append(a, "-p", b.port(b.tcp))
	case "tls":
		a = append(a, "-p", b.port(b.tls), "--cafile", b.caFile)
	}
	return a
}

// mosqSub starts mosquitto_sub; wait returns its output.
func mosqSub(t *testing.T, args ...string) func() string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	cmd := exec.CommandContext(ctx, mosquittoBin(t, "mosquitto_sub"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() string {
		defer cancel()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("mosquitto_sub %v: %v\n%s%s", args, err, out.String(), errb.String())
		}
		return out.String()
	}
}

func mosqPub(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mosquittoBin(t, "mosquitto_pub"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

// waitSubscribed waits until the broker holds exactly n subscriptions
// (a client that just left may still hold one for a moment).
func (b *testBroker) waitSubscribed(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.srv.Stats().Subscriptions != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions, want %d", b.srv.Stats().Subscriptions, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMosquittoClients(t *testing.T) {
	b := newBroker(t, Options{RefuseSubscribe: []string{"test/nosubscribe"}})
	for _, listener := range []string{"tcp", "tls"} {
		for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
			t.Run(listener+"/"+v, func(t *testing.T) {
				topic := "mosq/" + listener + "/" + v
				for _, q := range []string{"0", "1", "2"} {
					b.waitSubscribed(t, 0)
					wait := mosqSub(t, append(b.mosqArgs(listener, v), "-t", topic, "-q", q, "-C", "1", "-v")...)
					b.waitSubscribed(t, 1)
					mosqPub(t, append(b.mosqArgs(listener, v), "-t", topic, "-q", q, "-m", "hello "+q)...)
					if got := wait(); got != topic+" hello "+q+"\n" {
						t.Fatalf("QoS %s: mosquitto_sub printed %q", q, got)
					}
				}
				// Retained: set, replace, read back, clear.
				mosqPub(t, append(b.mosqArgs(listener, v), "-t", topic+"/r", "-r", "-m", "a")...)
				mosqPub(t, append(b.mosqArgs(listener, v), "-t", topic+"/r", "-r", "-m", "b")...)
				if got := mosqSub(t, append(b.mosqArgs(listener, v), "-t", topic+"/r", "-C", "1", "--retained-only")...)(); got != "b\n" {
					t.Fatalf("retained: %q", got)
				}
				mosqPub(t, append(b.mosqArgs(listener, v), "-t", topic+"/r", "-r", "-n")...)
				// Cleared: nothing retained; mosquitto_sub -W 1 times out (status 27) with no output.
				out, _ := exec.Command(mosquittoBin(t, "mosquitto_sub"), append(b.mosqArgs(listener, v), "-t", topic+"/r", "--retained-only", "-W", "1")...).Output()
				if len(out) != 0 {
					t.Fatalf("cleared retained message still delivered: %q", out)
				}
			})
		}
	}
}

func TestMosquittoRefuseSubscribe(t *testing.T) {
	b := newBroker(t, Options{RefuseSubscribe: []string{"test/nosubscribe"}})
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, err := exec.CommandContext(ctx, mosquittoBin(t, "mosquitto_sub"), append(b.mosqArgs("tcp", v), "-t", "test/nosubscribe", "-C", "1")...).CombinedOutput()
		cancel()
		_ = err // mosquitto_sub 2.0.11 exits 0 after printing the denial
		if !strings.Contains(string(out), "All subscription requests were denied") {
			t.Fatalf("%s: refused subscription: err %v, output %q", v, err, out)
		}
	}
}

func TestMosquittoV5Properties(t *testing.T) {
	b := newBroker(t, Options{})
	wait := mosqSub(t, append(b.mosqArgs("tcp", "mqttv5"), "-t", "props", "-C", "1", "-F", "%t %p %C %R %P")...)
	b.waitSubscribed(t, 1)
	mosqPub(t, append(b.mosqArgs("tcp", "mqttv5"), "-t", "props", "-m", "x", "-D", "publish", "content-type", "text/plain",
		"-D", "publish", "response-topic", "back", "-D", "publish", "user-property", "k", "v")...)
	if got := wait(); got != "props x text/plain back k:v\n" {
		t.Fatalf("mosquitto_sub printed %q", got)
	}
}
