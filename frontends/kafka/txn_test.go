package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/internal/faultproxy"
)

// producerBatch is a v2 batch of n records from producer (pid, epoch)
// starting at sequence seq, transactional if txn.
func producerBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	var raw []byte
	for i := range n {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "p%d-e%d-s%d", pid, epoch, int(seq)+i)}
		body := rec.AppendTo(nil)[1:]
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
	}
	attrs := int16(0)
	if txn {
		attrs = 0x10
	}
	b := kmsg.RecordBatch{Magic: 2, Attributes: attrs, LastOffsetDelta: int32(n - 1), NumRecords: int32(n), Records: raw,
		FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq}
	enc := b.AppendTo(nil)
	binary.BigEndian.PutUint32(enc[8:], uint32(len(enc)-12))
	binary.BigEndian.PutUint32(enc[17:], crc32c(enc[21:]))
	return enc
}

// rawProduce sends one batch to topic/0 and returns the partition's error
// code and base offset.
func rawProduce(t *testing.T, cl *kgo.Client, topic string, batch []byte, txnID *string) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func initProducerID(t *testing.T, cl *kgo.Client, txnID *string, timeoutMs int32) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = txnID, timeoutMs
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v, code %d", err, resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func txnPartition(t *testing.T, b *testBroker, topic string) interface{ HighWatermark() int64 } {
	t.Helper()
	l, err := b.store.Partition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func txnTopic(t *testing.T, b *testBroker, topic string, partitions int32) {
	t.Helper()
	if _, err := b.store.CreateTopic(topic, partitions, nil); err != nil {
		t.Fatal(err)
	}
}

// TestIdempotentSequences drives the sequence rules over the wire with
// hand-built batches, across a restart: a retried batch is answered with
// its original offset, before and after the restart.
func TestIdempotentSequences(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "idem", 1)
	cl := newFranz(t, b.addr)
	pid, epoch := initProducerID(t, cl, nil, 0)
	pid2, _ := initProducerID(t, cl, nil, 0)
	if pid2 == pid {
		t.Fatalf("two idempotent producers got the same id %d", pid)
	}

	type step struct {
		name  string
		pid   int64
		epoch int16
		seq   int32
		n     int
		code  int16
		base  int64 // -1: do not check
	}
	run := func(steps []step) {
		t.Helper()
		for _, s := range steps {
			code, base := rawProduce(t, cl, "idem", producerBatch(s.pid, s.epoch, s.seq, s.n, false), nil)
			if code != s.code || (s.base >= 0 && base != s.base) {
				t.Fatalf("%s: code %d (%v) base %d, want code %d base %d", s.name, code, kerr.ErrorForCode(code), base, s.code, s.base)
			}
		}
	}
	run([]step{
		{"first", pid, epoch, 0, 2, 0, 0},
		{"retry of the first", pid, epoch, 0, 2, 0, 0},
		{"next", pid, epoch, 2, 3, 0, 2},
		{"gap", pid, epoch, 10, 1, kerr.OutOfOrderSequenceNumber.Code, -1},
		{"retry of the second", pid, epoch, 2, 3, 0, 2},
		{"retry of the first, still in the window", pid, epoch, 0, 2, 0, 0},
		{"an unknown producer at any sequence (Kafka 2.5+)", pid2, 0, 7, 1, 0, 5},
		{"its next", pid2, 0, 8, 1, 0, 6},
	})
	b.restart()
	cl = newFranz(t, b.addr)
	if pid3, _ := initProducerID(t, cl, nil, 0); pid3 == pid || pid3 == pid2 {
		t.Fatalf("producer id %d handed out again after a restart", pid3)
	}
	run([]step{
		{"retry of the second after a restart", pid, epoch, 2, 3, 0, 2},
		{"gap after a restart", pid, epoch, 6, 1, kerr.OutOfOrderSequenceNumber.Code, -1},
		{"next after a restart", pid, epoch, 5, 1, 0, 7},
		{"a new epoch must start at 0", pid, epoch + 1, 6, 1, kerr.OutOfOrderSequenceNumber.Code, -1},
		{"a new epoch at 0", pid, epoch + 1, 0, 1, 0, 8},
		{"the old epoch", pid, epoch, 6, 1, kerr.InvalidProducerEpoch.Code, -1},
		{"retry in the new epoch", pid, epoch + 1, 0, 1, 0, 8},
	})
	if hw := txnPartition(t, b, "idem").HighWatermark(); hw != 9 {
		t.Fatalf("high watermark %d, want 9 (no duplicate appended)", hw)
	}
}

