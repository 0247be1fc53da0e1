package mqtt

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// openPebbleTestStore opens a PebbleStore in dir on fs (nil: the disk), closed
// when the test ends (after the brokers started later, which close first).
func openPebbleTestStore(t testing.TB, fs vfs.FS, dir string, dropCorrupt bool) *PebbleStore {
	t.Helper()
	st, err := OpenPebbleStore(PebbleStoreOptions{Dir: dir, FS: fs, DropCorrupt: dropCorrupt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// storeBroker starts a broker on st.
func storeBroker(t testing.TB, st *PebbleStore, opts Options) *testBroker {
	t.Helper()
	opts.Sessions, opts.Retained = st.Sessions(), st.Retained()
	return newBroker(t, opts)
}

// restartPebble closes b and st (a clean shutdown) and opens both again on dir.
func restartPebble(t testing.TB, b *testBroker, st *PebbleStore, dir string, opts Options) (*testBroker, *PebbleStore) {
	t.Helper()
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openPebbleTestStore(t, nil, dir, false)
	return storeBroker(t, st, opts), st
}

// waitConnected waits until the broker counts n connections (a client's
// DISCONNECT is handled, its session detached and stored).
func waitConnected(t testing.TB, b *testBroker, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.srv.Stats().Connected != n {
		if time.Now().After(deadline) {
			t.Fatalf("broker has %d connections, want %d", b.srv.Stats().Connected, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queueSeqs lists the stored queue entries of clientID.
func queueSeqs(t testing.TB, st *PebbleStore, clientID string) []uint64 {
	t.Helper()
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: queueKey(clientID, 0), UpperBound: queueBound(clientID, ^uint64(0))})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []uint64
	for ok := it.First(); ok; ok = it.Next() {
		_, seq, err := decodeQueueKey(it.Key())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, seq)
	}
	return out
}

// persistentClient is a real client with a persistent session, seen
// through what the restart tests need.
type persistentClient interface {
	// next returns the next message's payload and DUP flag.
	next(t testing.TB) (string, bool)
	none(t testing.TB, d time.Duration)
	disconnect()
}

type v5Persistent struct{ *v5Client }

func (c v5Persistent) next(t testing.TB) (string, bool) {
	t.Helper()
	p := c.v5Client.next(t)
	return string(p.Payload), p.Duplicate()
}
func (c v5Persistent) none(t testing.TB, d time.Duration) { t.Helper(); c.v5Client.none(t, d) }
func (c v5Persistent) disconnect()                        { c.Disconnect(&paho.Disconnect{}) }

type v3Persistent struct{ *v3Client }

func (c v3Persistent) next(t testing.TB) (string, bool) {
	t.Helper()
	m := c.v3Client.next(t)
	return string(m.Payload()), m.Duplicate()
}

func (c v3Persistent) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %q: %q", m.Topic(), m.Payload())
	case <-time.After(d):
	}
}
func (c v3Persistent) disconnect() { c.Disconnect(100) }

// persistentClients connect a persistent session (clean start false
// unless first) with each real client; subscribe subscribes with QoS 1.
var persistentClients = []struct {
	name      string
	connect   func(t testing.TB, b *testBroker, id string, first bool) (persistentClient, bool)
	subscribe func(t testing.TB, c persistentClient, filter string)
}{
	{
		name: "paho.golang 5.0",
		connect: func(t testing.TB, b *testBroker, id string, first bool) (persistentClient, bool) {
			c := dialV5(t, b.tcp, &paho.Connect{ClientID: id, CleanStart: first, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
			return v5Persistent{c}, c.connack.SessionPresent
		},
		subscribe: func(t testing.TB, c persistentClient, filter string) {
			c.(v5Persistent).sub(t, paho.SubscribeOptions{Topic: filter, QoS: 1})
		},
	},
	{
		name: "paho.mqtt.golang 3.1.1",
		connect: func(t testing.TB, b *testBroker, id string, _ bool) (persistentClient, bool) {
			// Clean session 0 every time: the first CONNECT finds no session.
			c := &v3Client{msgs: make(chan pahov3.Message, 1000)}
			c.Client = pahov3.NewClient(pahov3.NewClientOptions().AddBroker("tcp://" + b.tcp).SetClientID(id).SetProtocolVersion(4).
				SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
				SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) { c.msgs <- m }))
			tok := c.Connect()
			wait(t, tok)
			t.Cleanup(func() { c.Disconnect(100) })
			return v3Persistent{c}, tok.(*pahov3.ConnectToken).SessionPresent()
		},
		subscribe: func(t testing.TB, c persistentClient, filter string) {
			wait(t, c.(v3Persistent).Subscribe(filter, 1, nil))
		},
	},
}

// TestPebbleStoreSessionRestart: a persistent session subscribed with QoS
// 1 goes offline; messages are published before a broker restart and
// after it; the client comes back with clean start 0 and gets every one,
// in order, once.
func TestPebbleStoreSessionRestart(t *testing.T) {
	for _, pc := range persistentClients {
		t.Run(pc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openPebbleTestStore(t, nil, dir, false)
			b := storeBroker(t, st, Options{})
			c, _ := pc.connect(t, b, "dev", true)
			pc.subscribe(t, c, "dev/#")
			c.disconnect()
			waitConnected(t, b, 0)
			pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
			for i := 1; i <= 3; i++ {
				pub.pub(t, &paho.Publish{Topic: "dev/in", QoS: 1, Payload: fmt.Appendf(nil, "m%d", i)})
			}
			b, st = restartPebble(t, b, st, dir, Options{})
			pub = dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
			for i := 4; i <= 5; i++ {
				pub.pub(t, &paho.Publish{Topic: "dev/in", QoS: 1, Payload: fmt.Appendf(nil, "m%d", i)})
			}
			if got := queueSeqs(t, st, "dev"); len(got) != 5 {
				t.Fatalf("stored queue %v, want 5 entries", got)
			}
			c, present := pc.connect(t, b, "dev", false)
			if !present {
				t.Fatal("session not present after the restart")
			}
			for i := 1; i <= 5; i++ {
				if p, dup := c.next(t); p != fmt.Sprintf("m%d", i) || dup {
					t.Fatalf("message %d: %q dup=%v", i, p, dup)
				}
			}
			c.none(t, 300*time.Millisecond)
			// Delivered and acknowledged: the next stored state has no queue.
			c.disconnect()
			waitConnected(t, b, 1)
			if got := queueSeqs(t, st, "dev"); len(got) != 0 {
				t.Fatalf("stored queue after delivery: %v", got)
			}
		})
	}
}

// TestPebbleStoreQueuedDurableBeforePuback crashes the store's file
// system right after the publishers got PUBACK / PUBCOMP (keeping only
// what was synced): the offline session's messages and a QoS 1 retained
// message are there after the "crash".
func TestPebbleStoreQueuedDurableBeforePuback(t *testing.T) {
	mem := vfs.NewCrashableMem()
	st := openPebbleTestStore(t, mem, "mqtt", false)
	b := storeBroker(t, st, Options{})
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "dev", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "dev/#", QoS: 2})
	c.Disconnect(&paho.Disconnect{})
	waitConnected(t, b, 0)
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "dev/in", QoS: 1, Payload: []byte("one")})
	pub.pub(t, &paho.Publish{Topic: "dev/in", QoS: 2, Payload: []byte("two")})
	pub.pub(t, &paho.Publish{Topic: "dev/in", QoS: 1, Payload: []byte("three")})
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}) // nothing unsynced survives
	pub.pub(t, &paho.Publish{Topic: "state", QoS: 1, Retain: true, Payload: []byte("on")})
	crashedLater := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})

	st2 := openPebbleTestStore(t, crashed, "mqtt", false)
	b2 := storeBroker(t, st2, Options{})
	c = dialV5(t, b2.tcp, &paho.Connect{ClientID: "dev", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
	if !c.connack.SessionPresent {
		t.Fatal("session lost in the crash")
	}
	for _, want := range []struct {
		p   string
		qos byte
	}{{"one", 1}, {"two", 2}, {"three", 1}} {
		if m := c.next(t); string(m.Payload) != want.p || m.QoS != want.qos {
			t.Fatalf("after the crash: %q QoS %d, want %q QoS %d", m.Payload, m.QoS, want.p, want.qos)
		}
	}
	c.none(t, 200*time.Millisecond)

	msgs, err := openPebbleTestStore(t, crashedLater, "mqtt", false).Retained().All()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Topic != "state" || string(msgs[0].Payload) != "on" {
		t.Fatalf("retained QoS 1 message after the crash: %+v", msgs)
	}
}

// TestPebbleStoreInflightQoS2Restart: a QoS 2 message sent and not yet
// acknowledged (no PUBREC) is resent with DUP after a restart, once, and
// the flow completes.
func TestPebbleStoreInflightQoS2Restart(t *testing.T) {
	dir := t.TempDir()
	st := openPebbleTestStore(t, nil, dir, false)
	b := storeBroker(t, st, Options{})
	connect := func(b *testBroker, clean bool) *v5Client {
		return dialV5(t, b.tcp, &paho.Connect{ClientID: "dev", CleanStart: clean, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}},
			func(cfg *paho.ClientConfig) { cfg.EnableManualAcknowledgment = true })
	}
	c := connect(b, true)
	c.sub(t, paho.SubscribeOptions{Topic: "cmd/#", QoS: 2})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "cmd/a", QoS: 2, Payload: []byte("exactly once")})
	if m := c.next(t); string(m.Payload) != "exactly once" || m.QoS != 2 || m.Duplicate() {
		t.Fatalf("first delivery: %+v", m)
	}
	// Not acknowledged: in flight across the restart.
	b, st = restartPebble(t, b, st, dir, Options{})
	c = connect(b, false)
	if !c.connack.SessionPresent {
		t.Fatal("session lost")
	}
	m := c.next(t)
	if string(m.Payload) != "exactly once" || m.QoS != 2 || !m.Duplicate() {
		t.Fatalf("redelivery: %q QoS %d DUP %v", m.Payload, m.QoS, m.Duplicate())
	}
	if err := c.Ack(m); err != nil {
		t.Fatal(err)
	}
	pub = dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "cmd/b", QoS: 2, Payload: []byte("next")})
	m2 := c.next(t)
	if string(m2.Payload) != "next" || m2.Duplicate() {
		t.Fatalf("after the completed flow: %q DUP %v", m2.Payload, m2.Duplicate())
	}
	if m2.PacketID == m.PacketID {
		// The first id was freed by PUBCOMP only if the flow completed;
		// reuse is allowed, so this is not an error in itself.
		t.Logf("packet id %d reused", m.PacketID)
	}
	if err := c.Ack(m2); err != nil {
		t.Fatal(err)
	}
	c.none(t, 300*time.Millisecond)
	c.Disconnect(&paho.Disconnect{})
	waitConnected(t, b, 1)
	sessions, err := st.Sessions().All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.ClientID == "dev" && (len(s.Inflight) != 0 || len(s.Queued) != 0) {
			t.Fatalf("stored after completion: %d in flight, %d queued", len(s.Inflight), len(s.Queued))
		}
	}
}

