package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/twmb/franz-go/pkg/kgo"

	"strata/logstore"
	"strata/meta"
)

// staticRules is a RouteRules that tests change at will.
type staticRules struct {
	mu    sync.Mutex
	rules []meta.RouteRule
	reads int
}

func (s *staticRules) List(context.Context) ([]meta.RouteRule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return append([]meta.RouteRule(nil), s.rules...), nil
}

func (s *staticRules) set(rules ...meta.RouteRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range rules {
		if rules[i].KeyMode == "" {
			rules[i].KeyMode = meta.RouteKeyMQTTTopic
		}
		if rules[i].Direction == "" {
			rules[i].Direction = meta.RouteIn
		}
	}
	s.rules = rules
}

// failingStore is a real store whose appends to the topics in fail
// return that topic's error (the error-injecting RouteStore).
type failingStore struct {
	*logstore.Store
	fail map[string]error
}

func (f *failingStore) Partition(name string, p int32) (logstore.Log, error) {
	l, err := f.Store.Partition(name, p)
	if err != nil {
		return nil, err
	}
	if e, ok := f.fail[name]; ok {
		return failingLog{l, e}, nil
	}
	return l, nil
}

type failingLog struct {
	logstore.Log
	err error
}

func (f failingLog) Append([]byte) (logstore.AppendResult, error) {
	return logstore.AppendResult{}, f.err
}

