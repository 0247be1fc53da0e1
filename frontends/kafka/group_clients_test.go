package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
	"strata/meta"
)

// Consumer groups driven by real clients over real sockets: franz-go
// (classic eager and cooperative, static membership, KIP-848) and sarama.

// fastGroups shortens the coordinator's timers for tests.
func fastGroups(b *testBroker) {
	b.srv.groups.setTiming(GroupOptions{
		InitialRebalanceDelay:     200 * time.Millisecond,
		ConsumerHeartbeatInterval: 250 * time.Millisecond,
		ConsumerSessionTimeout:    6 * time.Second,
	})
}

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(newFranz(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// produceSpread produces n records round-robin over partitions and
// waits for them all.
func produceSpread(t *testing.T, addr, topic string, partitions int32, from, n int) {
	t.Helper()
	cl := newFranz(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32((from + i) % int(partitions)), Value: []byte(fmt.Sprint(from + i))}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// groupRun tracks what a set of group consumers received.
type groupRun struct {
	t     *testing.T
	addr  string
	topic string
	group string

	mu       sync.Mutex
	seen     map[string]string // "topic/partition/offset" -> consumer
	byTopic  map[string][]int64
	dups     []string
	assigned map[string][]int32 // consumer -> partitions it holds
}

func newGroupRun(t *testing.T, addr, topic, group string) *groupRun {
	return &groupRun{t: t, addr: addr, topic: topic, group: group, seen: map[string]string{}, byTopic: map[string][]int64{}, assigned: map[string][]int32{}}
}

type runConsumer struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs one consumer: it polls with rebalances blocked, records
// what it gets, marks it for commit, then allows rebalances, so that
// everything it received is committed before a partition moves.
func (r *groupRun) start(name string, opts ...kgo.Opt) *runConsumer {
	r.t.Helper()
	track := func(lost, commit bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if commit {
				// A revoke callback replaces kgo's own commit on
				// revoke: commit what was processed before the
				// partitions move.
				if err := cl.CommitMarkedOffsets(ctx); err != nil {
					r.t.Logf("%s: commit on revoke: %v", name, err)
				}
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, p := range m[r.topic] {
				if lost {
					r.assigned[name] = slices.DeleteFunc(r.assigned[name], func(q int32) bool { return q == p })
				} else if !slices.Contains(r.assigned[name], p) {
					r.assigned[name] = append(r.assigned[name], p)
				}
			}
		}
	}
	base := []kgo.Opt{
		kgo.ConsumerGroup(r.group), kgo.ConsumeTopics(r.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(), kgo.BlockRebalanceOnPoll(),
		kgo.HeartbeatInterval(300 * time.Millisecond), kgo.SessionTimeout(6 * time.Second),
		kgo.OnPartitionsAssigned(track(false, false)), kgo.OnPartitionsRevoked(track(true, true)), kgo.OnPartitionsLost(track(true, false)),
	}
	cl := newFranz(r.t, r.addr, append(base, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	c := &runConsumer{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 100)
			fs.EachRecord(func(rec *kgo.Record) {
				key := fmt.Sprintf("%s/%d/%d", rec.Topic, rec.Partition, rec.Offset)
				r.mu.Lock()
				r.byTopic[rec.Topic] = append(r.byTopic[rec.Topic], rec.Offset)
				if prev, ok := r.seen[key]; ok {
					r.dups = append(r.dups, fmt.Sprintf("%s by %s, then by %s", key, prev, name))
				}
				r.seen[key] = name
				r.mu.Unlock()
			})
			cl.MarkCommitRecords(fs.Records()...)
			cl.AllowRebalance()
		}
	}()
	return c
}

// stop ends the poll loop, commits what was marked and leaves the group
// (kgo's Close).
func (c *runConsumer) stop(t *testing.T) {
	c.cancel()
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
		t.Errorf("%s: commit: %v", c.name, err)
	}
	c.cl.Close()
}

func (r *groupRun) consumed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// waitAssigned waits until the named consumers hold all partitions,
// each holding want[i].
func (r *groupRun) waitAssigned(partitions int, want map[string]int) {
	r.t.Helper()
	waitFor(r.t, 30*time.Second, func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		total := 0
		for name, n := range want {
			if len(r.assigned[name]) != n {
				return fmt.Sprintf("assignment %v, want counts %v", r.assigned, want)
			}
			total += n
		}
		if total != partitions {
			return fmt.Sprintf("assignment %v covers %d partitions", r.assigned, total)
		}
		return ""
	})
}

func waitFor(t *testing.T, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *groupRun) waitConsumed(n int) {
	r.t.Helper()
	waitFor(r.t, 30*time.Second, func() string {
		if got := r.consumed(); got != n {
			return fmt.Sprintf("consumed %d of %d", got, n)
		}
		return ""
	})
}

func (r *groupRun) checkNoDups() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dups) > 0 {
		r.t.Fatalf("%d records consumed twice: %v", len(r.dups), r.dups[:min(10, len(r.dups))])
	}
}