// TestPebbleStoreRetainedRestart: retained messages set, replaced and
// cleared by a 3.1.1 client survive a restart; $SYS ones are not stored.
func TestPebbleStoreRetainedRestart(t *testing.T) {
	dir := t.TempDir()
	st := openPebbleTestStore(t, nil, dir, false)
	opts := Options{SysInterval: time.Hour}
	b := storeBroker(t, st, opts)
	v3 := dialV3(t, "tcp://"+b.tcp, "pub3", 4, true, nil)
	for _, p := range []struct {
		topic, payload string
		qos            byte
	}{
		{"r/a", "1", 1}, {"r/b", "2", 0}, {"r/c", "3", 1}, {"r/c", "", 1}, {"r/a", "1b", 2}, {"r/d", "4", 0}, {"r/d", "", 0},
	} {
		wait(t, v3.Publish(p.topic, p.qos, true, p.payload))
	}
	// QoS 0 has no ack: a QoS 1 publish acknowledged after them says the
	// broker handled them (one connection's packets are handled in order).
	wait(t, v3.Publish("done", 1, false, "x"))
	b, st = restartPebble(t, b, st, dir, opts)
	if n := b.srv.Stats().Retained; n < 2 {
		t.Fatalf("%d retained messages after the restart", n)
	}
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "sub", CleanStart: true}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "r/#", QoS: 2})
	got := map[string]string{}
	for range 2 {
		m := c.next(t)
		if !m.Retain {
			t.Fatalf("%s without RETAIN", m.Topic)
		}
		got[m.Topic] = string(m.Payload)
	}
	if want := map[string]string{"r/a": "1b", "r/b": "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("retained after the restart: %v, want %v", got, want)
	}
	c.none(t, 300*time.Millisecond)
	msgs, err := st.Retained().All()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, "$SYS") {
			t.Fatalf("$SYS message stored: %s", m.Topic)
		}
	}
}