func openTestStore(t testing.TB) *logstore.Store {
	t.Helper()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newTestRouter(t testing.TB, rules RouteRules, store RouteStore) *TopicRouter {
	t.Helper()
	r, err := NewTopicRouter(RouterOptions{Rules: rules, Store: store, RefreshInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// readAll returns every record of a topic's partition.
func readAll(t testing.TB, st *logstore.Store, topic string, p int32) []logstore.Record {
	t.Helper()
	l, err := st.Partition(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Read(l.LogStartOffset(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	b, err := res.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var out []logstore.Record
	if err := logstore.SplitBatches(b, func(batch []byte, _ logstore.BatchHeader) error {
		recs, err := logstore.DecodeRecords(batch)
		out = append(out, recs...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// headerString renders a record's headers as "k=v k=v".
func headerString(r logstore.Record) string {
	var parts []string
	for _, h := range r.Headers {
		parts = append(parts, h.Key+"="+string(h.Value))
	}
	return strings.Join(parts, " ")
}

func TestRouteAppendsBeforeAck(t *testing.T) {
	st := openTestStore(t)
	if _, err := st.CreateTopic("factory-temp", 3, nil); err != nil {
		t.Fatal(err)
	}
	rules := &staticRules{}
	rules.set(
		meta.RouteRule{ID: "a", Filter: "factory/+/temp", Topic: "factory-temp"},
		meta.RouteRule{ID: "b", Filter: "agents/+/inbox", Topic: "agent-{1}"},
		meta.RouteRule{ID: "c", Filter: "factory/#", Topic: "factory-all", KeyMode: meta.RouteKeyClientID},
		meta.RouteRule{ID: "d", Filter: "factory/+/temp", Topic: "factory-temp"}, // the same topic twice: one record
		meta.RouteRule{ID: "e", Filter: "factory/+/temp", Topic: "never", Direction: meta.RouteOut},
	)
	router := newTestRouter(t, rules, st)
	b := newBroker(t, Options{Router: router})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "dev1", CleanStart: true}, nil)

	// QoS 1 with every property that travels: PUBACK means the record is in both topics.
	r := c.pub(t, &paho.Publish{Topic: "factory/7/temp", QoS: 1, Retain: true, Payload: []byte("21.5"), Properties: &paho.PublishProperties{
		ContentType: "text/plain", ResponseTopic: "reply/7", CorrelationData: []byte("c-1"),
		User: paho.UserProperties{{Key: "unit", Value: "C"}, {Key: "site", Value: "north"}},
	}})
	if r.ReasonCode >= 0x80 {
		t.Fatalf("PUBACK %#x", r.ReasonCode)
	}
	want := kgo.StickyKeyPartitioner(nil).ForTopic("factory-temp").Partition(&kgo.Record{Key: []byte("factory/7/temp")}, 3)
	recs := readAll(t, st, "factory-temp", int32(want))
	if len(recs) != 1 {
		t.Fatalf("factory-temp partition %d (Kafka's partitioner for the key): %d records", want, len(recs))
	}
	got := recs[0]
	if string(got.Key) != "factory/7/temp" || string(got.Value) != "21.5" {
		t.Fatalf("record %q=%q", got.Key, got.Value)
	}
	wantHeaders := "mqtt.topic=factory/7/temp mqtt.qos=1 mqtt.retain=true mqtt.client_id=dev1 mqtt.content_type=text/plain " +
		"mqtt.response_topic=reply/7 mqtt.correlation_data=c-1 unit=C site=north"
	if h := headerString(got); h != wantHeaders {
		t.Fatalf("headers\n got %s\nwant %s", h, wantHeaders)
	}
	if all := readAll(t, st, "factory-all", 0); len(all) != 1 || string(all[0].Key) != "dev1" {
		t.Fatalf("client-id keyed route: %+v", all)
	}
	if _, err := st.Topic("never"); !errors.Is(err, logstore.ErrUnknownTopic) {
		t.Fatalf("an out rule routed a publish in: %v", err)
	}
	if info, err := st.Topic("factory-all"); err != nil || info.Config.Engine != logstore.DefaultTopicConfig().Engine {
		t.Fatalf("literal template's auto-created topic: %+v %v", info.Config, err)
	}

	// A capture: one lite persistent topic per agent, created on first publish.
	for _, agent := range []string{"7", "x_9"} {
		c.pub(t, &paho.Publish{Topic: "agents/" + agent + "/inbox", QoS: 1, Payload: []byte("task for " + agent)})
		info, err := st.Topic("agent-" + agent)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Engine != logstore.EngineLite || info.Config.Mode != logstore.ModePersistent || info.Partitions != 1 {
			t.Fatalf("agent-%s: engine %s mode %s partitions %d", agent, info.Config.Engine, info.Config.Mode, info.Partitions)
		}
		if recs := readAll(t, st, "agent-"+agent, 0); len(recs) != 1 || string(recs[0].Value) != "task for "+agent {
			t.Fatalf("agent-%s: %+v", agent, recs)
		}
	}
	// A captured level that is no topic name skips the rule; the publish still succeeds.
	if r := c.pub(t, &paho.Publish{Topic: "agents/a b/inbox", QoS: 1, Payload: []byte("x")}); r.ReasonCode >= 0x80 {
		t.Fatalf("unroutable capture: PUBACK %#x", r.ReasonCode)
	}
	if s := router.Stats(); s.TopicsCreated != 3 || s.Routed != 4 {
		t.Fatalf("stats %+v", s)
	}

	// Rules are re-read after the TTL: a removed rule stops routing.
	rules.set()
	time.Sleep(60 * time.Millisecond)
	c.pub(t, &paho.Publish{Topic: "agents/8/inbox", QoS: 1, Payload: []byte("x")})
	if _, err := st.Topic("agent-8"); !errors.Is(err, logstore.ErrUnknownTopic) {
		t.Fatalf("removed rule still routes: %v", err)
	}
}

func TestRouteFailureRefusesPublish(t *testing.T) {
	st := openTestStore(t)
	for _, name := range []string{"broken", "full", "fine"} {
		if _, err := st.CreateTopic(name, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	fs := &failingStore{Store: st, fail: map[string]error{
		"broken": fmt.Errorf("%w: disk on fire", logstore.ErrCorrupt),
		"full":   logstore.ErrQueueFull,
	}}
	rules := &staticRules{}
	rules.set(
		meta.RouteRule{ID: "a", Filter: "x/+", Topic: "{1}"},
		meta.RouteRule{ID: "b", Filter: "both/#", Topic: "fine"},
		meta.RouteRule{ID: "c", Filter: "both/#", Topic: "broken"},
	)
	router := newTestRouter(t, rules, fs)
	b := newBroker(t, Options{Router: router})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "dev", CleanStart: true}, nil)
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "watcher", CleanStart: true}, nil)
	sub.sub(t, paho.SubscribeOptions{Topic: "#", QoS: 1})

	for _, tc := range []struct {
		topic string
		qos   byte
		code  ReasonCode
	}{
		{"x/broken", 1, ImplementationSpecificError},
		{"x/broken", 2, ImplementationSpecificError},
		{"x/full", 1, QuotaExceeded},
		{"both/1", 1, ImplementationSpecificError}, // one of two topics failed
	} {
		r := c.pub(t, &paho.Publish{Topic: tc.topic, QoS: tc.qos, Payload: []byte("m")})
		if r == nil || r.ReasonCode != byte(tc.code) {
			t.Fatalf("%s QoS %d: want reason %#x, got %+v", tc.topic, tc.qos, byte(tc.code), r)
		}
	}
	// Debian's mosquitto_pub (5.0) is told the reason too.
	out, err := exec.CommandContext(t.Context(), mosquittoBin(t, "mosquitto_pub"),
		append(b.mosqArgs("tcp", "mqttv5"), "-q", "1", "-t", "x/broken", "-m", "m")...).CombinedOutput()
	// (It prints the PUBACK's reason and reason string, and exits 0.)
	if !strings.Contains(string(out), "Publish 1 failed: Implementation specific error") {
		t.Fatalf("mosquitto_pub to a failing route: %v %q", err, out)
	}
	// A refused message reaches no subscriber; a routed one does.
	c.pub(t, &paho.Publish{Topic: "x/fine", QoS: 1, Payload: []byte("ok")})
	if m := sub.next(t); m.Topic != "x/fine" {
		t.Fatalf("first delivered message is %q: a refused publish was delivered", m.Topic)
	}
	if n := len(readAll(t, st, "fine", 0)); n != 2 { // both/1 (at least once) and x/fine
		t.Fatalf("fine: %d records", n)
	}
	if s := router.Stats(); s.RouteErrors != 5 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRouteReverse(t *testing.T) {
	st := openTestStore(t)
	rules := &staticRules{}
	rules.set(
		meta.RouteRule{ID: "a", Filter: "agents/+/inbox", Topic: "agent-{1}", Direction: meta.RouteBoth},
		meta.RouteRule{ID: "b", Filter: "alerts", Topic: "alerts-out", Direction: meta.RouteOut},
		meta.RouteRule{ID: "c", Filter: "plain/#", Topic: "plain"},
	)
	router := newTestRouter(t, rules, st)
	b := newBroker(t, Options{Router: router})
	router.StartReverse(b.srv)
	sub := dialV5(t, b.tcp, &paho.Connect{ClientID: "agent7", CleanStart: true}, nil)
	sub.sub(t, paho.SubscribeOptions{Topic: "agents/+/inbox", QoS: 2}, paho.SubscribeOptions{Topic: "alerts", QoS: 1}, paho.SubscribeOptions{Topic: "plain/#", QoS: 1})

	batch := func(recs ...logstore.Record) []byte {
		b, err := logstore.EncodeBatch(recs, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hdr := func(kv ...string) []logstore.RecordHeader {
		var hs []logstore.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, logstore.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	two := append(batch(
		logstore.Record{Key: []byte("agents/7/inbox"), Value: []byte("one"), Headers: hdr("mqtt.qos", "1", "trace", "t-1")},
		logstore.Record{Key: []byte("agents/8/inbox"), Value: []byte("not agent-7's")}, // another agent's topic: not delivered
	), batch(
		logstore.Record{Key: []byte("k"), Value: []byte("two"), Headers: hdr("mqtt.topic", "agents/7/inbox", "mqtt.qos", "2", "mqtt.content_type", "text/plain", "mqtt.message_expiry", "60")},
		logstore.Record{Key: []byte("agents/7/inbox"), Value: []byte("loop"), Headers: hdr("mqtt.client_id", "dev")}, // from MQTT: never back
	)...)
	router.Appended("agent-7", 0, two)
	m := sub.next(t)
	if m.Topic != "agents/7/inbox" || string(m.Payload) != "one" || m.QoS != 1 || m.Properties.User.Get("trace") != "t-1" {
		t.Fatalf("first: %+v", m)
	}
	m = sub.next(t)
	if m.Topic != "agents/7/inbox" || string(m.Payload) != "two" || m.QoS != 2 || m.Properties.ContentType != "text/plain" ||
		m.Properties.MessageExpiry == nil || *m.Properties.MessageExpiry != 60 {
		t.Fatalf("second: %+v", m)
	}
	// No key and no mqtt.topic: a wildcard-free filter names the MQTT topic.
	router.Appended("alerts-out", 0, batch(logstore.Record{Value: []byte("fire"), Headers: hdr("mqtt.retain", "true")}))
	if m := sub.next(t); m.Topic != "alerts" || string(m.Payload) != "fire" {
		t.Fatalf("alerts: %+v", m)
	}
	// An in-only rule delivers nothing back.
	router.Appended("plain", 0, batch(logstore.Record{Key: []byte("plain/x"), Value: []byte("no")}))
	sub.none(t, 200*time.Millisecond)
	if s := router.Stats(); s.ReverseDelivered != 3 || s.ReverseLooped != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The retained one was injected retained.
	late := dialV5(t, b.tcp, &paho.Connect{ClientID: "late", CleanStart: true}, nil)
	late.sub(t, paho.SubscribeOptions{Topic: "alerts", QoS: 1})
	if m := late.next(t); string(m.Payload) != "fire" || !m.Retain {
		t.Fatalf("retained alert: %+v", m)
	}
}

// blockingInjector holds every Inject until release is closed.
type blockingInjector struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingInjector) Inject(context.Context, Message) error {
	b.entered <- struct{}{}
	<-b.release
	return nil
}

func TestRouteReverseQueueFullDrops(t *testing.T) {
	rules := &staticRules{}
	rules.set(meta.RouteRule{ID: "a", Filter: "alerts", Topic: "alerts-out", Direction: meta.RouteOut})
	batch, err := logstore.EncodeBatch([]logstore.Record{{Value: []byte("fire")}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		queue    int
		bytes    int64
		appended int
		dropped  uint64
	}{
		{"batches", 2, 0, 5, 2},                     // one in Inject, two queued, two dropped
		{"bytes", 100, int64(len(batch)) + 1, 4, 2}, // one in Inject, one queued (the bytes bound), two dropped
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewTopicRouter(RouterOptions{Rules: rules, Store: openTestStore(t), ReverseQueue: tc.queue, ReverseQueueBytes: tc.bytes,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			inj := &blockingInjector{entered: make(chan struct{}, 100), release: make(chan struct{})}
			defer r.Close()
			defer close(inj.release)
			// Not started: nothing is queued, nothing counted.
			r.Appended("alerts-out", 0, batch)
			if len(r.queue) != 0 || r.Stats().ReverseDropped != 0 {
				t.Fatalf("queued before StartReverse: %d, %+v", len(r.queue), r.Stats())
			}
			r.StartReverse(inj)
			r.Appended("alerts-out", 0, batch)
			<-inj.entered
			for range tc.appended - 1 {
				r.Appended("alerts-out", 0, batch) // returns at once, queue full or not
			}
			if s := r.Stats(); s.ReverseDropped != tc.dropped {
				t.Fatalf("dropped %d, want %d", s.ReverseDropped, tc.dropped)
			}
			// With fresh rules, a topic no reverse rule names is not even queued.
			if err := r.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			r.Appended("other", 0, batch)
			if s := r.Stats(); s.ReverseDropped != tc.dropped {
				t.Fatalf("a topic without reverse rules was queued: %+v", s)
			}
		})
	}
}

// slowRules takes its time, as a meta read across a network would.
type slowRules struct{ staticRules }

func (s *slowRules) List(ctx context.Context) ([]meta.RouteRule, error) {
	time.Sleep(20 * time.Millisecond)
	return s.staticRules.List(ctx)
}

func TestRouteRulesOneReadPerTTL(t *testing.T) {
	rules := &slowRules{}
	r := newTestRouter(t, rules, openTestStore(t)) // TTL 50 ms
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := r.Route(t.Context(), &ClientInfo{ClientID: "c"}, &Message{Topic: "a/b"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if rules.reads != 1 {
		t.Fatalf("20 concurrent publishes on a cold cache made %d reads, want 1", rules.reads)
	}
	time.Sleep(60 * time.Millisecond)
	r.Route(t.Context(), &ClientInfo{ClientID: "c"}, &Message{Topic: "a/b"})
	if rules.reads != 2 {
		t.Fatalf("after the TTL: %d reads, want 2", rules.reads)
	}
}
