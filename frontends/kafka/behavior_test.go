package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLongPoll: a fetch with max_wait 5s and min_bytes 1 on an empty
// partition waits, and answers as soon as a produce lands, not at 5s.
func TestLongPoll(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	ti, err := b.store.CreateTopic("lp", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr)
	fetch := func(wait int32, minBytes int32) (*kmsg.FetchResponse, time.Duration) {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = wait, minBytes, 1<<20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "lp", ti.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp, time.Since(start)
	}
	// Nothing there, short wait: answers empty after about the wait.
	resp, took := fetch(200, 1)
	if took < 150*time.Millisecond || len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("empty fetch took %v, %d bytes", took, len(resp.Topics[0].Partitions[0].RecordBatches))
	}
	// A produce wakes a waiting fetch.
	go func() {
		time.Sleep(300 * time.Millisecond)
		p := newFranz(t, b.addr, kgo.DefaultProduceTopic("lp"))
		p.ProduceSync(context.Background(), &kgo.Record{Value: []byte("wake")})
	}()
	resp, took = fetch(5000, 1)
	p := resp.Topics[0].Partitions[0]
	if took > 3*time.Second || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("woken fetch took %v, %d bytes, hw %d", took, len(p.RecordBatches), p.HighWatermark)
	}
	// Out of range: at once, with the offsets.
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 5000, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "lp", ti.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = 10, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	r2, err := req.RequestWith(ctx, cl)
	if err != nil || r2.Topics[0].Partitions[0].ErrorCode != kerr.OffsetOutOfRange.Code || time.Since(start) > time.Second ||
		r2.Topics[0].Partitions[0].HighWatermark != 1 || r2.Topics[0].Partitions[0].LogStartOffset != 0 {
		t.Fatalf("out of range: %v %+v after %v", err, r2, time.Since(start))
	}
}

