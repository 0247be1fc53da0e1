//go:build !race

// The race detector allows 8128 live goroutines; these tests need more.

package mqtt

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestTenThousandConnections holds 10,000 concurrent MQTT connections in
// this test process, each subscribed to its own topic and to a shared
// one, and fans one message out to all of them. The client ends live in a
// helper process (this test binary again, TestScaleClientsHelper): both
// ends in one process would need 20,000 descriptors, this machine's hard
// limit.
func TestTenThousandConnections(t *testing.T) {
	const n = 10000
	b := newBroker(t, Options{SysInterval: -1})
	before := memInUse()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScaleClientsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "STRATA_MQTT_SCALE_ADDR="+b.tcp, "STRATA_MQTT_SCALE_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("helper ended before %q: %v", prefix, lines.Err())
		return ""
	}
	t.Log(expect("subscribed"), "after", time.Since(start))
	t.Logf("broker memory per idle connection (heap and stacks in use, two subscriptions each): %d bytes", (memInUse()-before)/n)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	t.Logf("process: heap in use %d MiB, goroutine stacks %d MiB, %d goroutines", m.HeapInuse>>20, m.StackInuse>>20, runtime.NumGoroutine())
	if st := b.srv.Stats(); st.Connected != n || st.Subscriptions != 2*n {
		t.Fatalf("stats: %+v", st)
	}
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "fan", CleanStart: true}, nil)
	start = time.Now()
	pub.pub(t, &paho.Publish{Topic: "all", QoS: 1, Payload: []byte("to everyone")})
	pub.pub(t, &paho.Publish{Topic: "dev/dev-4321", QoS: 1, Payload: []byte("to one")})
	if l := expect("received"); l != fmt.Sprintf("received %d", n+1) {
		t.Fatal(l)
	}
	t.Logf("fan-out to %d connections in %v", n, time.Since(start))
	go io.Copy(io.Discard, stdout)
}

// memInUse is the heap and goroutine stacks in use after a GC.
func memInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// TestScaleClientsHelper is the client side of TestTenThousandConnections
// (a no-op unless that test starts it).
func TestScaleClientsHelper(t *testing.T) {
	addr := os.Getenv("STRATA_MQTT_SCALE_ADDR")
	if addr == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("STRATA_MQTT_SCALE_N"))
	conns := make([]*rawConn, n)
	var wg sync.WaitGroup
	work := make(chan int)
	var failed sync.Once
	fail := func(err error) { failed.Do(func() { fmt.Println("error", err); os.Exit(1) }) }
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					fail(err)
				}
				r := &rawConn{Conn: nc, br: bufio.NewReaderSize(nc, 512), v: 4}
				id := fmt.Sprintf("dev-%d", i)
				out := AppendPacket(nil, connectPacket(4, id, 0), 4)
				out = AppendPacket(out, &Subscribe{PacketID: 1, Subs: []Subscription{{Filter: "all", QoS: 1}, {Filter: "dev/" + id, QoS: 1}}}, 4)
				if _, err := nc.Write(out); err != nil {
					fail(err)
				}
				for range 2 { // CONNACK, SUBACK
					if _, err := ReadPacket(r.br, 4, 0); err != nil {
						fail(fmt.Errorf("%s: %w", id, err))
					}
				}
				conns[i] = r
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Println("subscribed", n)
	var got sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, r := range conns {
		got.Add(1)
		go func() {
			defer got.Done()
			for {
				p, err := ReadPacket(r.br, 4, 0)
				if err != nil {
					return
				}
				if m, ok := p.(*Publish); ok {
					r.Write(AppendPacket(nil, &Ack{Kind: PUBACK, PacketID: m.PacketID}, 4))
					mu.Lock()
					total++
					if total == n+1 {
						fmt.Println("received", total)
					}
					mu.Unlock()
				}
			}
		}()
	}
	io.Copy(io.Discard, os.Stdin) // until the test is done
	for _, r := range conns {
		r.Close()
	}
	got.Wait()
}
