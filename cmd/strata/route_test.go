package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lookTool finds a command-line client the test drives, or fails the test
// with how to install it.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run scripts/test-deps.sh (Debian: apt-get install %s)", name, pkg)
	}
	return p
}

// runTool runs a client to completion (20 s at most) and returns its
// combined output.
func runTool(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startPipelineServer runs `strata serve` with the Kafka and MQTT
// listeners on free ports.
func startPipelineServer(t *testing.T) (s *server, kafkaAddr, mqttAddr string) {
	t.Helper()
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kafkaAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mqttAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, err := spawnServer(t, dir, httpAddr, "--raft-addr", raftAddrFor(t, dir), "--kafka-addr", kafkaAddr, "--mqtt-addr", mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s, kafkaAddr, mqttAddr
}

// TestRouteCLI drives `strata route add/list/remove` with the built binary
// against a server, and the HTTP API's errors.
func TestRouteCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	cli := func(args ...string) cliResult {
		t.Helper()
		return runStrata(t, t.TempDir(), cleanEnv(), append(args, "--server", s.url)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := cli(args...)
		if r.code != 0 {
			t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	out := ok("route", "add", "factory/+/temp", "factory-temp", "--id", "r1")
	if !strings.Contains(out, "Route r1 added: factory/+/temp -> factory-temp (key mqtt-topic, direction in)") {
		t.Fatalf("route add: %q", out)
	}
	ok("route", "add", "agents/+/inbox", "agent-{1}", "--key", "client-id", "--direction", "both", "--id", "r2")
	out = ok("route", "add", "alerts", "alerts")
	if !strings.Contains(out, "Route r-") {
		t.Fatalf("generated id: %q", out)
	}
	list := ok("route", "list")
	for _, want := range []string{"ID", "FILTER", "r1  ", "factory/+/temp", "agent-{1}", "client-id", "both", "alerts"} {
		if !strings.Contains(list, want) {
			t.Fatalf("route list has no %q:\n%s", want, list)
		}
	}
	var js routeListJSON
	if err := json.Unmarshal([]byte(ok("route", "list", "-o", "json")), &js); err != nil || len(js.Routes) != 3 || js.Routes[0].ID != "r-"+js.Routes[0].ID[2:] {
		t.Fatalf("route list -o json: %+v %v", js, err)
	}

	// Refusals, each with its reason.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"route", "add", "a/b+", "t"}, "wildcard must be a whole level"},
		{[]string{"route", "add", "a/+", "t-{2}"}, "topic template"},
		{[]string{"route", "add", "a/#", "t", "--key", "nope"}, `--key "nope"`},
		{[]string{"route", "add", "a/#", "t", "--direction", "sideways"}, `--direction "sideways"`},
		{[]string{"route", "add", "factory/+/temp", "factory-temp"}, "already maps"},
		{[]string{"route", "remove", "nope"}, `unknown route: "nope"`},
	} {
		r := cli(tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Fatalf("strata %s: exit %d, want an error with %q\n%s%s", strings.Join(tc.args, " "), r.code, tc.want, r.stdout, r.stderr)
		}
	}
	resp, err := http.Post(s.url+"/api/v1/routes", "application/json", strings.NewReader(`{"filter":"x/#","topic":"bad topic"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST a bad template: %s", resp.Status)
	}
	resp, err = http.Get(s.url + "/api/v1/routes/r2")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Filter, Topic, Direction string
		KeyMode                  string `json:"key_mode"`
	}
	json.NewDecoder(resp.Body).Decode(&rule)
	resp.Body.Close()
	if rule.Filter != "agents/+/inbox" || rule.KeyMode != "client-id" || rule.Direction != "both" {
		t.Fatalf("GET /api/v1/routes/r2: %+v", rule)
	}

	if out := ok("route", "remove", "r1"); !strings.Contains(out, "Route r1 removed") {
		t.Fatalf("route remove: %q", out)
	}
	if list := ok("route", "list"); strings.Contains(list, "factory/+/temp") {
		t.Fatalf("removed route still listed:\n%s", list)
	}
}

// TestPipelineMQTTInKafkaOut: Debian's mosquitto_pub publishes, kcat and
// franz-go consume the record with the MQTT topic as key and the mqtt.*
// headers; kcat -P produces, mosquitto_sub receives; a paho.golang QoS 1
// publish to an agent inbox creates the agent's lite topic, read by
// franz-go. All against `strata serve`, rules added with the CLI.
func TestPipelineMQTTInKafkaOut(t *testing.T) {
	kcat := lookTool(t, "kcat", "kcat")
	mosqPub := lookTool(t, "mosquitto_pub", "mosquitto-clients")
	mosqSub := lookTool(t, "mosquitto_sub", "mosquitto-clients")
	s, kafkaAddr, mqttAddr := startPipelineServer(t)
	mqttHost, mqttPort, _ := net.SplitHostPort(mqttAddr)
	for _, args := range [][]string{
		{"route", "add", "factory/+/temp", "factory-temp"},
		{"route", "add", "agents/+/inbox", "agent-{1}", "--direction", "both"},
	} {
		if r := runStrata(t, t.TempDir(), cleanEnv(), append(args, "--server", s.url)...); r.code != 0 {
			t.Fatalf("strata %s: %s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}

	// MQTT in: mosquitto_pub (5.0, QoS 1: it exits after PUBACK, so after the append).
	if out, err := runTool(t, "", mosqPub, "-h", mqttHost, "-p", mqttPort, "-V", "mqttv5", "-i", "sensor-7", "-q", "1",
		"-t", "factory/7/temp", "-m", "21.5", "-D", "publish", "content-type", "text/plain", "-D", "publish", "user-property", "unit", "C"); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	if out, err := runTool(t, "", mosqPub, "-h", mqttHost, "-p", mqttPort, "-V", "mqttv311", "-q", "1", "-r", "-t", "factory/8/temp", "-m", "19"); err != nil {
		t.Fatalf("mosquitto_pub 3.1.1: %v\n%s", err, out)
	}
	// kcat reads both records: key, value, headers.
	out, err := runTool(t, "", kcat, "-b", kafkaAddr, "-C", "-t", "factory-temp", "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\n")
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	want := "factory/7/temp|21.5|mqtt.topic=factory/7/temp,mqtt.qos=1,mqtt.retain=false,mqtt.client_id=sensor-7,mqtt.content_type=text/plain,unit=C\n" +
		"factory/8/temp|19|mqtt.topic=factory/8/temp,mqtt.qos=1,mqtt.retain=true,mqtt.client_id="
	if !strings.HasPrefix(out, want) {
		t.Fatalf("kcat read\n%s\nwant the prefix\n%s", out, want)
	}
	// franz-go reads the same.
	recs := consumeFranz(t, kafkaAddr, "factory-temp", 2)
	if string(recs[0].Key) != "factory/7/temp" || string(recs[0].Value) != "21.5" || headerValue(recs[0], "mqtt.qos") != "1" ||
		headerValue(recs[0], "mqtt.content_type") != "text/plain" || headerValue(recs[0], "unit") != "C" || headerValue(recs[1], "mqtt.retain") != "true" {
		t.Fatalf("franz-go read %+v", recs)
	}

	// paho.golang QoS 1 to an agent inbox: PUBACK after the append to the
	// auto-created lite topic agent-9.
	nc, err := net.DialTimeout("tcp", mqttAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho.Publish, 10)
	pc := paho.NewClient(paho.ClientConfig{Conn: nc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(r paho.PublishReceived) (bool, error) { got <- r.Packet; return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pc.Connect(ctx, &paho.Connect{ClientID: "planner", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer pc.Disconnect(&paho.Disconnect{})
	if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "agents/9/inbox", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if r, err := pc.Publish(ctx, &paho.Publish{Topic: "agents/9/inbox", QoS: 1, Payload: []byte("plan the route")}); err != nil || r.ReasonCode >= 0x80 {
		t.Fatalf("paho publish: %v %+v", err, r)
	}
	var topic topicJSON
	getJSON(t, s.url+"/api/v1/topics/agent-9", &topic)
	if topic.Configs["storage.engine"] != "lite" || topic.Configs["storage.mode"] != "persistent" || topic.Partitions != 1 {
		t.Fatalf("agent-9: %+v", topic)
	}
	if recs := consumeFranz(t, kafkaAddr, "agent-9", 1); string(recs[0].Key) != "agents/9/inbox" || string(recs[0].Value) != "plan the route" ||
		headerValue(recs[0], "mqtt.client_id") != "planner" {
		t.Fatalf("agent-9 read %+v", recs)
	}
	// No loop through the `both` rule: the subscriber has the publish
	// once. A copy of the routed record produced back by a Kafka client
	// (it has mqtt.client_id) is not delivered; a record without is.
	next := func() *paho.Publish {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("paho subscriber: no message in 5 s")
			return nil
		}
	}
	if m := next(); string(m.Payload) != "plan the route" {
		t.Fatalf("paho subscriber: %q", m.Payload)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, r := range []*kgo.Record{
		{Topic: "agent-9", Key: []byte("agents/9/inbox"), Value: []byte("copied"), Headers: []kgo.RecordHeader{{Key: "mqtt.client_id", Value: []byte("planner")}}},
		{Topic: "agent-9", Key: []byte("agents/9/inbox"), Value: []byte("from kafka")},
	} {
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if m := next(); string(m.Payload) != "from kafka" {
		t.Fatalf("paho subscriber got %q after the copy, want \"from kafka\"", m.Payload)
	}
	select {
	case m := <-got:
		t.Fatalf("paho subscriber: unexpected %q", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}

	// Kafka in, MQTT out: kcat -P to agent-7 keyed by the MQTT topic;
	// mosquitto_sub receives it. The subscriber's SUBSCRIBE has no signal
	// that it is done, so records are produced until it has one.
	subCtx, subCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer subCancel()
	sub := exec.CommandContext(subCtx, mosqSub, "-h", mqttHost, "-p", mqttPort, "-V", "mqttv5", "-t", "agents/+/inbox", "-q", "1", "-C", "1",
		"-F", "%t %q %p %P")
	var subOut bytes.Buffer
	sub.Stdout, sub.Stderr = &subOut, &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Wait() }()
produce:
	for i := 0; ; i++ {
		if out, err := runTool(t, fmt.Sprintf("task-%d\n", i), kcat, "-b", kafkaAddr, "-P", "-t", "agent-7", "-k", "agents/7/inbox",
			"-H", "mqtt.qos=1", "-H", "trace=t-1"); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		select {
		case err := <-subDone:
			if err != nil {
				t.Fatalf("mosquitto_sub: %v\n%s", err, subOut.String())
			}
			got := strings.TrimSpace(subOut.String())
			if !strings.HasPrefix(got, "agents/7/inbox 1 task-") || !strings.HasSuffix(got, "trace:t-1") {
				t.Fatalf("mosquitto_sub got %q, want agents/7/inbox 1 task-N ... trace:t-1", got)
			}
			break produce
		case <-time.After(300 * time.Millisecond):
		}
		if i == 30 {
			t.Fatalf("mosquitto_sub received nothing\n%s\nserver log:\n%s", subOut.String(), s.log())
		}
	}
	// The pipeline's counters on /metrics.
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"strata_mqtt_route_records_total 3\n", "strata_mqtt_route_topics_created_total 2\n", "strata_mqtt_route_errors_total 0\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if !strings.Contains(string(metrics), "strata_mqtt_route_reverse_delivered_total ") || strings.Contains(string(metrics), "strata_mqtt_route_reverse_delivered_total 0\n") {
		t.Errorf("/metrics: no reverse delivery counted")
	}
}

// consumeFranz reads n records of topic from the start with franz-go.
func consumeFranz(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d of %d records of %s", len(recs), n, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch %s: %v", topic, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
