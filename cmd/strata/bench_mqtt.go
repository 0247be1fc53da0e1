package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/spf13/cobra"

	"strata/frontends/mqtt"
)

// mqttBenchConfig is one `strata bench mqtt` run.
type mqttBenchConfig struct {
	addr        string // a running Strata's MQTT listener; empty: start one
	inProcess   bool   // start Strata's broker in this process instead of a child
	duration    time.Duration
	latDuration time.Duration
	rate        int // deliveries/s of the latency phase, all clients together
	clients     int
	inflight    int // QoS 1 publishes in flight per publisher
	payloads    []int
	qos         []int
	workloads   []string
	mosquitto   string // the broker binary
	noMosquitto bool
	maxQueued   int   // session queue bound, the same for both brokers
	conns       []int // idle connection counts of the memory measurement
	exe         string
}

// Workloads of `strata bench mqtt`.
const (
	wlFanIn  = "fan-in"
	wlFanOut = "fan-out"
	wlP2P    = "p2p"
)

// newBenchMQTTCommands are `strata bench mqtt` and its two hidden helper
// processes.
func newBenchMQTTCommands() []*cobra.Command {
	return []*cobra.Command{newBenchMQTTCommand(), newBenchMQTTBrokerCommand(), newBenchMQTTConnsCommand()}
}

func newBenchMQTTCommand() *cobra.Command {
	var c mqttBenchConfig
	cmd := &cobra.Command{
		Use:   "mqtt",
		Short: "MQTT throughput, latency and memory per connection (paho.golang, MQTT 5.0), next to Mosquitto",
		Long: `Runs each workload at each QoS and payload size against Strata's MQTT broker and against
Mosquitto (/usr/sbin/mosquitto, Debian package mosquitto, started on another loopback port with a
generated config), with paho.golang (MQTT 5.0) clients:

  fan-in   --clients publishers, one topic each, one subscriber on <prefix>/#
  fan-out  one publisher, one topic, --clients subscribers
  p2p      --clients pairs, one topic per pair

Messages/s is what subscribers received during a --duration run with every publisher going as fast
as it can (QoS 1: --inflight publishes in flight per publisher); loss is 1 - received/expected.
Latency (p50/p99, publish to delivery, a timestamp in the payload) is measured after that at a steady
--rate deliveries/s, all subscribers together, for --latency-duration.

Then memory per idle connection: a fresh broker process of each, --conns idle connections held by
helper processes (this binary again), RSS delta (/proc/PID/status VmRSS) / connections.

Without --addr, Strata's broker runs as a child process (strata bench mqtt-broker), like Mosquitto,
so neither shares a runtime with the clients; --in-process runs it in this process instead. Either
way it is built as strata serve builds it, with its durable session store on a temp dir. Both
brokers get the same queue bound (--max-queued: Strata's MaxQueuedMessages and OutboundQueue,
Mosquitto's max_queued_messages) and outbound window (64: Strata's MaxInflight default, Mosquitto's
max_inflight_messages).`,
		Example: "  strata bench mqtt --duration 5s\n  strata bench mqtt --workloads fan-out --qos 1 --payloads 64 --conns 0\n" +
			"  strata bench mqtt --addr 127.0.0.1:1883 --no-mosquitto --conns 0",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.validate(); err != nil {
				return err
			}
			if c.exe == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench mqtt: %w", err)
				}
				c.exe = exe
			}
			return runMQTTBench(cmd.Context(), c, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.addr, "addr", "", "MQTT TCP address of a running Strata (empty: start one; no memory figures for Strata then)")
	f.BoolVar(&c.inProcess, "in-process", false, "run Strata's broker in this process rather than a child process")
	f.DurationVar(&c.duration, "duration", 5*time.Second, "length of each throughput run")
	f.DurationVar(&c.latDuration, "latency-duration", 2*time.Second, "length of each steady-rate latency run")
	f.IntVar(&c.rate, "rate", 2000, "deliveries/s of the latency runs, all subscribers together")
	f.IntVar(&c.clients, "clients", 16, "publishers (fan-in), subscribers (fan-out) or pairs (p2p)")
	f.IntVar(&c.inflight, "inflight", 16, "QoS 1 publishes in flight per publisher")
	f.IntSliceVar(&c.payloads, "payloads", []int{64, 1024}, "payload sizes in bytes (at least 9: timestamp and phase)")
	f.IntSliceVar(&c.qos, "qos", []int{0, 1}, "QoS levels")
	f.StringSliceVar(&c.workloads, "workloads", []string{wlFanIn, wlFanOut, wlP2P}, "workloads: fan-in, fan-out, p2p")
	f.StringVar(&c.mosquitto, "mosquitto", "/usr/sbin/mosquitto", "the Mosquitto broker binary")
	f.BoolVar(&c.noMosquitto, "no-mosquitto", false, "measure Strata only")
	f.IntVar(&c.maxQueued, "max-queued", 100_000, "messages a client's queues may hold, both brokers")
	f.IntSliceVar(&c.conns, "conns", []int{10_000, 100_000}, "idle connection counts of the memory measurement (0: skip it)")
	return cmd
}