// TestFetchLimits: partition_max_bytes and max_bytes bound the response,
// but the first batch always comes whole (KIP-74).
func TestFetchLimits(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	ti, err := b.store.CreateTopic("lim", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("lim"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 10; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: make([]byte, 1000)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	fetch := func(maxBytes, partMax int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionEpoch, req.MinBytes = maxBytes, -1, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "lim", ti.ID
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, partMax
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	size := func(r *kmsg.FetchResponse, p int) int { return len(r.Topics[0].Partitions[p].RecordBatches) }
	r := fetch(1<<20, 1<<20)
	if size(r, 0) < 10000 || size(r, 1) < 10000 {
		t.Fatalf("unbounded fetch: %d %d", size(r, 0), size(r, 1))
	}
	r = fetch(1<<20, 3000)
	if s := size(r, 0); s == 0 || s > 3000 {
		t.Fatalf("partition max 3000: %d", s)
	}
	r = fetch(10, 10)
	if s0, s1 := size(r, 0), size(r, 1); s0 == 0 || s0 > 1200 || s1 != 0 {
		t.Fatalf("tiny limits: first batch whole, nothing more: %d %d", s0, s1)
	}
}

// TestFetchSessions: franz-go's consumer uses incremental fetch sessions;
// a consumer reading a topic as it is produced ends up with a session.
func TestFetchSessions(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	if _, err := b.store.CreateTopic("sess", 4, nil); err != nil {
		t.Fatal(err)
	}
	prod := newFranz(t, b.addr, kgo.DefaultProduceTopic("sess"))
	cons := newFranz(t, b.addr, kgo.ConsumeTopics("sess"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	total := 0
	for round := 0; round < 5; round++ {
		for i := 0; i < 20; i++ {
			prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(round, i))}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		want := (round + 1) * 20
		for total < want {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("round %d: %d of %d", round, total, want)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
			total += fs.NumRecords()
		}
	}
	if n := b.srv.sessions.len(); n == 0 {
		t.Fatal("no fetch session was created")
	}
	if total != 100 {
		t.Fatalf("consumed %d records, want 100", total)
	}
}

// TestFetchSessionProtocol drives KIP-227 by hand: create, incremental
// with no change (empty), a stale epoch, an unknown session.
func TestFetchSessionProtocol(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	ti, err := b.store.CreateTopic("fs", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr)
	fetch := func(id, epoch int32, parts ...int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionID, req.SessionEpoch = 1<<20, id, epoch
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "fs", ti.ID
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes = p, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := fetch(0, 0, 0, 1)
	if r.ErrorCode != 0 || r.SessionID == 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 2 {
		t.Fatalf("create: %+v", r)
	}
	id := r.SessionID
	if r := fetch(id, 1); r.ErrorCode != 0 || len(r.Topics) != 0 {
		t.Fatalf("incremental, nothing new: %+v", r)
	}
	prod := newFranz(t, b.addr, kgo.DefaultProduceTopic("fs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r = fetch(id, 2)
	if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || r.Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("incremental, partition 1 changed: %+v", r)
	}
	if r := fetch(id, 2); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("stale epoch: %d", r.ErrorCode)
	}
	if r := fetch(id+1000, 1); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: %d", r.ErrorCode)
	}
	if r := fetch(id, -1, 0); r.SessionID != 0 || b.srv.sessions.get(id) != nil {
		t.Fatalf("close: %+v", r)
	}
}

// TestListOffsets: earliest, latest, by timestamp, max timestamp.
func TestListOffsets(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	if _, err := b.store.CreateTopic("lo", 1, nil); err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("lo"), kgo.MaxBufferedRecords(1))
	base := time.UnixMilli(1_700_000_000_000)
	// Timestamps 0, 10, ..., 90 ms after base, with a spike at offset 5.
	for i := 0; i < 10; i++ {
		ts := base.Add(time.Duration(i*10) * time.Millisecond)
		if i == 5 {
			ts = base.Add(time.Hour)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v"), Timestamp: ts}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	check := func(name string, lo kadm.ListedOffsets, err error, off int64) {
		t.Helper()
		if err != nil || lo.Error() != nil {
			t.Fatalf("%s: %v %v", name, err, lo.Error())
		}
		if got := lo["lo"][0].Offset; got != off {
			t.Fatalf("%s: offset %d, want %d", name, got, off)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, "lo")
	check("earliest", lo, err, 0)
	lo, err = adm.ListEndOffsets(ctx, "lo")
	check("latest", lo, err, 10)
	lo, err = adm.ListOffsetsAfterMilli(ctx, base.Add(25*time.Millisecond).UnixMilli(), "lo")
	check("by time", lo, err, 3)
	lo, err = adm.ListOffsetsAfterMilli(ctx, base.Add(2*time.Hour).UnixMilli(), "lo")
	check("after the end", lo, err, 10) // kadm maps "none" to the end offset
	lo, err = adm.ListMaxTimestampOffsets(ctx, "lo")
	check("max timestamp", lo, err, 5)
	if ts := lo["lo"][0].Timestamp; ts != base.Add(time.Hour).UnixMilli() {
		t.Fatalf("max timestamp %d", ts)
	}
}

// TestProduceErrors: unknown partition, corrupt batch, too large, bad acks.
func TestProduceErrors(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.MaxMessageBytes = 4096; o.AutoCreateTopics = Bool(false) })
	ctx := ctxT(t, 20*time.Second)
	if _, err := b.store.CreateTopic("pe", 1, nil); err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("pe"), kgo.ProducerBatchMaxBytes(1<<20), kgo.RecordRetries(0), kgo.RequestRetries(0), kgo.RecordDeliveryTimeout(3*time.Second),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 8000)}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	// A raw produce: corrupt CRC, unknown topic, bad acks.
	batch := kmsg.RecordBatch{Magic: 2, NumRecords: 1, Records: []byte{2, 0, 0, 0, 0, 0, 0}, LastOffsetDelta: 0}
	raw := batch.AppendTo(nil)
	produce := func(topic string, acks int16, records []byte) int16 {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce("pe", -1, raw); code != kerr.CorruptMessage.Code {
		t.Fatalf("bad crc: %d", code)
	}
	if code := produce("nope", -1, raw); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %d", code)
	}
	// kgo rewrites acks to its own config: acks=2 goes by hand.
	{
		c := dialRaw(t, b.addr)
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 2, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = raw
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		c.request(req, 9, 1)
		_, body, err := c.response(true)
		if err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if err := resp.ReadFrom(body); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequiredAcks.Code {
			t.Fatalf("acks 2: %v %+v", err, resp)
		}
	}
	if code := produce("pe", -1, []byte{1, 2, 3}); code != kerr.CorruptMessage.Code {
		t.Fatalf("garbage: %d", code)
	}
	if hw := mustPartition(t, b, "pe", 0).HighWatermark(); hw != 0 {
		t.Fatalf("hw %d after failed produces", hw)
	}
	// acks=0: no response, the record lands.
	acks0 := newFranz(t, b.addr, kgo.DefaultProduceTopic("pe"), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	if err := acks0.ProduceSync(ctx, &kgo.Record{Value: []byte("fire and forget")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for mustPartition(t, b, "pe", 0).HighWatermark() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("acks=0 record never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustPartition(t testing.TB, b *testBroker, topic string, p int32) interface{ HighWatermark() int64 } {
	t.Helper()
	l, err := b.store.Partition(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRestartKeepsData: records produced before a restart are read after
// it, byte-identical, from a new listener on the same data directory.
func TestRestartKeepsData(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 30*time.Second)
	cl := newFranz(t, b.addr, kgo.AllowAutoTopicCreation(), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	recs := testRecords("restart", 200)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	id := func() [16]byte { ti, _ := b.store.Topic("restart"); return ti.ID }
	before := id()
	b.restart()
	if id() != before {
		t.Fatal("topic id changed across restart")
	}
	got := consumeN(t, b.addr, "restart", len(recs))
	for i := range recs {
		sameRecord(t, recs[i], got[i])
	}
}

// TestCloseDuringLongPoll: Close answers a waiting fetch, lets clients go,
// and leaves no connection goroutine behind.
func TestCloseDuringLongPoll(t *testing.T) {
	b := startBroker(t)
	ti, err := b.store.CreateTopic("cl", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	c := dialRaw(t, b.addr)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 20000, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "cl", ti.ID
	rt.Partitions = append(rt.Partitions, kmsg.FetchRequestTopicPartition{PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, LogStartOffset: -1})
	req.Topics = append(req.Topics, rt)
	c.request(req, 12, 1)
	time.Sleep(100 * time.Millisecond) // the fetch is waiting
	start := time.Now()
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %v with a long poll in flight", took)
	}
	// The waiting fetch was answered before the connection closed.
	if corr, _, err := c.response(true); err != nil || corr != 1 {
		t.Fatalf("long poll at close: corr %d, %v", corr, err)
	}
	if _, _, err := c.response(true); err == nil {
		t.Fatal("connection still open after Close")
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines before the connection, %d after Close", before, n)
	}
}

// TestTieredTopicConsumedFromObjects: a tiered topic whose old segments
// were uploaded and evicted locally is consumed from offset 0
// byte-identical (reads of those offsets go through the block cache to
// the object store), before and after a restart.
func TestTieredTopicConsumedFromObjects(t *testing.T) {
	b := startBroker(t, func(*Options) {})
	b.close()
	b.tiered = true
	b.open()
	ctx := ctxT(t, 60*time.Second)
	adm := kadm.NewClient(newFranz(t, b.addr))
	cr, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"storage.mode": kadm.StringPtr("tiered"), "segment.bytes": kadm.StringPtr("4096"),
		"local.retention.bytes": kadm.StringPtr("0"), "retention.ms": kadm.StringPtr("-1")}, "cold")
	if err != nil || cr.Err != nil {
		t.Fatalf("create: %v %v", err, cr.Err)
	}
	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("cold"), kgo.MaxBufferedRecords(1), kgo.ProducerBatchCompression(kgo.NoCompression()))
	recs := testRecords("cold", 120)
	for _, r := range recs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	remote := func() int {
		l, err := b.store.Partition("cold", 0)
		if err != nil {
			t.Fatal(err)
		}
		return l.Stats().RemoteSegments
	}
	for remote() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no segment was evicted to the object tier")
		}
		b.store.RunRetention()
		time.Sleep(20 * time.Millisecond)
	}
	for round := 0; round < 2; round++ {
		got := consumeN(t, b.addr, "cold", len(recs))
		for i := range recs {
			sameRecord(t, recs[i], got[i])
		}
		l, _ := b.store.Partition("cold", 0)
		if st := l.Stats(); st.RemoteReads == 0 || st.RemoteSegments == 0 {
			t.Fatalf("round %d: the consume did not read from the object tier: %+v", round, st)
		}
		b.restart()
	}
}

// TestFetchSessionNoStarvation: with a session and a max_bytes that fits
// one partition's batch, successive incremental fetches serve every
// partition in turn (the session rotates partitions that returned data
// to the end).
func TestFetchSessionNoStarvation(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	ti, err := b.store.CreateTopic("rot", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("rot"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 5; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: make([]byte, 500)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	fetch := func(id, epoch int32, withParts bool) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionID, req.SessionEpoch = 1, id, epoch
		if withParts {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "rot", ti.ID
			for p := int32(0); p < 3; p++ {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes = p, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	served := map[int32]bool{}
	note := func(r *kmsg.FetchResponse) {
		for _, tp := range r.Topics {
			for _, p := range tp.Partitions {
				if len(p.RecordBatches) > 0 {
					served[p.Partition] = true
				}
			}
		}
	}
	r := fetch(0, 0, true)
	note(r)
	for epoch := int32(1); epoch <= 2; epoch++ {
		note(fetch(r.SessionID, epoch, false))
	}
	if len(served) != 3 {
		t.Fatalf("partitions served over three fetches: %v", served)
	}
}

// TestIdleConnectionClosed: a connection that sends nothing for
// IdleTimeout is closed; one in a long poll longer than that is not.
func TestIdleConnectionClosed(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	ti, err := b.store.CreateTopic("idle", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	busy := dialRaw(t, b.addr)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 800, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "idle", ti.ID
	rt.Partitions = append(rt.Partitions, kmsg.FetchRequestTopicPartition{PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, LogStartOffset: -1})
	req.Topics = append(req.Topics, rt)
	busy.request(req, 12, 1)
	idle := dialRaw(t, b.addr)
	start := time.Now()
	if _, _, err := idle.response(false); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("idle connection: %v after %v", err, time.Since(start))
	}
	if corr, _, err := busy.response(true); err != nil || corr != 1 {
		t.Fatalf("long poll past the idle timeout: corr %d, %v", corr, err)
	}
}

// TestMetrics: the frontend's metrics count requests, connections and bytes.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, func(o *Options) { o.Registerer = reg })
	ctx := ctxT(t, 20*time.Second)
	cl := newFranz(t, b.addr, kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("m"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("metric")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumeN(t, b.addr, "m", 1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" && l.GetValue() != "Produce" {
					v = 0
				}
			}
			got[mf.GetName()] += v
		}
	}
	for _, name := range []string{"strata_kafka_requests_total", "strata_kafka_connections_accepted_total", "strata_kafka_produce_bytes_total", "strata_kafka_fetch_bytes_total"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v", name, got[name])
		}
	}
}

// TestTopicIDsAndSmallAPIs: Metadata and DeleteTopics by topic id,
// DescribeCluster, OffsetForLeaderEpoch.
func TestTopicIDsAndSmallAPIs(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	cl := newFranz(t, b.addr)
	ti, err := b.store.CreateTopic("ids", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := newFranz(t, b.addr, kgo.DefaultProduceTopic("ids"), kgo.RecordPartitioner(kgo.ManualPartitioner())).
		ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("x")}, &kgo.Record{Partition: 1, Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{TopicID: ti.ID}, {TopicID: [16]byte{9}}}
	mr, err := md.RequestWith(ctx, cl)
	if err != nil || len(mr.Topics) != 2 || mr.Topics[0].Topic == nil || *mr.Topics[0].Topic != "ids" || len(mr.Topics[0].Partitions) != 2 ||
		mr.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("metadata by id: %v %+v", err, mr)
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dr, err := dc.RequestWith(ctx, cl)
	if err != nil || dr.ErrorCode != 0 || dr.ClusterID != DefaultClusterID || len(dr.Brokers) != 1 || dr.ControllerID != 1 {
		t.Fatalf("describe cluster: %v %+v", err, dr)
	}

	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oe.ReplicaID = -1
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "ids"
	ot.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 1, CurrentLeaderEpoch: 0, LeaderEpoch: 0}, {Partition: 0, CurrentLeaderEpoch: 3, LeaderEpoch: 0}}
	oe.Topics = append(oe.Topics, ot)
	or, err := oe.RequestWith(ctx, cl)
	if err != nil || or.Topics[0].Partitions[0].EndOffset != 2 || or.Topics[0].Partitions[0].LeaderEpoch != 0 ||
		or.Topics[0].Partitions[1].ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("offset for leader epoch: %v %+v", err, or)
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TimeoutMillis = 5000
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: ti.ID}, {TopicID: [16]byte{9}}}
	delr, err := del.RequestWith(ctx, cl)
	if err != nil || delr.Topics[0].ErrorCode != 0 || delr.Topics[0].Topic == nil || *delr.Topics[0].Topic != "ids" ||
		delr.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("delete by id: %v %+v", err, delr)
	}
	if _, err := b.store.Topic("ids"); err == nil {
		t.Fatal("topic still there")
	}
}