// TestPebbleStoreQueueBound: an offline session's queue keeps the newest
// MaxQueuedMessages; the drops are counted (Stats, $SYS), the store drops
// the same ones, and the survivors come back after a restart.
func TestPebbleStoreQueueBound(t *testing.T) {
	dir := t.TempDir()
	st := openPebbleTestStore(t, nil, dir, false)
	opts := Options{MaxQueuedMessages: 3, SysInterval: 20 * time.Millisecond}
	b := storeBroker(t, st, opts)
	c := dialV5(t, b.tcp, &paho.Connect{ClientID: "dev", CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
	c.sub(t, paho.SubscribeOptions{Topic: "dev/#", QoS: 1})
	c.Disconnect(&paho.Disconnect{})
	waitConnected(t, b, 0)
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
	for i := 1; i <= 5; i++ {
		pub.pub(t, &paho.Publish{Topic: "dev/in", QoS: 1, Payload: fmt.Appendf(nil, "m%d", i)})
	}
	if n := b.srv.Stats().DroppedQueued; n != 2 {
		t.Fatalf("Stats().DroppedQueued = %d, want 2", n)
	}
	if n := st.Stats().Dropped; n != 2 {
		t.Fatalf("store dropped %d, want 2", n)
	}
	if got := queueSeqs(t, st, "dev"); len(got) != 3 {
		t.Fatalf("stored queue %v, want 3 entries", got)
	}
	sys := dialV5(t, b.tcp, &paho.Connect{ClientID: "sys", CleanStart: true}, nil)
	sys.sub(t, paho.SubscribeOptions{Topic: "$SYS/broker/messages/dropped/queue", QoS: 0})
	for m := sys.next(t); string(m.Payload) != "2"; m = sys.next(t) {
	}
	b, _ = restartPebble(t, b, st, dir, opts)
	c = dialV5(t, b.tcp, &paho.Connect{ClientID: "dev", CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}, nil)
	for i := 3; i <= 5; i++ {
		if m := c.next(t); string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %q, want m%d", m.Payload, i)
		}
	}
	c.none(t, 300*time.Millisecond)
}

// TestPebbleStoreQueueOps drives Put, Enqueue and Delete in the orders a
// broker can produce (Enqueue racing Put and Delete) and checks what All
// loads and what each step writes.
func TestPebbleStoreQueueOps(t *testing.T) {
	msg := &Message{Topic: "t", Payload: []byte("x"), QoS: 1}
	put := func(last uint64, seqs ...uint64) func(SessionQueueStore) error {
		return func(s SessionQueueStore) error {
			st := &StoredSession{ClientID: "c", Version: Version5, ExpiryInterval: 60, LastSeq: last}
			for _, q := range seqs {
				st.Queued = append(st.Queued, StoredQueued{Seq: q, QoS: 1, Msg: msg})
			}
			return s.Put(st)
		}
	}
	enq := func(seq, dropped uint64) func(SessionQueueStore) error {
		return func(s SessionQueueStore) error {
			return s.Enqueue([]QueuedChange{{ClientID: "c", Queued: StoredQueued{Seq: seq, QoS: 1, Msg: msg}, Dropped: dropped}})
		}
	}
	del := func(s SessionQueueStore) error { return s.Delete("c") }
	for _, tc := range []struct {
		name string
		ops  []func(SessionQueueStore) error
		want []uint64 // queued seqs loaded; nil: no session
	}{
		{"put then enqueue", []func(SessionQueueStore) error{put(2, 1, 2), enq(3, 0), enq(4, 1)}, []uint64{2, 3, 4}},
		{"put drops what it no longer holds", []func(SessionQueueStore) error{put(2, 1, 2), enq(3, 0), put(3, 3)}, []uint64{3}},
		{"enqueue after a snapshot survives it", []func(SessionQueueStore) error{put(4, 3, 4), enq(5, 0), put(4, 3, 4)}, []uint64{3, 4, 5}},
		{"enqueue before the session value", []func(SessionQueueStore) error{enq(1, 0), put(1, 1)}, []uint64{1}},
		{"delete drops the queue", []func(SessionQueueStore) error{put(2, 1, 2), del}, nil},
		{"enqueue after delete is an orphan", []func(SessionQueueStore) error{put(2, 1, 2), del, enq(3, 0)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openPebbleTestStore(t, nil, t.TempDir(), false)
			s := st.Sessions()
			for _, op := range tc.ops {
				if err := op(s); err != nil {
					t.Fatal(err)
				}
			}
			all, err := s.All()
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			if len(all) == 1 {
				got = []uint64{}
				for _, q := range all[0].Queued {
					got = append(got, q.Seq)
				}
			}
			if tc.want == nil && len(all) != 0 || tc.want != nil && !slices.Equal(got, tc.want) {
				t.Fatalf("loaded %v, want %v", got, tc.want)
			}
			if tc.want == nil {
				if left := queueSeqs(t, st, "c"); len(left) != 0 {
					t.Fatalf("orphans left: %v", left)
				}
			}
		})
	}
	// A Put that changes nothing writes nothing.
	st := openPebbleTestStore(t, nil, t.TempDir(), false)
	s := st.Sessions()
	for _, op := range []func(SessionQueueStore) error{put(2, 1, 2), put(2, 1, 2)} {
		if err := op(s); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.Stats().Batches; n != 1 {
		t.Fatalf("two equal Puts applied %d batches, want 1", n)
	}
}

// storeSamples are values of every kind, for the codec table and the fuzz
// seeds.
func storeSamples() (sessions []*StoredSession, retained []*Message) {
	created := time.Unix(1764150000, 123456789)
	var props Properties
	props.ContentType = "text/plain"
	props.Set(PropContentType)
	props.MessageExpiry = 60
	props.Set(PropMessageExpiry)
	props.CorrelationData = []byte{1, 2}
	props.Set(PropCorrelationData)
	props.User = []UserProperty{{"k", "v"}, {"k", "w"}}
	m5 := &Message{Topic: "a/b", Payload: []byte("hello"), QoS: 2, Retain: true, Props: props, From: "dev", Created: created}
	m3 := &Message{Topic: "x", QoS: 1}
	sessions = []*StoredSession{
		{ClientID: "empty", Version: Version311, ExpiryInterval: neverExpires},
		{
			ClientID: "full", Version: Version5, ExpiryInterval: 3600, DisconnectedAt: created, LastSeq: 1 << 62,
			Subscriptions: []StoredSubscription{
				{Subscription: Subscription{Filter: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}, ID: 7},
				{Subscription: Subscription{Filter: "$share/g/x", QoS: 1}},
			},
			Inflight: []StoredInflight{
				{PacketID: 1, QoS: 2, Released: true, Msg: m5},
				{PacketID: 65535, QoS: 1, Retain: true, SubIDs: []uint32{7, MaxVarint}, Msg: m3},
			},
			Queued:      []StoredQueued{{Seq: 5, QoS: 1, SubIDs: []uint32{1}, Msg: m5}, {Seq: 9, QoS: 2, Retain: true, Msg: m3}},
			InboundQoS2: []uint16{3, 4},
		},
	}
	// Injected from Kafka headers: not what the wire decoder accepts, kept as is.
	var odd Properties
	odd.ContentType = "\xff"
	odd.Set(PropContentType)
	odd.PayloadFormat = 1
	odd.Set(PropPayloadFormat)
	odd.User = []UserProperty{{"a\x00", ""}}
	mk := &Message{Topic: "from/kafka", Payload: []byte{0}, Props: odd, Created: created}
	return sessions, []*Message{m5, m3, mk}
}

func TestStoreCodecRoundTrip(t *testing.T) {
	sessions, retained := storeSamples()
	for _, st := range sessions {
		t.Run("session "+st.ClientID, func(t *testing.T) {
			got, err := decodeSessionValue(st.ClientID, encodeSessionValue(st))
			if err != nil {
				t.Fatal(err)
			}
			want := *st
			want.Queued = nil // stored under their own keys
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("decoded %+v\nwant    %+v", got, &want)
			}
			for _, q := range st.Queued {
				gq, err := decodeQueuedValue(q.Seq, encodeQueuedValue(&q))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gq, q) {
					t.Fatalf("queued %+v, want %+v", gq, q)
				}
			}
		})
	}
	for _, m := range retained {
		got, err := decodeRetainedValue(m.Topic, encodeRetainedValue(m))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("retained %+v, want %+v", got, m)
		}
	}
	k := queueKey("dev", 258)
	if id, seq, err := decodeQueueKey(k); err != nil || id != "dev" || seq != 258 {
		t.Fatalf("queue key %x: %q %d %v", k, id, seq, err)
	}
}

