package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaIdempotentAndTransactions: sarama's idempotent producer gets a
// producer id and its batches are appended once; sarama's transactional
// producer commits one transaction and aborts another, and a
// read_committed franz-go consumer sees only the committed one.
func TestSaramaIdempotentAndTransactions(t *testing.T) {
	b := startBroker(t)
	txnTopic(t, b, "sarama-idem", 1)
	txnTopic(t, b, "sarama-tx", 1)
	base := func() *sarama.Config {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 10
		return cfg
	}

	prod, err := sarama.NewSyncProducer([]string{b.addr}, base())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama-idem", Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()
	if got := consumeAll(t, b.addr, "sarama-idem", 50); len(got) != 50 || got[0].ProducerID < 0 {
		t.Fatalf("read %d records (producer id %d), want 50 from an idempotent producer", len(got), got[0].ProducerID)
	}

	cfg := base()
	cfg.Producer.Transaction.ID = "sarama-tx-1"
	tp, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	for _, commit := range []bool{true, false, true} {
		if err := tp.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			v := fmt.Sprintf("%v-%d", commit, i)
			if _, _, err := tp.SendMessage(&sarama.ProducerMessage{Topic: "sarama-tx", Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			err = tp.CommitTxn()
		} else {
			err = tp.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end (commit %v): %v", commit, err)
		}
	}
	committed := consumeAll(t, b.addr, "sarama-tx", 20, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	all := consumeAll(t, b.addr, "sarama-tx", 30, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if len(committed) != 20 || len(all) != 30 {
		t.Fatalf("read_committed %d (want 20), read_uncommitted %d (want 30)", len(committed), len(all))
	}
	for _, r := range committed {
		if string(r.Value[:4]) != "true" {
			t.Fatalf("read_committed returned %s", r.Value)
		}
	}

	// sarama's read_committed consumer applies the aborted list too.
	ccfg := sarama.NewConfig()
	ccfg.Version = sarama.V3_6_0_0
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	ccfg.Consumer.Return.Errors = true
	cons, err := sarama.NewConsumer([]string{b.addr}, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("sarama-tx", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 20 {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("sarama read_committed read %d of 20: %v", len(got), got)
		}
	}
	select {
	case m := <-pc.Messages():
		t.Fatalf("sarama read_committed read more: %s", m.Value)
	case <-time.After(500 * time.Millisecond):
	}
	for _, v := range got {
		if v[:4] != "true" {
			t.Fatalf("sarama read_committed returned %s", v)
		}
	}
}

// TestKcatIdempotentAndReadCommitted drives librdkafka through kcat: an
// idempotent produce, then read_committed and read_uncommitted consumes
// of a topic with committed and aborted franz-go transactions.
func TestKcatIdempotentAndReadCommitted(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	txnTopic(t, b, "kcat-idem", 1)
	txnTopic(t, b, "kcat-tx", 1)
	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", b.addr}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "v%d\n", i)
	}
	run(in.String(), "-P", "-t", "kcat-idem", "-X", "enable.idempotence=true")
	got := consumeAll(t, b.addr, "kcat-idem", 100)
	if len(got) != 100 || got[0].ProducerID < 0 {
		t.Fatalf("kcat idempotent produce: %d records, producer id %d", len(got), got[0].ProducerID)
	}

	cl := newFranz(t, b.addr, kgo.TransactionalID("kcat-tx-1"), kgo.DefaultProduceTopic("kcat-tx"))
	for _, commit := range []bool{true, false, true, false} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: fmt.Appendf(nil, "%v-%d", commit, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	committed := strings.Fields(run("", "-C", "-t", "kcat-tx", "-o", "beginning", "-e", "-f", "%s\n", "-X", "isolation.level=read_committed"))
	all := strings.Fields(run("", "-C", "-t", "kcat-tx", "-o", "beginning", "-e", "-f", "%s\n", "-X", "isolation.level=read_uncommitted"))
	if len(committed) != 10 || len(all) != 20 {
		t.Fatalf("kcat read_committed %d records (want 10), read_uncommitted %d (want 20)", len(committed), len(all))
	}
	for _, v := range committed {
		if !strings.HasPrefix(v, "true") {
			t.Fatalf("kcat read_committed returned %s", v)
		}
	}
}