// committed returns the group's committed offsets for topic.
func committed(t *testing.T, addr, group, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newFranz(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p, o := range offs[topic] {
		if o.Err != nil {
			t.Fatalf("partition %d: %v", p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

// threeShareSix runs three consumers of one group over six partitions,
// stops one, and checks the other two take its partitions with no record
// consumed twice.
func threeShareSix(t *testing.T, b *testBroker, group string, check func(addr string), opts ...kgo.Opt) {
	const topic, parts = "orders", 6
	createTopic(t, b.addr, topic, parts)
	r := newGroupRun(t, b.addr, topic, group)
	c1 := r.start("c1", opts...)
	c2 := r.start("c2", opts...)
	c3 := r.start("c3", opts...)
	r.waitAssigned(parts, map[string]int{"c1": 2, "c2": 2, "c3": 2})
	produceSpread(t, b.addr, topic, parts, 0, 300)
	r.waitConsumed(300)

	c3.stop(t)
	r.waitAssigned(parts, map[string]int{"c1": 3, "c2": 3})
	produceSpread(t, b.addr, topic, parts, 300, 300)
	r.waitConsumed(600)
	r.checkNoDups()
	check(b.addr)

	c1.stop(t)
	c2.stop(t)
	offs := committed(t, b.addr, group, topic)
	for p := int32(0); p < parts; p++ {
		if offs[p] != 100 {
			t.Fatalf("committed %v, want 100 on every partition", offs)
		}
	}
}

// describeTwoStable checks with kadm that the group is Stable with two
// members holding three partitions each.
func describeTwoStable(t *testing.T, group string) func(addr string) {
	return func(addr string) {
		adm := kadm.NewClient(newFranz(t, addr))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		d := described[group]
		if d.Err != nil || d.State != "Stable" || len(d.Members) != 2 {
			t.Fatalf("DescribeGroups: %+v", d)
		}
		for _, m := range d.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				t.Fatalf("member %s: assignment is not a consumer assignment", m.MemberID)
			}
			n := 0
			for _, tp := range ca.Topics {
				n += len(tp.Partitions)
			}
			if n != 3 {
				t.Fatalf("member %s holds %d partitions, want 3", m.MemberID, n)
			}
		}
	}
}

func TestFranzGroupThreeConsumersRebalance(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	threeShareSix(t, b, "g-coop", describeTwoStable(t, "g-coop")) // kgo's default: cooperative-sticky
}

func TestFranzGroupEagerRebalance(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	threeShareSix(t, b, "g-eager", describeTwoStable(t, "g-eager"), kgo.Balancers(kgo.RangeBalancer()))
}

// TestFranzGroupKIP848 runs the same three consumers with the KIP-848
// protocol: the coordinator assigns (ConsumerGroupHeartbeat).
func TestFranzGroupKIP848(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	threeShareSix(t, b, "g-848", func(addr string) {
		// ConsumerGroupDescribe: two members, three partitions each,
		// reconciled.
		cl := newFranz(t, addr)
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{"g-848"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		g := resp.Groups[0]
		if g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != 2 || g.AssignorName != "uniform" {
			t.Fatalf("ConsumerGroupDescribe: %+v", g)
		}
		for _, m := range g.Members {
			n := 0
			for _, tp := range m.Assignment.TopicPartitions {
				n += len(tp.Partitions)
			}
			if n != 3 || m.MemberEpoch != g.Epoch {
				t.Fatalf("member %s: %d partitions at epoch %d (group epoch %d)", m.MemberID, n, m.MemberEpoch, g.Epoch)
			}
		}
	}, kgo.ServerSideBalancer())
	adm := kadm.NewClient(newFranz(t, b.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := groups["g-848"]; !ok || g.ProtocolType != "consumer" {
		t.Fatalf("ListGroups: %+v", groups)
	}
	b.srv.groups.mu.Lock()
	typ := b.srv.groups.mu.groups["g-848"].typ
	b.srv.groups.mu.Unlock()
	if typ != groupTypeConsumer {
		t.Fatalf("group type %q, want the KIP-848 consumer type", typ)
	}
}

// TestFranzStaticMemberRejoin restarts a static member: it gets its
// partitions back without a rebalance (the generation does not move and
// the other member keeps its partitions throughout).
func TestFranzStaticMemberRejoin(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	const topic, parts = "static", 4
	createTopic(t, b.addr, topic, parts)
	r := newGroupRun(t, b.addr, topic, "g-static")
	c1 := r.start("c1", kgo.InstanceID("i1"), kgo.Balancers(kgo.RangeBalancer()))
	c2 := r.start("c2", kgo.InstanceID("i2"), kgo.Balancers(kgo.RangeBalancer()))
	r.waitAssigned(parts, map[string]int{"c1": 2, "c2": 2})
	produceSpread(t, b.addr, topic, parts, 0, 40)
	r.waitConsumed(40)
	generation := func() int32 {
		b.srv.groups.mu.Lock()
		defer b.srv.groups.mu.Unlock()
		return b.srv.groups.mu.groups["g-static"].generation
	}
	gen := generation()

	// A static member's Close does not leave the group.
	c2.stop(t)
	r.mu.Lock()
	before := slices.Clone(r.assigned["c1"])
	delete(r.assigned, "c2")
	r.mu.Unlock()
	c2b := r.start("c2", kgo.InstanceID("i2"), kgo.Balancers(kgo.RangeBalancer()))
	r.waitAssigned(parts, map[string]int{"c1": 2, "c2": 2})
	produceSpread(t, b.addr, topic, parts, 40, 40)
	r.waitConsumed(80)
	r.checkNoDups()
	if g := generation(); g != gen {
		t.Fatalf("generation %d after the static rejoin, want %d (no rebalance)", g, gen)
	}
	r.mu.Lock()
	after := slices.Clone(r.assigned["c1"])
	r.mu.Unlock()
	if !slices.Equal(before, after) {
		t.Fatalf("c1's partitions moved: %v then %v", before, after)
	}
	c1.stop(t)
	c2b.stop(t)
}

// TestGroupOffsetsSurviveRestart commits through a group consumer,
// restarts the broker and checks the offsets, the group and a consumer
// resuming where the first stopped.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	const topic, parts = "durable", 3
	createTopic(t, b.addr, topic, parts)
	produceSpread(t, b.addr, topic, parts, 0, 30)
	r := newGroupRun(t, b.addr, topic, "g-durable")
	c := r.start("c1")
	r.waitConsumed(30)
	c.stop(t)
	want := committed(t, b.addr, "g-durable", topic)
	if len(want) != parts || want[0] != 10 {
		t.Fatalf("committed before restart: %v", want)
	}

	b.restart()
	fastGroups(b)
	if got := committed(t, b.addr, "g-durable", topic); !maps.Equal(got, want) {
		t.Fatalf("committed after restart %v, want %v", got, want)
	}
	adm := kadm.NewClient(newFranz(t, b.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	described, err := adm.DescribeGroups(ctx, "g-durable")
	if err != nil {
		t.Fatal(err)
	}
	if d := described["g-durable"]; d.Err != nil || d.State != "Empty" || d.ProtocolType != "consumer" {
		t.Fatalf("group after restart: %+v", d)
	}
	produceSpread(t, b.addr, topic, parts, 30, 30)
	r2 := newGroupRun(t, b.addr, topic, "g-durable")
	c2 := r2.start("c2")
	r2.waitConsumed(30)
	c2.stop(t)
	r2.mu.Lock()
	defer r2.mu.Unlock()
	for _, o := range r2.byTopic[topic] {
		if o < 10 {
			t.Fatalf("after restart the group re-read offset %d, below its committed offset", o)
		}
	}
}

// saramaHandler counts what a sarama group member consumes, marks it,
// and records the partitions of its current claims.
type saramaHandler struct {
	name   string
	mu     *sync.Mutex
	seen   map[string]int
	claims map[string]int // member -> partitions claimed this session
}

func (h saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ps := range s.Claims() {
		n += len(ps)
	}
	h.claims[h.name] = n
	return nil
}

func (h saramaHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.claims, h.name)
	return nil
}

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen[fmt.Sprintf("%d/%d", m.Partition, m.Offset)]++
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

// TestSaramaConsumerGroup runs three sarama group members (eager range)
// over six partitions, stops one, and checks the other two take its
// partitions: every record consumed once, the offsets committed.
func TestSaramaConsumerGroup(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	const topic, parts = "sarama-group", 6
	createTopic(t, b.addr, topic, parts)

	var mu sync.Mutex
	seen := map[string]int{}
	claims := map[string]int{}
	type member struct {
		g      sarama.ConsumerGroup
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) *member {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.ClientID = name
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = 6 * time.Second
		cfg.Consumer.Group.Rebalance.Timeout = 6 * time.Second
		g, err := sarama.NewConsumerGroup([]string{b.addr}, "g-sarama", cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &member{g: g, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, saramaHandler{name, &mu, seen, claims}); err != nil && ctx.Err() == nil {
					t.Errorf("sarama consume: %v", err)
					return
				}
			}
		}()
		return m
	}
	stop := func(m *member) {
		m.cancel()
		<-m.done
		if err := m.g.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitClaims := func(want map[string]int) {
		waitFor(t, 30*time.Second, func() string {
			mu.Lock()
			defer mu.Unlock()
			if !maps.Equal(claims, want) {
				return fmt.Sprintf("claims %v, want %v", claims, want)
			}
			return ""
		})
	}
	waitSeen := func(n int) {
		waitFor(t, 30*time.Second, func() string {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != n {
				return fmt.Sprintf("sarama consumed %d of %d", len(seen), n)
			}
			return ""
		})
	}
	m1, m2, m3 := start("s1"), start("s2"), start("s3")
	waitClaims(map[string]int{"s1": 2, "s2": 2, "s3": 2})
	produceSpread(t, b.addr, topic, parts, 0, 120)
	waitSeen(120)
	stop(m3) // sarama commits what it marked when its session ends
	waitClaims(map[string]int{"s1": 3, "s2": 3})
	produceSpread(t, b.addr, topic, parts, 120, 120)
	waitSeen(240)

	adm := kadm.NewClient(newFranz(t, b.addr))
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	described, err := adm.DescribeGroups(dctx, "g-sarama")
	if err != nil {
		t.Fatal(err)
	}
	if d := described["g-sarama"]; d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("sarama group: state %s, %d members", d.State, len(d.Members))
	}
	stop(m1)
	stop(m2)
	mu.Lock()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s consumed %d times", k, n)
		}
	}
	mu.Unlock()
	offs := committed(t, b.addr, "g-sarama", topic)
	for p := int32(0); p < parts; p++ {
		if offs[p] != 40 {
			t.Fatalf("sarama committed %v, want 40 on every partition", offs)
		}
	}
}

// TestKcatBalancedConsumer runs librdkafka's consumer group (kcat -G)
// three times over one group: the first reads everything, the second
// nothing (the offsets were committed on close), the third only what was
// produced since.
func TestKcatBalancedConsumer(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	fastGroups(b)
	const topic, parts = "kcat-group", 3
	createTopic(t, b.addr, topic, parts)
	produceSpread(t, b.addr, topic, parts, 0, 30)
	run := func() []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-b", b.addr, "-G", "g-kcat", "-e", "-q",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=300",
			"-f", "%p/%o\n", topic)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kcat -G: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	if got := run(); len(got) != 30 {
		t.Fatalf("first kcat run read %d records, want 30: %v", len(got), got)
	}
	offs := committed(t, b.addr, "g-kcat", topic)
	for p := int32(0); p < parts; p++ {
		if offs[p] != 10 {
			t.Fatalf("kcat committed %v, want 10 on every partition", offs)
		}
	}
	if got := run(); len(got) != 0 {
		t.Fatalf("second kcat run read %d records, want none: %v", len(got), got)
	}
	produceSpread(t, b.addr, topic, parts, 30, 6)
	got := run()
	slices.Sort(got)
	if want := []string{"0/10", "0/11", "1/10", "1/11", "2/10", "2/11"}; !slices.Equal(got, want) {
		t.Fatalf("third kcat run read %v, want %v", got, want)
	}
}

// TestFranzKIP848RegexAndStatic subscribes by regex (SubscribedTopicRegex,
// matched by the coordinator) with a static member: restarted with the
// same instance id after its epoch -2 leave, it takes its partitions
// back.
func TestFranzKIP848RegexAndStatic(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	createTopic(t, b.addr, "re-a", 2)
	createTopic(t, b.addr, "re-b", 2)
	createTopic(t, b.addr, "other", 2)
	opts := []kgo.Opt{kgo.ConsumeRegex(), kgo.ServerSideBalancer(), kgo.InstanceID("s1")}
	r := newGroupRun(t, b.addr, "^re-.*", "g-848-re")
	count := func(topic string) int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.byTopic[topic])
	}
	c1 := r.start("c1", opts...)
	produceSpread(t, b.addr, "re-a", 2, 0, 10)
	produceSpread(t, b.addr, "re-b", 2, 0, 10)
	produceSpread(t, b.addr, "other", 2, 0, 10)
	waitFor(t, 30*time.Second, func() string {
		if count("re-a") != 10 || count("re-b") != 10 {
			return fmt.Sprintf("consumed re-a %d, re-b %d of 10 each", count("re-a"), count("re-b"))
		}
		return ""
	})
	c1.stop(t)
	b.srv.groups.mu.Lock()
	g := b.srv.groups.mu.groups["g-848-re"]
	var epoch int32
	for _, m := range g.cg.members {
		epoch = m.epoch
	}
	n := len(g.cg.members)
	b.srv.groups.mu.Unlock()
	if n != 1 || epoch != -2 {
		t.Fatalf("after a static member's close: %d members, epoch %d; want 1 member at -2", n, epoch)
	}
	c2 := r.start("c2", opts...)
	produceSpread(t, b.addr, "re-a", 2, 10, 10)
	waitFor(t, 30*time.Second, func() string {
		if count("re-a") != 20 {
			return fmt.Sprintf("consumed re-a %d of 20", count("re-a"))
		}
		return ""
	})
	c2.stop(t)
	r.checkNoDups()
	if count("other") != 0 {
		t.Fatalf("the regex consumer read %d records of a topic it does not match", count("other"))
	}
}