// TestStoreValueGolden pins the byte layout of a retained value (doc.go).
func TestStoreValueGolden(t *testing.T) {
	m := &Message{Topic: "a/b", Payload: []byte("hi"), QoS: 1, Retain: true, From: "d", Created: time.Unix(0, 1)}
	want := strings.Join([]string{
		"4d51", "01", "52", // 'M' 'Q', version 1, kind 'R'
		"03", "612f62", // topic "a/b"
		"02", "6869", // payload "hi"
		"05",       // flags: QoS 1 | retain 0x04
		"01", "64", // from "d"
		"02", // created 1 ns (zigzag varint)
		"00", // properties: none present
		"00", // no user properties
	}, "")
	body, _ := hex.DecodeString(want)
	got := encodeRetainedValue(m)
	if !bytes.Equal(got[:len(got)-4], body) {
		t.Fatalf("retained value\n got %x\nwant %x", got[:len(got)-4], body)
	}
	if _, err := openValue(got, kindRetained); err != nil {
		t.Fatal(err)
	}
}

// TestPebbleStoreCorruptValue: a value that is torn, flipped, of another
// version or of another kind is ErrStoreCorrupt at load, which keeps the
// broker from starting; DropCorrupt skips it (counted) and loads the rest.
func TestPebbleStoreCorruptValue(t *testing.T) {
	sessions, retained := storeSamples()
	reseal := func(v []byte, f func(b []byte)) []byte {
		b := append([]byte(nil), v[:len(v)-4]...)
		f(b)
		return sealValue(b)
	}
	for _, tc := range []struct {
		name  string
		key   []byte
		value func(good []byte) []byte
	}{
		{"torn session", sessionKey("full"), func(v []byte) []byte { return v[:len(v)/2] }},
		{"flipped session byte", sessionKey("full"), func(v []byte) []byte { v = bytes.Clone(v); v[10] ^= 0x40; return v }},
		{"session of version 2", sessionKey("full"), func(v []byte) []byte { return reseal(v, func(b []byte) { b[2] = 2 }) }},
		{"retained value under a session key", sessionKey("full"), func([]byte) []byte { return encodeRetainedValue(retained[0]) }},
		{"session with a trailing byte", sessionKey("full"), func(v []byte) []byte {
			return reseal(append(bytes.Clone(v[:len(v)-4]), 0, 0, 0, 0, 0), func([]byte) {})
		}},
		{"torn queued message", queueKey("full", 5), func(v []byte) []byte { return v[:len(v)-1] }},
		{"bad magic on a retained message", retainedKey("a/b"), func(v []byte) []byte { return reseal(v, func(b []byte) { b[0] = 'X' }) }},
		{"retained message under another topic", retainedKey("a/c"), func([]byte) []byte { return encodeRetainedValue(retained[0]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openPebbleTestStore(t, nil, dir, false)
			for _, s := range sessions {
				if err := st.Sessions().Put(s); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range retained {
				if err := st.Retained().Set(m); err != nil {
					t.Fatal(err)
				}
			}
			good, closer, err := st.db.Get(tc.key)
			if errors.Is(err, pebble.ErrNotFound) {
				good = encodeRetainedValue(retained[0])
			} else if err != nil {
				t.Fatal(err)
			} else {
				good = bytes.Clone(good)
				closer.Close()
			}
			if err := st.db.Set(tc.key, tc.value(good), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			st = openPebbleTestStore(t, nil, dir, false)
			_, err1 := st.Sessions().All()
			_, err2 := st.Retained().All()
			if err := errors.Join(err1, err2); !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("load: %v, want ErrStoreCorrupt", err)
			}
			if _, err := NewServer(Options{Sessions: st.Sessions(), Retained: st.Retained(), SysInterval: -1}); !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("NewServer on a corrupt store: %v", err)
			}
			st.Close()

			st = openPebbleTestStore(t, nil, dir, true)
			all, err1 := st.Sessions().All()
			msgs, err2 := st.Retained().All()
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("load with DropCorrupt: %v", err)
			}
			if n := st.Stats().Corrupt; n != 1 {
				t.Fatalf("Stats().Corrupt = %d, want 1", n)
			}
			if len(all)+len(msgs) < len(sessions)+len(retained)-1 {
				t.Fatalf("loaded %d sessions and %d retained messages: more than the corrupt one lost", len(all), len(msgs))
			}
			// Dropped for good: the next load is clean.
			if _, err := st.Sessions().All(); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Retained().All(); err != nil {
				t.Fatal(err)
			}
			if n := st.Stats().Corrupt; n != 1 {
				t.Fatalf("corrupt value loaded again (Corrupt = %d)", n)
			}
		})
	}
}