func (c *mqttBenchConfig) validate() error {
	switch {
	case c.duration <= 0 || c.latDuration <= 0 || c.rate < 1 || c.clients < 1 || c.inflight < 1 || c.maxQueued < 1:
		return errors.New("bench mqtt: --duration, --latency-duration, --rate, --clients, --inflight and --max-queued must be positive")
	case c.addr != "" && c.inProcess:
		return errors.New("bench mqtt: --addr and --in-process exclude each other")
	}
	for _, p := range c.payloads {
		if p < 9 || p > 1<<20 {
			return fmt.Errorf("bench mqtt: payload %d is outside [9, 1 MiB]", p)
		}
	}
	for _, q := range c.qos {
		if q != 0 && q != 1 {
			return fmt.Errorf("bench mqtt: QoS %d: want 0 or 1", q)
		}
	}
	for _, w := range c.workloads {
		if w != wlFanIn && w != wlFanOut && w != wlP2P {
			return fmt.Errorf("bench mqtt: workload %q: want fan-in, fan-out or p2p", w)
		}
	}
	c.conns = slices.DeleteFunc(slices.Clone(c.conns), func(n int) bool { return n <= 0 })
	slices.Sort(c.conns)
	return nil
}

// mqttTarget is one broker under test.
type mqttTarget struct {
	name string
	addr string
	pid  int // for VmRSS; 0 when not a child of this run
	stop func() error
}

func runMQTTBench(ctx context.Context, c mqttBenchConfig, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !c.noMosquitto {
		if _, err := os.Stat(c.mosquitto); err != nil {
			return fmt.Errorf("bench mqtt: %s not found: install Debian's mosquitto (apt-get install mosquitto, or scripts/test-deps.sh), or pass --no-mosquitto", c.mosquitto)
		}
	}
	fmt.Fprintf(out, "machine: %d CPUs, load average %s at start\n", runtime.NumCPU(), loadAvg())
	limitNote, connLimit := raiseNoFile(slices.Max(append([]int{0}, c.conns...)))

	strata, err := startStrataTarget(c)
	if err != nil {
		return err
	}
	targets := []mqttTarget{strata}
	if !c.noMosquitto {
		m, err := startMosquitto(c.mosquitto, c.maxQueued)
		if err != nil {
			strata.stop()
			return err
		}
		targets = append(targets, m)
	}
	for _, t := range targets {
		fmt.Fprintf(out, "%s: %s\n", t.name, t.addr)
	}
	fmt.Fprintf(out, "clients: paho.golang %s (MQTT 5.0), %d per workload; throughput runs %v (QoS 1: %d in flight per publisher); latency at %d deliveries/s for %v\n\n",
		pahoVersion(), c.clients, c.duration, c.inflight, c.rate, c.latDuration)

	header := fmt.Sprintf("%-18s %3s %7s | %11s %8s %9s %9s %6s", "workload", "qos", "payload", "strata msg/s", "cpu/pkt", "p50", "p99", "loss")
	if !c.noMosquitto {
		header += fmt.Sprintf(" | %11s %8s %9s %9s %6s | %8s %8s %8s", "mosq msg/s", "cpu/pkt", "p50", "p99", "loss", "msg/s x", "cpu x", "p99 x")
	}
	fmt.Fprintln(out, header)
	fmt.Fprintln(out, strings.Repeat("-", len(header)))
	row := 0
	var runErr error
rows:
	for _, w := range c.workloads {
		for _, q := range c.qos {
			for _, size := range c.payloads {
				row++
				var res []mqttResult
				for _, t := range targets {
					r, err := runMQTTWorkload(ctx, c, t.addr, mqttWorkload{kind: w, qos: byte(q), size: size,
						prefix: fmt.Sprintf("bench/%d/%d", os.Getpid(), row), pid: t.pid})
					if err != nil {
						runErr = fmt.Errorf("bench mqtt: %s %s qos %d %d B: %w", t.name, w, q, size, err)
						break rows
					}
					res = append(res, r)
				}
				label := w
				switch w {
				case wlFanIn:
					label = fmt.Sprintf("fan-in %d>1", c.clients)
				case wlFanOut:
					label = fmt.Sprintf("fan-out 1>%d", c.clients)
				case wlP2P:
					label = fmt.Sprintf("p2p %dx(1>1)", c.clients)
				}
				line := fmt.Sprintf("%-18s %3d %7s | %s", label, q, sizeLabel(size), res[0].cells())
				if len(res) > 1 {
					cpuX := "-"
					if res[0].cpuPerPacket() > 0 && res[1].cpuPerPacket() > 0 {
						cpuX = fmt.Sprintf("%.2fx", float64(res[0].cpuPerPacket())/float64(res[1].cpuPerPacket()))
					}
					line += fmt.Sprintf(" | %s | %7.2fx %8s %7.2fx", res[1].cells(), res[0].rate()/res[1].rate(), cpuX,
						float64(res[0].pct(0.99))/float64(max(res[1].pct(0.99), time.Microsecond)))
				}
				fmt.Fprintln(out, line)
			}
		}
	}
	for _, t := range targets {
		runErr = errors.Join(runErr, t.stop())
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintln(out, "\nmsg/s: messages subscribers received per second, every publisher flat out; cpu/pkt: the broker process's CPU time (user+system) in that run per PUBLISH packet it read or wrote")
	fmt.Fprintln(out, "p50/p99: publish to delivery at the steady rate; msg/s x: Strata's msg/s over Mosquitto's (above 1: Strata ahead); cpu x and p99 x: Strata's over Mosquitto's (below 1: Strata ahead)")
	fmt.Fprintln(out, "loss: QoS 0 messages a broker dropped (a full connection queue) or QoS 1 ones dropped from a full session queue")

	if len(c.conns) > 0 {
		fmt.Fprintf(out, "\nmemory per idle connection (MQTT 5.0 CONNECT, clean start, no keep alive, no subscriptions); %s\n", limitNote)
		if err := runMQTTMemory(ctx, c, connLimit, out); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nload average %s at the end\n", loadAvg())
	return nil
}

func sizeLabel(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1/5/15 min)"
}

func pahoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/eclipse/paho.golang" {
				return d.Version
			}
		}
	}
	return ""
}