// TestKafkaGoConsumerGroup reads with segmentio/kafka-go's group reader,
// which speaks the oldest versions (JoinGroup v1/v2, SyncGroup v0/v1,
// OffsetCommit v2, OffsetFetch v1): every record once, offsets committed
// per message, and a second reader of the group starts after them.
func TestKafkaGoConsumerGroup(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	const topic, parts = "kafkago-group", 3
	createTopic(t, b.addr, topic, parts)
	produceSpread(t, b.addr, topic, parts, 0, 30)
	read := func(n int) []string {
		t.Helper()
		rd := segkafka.NewReader(segkafka.ReaderConfig{
			Brokers: []string{b.addr}, GroupID: "g-kafkago", Topic: topic,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
			HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
			RebalanceTimeout: 6 * time.Second, StartOffset: segkafka.FirstOffset,
		})
		defer rd.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var got []string
		for len(got) < n {
			m, err := rd.ReadMessage(ctx) // commits the message (CommitInterval 0)
			if err != nil {
				t.Fatalf("kafka-go read %d of %d: %v", len(got), n, err)
			}
			got = append(got, fmt.Sprintf("%d/%d", m.Partition, m.Offset))
		}
		return got
	}
	first := read(30)
	slices.Sort(first)
	if len(slices.Compact(first)) != 30 {
		t.Fatalf("kafka-go read duplicates: %v", first)
	}
	offs := committed(t, b.addr, "g-kafkago", topic)
	for p := int32(0); p < parts; p++ {
		if offs[p] != 10 {
			t.Fatalf("kafka-go committed %v, want 10 on every partition", offs)
		}
	}
	produceSpread(t, b.addr, topic, parts, 30, 3)
	second := read(3)
	slices.Sort(second)
	if want := []string{"0/10", "1/10", "2/10"}; !slices.Equal(second, want) {
		t.Fatalf("second reader read %v, want %v", second, want)
	}
}