// FuzzStoreValue feeds bytes to every store decoder: none may panic, and
// whatever decodes must encode to bytes that decode to the same thing.
// Each input is tried as it is and sealed with its CRC (so the fuzzer
// reaches the body decoders instead of stopping at the checksum); the
// seeds are unsealed values.
func FuzzStoreValue(f *testing.F) {
	unseal := func(v []byte) []byte { return v[:len(v)-valueCRCLen] }
	sessions, retained := storeSamples()
	for _, s := range sessions {
		f.Add(byte(kindSession), unseal(encodeSessionValue(s)))
		for _, q := range s.Queued {
			f.Add(byte(kindQueued), unseal(encodeQueuedValue(&q)))
		}
	}
	for _, m := range retained {
		f.Add(byte(kindRetained), unseal(encodeRetainedValue(m)))
	}
	f.Add(byte(keyQueued), queueKey("dev", 7))
	f.Add(byte(kindFormat), appendValueHeader(nil, kindFormat))
	f.Fuzz(func(t *testing.T, kind byte, in []byte) {
		for _, v := range [][]byte{in, sealValue(bytes.Clone(in))} {
			fuzzStoreDecoders(t, kind, v)
		}
	})
}

// fuzzStoreDecoders runs the decoder of kind on v.
func fuzzStoreDecoders(t *testing.T, kind byte, v []byte) {
	switch kind {
	case kindSession:
		st, err := decodeSessionValue("c", v)
		if err != nil {
			return
		}
		again, err := decodeSessionValue("c", encodeSessionValue(st))
		if err != nil || !reflect.DeepEqual(again, st) {
			t.Fatalf("session round trip: %v\n%+v\n%+v", err, st, again)
		}
	case kindQueued:
		q, err := decodeQueuedValue(1, v)
		if err != nil {
			return
		}
		again, err := decodeQueuedValue(1, encodeQueuedValue(&q))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("queued round trip: %v", err)
		}
	case kindRetained:
		m, err := decodeRetainedValue("a/b", v)
		if err != nil {
			return
		}
		again, err := decodeRetainedValue("a/b", encodeRetainedValue(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("retained round trip: %v", err)
		}
	case keyQueued:
		id, seq, err := decodeQueueKey(v)
		if err != nil {
			return
		}
		if !bytes.Equal(queueKey(id, seq), v) {
			t.Fatalf("queue key round trip: %x", v)
		}
	default:
		_, _ = openValue(v, kind)
	}
}