// TestFranzIdempotentConnectionDrops produces with franz-go's idempotent
// producer through a proxy that keeps cutting its connections: every
// record is read back exactly once, in order.
func TestFranzIdempotentConnectionDrops(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "drops", 3)
	px, err := faultproxy.New(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	host, port, _ := splitHostPort(px.Addr())
	b.srv.mu.Lock()
	b.srv.mu.host, b.srv.mu.port = host, port // clients reach the broker through the proxy only
	b.srv.mu.Unlock()

	cl := newFranz(t, px.Addr(), kgo.DefaultProduceTopic("drops"), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(5000), kgo.RecordRetries(1000), kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }))
	stop := make(chan struct{})
	var cuts atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1+cuts.Load()%3) * time.Millisecond):
				px.CutAll()
				cuts.Add(1)
			}
		}
	}()
	px.CutAfter(256 << 10) // and every connection dies mid-stream after 256 KiB
	const n = 20000
	pad := make([]byte, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var failed atomic.Int64
	var pwg sync.WaitGroup
	for i := range n {
		pwg.Add(1)
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%30), Value: fmt.Appendf(nil, "%d ", i), Headers: []kgo.RecordHeader{{Key: "pad", Value: pad}}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer pwg.Done()
			if err != nil {
				failed.Add(1)
			}
		})
	}
	pwg.Wait()
	close(stop)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d records failed", f, n)
	}
	t.Logf("%d connection cuts, %d connections, %d duplicate batches answered from the window", cuts.Load(), px.Accepted(), b.srv.producers.duplicates.Load())
	if err := px.Heal(); err != nil {
		t.Fatal(err)
	}

	got := consumeN(t, b.addr, "drops", n)
	seen := map[string]bool{}
	last := map[string]int{} // per key, the order produced is the order read
	for _, r := range got {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("record %s read twice", v)
		}
		seen[v] = true
		var i int
		fmt.Sscan(v, &i)
		k := string(r.Key)
		if p, ok := last[k]; ok && p >= i {
			t.Fatalf("key %s: record %d after %d", k, i, p)
		}
		last[k] = i
	}
	if len(seen) != n {
		t.Fatalf("read %d distinct records, want %d", len(seen), n)
	}
	time.Sleep(200 * time.Millisecond)
	if extra := consumeAll(t, b.addr, "drops", n); len(extra) != n {
		t.Fatalf("the topic holds %d records, want %d (duplicates appended)", len(extra), n)
	}
}

// consumeAll reads topic from the start until it holds at least want
// records and nothing more arrives for half a second.
func consumeAll(t *testing.T, addr, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newFranz(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	deadline := time.Now().Add(20 * time.Second)
	var got []*kgo.Record
	var quiet time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", tp, p, err)
			}
		})
		recs := fs.Records()
		got = append(got, recs...)
		now := time.Now()
		switch {
		case len(got) < want:
			if now.After(deadline) {
				t.Fatalf("consumed %d of %d records of %s", len(got), want, topic)
			}
		case quiet.IsZero() || len(recs) > 0:
			quiet = now.Add(500 * time.Millisecond)
		case now.After(quiet):
			return got
		}
	}
}