// TestGroupMetrics: the coordinator's metrics after a franz-go group
// consumed and committed.
func TestGroupMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, func(o *Options) { o.Registerer = reg })
	fastGroups(b)
	const topic = "metered"
	createTopic(t, b.addr, topic, 2)
	produceSpread(t, b.addr, topic, 2, 0, 10)
	r := newGroupRun(t, b.addr, topic, "g-metrics")
	c := r.start("c1")
	r.waitConsumed(10)
	value := func(name string, labels map[string]string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metrics:
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if labels[lp.GetName()] != lp.GetValue() {
						continue metrics
					}
				}
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		return 0
	}
	if v := value("strata_kafka_groups", map[string]string{"type": "classic", "state": "Stable"}); v != 1 {
		t.Fatalf("strata_kafka_groups{classic,Stable} = %v, want 1", v)
	}
	if v := value("strata_kafka_group_rebalances_total", nil); v < 1 {
		t.Fatalf("strata_kafka_group_rebalances_total = %v", v)
	}
	c.stop(t)
	if v := value("strata_kafka_offset_commits_total", nil); v < 2 {
		t.Fatalf("strata_kafka_offset_commits_total = %v, want at least one per partition", v)
	}
}

// restartSameAddr restarts the broker as restart does, but listening on
// the same address, so that connected clients find it again.
func restartSameAddr(t *testing.T, b *testBroker) {
	t.Helper()
	addr := b.addr
	b.close()
	n, err := meta.OpenNode(meta.NodeOptions{NodeID: 1, RaftAddr: b.raft, Dir: filepath.Join(b.dir, "meta"),
		RTT: 10 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !n.Ready(ctx) {
		n.Close()
		t.Fatal("meta node not ready")
	}
	for !n.Status().HasLeader {
		time.Sleep(5 * time.Millisecond)
	}
	cat, err := meta.NewCatalog(n, meta.CatalogOptions{Timeout: 10 * time.Second, Logger: testLogger()})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: b.dir, Catalog: cat, Logger: testLogger()})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	opts := b.opts
	opts.Store, opts.Node, opts.Logger = st, n, testLogger()
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if i == 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	go srv.Serve(ln)
	b.node, b.catalog, b.store, b.srv = n, cat, st, srv
}