// startStrataTarget starts (or names, with --addr) Strata's broker.
func startStrataTarget(c mqttBenchConfig) (mqttTarget, error) {
	switch {
	case c.addr != "":
		return mqttTarget{name: "strata (running)", addr: c.addr, stop: func() error { return nil }}, nil
	case c.inProcess:
		srv, closeSrv, err := startMQTTBenchServer(c.maxQueued)
		if err != nil {
			return mqttTarget{}, err
		}
		a, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			return mqttTarget{}, errors.Join(err, closeSrv())
		}
		return mqttTarget{name: "strata (in-process)", addr: a.String(), stop: closeSrv}, nil
	}
	return startStrataProcess(c.exe, c.maxQueued)
}

// startMQTTBenchServer builds Strata's MQTT broker as `strata serve`
// does (durable sessions and retained messages in <data>/mqtt, here a
// temp dir), with no $SYS and the bench's queue bound for both queues:
// the session's (QoS 1/2 past the window) and the connection's (QoS 0),
// as Mosquitto's max_queued_messages bounds both. The close function
// closes the server, then the store, and removes the dir.
func startMQTTBenchServer(maxQueued int) (*mqtt.Server, func() error, error) {
	dir, err := os.MkdirTemp("", "strata-bench-mqtt-")
	if err != nil {
		return nil, nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ms, err := mqtt.OpenPebbleStore(mqtt.PebbleStoreOptions{Dir: filepath.Join(dir, mqtt.StoreDirName), Logger: quiet})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	srv, err := mqtt.NewServer(mqtt.Options{Logger: quiet, MaxQueuedMessages: maxQueued, OutboundQueue: maxQueued,
		SysInterval: -1, Sessions: ms.Sessions(), Retained: ms.Retained()})
	if err != nil {
		return nil, nil, errors.Join(err, ms.Close(), os.RemoveAll(dir))
	}
	return srv, func() error { return errors.Join(srv.Close(), ms.Close(), os.RemoveAll(dir)) }, nil
}

// startStrataProcess runs `strata bench mqtt-broker` and reads its
// address; closing its stdin stops it.
func startStrataProcess(exe string, maxQueued int) (mqttTarget, error) {
	cmd := exec.Command(exe, "bench", "mqtt-broker", "--listen", "127.0.0.1:0", "--max-queued", strconv.Itoa(maxQueued))
	line, stop, err := startHelper(cmd, "listening ")
	if err != nil {
		return mqttTarget{}, fmt.Errorf("bench mqtt: strata broker process: %w", err)
	}
	return mqttTarget{name: "strata", addr: strings.TrimPrefix(line, "listening "), pid: cmd.Process.Pid, stop: stop}, nil
}

// startHelper starts cmd with a stdin pipe and waits for a stdout line
// starting with want (a line starting with "error " fails). stop closes
// stdin and waits for the process (killing it after 15 s).
func startHelper(cmd *exec.Cmd, want string) (string, func() error, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() error {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			return <-done
		}
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		l := lines.Text()
		if strings.HasPrefix(l, want) {
			go io.Copy(io.Discard, stdout)
			return l, stop, nil
		}
		if strings.HasPrefix(l, "error ") {
			stop()
			return "", nil, errors.New(strings.TrimPrefix(l, "error "))
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s ended before %q: %s", filepath.Base(cmd.Path), strings.TrimSpace(want), strings.TrimSpace(stderr.String()))
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startMosquitto runs Mosquitto on a free loopback port with a generated
// config: anonymous, no persistence, maxQueued queued messages and an
// outbound window of 64 (Strata's MaxInflight default).
func startMosquitto(bin string, maxQueued int) (mqttTarget, error) {
	dir, err := os.MkdirTemp("", "strata-bench-mosquitto-")
	if err != nil {
		return mqttTarget{}, err
	}
	port, err := loopbackPort()
	if err != nil {
		os.RemoveAll(dir)
		return mqttTarget{}, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf(`# generated by strata bench mqtt
listener %d 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages %d
max_inflight_messages %d
max_connections -1
log_dest stderr
log_type error
`, port, maxQueued, mqtt.DefaultMaxInflight)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		os.RemoveAll(dir)
		return mqttTarget{}, err
	}
	cmd := exec.Command(bin, "-c", conf)
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return mqttTarget{}, fmt.Errorf("bench mqtt: mosquitto: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		defer os.RemoveAll(dir)
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		return nil
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-exited:
			os.RemoveAll(dir)
			return mqttTarget{}, fmt.Errorf("bench mqtt: mosquitto exited (%v): %s", err, strings.TrimSpace(stderr.String()))
		default:
		}
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return mqttTarget{}, fmt.Errorf("bench mqtt: mosquitto did not listen on %s: %s", addr, strings.TrimSpace(stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	name := "mosquitto"
	if v, err := exec.Command(bin, "-h").CombinedOutput(); len(v) > 0 {
		_ = err // -h exits 3
		first, _, _ := strings.Cut(string(v), "\n")
		name = "mosquitto (" + strings.TrimSpace(first) + ")"
	}
	return mqttTarget{name: name, addr: addr, pid: cmd.Process.Pid, stop: stop}, nil
}

func loopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// mqttWorkload is one row: a workload, a QoS, a payload size, and the
// topic prefix that keeps it apart from the other rows.
type mqttWorkload struct {
	kind   string
	qos    byte
	size   int
	prefix string
	pid    int // the broker's process, for its CPU time; 0: not measured
}

// mqttResult is one row measured on one broker.
type mqttResult struct {
	sent      int64 // messages published in the throughput run
	expected  int64 // deliveries the throughput run should have made
	delivered int64
	took      time.Duration
	cpu       time.Duration   // the broker's CPU time in the throughput run; 0: not measured
	lat       []time.Duration // sorted
}

// cpuPerPacket is the broker's CPU time per PUBLISH packet it read or
// wrote in the throughput run (published + delivered): a broker that
// reads messages only to drop them pays for them too.
func (r mqttResult) cpuPerPacket() time.Duration {
	if r.cpu <= 0 || r.sent+r.delivered == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.sent+r.delivered)
}

func (r mqttResult) cpuCell() string {
	if d := r.cpuPerPacket(); d > 0 {
		return fmt.Sprintf("%.2fµs", float64(d.Nanoseconds())/1000)
	}
	return "-"
}

func (r mqttResult) rate() float64 { return float64(r.delivered) / r.took.Seconds() }

func (r mqttResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(p*float64(len(r.lat)-1))]
}

func (r mqttResult) cells() string {
	loss := 0.0
	if r.expected > 0 {
		loss = 100 * (1 - float64(r.delivered)/float64(r.expected))
	}
	return fmt.Sprintf("%11.0f %8s %9s %9s %5.1f%%", r.rate(), r.cpuCell(), roundDur(r.pct(0.50)), roundDur(r.pct(0.99)), loss)
}

// Payload layout: 8 bytes publish time (Unix ns, big endian), one byte
// phase, then filler.
const (
	phaseThroughput = 0
	phaseLatency    = 1
)

// benchSubscriber is one subscribing client and what it received.
type benchSubscriber struct {
	cl    *paho.Client
	count [2]atomic.Int64 // per phase
	last  atomic.Int64    // Unix ns of the last throughput-phase delivery
	lat   []time.Duration // latency phase; appended by paho's one router goroutine
	latMu sync.Mutex
}

func (s *benchSubscriber) onPublish(r paho.PublishReceived) (bool, error) {
	now := time.Now()
	p := r.Packet.Payload
	if len(p) < 9 {
		return true, nil
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
	phase := p[8] & 1
	if phase == phaseLatency {
		s.latMu.Lock()
		s.lat = append(s.lat, now.Sub(sent))
		s.latMu.Unlock()
	} else {
		s.last.Store(now.UnixNano())
	}
	s.count[phase].Add(1)
	return true, nil
}

// dialBench connects one paho.golang client (clean start).
func dialBench(ctx context.Context, addr, id string, recvMax uint16, keepAlive uint16, onPublish func(paho.PublishReceived) (bool, error), local net.Addr) (*paho.Client, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: local}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{Conn: nc, OnClientError: func(error) {}, PacketTimeout: 30 * time.Second}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onPublish}
	}
	cl := paho.NewClient(cfg)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cl.Connect(cctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &recvMax}}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	return cl, nil
}