// TestFranzTransactions: committed records are visible to read_committed,
// aborted ones only to read_uncommitted, an open transaction holds the
// last stable offset back; after a restart the same holds (the aborted
// index and the open transaction are rebuilt from the log).
func TestFranzTransactions(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "tx", 2)
	produceTxn := func(cl *kgo.Client, prefix string, n int, commit bool) {
		t.Helper()
		ctx := context.Background()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			r := &kgo.Record{Topic: "tx", Partition: int32(i % 2), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce in %s: %v", prefix, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s: %v", prefix, err)
		}
	}
	cl := newFranz(t, b.addr, kgo.TransactionalID("tx-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTxn(cl, "c1", 10, true)
	produceTxn(cl, "a1", 10, false)
	produceTxn(cl, "c2", 10, true)

	check := func(when string, wantAll int) {
		t.Helper()
		committed := consumeAll(t, b.addr, "tx", 20, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		all := consumeAll(t, b.addr, "tx", wantAll, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
		if len(committed) != 20 || len(all) != wantAll {
			t.Fatalf("%s: read_committed %d records (want 20), read_uncommitted %d (want %d)", when, len(committed), len(all), wantAll)
		}
		for _, r := range committed {
			if r.Value[0] == 'a' {
				t.Fatalf("%s: read_committed returned aborted record %s", when, r.Value)
			}
		}
	}
	check("before restart", 30)

	// An open transaction: its records are past the last stable offset.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		r := &kgo.Record{Topic: "tx", Partition: int32(i % 2), Value: fmt.Appendf(nil, "open-%d", i)}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := b.store.Partition("tx", 0)
	hw := l.HighWatermark()
	if lso := b.srv.lastStableOffset(tp{"tx", 0}, hw); lso >= hw {
		t.Fatalf("open transaction: last stable offset %d, high watermark %d", lso, hw)
	}
	check("with a transaction open", 34)
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(context.Background(), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	check("after the open one aborted", 34)

	b.restart()
	check("after a restart", 34)
}

// TestTxnTimeoutAborts: a transaction left open past its timeout is
// aborted by the coordinator, and the producer is fenced.
func TestTxnTimeoutAborts(t *testing.T) {
	old := txnTick
	txnTick = 50 * time.Millisecond
	t.Cleanup(func() { txnTick = old })
	b := startBroker(t)
	txnTopic(t, b, "tto", 1)
	cl := newFranz(t, b.addr, kgo.TransactionalID("tto-1"), kgo.TransactionTimeout(500*time.Millisecond), kgo.DefaultProduceTopic("tto"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	l, _ := b.store.Partition("tto", 0)
	deadline := time.Now().Add(10 * time.Second)
	for b.srv.lastStableOffset(tp{"tto", 0}, l.HighWatermark()) != l.HighWatermark() {
		if time.Now().After(deadline) {
			t.Fatal("the transaction was not aborted at its timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := consumeAll(t, b.addr, "tto", 0, kgo.FetchIsolationLevel(kgo.ReadCommitted())); len(got) != 0 {
		t.Fatalf("read_committed sees %d records of a timed-out transaction", len(got))
	}
	if err := cl.EndTransaction(context.Background(), kgo.TryCommit); err == nil {
		t.Fatal("committing a timed-out transaction succeeded")
	}

	// KIP-588 over the wire: the producer's abort of the timed-out
	// transaction succeeds, and InitProducerId with its old epoch recovers.
	raw := newFranz(t, b.addr)
	id := "tto-2"
	pid, epoch := initProducerID(t, raw, &id, 300)
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "tto", []int32{0}
	add.Topics = append(add.Topics, at)
	if _, err := add.RequestWith(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if m, _ := b.srv.txns.describe(id); m.State == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tto-2 was not aborted at its timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch = id, pid, epoch
	if resp, err := end.RequestWith(context.Background(), raw); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("abort after the timeout: %v, %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis, ip.ProducerID, ip.ProducerEpoch = &id, 300, pid, epoch
	if resp, err := ip.RequestWith(context.Background(), raw); err != nil || resp.ErrorCode != 0 || resp.ProducerID != pid || resp.ProducerEpoch != epoch+2 {
		t.Fatalf("InitProducerId with the old epoch: %v, %+v", err, resp)
	}
}

// TestTxnRawFencing drives InitProducerId and EndTxn over the wire: a new
// InitProducerId for a transactional id fences the old producer and
// aborts its open transaction.
func TestTxnRawFencing(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "fence", 1)
	cl := newFranz(t, b.addr)
	id := "fence-1"
	pid, epoch := initProducerID(t, cl, &id, 60000)

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "fence", []int32{0}
	add.Topics = append(add.Topics, at)
	aresp, err := add.RequestWith(context.Background(), cl)
	if err != nil || aresp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %v %+v", err, aresp)
	}
	if code, _ := rawProduce(t, cl, "fence", producerBatch(pid, epoch, 0, 3, true), &id); code != 0 {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(code))
	}
	if code, _ := rawProduce(t, cl, "fence", producerBatch(pid, epoch, 3, 1, false), nil); code != kerr.InvalidTxnState.Code {
		t.Fatalf("a plain batch of a producer in a transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}

	// A second producer with the same transactional id.
	pid2, epoch2 := initProducerID(t, cl, &id, 60000)
	if pid2 != pid || epoch2 <= epoch {
		t.Fatalf("re-init: producer %d epoch %d, want %d and above %d", pid2, epoch2, pid, epoch)
	}
	if code, _ := rawProduce(t, cl, "fence", producerBatch(pid, epoch, 3, 1, true), &id); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("the fenced producer's produce: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, true
	end.Version = 3
	eresp, err := end.RequestWith(context.Background(), cl)
	if err != nil || eresp.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("the fenced producer's EndTxn: %v, code %v", err, kerr.ErrorForCode(eresp.ErrorCode))
	}
	l, _ := b.store.Partition("fence", 0)
	if lso := b.srv.lastStableOffset(tp{"fence", 0}, l.HighWatermark()); lso != l.HighWatermark() {
		t.Fatalf("the fenced producer's transaction is still open: LSO %d, HW %d", lso, l.HighWatermark())
	}
	if got := b.srv.abortedTransactions(tp{"fence", 0}, 0, l.HighWatermark()); len(got) != 1 || got[0].ProducerID != pid || got[0].FirstOffset != 0 {
		t.Fatalf("aborted transactions %+v, want producer %d from 0", got, pid)
	}
	var txnDesc = b.srv.txns.list()
	if len(txnDesc) != 1 || txnDesc[0].State != "Empty" || txnDesc[0].ProducerEpoch != epoch2 {
		t.Fatalf("stored transactions %+v", txnDesc)
	}

	// DescribeTransactions and ListTransactions see an open transaction.
	add = kmsg.NewPtrAddPartitionsToTxnRequest() // the client rewrote the last one into its v4 form
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch2
	add.Topics = append(add.Topics, at)
	if aresp, err := add.RequestWith(context.Background(), cl); err != nil || aresp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %v %+v", err, aresp)
	}
	dreq := kmsg.NewPtrDescribeTransactionsRequest()
	dreq.TransactionalIDs = []string{id, "nope"}
	dresp, err := dreq.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	d := dresp.TransactionStates
	if len(d) != 2 || d[0].State != "Ongoing" || d[0].ProducerID != pid || d[0].ProducerEpoch != epoch2 || d[0].StartTimestamp < 0 ||
		len(d[0].Topics) != 1 || d[0].Topics[0].Topic != "fence" || d[1].ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("DescribeTransactions: %+v", d)
	}
	lreq := kmsg.NewPtrListTransactionsRequest()
	lreq.StateFilters = []string{"Ongoing", "Bogus"}
	lresp, err := lreq.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(lresp.TransactionStates) != 1 || lresp.TransactionStates[0].TransactionalID != id || len(lresp.UnknownStateFilters) != 1 {
		t.Fatalf("ListTransactions: %+v", lresp)
	}

	preq := kmsg.NewPtrDescribeProducersRequest()
	pt := kmsg.NewDescribeProducersRequestTopic()
	pt.Topic, pt.Partitions = "fence", []int32{0}
	preq.Topics = append(preq.Topics, pt)
	presp, err := preq.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if ps := presp.Topics[0].Partitions[0]; ps.ErrorCode != 0 || len(ps.ActiveProducers) != 1 || ps.ActiveProducers[0].ProducerID != pid ||
		// The fencing ABORT marker moved the partition to the bumped epoch, with no sequence yet.
		ps.ActiveProducers[0].ProducerEpoch != int32(epoch)+1 || ps.ActiveProducers[0].LastSequence != -1 || ps.ActiveProducers[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("DescribeProducers: %+v", ps)
	}
}

// TestFranzGroupTransactSession: exactly-once consume-transform-produce
// with franz-go's GroupTransactSession, two members in one group, one of
// which leaves halfway (a rebalance): the output, read_committed, holds
// every input record exactly once.
func TestFranzGroupTransactSession(t *testing.T) {
	testGroupTransactSession(t, false)
}

// TestFranzGroupTransactSessionConnectionDrops is the same with every
// client connection going through a proxy that keeps cutting them.
func TestFranzGroupTransactSessionConnectionDrops(t *testing.T) {
	testGroupTransactSession(t, true)
}

func testGroupTransactSession(t *testing.T, drops bool) {
	b := startBroker(t)
	txnTopic(t, b, "eos-in", 3)
	txnTopic(t, b, "eos-out", 3)
	const n = 3000
	prod := newFranz(t, b.addr, kgo.DefaultProduceTopic("eos-in"))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%17), Value: fmt.Appendf(nil, "%d", i)})
	}
	for i := 0; i < n; i += 30 { // small batches: a fetch returns a few of them
		if err := prod.ProduceSync(context.Background(), recs[i:min(i+30, n)]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	seed := b.addr
	stopCuts := func() {}
	if drops {
		px, err := faultproxy.New(b.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.Close() })
		host, port, _ := splitHostPort(px.Addr())
		b.srv.mu.Lock()
		b.srv.mu.host, b.srv.mu.port = host, port
		b.srv.mu.Unlock()
		seed = px.Addr()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(4 * time.Second):
					// Cuts further apart than a group join takes (its
					// rebalance delay is 3 s): the group settles between them.
					px.CutAll()
				}
			}
		}()
		stopCuts = func() {
			close(stop)
			<-done
			px.Heal()
			t.Logf("%d connections, %d duplicate batches", px.Accepted(), b.srv.producers.duplicates.Load())
		}
	}
	var produced atomic.Int64
	fetchBytes := int32(8 << 10)
	if drops {
		fetchBytes = 512 // many small transactions
	}
	run := func(ctx context.Context, member int, maxTxns int) error {
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(seed),
			kgo.RequestRetries(1000), kgo.RecordRetries(1000),
			kgo.WithLogger(testKgoLogger()),
			kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
			kgo.TransactionalID(fmt.Sprintf("eos-%d", member)),
			kgo.ConsumerGroup("eos-g"),
			kgo.ConsumeTopics("eos-in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DefaultProduceTopic("eos-out"),
			kgo.FetchMaxWait(100*time.Millisecond),
			kgo.FetchMaxPartitionBytes(fetchBytes),
		)
		if err != nil {
			return err
		}
		defer sess.Close()
		for txns := 0; maxTxns == 0 || txns < maxTxns; txns++ {
			if ctx.Err() != nil {
				return nil
			}
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			fs := sess.PollFetches(pctx)
			cancel()
			var in []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) { in = append(in, r) })
			if len(in) == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			if drops {
				time.Sleep(50 * time.Millisecond) // a longer run, so that cuts land mid-transaction
			}
			for _, r := range in {
				sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}, nil)
			}
			committed, err := sess.End(ctx, kgo.TryCommit)
			if err != nil {
				return fmt.Errorf("end: %w", err)
			}
			if committed {
				produced.Add(int64(len(in)))
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- run(ctx, 1, 0) }()
	go func() { errs <- run(ctx, 2, 5) }() // leaves after five transactions
	for produced.Load() < n && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("session: %v", err)
		}
	}
	stopCuts()
	t.Logf("%d records transformed in committed transactions", produced.Load())
	out := consumeAll(t, b.addr, "eos-out", n, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	for _, r := range out {
		seen[string(r.Value)]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("out-%d", i)]; c != 1 {
			t.Fatalf("input %d is in the output %d times (output %d records)", i, c, len(out))
		}
	}
	if len(out) != n {
		t.Fatalf("output holds %d records, want %d", len(out), n)
	}
}