// TestFetchSessionOutlivesTopic: a v13+ session holding a topic that is
// deleted and re-created under the same name answers UNKNOWN_TOPIC_ID for
// the old id and never serves the new topic's records under it.
func TestFetchSessionOutlivesTopic(t *testing.T) {
	b := startBroker(t)
	ctx := ctxT(t, 20*time.Second)
	old, err := b.store.CreateTopic("again", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFranz(t, b.addr)
	fetch := func(id, epoch int32, topicID [16]byte) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionID, req.SessionEpoch = 1<<20, id, epoch
		if topicID != ([16]byte{}) {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = topicID
			rt.Partitions = []kmsg.FetchRequestTopicPartition{{PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, LogStartOffset: -1}}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := fetch(0, 0, old.ID)
	if r.ErrorCode != 0 || r.SessionID == 0 {
		t.Fatalf("create: %+v", r)
	}
	if err := b.store.DeleteTopic("again"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.CreateTopic("again", 1, nil); err != nil {
		t.Fatal(err)
	}
	p := newFranz(t, b.addr, kgo.DefaultProduceTopic("again"))
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("new topic")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r = fetch(r.SessionID, 1, [16]byte{})
	if len(r.Topics) != 1 || r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code || len(r.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("old id after re-create: %+v", r)
	}
}

// TestAcksZeroErrorClosesConnection: acks=0 gets no response; a failed
// acks=0 produce closes the connection (Kafka's signal to the producer).
func TestAcksZeroErrorClosesConnection(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.AutoCreateTopics = Bool(false) })
	if _, err := b.store.CreateTopic("a0", 1, nil); err != nil {
		t.Fatal(err)
	}
	produce := func(c *rawConn, topic string, corr int32) {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 0, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: testBatch(1)}}
		req.Topics = append(req.Topics, rt)
		c.request(req, 9, corr)
	}
	c := dialRaw(t, b.addr)
	produce(c, "a0", 1)
	c.request(kmsg.NewPtrMetadataRequest(), 12, 2)
	if corr, _, err := c.response(true); err != nil || corr != 2 {
		t.Fatalf("after a good acks=0 produce: corr %d, %v (want the metadata answer only)", corr, err)
	}
	produce(c, "missing", 3)
	if _, _, err := c.response(true); err == nil {
		t.Fatal("a failed acks=0 produce left the connection open")
	}
	if hw := mustPartition(t, b, "a0", 0).HighWatermark(); hw != 1 {
		t.Fatalf("hw %d", hw)
	}
}