// cutConn is a real client's connection that closes instead of writing
// the client's first packet of type kind: it freezes a QoS 2 flow at a
// chosen step.
type cutConn struct {
	net.Conn
	kind PacketType
	cut  atomic.Bool
}

func (c *cutConn) Write(b []byte) (int, error) {
	if len(b) > 0 && PacketType(b[0]>>4) == c.kind && c.cut.CompareAndSwap(false, true) {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

// TestPebbleStoreReleasedQoS2Restart: a QoS 2 message whose PUBREC came
// (PUBREL sent, PUBCOMP lost with the connection) is stored released;
// after a restart the broker resends PUBREL, not the message, so the
// client gets it exactly once.
func TestPebbleStoreReleasedQoS2Restart(t *testing.T) {
	dir := t.TempDir()
	st := openPebbleTestStore(t, nil, dir, false)
	b := storeBroker(t, st, Options{})
	cp := func(clean bool) *paho.Connect {
		return &paho.Connect{ClientID: "dev", CleanStart: clean, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}}
	}
	raw, err := net.DialTimeout("tcp", b.tcp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := connectV5(t, &cutConn{Conn: raw, kind: PUBCOMP}, cp(true), nil)
	c.sub(t, paho.SubscribeOptions{Topic: "cmd/#", QoS: 2})
	pub := dialV5(t, b.tcp, &paho.Connect{ClientID: "pub", CleanStart: true}, nil)
	pub.pub(t, &paho.Publish{Topic: "cmd/a", QoS: 2, Payload: []byte("once")})
	if m := c.next(t); string(m.Payload) != "once" {
		t.Fatalf("delivery: %q", m.Payload)
	}
	waitConnected(t, b, 1) // PUBREC went, PUBCOMP was cut with the connection
	all, err := st.Sessions().All()
	if err != nil {
		t.Fatal(err)
	}
	var dev *StoredSession
	for _, s := range all {
		if s.ClientID == "dev" {
			dev = s
		}
	}
	if dev == nil || len(dev.Inflight) != 1 || !dev.Inflight[0].Released {
		t.Fatalf("stored session: %+v", dev)
	}

	b, st = restartPebble(t, b, st, dir, Options{})
	c = dialV5(t, b.tcp, cp(false), nil)
	if !c.connack.SessionPresent {
		t.Fatal("session lost")
	}
	c.none(t, 300*time.Millisecond) // PUBREL and PUBCOMP only: no second copy
	c.Disconnect(&paho.Disconnect{})
	waitConnected(t, b, 0)
	all, err = st.Sessions().All()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.ClientID == "dev" && len(s.Inflight) != 0 {
			t.Fatalf("still in flight after PUBCOMP: %+v", s.Inflight)
		}
	}
}

// BenchmarkPebbleStoreEnqueue stores one 64-byte message per Enqueue (a
// QoS 1 publish to one offline session), synced before it returns, from 1
// and from 16 publishers at once: with many, pebble's commit pipeline
// shares each fsync among them (group commit).
func BenchmarkPebbleStoreEnqueue(b *testing.B) {
	for _, publishers := range []int{1, 16} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			st := openPebbleTestStore(b, nil, b.TempDir(), false)
			s := st.Sessions()
			msg := &Message{Topic: "dev/in", Payload: bytes.Repeat([]byte{'x'}, 64), QoS: 1, Created: time.Now()}
			var next atomic.Uint64
			b.SetParallelism(publishers) // per GOMAXPROCS
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					seq := next.Add(1)
					ch := []QueuedChange{{ClientID: fmt.Sprintf("dev-%d", seq%100), Queued: StoredQueued{Seq: seq, QoS: 1, Msg: msg}}}
					if err := s.Enqueue(ch); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestPebbleStoreRandomOps runs random Put / Enqueue / Delete / All /
// reopen sequences (stale snapshots, drops, enqueues before a session
// value and after its deletion) against PebbleStore and against a model
// of the rules in SessionQueueStore's doc, comparing every load.
func TestPebbleStoreRandomOps(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	dir := t.TempDir()
	st := openPebbleTestStore(t, nil, dir, false)
	type client struct {
		header  *StoredSession // nil: no session value
		entries map[uint64]bool
		seq     uint64 // the session's last given Seq
	}
	ids := []string{"a", "b", "c"}
	model := map[string]*client{}
	for _, id := range ids {
		model[id] = &client{entries: map[uint64]bool{}}
	}
	queued := func(seq uint64) StoredQueued {
		return StoredQueued{Seq: seq, QoS: byte(1 + seq%2), Msg: &Message{Topic: "t", Payload: fmt.Appendf(nil, "%d", seq), QoS: 2}}
	}
	want := func() []*StoredSession {
		var out []*StoredSession
		for _, id := range ids {
			c := model[id]
			if c.header == nil {
				clear(c.entries) // orphans are deleted by the load
				continue
			}
			s := *c.header
			s.Queued = nil
			var seqs []uint64
			for q := range c.entries {
				seqs = append(seqs, q)
			}
			slices.Sort(seqs)
			for _, q := range seqs {
				s.Queued = append(s.Queued, queued(q))
				s.LastSeq = max(s.LastSeq, q)
			}
			out = append(out, &s)
		}
		return out
	}
	for step := range 400 {
		id := ids[rng.IntN(len(ids))]
		c := model[id]
		var op string
		switch r := rng.IntN(10); {
		case r < 4: // Enqueue, sometimes dropping the oldest
			c.seq++
			ch := QueuedChange{ClientID: id, Queued: queued(c.seq)}
			if len(c.entries) > 0 && rng.IntN(3) == 0 {
				ch.Dropped = slices.Min(slices.Collect(maps.Keys(c.entries)))
				delete(c.entries, ch.Dropped)
			}
			c.entries[c.seq] = true
			op = fmt.Sprintf("enqueue %s %d drop %d", id, c.seq, ch.Dropped)
			if err := st.Sessions().Enqueue([]QueuedChange{ch}); err != nil {
				t.Fatal(err)
			}
		case r < 7: // Put a snapshot, possibly stale, keeping a random part of the queue
			last := c.seq - min(c.seq, uint64(rng.IntN(2)))
			snap := &StoredSession{ClientID: id, Version: Version5, ExpiryInterval: uint32(rng.IntN(3)), LastSeq: last}
			if rng.IntN(2) == 0 {
				snap.Subscriptions = []StoredSubscription{{Subscription: Subscription{Filter: "x/#", QoS: 1}}}
			}
			for q := range c.entries {
				if q <= last && rng.IntN(4) != 0 {
					snap.Queued = append(snap.Queued, queued(q))
				}
			}
			slices.SortFunc(snap.Queued, func(a, b StoredQueued) int { return cmp.Compare(a.Seq, b.Seq) })
			for q := range c.entries {
				if q <= last && !slices.ContainsFunc(snap.Queued, func(x StoredQueued) bool { return x.Seq == q }) {
					delete(c.entries, q)
				}
			}
			h := *snap
			c.header = &h
			op = fmt.Sprintf("put %s last %d queued %d", id, last, len(snap.Queued))
			if err := st.Sessions().Put(snap); err != nil {
				t.Fatal(err)
			}
		case r < 8:
			c.header = nil
			clear(c.entries)
			op = "delete " + id
			if err := st.Sessions().Delete(id); err != nil {
				t.Fatal(err)
			}
		case r < 9:
			op = "reopen"
			st.Close()
			st = openPebbleTestStore(t, nil, dir, false)
		default:
			op = "load"
		}
		got, err := st.Sessions().All()
		if err != nil {
			t.Fatal(err)
		}
		if w := want(); !reflect.DeepEqual(got, w) {
			t.Fatalf("step %d (%s): loaded\n%s\nwant\n%s", step, op, dumpSessions(got), dumpSessions(w))
		}
	}
}

func dumpSessions(ss []*StoredSession) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "  %s last %d subs %d queued", s.ClientID, s.LastSeq, len(s.Subscriptions))
		for _, q := range s.Queued {
			fmt.Fprintf(&b, " %d", q.Seq)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