// TestGroupSurvivesCoordinatorRestart restarts the broker under a
// running group, classic and KIP-848: the reloaded coordinator knows the
// members and their generation (group epoch), so they carry on with
// their member ids and read no record twice. (Whether a client rejoins
// anyway is its own choice: kgo gives up its session when heartbeats
// cannot even dial for long, as under the race detector; it then
// rejoins under the same member id, which the reloaded coordinator
// knows.)
func TestGroupSurvivesCoordinatorRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"classic", nil},
		{"kip848", []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t)
			fastGroups(b)
			const topic, parts = "restarted", 4
			createTopic(t, b.addr, topic, parts)
			r := newGroupRun(t, b.addr, topic, "g-restart")
			opts := append([]kgo.Opt{kgo.AutoCommitInterval(100 * time.Millisecond), kgo.RetryTimeout(30 * time.Second)}, tc.opts...)
			c1, c2 := r.start("c1", opts...), r.start("c2", opts...)
			r.waitAssigned(parts, map[string]int{"c1": 2, "c2": 2})
			produceSpread(t, b.addr, topic, parts, 0, 40)
			r.waitConsumed(40)
			state := func() (int32, []string) {
				b.srv.groups.mu.Lock()
				defer b.srv.groups.mu.Unlock()
				g := b.srv.groups.mu.groups["g-restart"]
				switch {
				case g == nil:
					return -1, nil
				case g.typ == groupTypeConsumer:
					return g.cg.epoch, sortedKeys(g.cg.members)
				}
				return g.generation, sortedKeys(g.members)
			}
			gen, members := state() // written behind, and flushed by Close at the latest
			// Everything read is committed before the restart, so that a
			// client that rejoins anyway reads nothing twice.
			waitFor(t, 10*time.Second, func() string {
				offs := committed(t, b.addr, "g-restart", topic)
				for p := int32(0); p < parts; p++ {
					if offs[p] != 10 {
						return fmt.Sprintf("committed %v", offs)
					}
				}
				return ""
			})

			restartSameAddr(t, b)
			fastGroups(b)
			waitFor(t, 10*time.Second, func() string {
				if !b.srv.groups.ready() {
					return "groups not loaded"
				}
				return ""
			})
			if g, ms := state(); g != gen || !slices.Equal(ms, members) {
				t.Fatalf("after restart: generation %d members %v, want %d %v", g, ms, gen, members)
			}
			produceSpread(t, b.addr, topic, parts, 40, 40)
			r.waitConsumed(80)
			r.checkNoDups()
			if g, ms := state(); g < gen || !slices.Equal(ms, members) {
				t.Fatalf("after the restart: generation %d members %v, was %d %v", g, ms, gen, members)
			}
			c1.stop(t)
			c2.stop(t)
		})
	}
}