// TestTxnSurvivesRestart: a transaction open across a broker restart is
// still open after it (the coordinator reloads it from meta, the
// partition's open transaction is rebuilt from the log); its producer
// goes on and commits, and both halves are visible to read_committed. A
// second transaction open across a restart is aborted when a new producer
// takes the transactional id.
func TestTxnSurvivesRestart(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "txr", 1)
	cl := newFranz(t, b.addr)
	id := "txr-1"
	pid, epoch := initProducerID(t, cl, &id, 60000)
	addPart := func(cl *kgo.Client, epoch int16) {
		t.Helper()
		add := kmsg.NewPtrAddPartitionsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
		at := kmsg.NewAddPartitionsToTxnRequestTopic()
		at.Topic, at.Partitions = "txr", []int32{0}
		add.Topics = append(add.Topics, at)
		resp, err := add.RequestWith(context.Background(), cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn: %v %+v", err, resp)
		}
	}
	endTxn := func(cl *kgo.Client, epoch int16, commit bool) {
		t.Helper()
		end := kmsg.NewPtrEndTxnRequest()
		end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, commit
		resp, err := end.RequestWith(context.Background(), cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("EndTxn: %v, %v", err, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	addPart(cl, epoch)
	if code, _ := rawProduce(t, cl, "txr", producerBatch(pid, epoch, 0, 2, true), &id); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	b.restart()
	cl = newFranz(t, b.addr)
	l, _ := b.store.Partition("txr", 0)
	if lso := b.srv.lastStableOffset(tp{"txr", 0}, l.HighWatermark()); lso != 0 {
		t.Fatalf("after a restart the open transaction's LSO is %d, want 0", lso)
	}
	if code, off := rawProduce(t, cl, "txr", producerBatch(pid, epoch, 0, 2, true), &id); code != 0 || off != 0 {
		t.Fatalf("retry after a restart: %v at %d, want success at 0", kerr.ErrorForCode(code), off)
	}
	if code, _ := rawProduce(t, cl, "txr", producerBatch(pid, epoch, 2, 2, true), &id); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	endTxn(cl, epoch, true)
	if got := consumeAll(t, b.addr, "txr", 4, kgo.FetchIsolationLevel(kgo.ReadCommitted())); len(got) != 4 {
		t.Fatalf("read_committed %d records, want 4", len(got))
	}

	addPart(cl, epoch)
	if code, _ := rawProduce(t, cl, "txr", producerBatch(pid, epoch, 4, 3, true), &id); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	b.restart()
	cl = newFranz(t, b.addr)
	if _, epoch2 := initProducerID(t, cl, &id, 60000); epoch2 <= epoch {
		t.Fatalf("re-init after a restart: epoch %d, want above %d", epoch2, epoch)
	}
	l, _ = b.store.Partition("txr", 0)
	if lso, hw := b.srv.lastStableOffset(tp{"txr", 0}, l.HighWatermark()), l.HighWatermark(); lso != hw {
		t.Fatalf("the fenced transaction is open: LSO %d, HW %d", lso, hw)
	}
	if got := consumeAll(t, b.addr, "txr", 4, kgo.FetchIsolationLevel(kgo.ReadCommitted())); len(got) != 4 {
		t.Fatalf("read_committed %d records after the abort, want 4", len(got))
	}
}

// TestFranzTransactionsConnectionDrops: a transactional franz-go producer
// behind a proxy that keeps cutting connections. Each transaction that
// EndTransaction reports committed is in the read_committed output
// exactly once; nothing of the others is.
func TestFranzTransactionsConnectionDrops(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "txd", 2)
	px, err := faultproxy.New(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	host, port, _ := splitHostPort(px.Addr())
	b.srv.mu.Lock()
	b.srv.mu.host, b.srv.mu.port = host, port
	b.srv.mu.Unlock()
	cl := newFranz(t, px.Addr(), kgo.TransactionalID("txd-1"), kgo.DefaultProduceTopic("txd"),
		kgo.RecordRetries(1000), kgo.RequestRetries(1000), kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(7 * time.Millisecond):
				px.CutAll()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	committed := map[string]bool{}
	var commits, aborts int
	for txn := 0; txn < 40 && ctx.Err() == nil; txn++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "t%d-%d", txn, i)}, nil)
		}
		ferr := cl.Flush(ctx)
		end := kgo.TryCommit
		if ferr != nil || txn%5 == 4 {
			end = kgo.TryAbort
		}
		err := cl.EndTransaction(ctx, end)
		switch {
		case err == nil && end == kgo.TryCommit:
			commits++
			for i := range 50 {
				committed[fmt.Sprintf("t%d-%d", txn, i)] = true
			}
		case err == nil:
			aborts++
		default:
			// An abortable error: abort, as franz-go's docs say.
			aborts++
			if err := cl.AbortBufferedRecords(ctx); err != nil {
				t.Fatal(err)
			}
			if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				t.Fatalf("abort after %v: %v", err, err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := px.Heal(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d committed, %d aborted transactions, %d connections, %d duplicates", commits, aborts, px.Accepted(), b.srv.producers.duplicates.Load())
	got := consumeAll(t, b.addr, "txd", len(committed), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]bool{}
	for _, r := range got {
		v := string(r.Value)
		if seen[v] || !committed[v] {
			t.Fatalf("record %s: seen before %v, committed %v", v, seen[v], committed[v])
		}
		seen[v] = true
	}
	if len(seen) != len(committed) {
		t.Fatalf("read %d records, %d committed", len(seen), len(committed))
	}
}

// testKgoLogger logs franz-go at info level when STRATA_TEST_LOG is set.
func testKgoLogger() kgo.Logger {
	if os.Getenv("STRATA_TEST_LOG") == "" {
		return nil
	}
	return kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)
}

// TestIdempotentConcurrentProducers: idempotent producers and a
// transactional one write one partition at once; every record is there
// once, each producer's in its order, and read_committed sees the
// committed transactions only.
func TestIdempotentConcurrentProducers(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "conc", 1)
	const producers, n = 4, 2000
	var wg sync.WaitGroup
	errs := make(chan error, producers+1)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("conc"), kgo.ProducerLinger(0))
			var rs []*kgo.Record
			for i := range n {
				rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "p%d", p), Value: fmt.Appendf(nil, "%d", i)})
			}
			for i := 0; i < n; i += 100 {
				if err := cl.ProduceSync(context.Background(), rs[i:i+100]...).FirstErr(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("conc"), kgo.TransactionalID("conc-tx"))
		for txn := range 20 {
			if err := cl.BeginTransaction(); err != nil {
				errs <- err
				return
			}
			for i := range 10 {
				cl.Produce(context.Background(), &kgo.Record{Key: []byte("tx"), Value: fmt.Appendf(nil, "%d-%d", txn, i)}, nil)
			}
			if err := cl.Flush(context.Background()); err != nil {
				errs <- err
				return
			}
			if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(txn%2 == 0)); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := consumeAll(t, b.addr, "conc", producers*n+100, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	next := map[string]int{}
	tx := 0
	for _, r := range got {
		k := string(r.Key)
		if k == "tx" {
			var txn, i int
			fmt.Sscanf(string(r.Value), "%d-%d", &txn, &i)
			if txn%2 != 0 {
				t.Fatalf("read_committed returned aborted record %s", r.Value)
			}
			tx++
			continue
		}
		var i int
		fmt.Sscan(string(r.Value), &i)
		if i != next[k] {
			t.Fatalf("producer %s: record %d where %d was due", k, i, next[k])
		}
		next[k]++
	}
	for p := range producers {
		if c := next[fmt.Sprintf("p%d", p)]; c != n {
			t.Fatalf("producer %d: %d records, want %d", p, c, n)
		}
	}
	if tx != 100 {
		t.Fatalf("%d committed transactional records, want 100", tx)
	}
}