// runMQTTWorkload runs one row against addr: the throughput run, then the
// latency run, on the same clients.
func runMQTTWorkload(ctx context.Context, c mqttBenchConfig, addr string, w mqttWorkload) (mqttResult, error) {
	n := c.clients
	var pubTopics, subFilters []string
	fanout := 1
	switch w.kind {
	case wlFanIn:
		for i := range n {
			pubTopics = append(pubTopics, fmt.Sprintf("%s/in/%d", w.prefix, i))
		}
		subFilters = []string{w.prefix + "/in/#"}
	case wlFanOut:
		pubTopics = []string{w.prefix + "/out"}
		for range n {
			subFilters = append(subFilters, w.prefix+"/out")
		}
		fanout = n
	case wlP2P:
		for i := range n {
			t := fmt.Sprintf("%s/p2p/%d", w.prefix, i)
			pubTopics, subFilters = append(pubTopics, t), append(subFilters, t)
		}
	}
	var clients []*paho.Client
	defer func() {
		for _, cl := range clients {
			cl.Disconnect(&paho.Disconnect{ReasonCode: 0})
		}
	}()
	subs := make([]*benchSubscriber, len(subFilters))
	for i, f := range subFilters {
		s := &benchSubscriber{}
		cl, err := dialBench(ctx, addr, fmt.Sprintf("%s-sub-%d", strings.ReplaceAll(w.prefix, "/", "-"), i), uint16(mqtt.DefaultMaxInflight), 60, s.onPublish, nil)
		if err != nil {
			return mqttResult{}, err
		}
		clients = append(clients, cl)
		s.cl = cl
		if _, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: f, QoS: w.qos}}}); err != nil {
			return mqttResult{}, fmt.Errorf("subscribe %s: %w", f, err)
		}
		subs[i] = s
	}
	pubs := make([]*paho.Client, len(pubTopics))
	for i := range pubTopics {
		cl, err := dialBench(ctx, addr, fmt.Sprintf("%s-pub-%d", strings.ReplaceAll(w.prefix, "/", "-"), i), 16, 60, nil, nil)
		if err != nil {
			return mqttResult{}, err
		}
		clients = append(clients, cl)
		pubs[i] = cl
	}
	delivered := func(phase int) int64 {
		var t int64
		for _, s := range subs {
			t += s.count[phase].Load()
		}
		return t
	}

	// Throughput: every publisher as fast as it goes until the deadline.
	writers := 1
	if w.qos == 1 {
		writers = c.inflight
	}
	var sent atomic.Int64
	errs := make(chan error, len(pubs)*writers)
	var wg sync.WaitGroup
	cpu0, cpuErr := procCPU(w.pid)
	start := time.Now()
	deadline := start.Add(c.duration)
	for i, cl := range pubs {
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := make([]byte, w.size)
				for {
					now := time.Now()
					if now.After(deadline) {
						return
					}
					binary.BigEndian.PutUint64(payload, uint64(now.UnixNano()))
					payload[8] = phaseThroughput
					if _, err := cl.Publish(ctx, &paho.Publish{Topic: pubTopics[i], QoS: w.qos, Payload: payload}); err != nil {
						errs <- fmt.Errorf("publish %s: %w", pubTopics[i], err)
						return
					}
					sent.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return mqttResult{}, err
	default:
	}
	expected := sent.Load() * int64(fanout)
	waitDeliveries(ctx, func() int64 { return delivered(phaseThroughput) }, expected, time.Second)
	var last int64
	for _, s := range subs {
		last = max(last, s.last.Load())
	}
	res := mqttResult{sent: sent.Load(), expected: expected, delivered: delivered(phaseThroughput), took: time.Unix(0, last).Sub(start)}
	if cpu1, err := procCPU(w.pid); err == nil && cpuErr == nil {
		res.cpu = cpu1 - cpu0
	}
	if res.delivered == 0 || res.took <= 0 {
		return mqttResult{}, errors.New("no message was delivered")
	}

	// Latency: a steady c.rate deliveries/s over all subscribers.
	perPub := float64(c.rate) / float64(fanout) / float64(len(pubs))
	each := max(1, int(perPub*c.latDuration.Seconds()))
	every := time.Duration(float64(time.Second) / perPub)
	var sentLat atomic.Int64
	for i, cl := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, w.size)
			tick := time.NewTicker(every)
			defer tick.Stop()
			for range each {
				<-tick.C
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				payload[8] = phaseLatency
				if _, err := cl.Publish(ctx, &paho.Publish{Topic: pubTopics[i], QoS: w.qos, Payload: payload}); err != nil {
					errs <- fmt.Errorf("publish %s: %w", pubTopics[i], err)
					return
				}
				sentLat.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return mqttResult{}, err
	default:
	}
	waitDeliveries(ctx, func() int64 { return delivered(phaseLatency) }, sentLat.Load()*int64(fanout), 2*time.Second)
	for _, s := range subs {
		s.latMu.Lock()
		res.lat = append(res.lat, s.lat...)
		s.latMu.Unlock()
	}
	slices.Sort(res.lat)
	return res, nil
}