// TestKadmGroupAdmin drives the group admin APIs with kadm over the wire:
// simple commits, FetchOffsets, ListGroups filters, DescribeGroups,
// DescribeConsumerGroups of a KIP-848 group, OffsetDelete, and
// DeleteGroups of an active and of an empty group.
func TestKadmGroupAdmin(t *testing.T) {
	b := startBroker(t)
	fastGroups(b)
	const topic = "admin"
	createTopic(t, b.addr, topic, 3)
	produceSpread(t, b.addr, topic, 3, 0, 30)
	adm := kadm.NewClient(newFranz(t, b.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An admin commit makes a simple group.
	var offs kadm.Offsets
	offs.AddOffset(topic, 0, 7, -1)
	offs.AddOffset(topic, 1, 8, -1)
	offs.AddOffset("no-such-topic", 0, 1, -1)
	resps, err := adm.CommitOffsets(ctx, "simple", offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resps.Lookup(topic, 1); r.Err != nil {
		t.Fatalf("commit: %v", r.Err)
	}
	if r, _ := resps.Lookup("no-such-topic", 0); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("commit to an unknown topic: %v", r.Err)
	}
	if got := committed(t, b.addr, "simple", topic); got[0] != 7 || got[1] != 8 || len(got) != 2 {
		t.Fatalf("fetched %v", got)
	}

	// A classic consumer and a KIP-848 one.
	rc := newGroupRun(t, b.addr, topic, "classic")
	c1 := rc.start("c1")
	rk := newGroupRun(t, b.addr, topic, "next")
	k1 := rk.start("k1", kgo.ServerSideBalancer())
	rc.waitConsumed(30)
	rk.waitConsumed(30)

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.Groups(); !slices.Equal(got, []string{"classic", "next", "simple"}) {
		t.Fatalf("ListGroups: %v", got)
	}
	stable, err := adm.ListGroups(ctx, "Stable")
	if err != nil {
		t.Fatal(err)
	}
	if got := stable.Groups(); !slices.Equal(got, []string{"classic", "next"}) {
		t.Fatalf("ListGroups(Stable): %v", got)
	}
	byType, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil {
		t.Fatal(err)
	}
	if got := byType.Groups(); !slices.Equal(got, []string{"next"}) {
		t.Fatalf("ListGroupsByType(consumer): %v", got)
	}

	described, err := adm.DescribeGroups(ctx, "classic", "simple")
	if err != nil {
		t.Fatal(err)
	}
	if d := described["classic"]; d.State != "Stable" || len(d.Members) != 1 || d.Protocol != "cooperative-sticky" {
		t.Fatalf("DescribeGroups(classic): %+v", d)
	}
	if d := described["simple"]; d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("DescribeGroups(simple): %+v", d)
	}
	cgs, err := adm.DescribeConsumerGroups(ctx, "next")
	if err != nil {
		t.Fatal(err)
	}
	if d := cgs["next"]; d.Err != nil || d.State != "Stable" || len(d.Members) != 1 || d.AssignorName != "uniform" {
		t.Fatalf("DescribeConsumerGroups(next): %+v", d)
	}

	// OffsetDelete: the subscribed topic of an active group stays.
	dels, err := adm.DeleteOffsets(ctx, "classic", kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := dels[topic][0]; !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("DeleteOffsets of a subscribed topic: %v", err)
	}
	dels, err = adm.DeleteOffsets(ctx, "simple", kadm.TopicsSet{topic: {0: {}}})
	if err != nil || dels[topic][0] != nil {
		t.Fatalf("DeleteOffsets(simple): %v %v", dels, err)
	}

	// DeleteGroups: an active group is NON_EMPTY_GROUP; stopped, it goes.
	deleted, err := adm.DeleteGroups(ctx, "classic", "simple", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(deleted["classic"].Err, kerr.NonEmptyGroup) || deleted["simple"].Err != nil || !errors.Is(deleted["nope"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups: %+v", deleted)
	}
	c1.stop(t)
	k1.stop(t)
	deleted, err = adm.DeleteGroups(ctx, "classic", "next")
	if err != nil {
		t.Fatal(err)
	}
	if deleted["classic"].Err != nil || deleted["next"].Err != nil {
		t.Fatalf("DeleteGroups after the consumers left: %+v", deleted)
	}
	listed, err = adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Fatalf("groups left: %v", listed.Groups())
	}
	if got := committed(t, b.addr, "classic", topic); len(got) != 0 {
		t.Fatalf("a deleted group's offsets: %v", got)
	}
}