// waitDeliveries waits until count reaches want, or it has not moved for
// stall (a broker dropped the rest), or 30 s.
func waitDeliveries(ctx context.Context, count func() int64, want int64, stall time.Duration) {
	prev, moved := int64(-1), time.Now()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end) && ctx.Err() == nil; {
		n := count()
		if n >= want {
			return
		}
		if n != prev {
			prev, moved = n, time.Now()
		} else if time.Since(moved) > stall {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// raiseNoFile lifts RLIMIT_NOFILE (inherited by the brokers and helpers
// this run starts) so that one process can hold want connections: to
// want plus headroom when this process may raise the hard limit (root),
// else to the hard limit. It returns a note for the report and the
// descriptors one process may now hold.
func raiseNoFile(want int) (string, int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "RLIMIT_NOFILE unknown: " + err.Error(), 1024
	}
	need := uint64(want) + 4096
	why := ""
	if lim.Max < need {
		raised := syscall.Rlimit{Cur: need, Max: need}
		err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised)
		if err == nil {
			return fmt.Sprintf("RLIMIT_NOFILE raised to %d (the hard limit was %d)", need, lim.Max), int(need)
		}
		why = fmt.Sprintf(" (raising it: %v; it takes CAP_SYS_RESOURCE)", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < need {
		return fmt.Sprintf("RLIMIT_NOFILE hard limit %d%s is too low for %d connections in one broker process: a count stops where the broker runs out of descriptors", lim.Max, why, want), int(lim.Cur)
	}
	return fmt.Sprintf("RLIMIT_NOFILE %d", lim.Cur), int(lim.Cur)
}

// connsPerHelper is the most idle connections one helper process holds:
// each helper dials from its own 127.0.0.x source address, which keeps
// it inside one address's ephemeral port range (28,232 on Linux).
const connsPerHelper = 16_000

// memPoint is one memory figure.
type memPoint struct {
	want, got int
	base, rss int64 // bytes
	note      string
}

func (p memPoint) perConn() float64 {
	if p.got == 0 {
		return 0
	}
	return float64(p.rss-p.base) / float64(p.got)
}

// runMQTTMemory measures RSS per idle connection on a fresh broker
// process of each kind.
func runMQTTMemory(ctx context.Context, c mqttBenchConfig, fdLimit int, out io.Writer) error {
	type column struct {
		name   string
		points []memPoint
	}
	var cols []column
	if c.addr == "" {
		t, err := startStrataProcess(c.exe, c.maxQueued)
		if err != nil {
			return err
		}
		pts, err := idleConnMemory(ctx, c, t, fdLimit, 1)
		err = errors.Join(err, t.stop())
		if err != nil {
			return fmt.Errorf("bench mqtt: strata memory: %w", err)
		}
		cols = append(cols, column{"strata", pts})
	}
	if !c.noMosquitto {
		t, err := startMosquitto(c.mosquitto, c.maxQueued)
		if err != nil {
			return err
		}
		pts, err := idleConnMemory(ctx, c, t, fdLimit, 2)
		err = errors.Join(err, t.stop())
		if err != nil {
			return fmt.Errorf("bench mqtt: mosquitto memory: %w", err)
		}
		cols = append(cols, column{"mosquitto", pts})
	}
	if len(cols) == 0 {
		fmt.Fprintln(out, "(no broker process of this run to measure: --addr with --no-mosquitto)")
		return nil
	}
	head := fmt.Sprintf("%-12s", "connections")
	for _, col := range cols {
		head += fmt.Sprintf(" | %-9s %9s %10s %9s", col.name, "held", "RSS", "per conn")
	}
	if len(cols) == 2 {
		head += " | strata is"
	}
	fmt.Fprintln(out, head)
	fmt.Fprintln(out, strings.Repeat("-", len(head)))
	var notes []string
	for i, want := range c.conns {
		line := fmt.Sprintf("%-12d", want)
		for _, col := range cols {
			if i >= len(col.points) {
				line += fmt.Sprintf(" | %-9s %9s %10s %9s", "", "-", "-", "-")
				continue
			}
			p := col.points[i]
			line += fmt.Sprintf(" | %-9s %9d %10s %9s", "", p.got, mib(p.rss), kib(p.perConn()))
			if p.note != "" {
				notes = append(notes, col.name+" at "+strconv.Itoa(want)+": "+p.note)
			}
		}
		if len(cols) == 2 && i < len(cols[0].points) && i < len(cols[1].points) && cols[1].points[i].perConn() > 0 {
			line += fmt.Sprintf(" | %.2fx", cols[0].points[i].perConn()/cols[1].points[i].perConn())
		}
		fmt.Fprintln(out, line)
	}
	for _, col := range cols {
		if len(col.points) > 0 {
			fmt.Fprintf(out, "%s baseline RSS (no connections): %s\n", col.name, mib(col.points[0].base))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintln(out, "per conn: (RSS with the connections - baseline RSS) / connections held; strata is: Strata's per-connection figure over Mosquitto's")
	return nil
}

func mib(b int64) string   { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

// idleConnMemory opens c.conns idle connections (in ascending steps) to
// t from helper processes and reads t's RSS at each step. Each helper
// dials from its own source address, 127.A.group.helper with A from this
// process's id, so that a run right after another does not meet the
// last one's TIME_WAIT ports.
func idleConnMemory(ctx context.Context, c mqttBenchConfig, t mqttTarget, fdLimit, group int) ([]memPoint, error) {
	base, err := vmRSS(t.pid)
	if err != nil {
		return nil, err
	}
	var stops []func() error
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	perHelper := min(connsPerHelper, fdLimit-256)
	have, helper := 0, 0
	var points []memPoint
	for _, want := range c.conns {
		p := memPoint{want: want, base: base}
		for have < want && p.note == "" {
			n := min(perHelper, want-have)
			helper++
			src := fmt.Sprintf("127.%d.%d.%d", 1+os.Getpid()%250, group, 1+helper%250)
			cmd := exec.Command(c.exe, "bench", "mqtt-conns", "--addr", t.addr, "--count", strconv.Itoa(n),
				"--source", src, "--prefix", fmt.Sprintf("idle-%d-%d-", os.Getpid(), helper))
			line, stop, err := startHelper(cmd, "connected ")
			if stop != nil {
				stops = append(stops, stop)
			}
			if err != nil {
				return points, err
			}
			f := strings.Fields(line) // connected N [error ...]
			got, _ := strconv.Atoi(f[1])
			have += got
			if got < n {
				p.note = fmt.Sprintf("stopped at %d connections: %s", have, strings.Join(f[2:], " "))
			}
			if ctx.Err() != nil {
				return points, ctx.Err()
			}
		}
		p.got = have
		// Let the broker settle (Go: the GC cycles the connects started).
		time.Sleep(2 * time.Second)
		if p.rss, err = vmRSS(t.pid); err != nil {
			return points, err
		}
		points = append(points, p)
		if p.note != "" {
			break
		}
	}
	return points, nil
}

// procCPU is pid's user+system CPU time from /proc/PID/stat (0 for pid
// 0). Linux counts it in USER_HZ ticks, 100 a second on every platform Go
// runs on.
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, errors.New("no process")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')') // the command name may hold spaces
	f := strings.Fields(string(b[i+1:]))       // state ppid ... utime(14) stime(15)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// vmRSS reads VmRSS of pid from /proc/PID/status, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v) // "12345 kB"
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// newBenchMQTTBrokerCommand is the hidden `strata bench mqtt-broker`:
// Strata's MQTT broker alone in a process, so that its RSS is its own.
// It prints "listening ADDR" and runs until its stdin closes.
func newBenchMQTTBrokerCommand() *cobra.Command {
	var listen, cpuProfile, heapProfile string
	var maxQueued int
	cmd := &cobra.Command{
		Use:    "mqtt-broker",
		Short:  "Strata's MQTT broker alone, for strata bench mqtt (runs until stdin closes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			srv, closeSrv, err := startMQTTBenchServer(maxQueued)
			if err != nil {
				return err
			}
			a, err := srv.Listen(listen)
			if err != nil {
				return errors.Join(err, closeSrv())
			}
			fmt.Fprintln(cmd.OutOrStdout(), "listening", a.String())
			io.Copy(io.Discard, cmd.InOrStdin())
			if heapProfile != "" { // before Close: the connections' memory
				runtime.GC() // the profile shows the heap as of the last GC
				f, err := os.Create(heapProfile)
				if err != nil {
					return errors.Join(err, closeSrv())
				}
				err = pprof.Lookup("heap").WriteTo(f, 0)
				if err = errors.Join(err, f.Close()); err != nil {
					return errors.Join(err, closeSrv())
				}
			}
			return closeSrv()
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:0", "TCP address")
	f.IntVar(&maxQueued, "max-queued", 100_000, "Options.MaxQueuedMessages and OutboundQueue")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the broker's whole run to this file")
	f.StringVar(&heapProfile, "memprofile", "", "write a heap profile to this file when stdin closes")
	return cmd
}

// newBenchMQTTConnsCommand is the hidden `strata bench mqtt-conns`: it
// holds --count idle paho.golang connections from --source, prints
// "connected N" (with "error ..." when it reached fewer), and keeps them
// until its stdin closes.
func newBenchMQTTConnsCommand() *cobra.Command {
	var addr, source, prefix string
	var count int
	cmd := &cobra.Command{
		Use:    "mqtt-conns",
		Short:  "Idle MQTT connections for strata bench mqtt (held until stdin closes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raiseNoFile(count)
			local := &net.TCPAddr{IP: net.ParseIP(source)}
			if local.IP == nil {
				return fmt.Errorf("bench mqtt-conns: --source %q is not an IP address", source)
			}
			clients := make([]*paho.Client, count)
			var (
				next     atomic.Int64
				mu       sync.Mutex
				firstErr error
				wg       sync.WaitGroup
			)
			ctx := context.Background()
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= count {
							return
						}
						mu.Lock()
						stop := firstErr != nil
						mu.Unlock()
						if stop {
							return
						}
						var cl *paho.Client
						var err error
						for try := range 3 { // a full accept queue refuses or times out a few
							if cl, err = dialBench(ctx, addr, prefix+strconv.Itoa(i), 1, 0, nil, local); err == nil {
								break
							}
							time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
						}
						if err != nil {
							mu.Lock()
							if firstErr == nil {
								firstErr = err
							}
							mu.Unlock()
							return
						}
						clients[i] = cl
					}
				}()
			}
			wg.Wait()
			got := 0
			for _, cl := range clients {
				if cl != nil {
					got++
				}
			}
			if firstErr != nil {
				fmt.Fprintln(cmd.OutOrStdout(), "connected", got, "error", firstErr)
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "connected", got)
			}
			io.Copy(io.Discard, cmd.InOrStdin())
			return nil // exiting closes every connection
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "", "broker TCP address")
	f.StringVar(&source, "source", "127.0.0.2", "local address to dial from")
	f.StringVar(&prefix, "prefix", "idle-", "client id prefix")
	f.IntVar(&count, "count", 1000, "connections")
	return cmd
}
