package kafka

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// codecs are the produce compressions every client test runs through.
var codecs = []struct {
	name string
	kgo  kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

func newFranz(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testRecords builds n records with keys, headers, timestamps and values
// of varied size (some compressible, some not).
func testRecords(topic string, n int) []*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	out := make([]*kgo.Record, n)
	for i := range out {
		v := bytes.Repeat([]byte(fmt.Sprintf("value-%d|", i)), 1+i%50)
		v = append(v, byte(i), byte(i*7), byte(i*13))
		out[i] = &kgo.Record{
			Topic:     topic,
			Key:       []byte(fmt.Sprintf("key-%d", i)),
			Value:     v,
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Headers:   []kgo.RecordHeader{{Key: "h1", Value: []byte(fmt.Sprint(i))}, {Key: "empty", Value: nil}},
		}
	}
	if n > 0 {
		out[0].Key = nil // a null key
	}
	return out
}

// consumeN reads n records from the start of topic with a fresh client.
func consumeN(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newFranz(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(t string, p int32, err error) { panic(fmt.Sprintf("fetch %s/%d: %v", t, p, err)) })
		got = append(got, fs.Records()...)
	}
	return got
}

func sameRecord(t testing.TB, want, got *kgo.Record) {
	t.Helper()
	if !bytes.Equal(want.Key, got.Key) || !bytes.Equal(want.Value, got.Value) || !want.Timestamp.Equal(got.Timestamp) {
		t.Fatalf("record %d differs:\nwant key=%q ts=%v value=%q\ngot  key=%q ts=%v value=%q", got.Offset,
			want.Key, want.Timestamp, want.Value, got.Key, got.Timestamp, got.Value)
	}
	if len(want.Headers) != len(got.Headers) {
		t.Fatalf("record %d: %d headers, want %d", got.Offset, len(got.Headers), len(want.Headers))
	}
	for i := range want.Headers {
		if want.Headers[i].Key != got.Headers[i].Key || !bytes.Equal(want.Headers[i].Value, got.Headers[i].Value) {
			t.Fatalf("record %d header %d: %+v, want %+v", got.Offset, i, got.Headers[i], want.Headers[i])
		}
	}
}

// TestFranzProduceConsumeCodecs produces with every codec (acks=all,
// auto-created topic) and reads every record back identical.
func TestFranzProduceConsumeCodecs(t *testing.T) {
	b := startBroker(t)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "franz-" + c.name
			cl := newFranz(t, b.addr, kgo.ProducerBatchCompression(c.kgo), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.AllowAutoTopicCreation())
			recs := testRecords(topic, 300)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				if r.Offset != int64(i) {
					t.Fatalf("record %d got offset %d", i, r.Offset)
				}
			}
			got := consumeN(t, b.addr, topic, len(recs))
			if len(got) != len(recs) {
				t.Fatalf("consumed %d records, want %d", len(got), len(recs))
			}
			for i := range recs {
				sameRecord(t, recs[i], got[i])
			}
		})
	}
}

// TestFranzAdmin creates, describes, alters and deletes topics with kadm.
func TestFranzAdmin(t *testing.T) {
	b := startBroker(t)
	adm := kadm.NewClient(newFranz(t, b.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	cr, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("60000"), "storage.mode": kadm.StringPtr("memory")}, "adm")
	if err != nil || cr.Err != nil {
		t.Fatalf("create: %v %v", err, cr.Err)
	}
	if cr.ID.String() == "" || cr.NumPartitions != 3 {
		t.Fatalf("create result: %+v", cr)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "adm"); err == nil {
		t.Fatal("second create of the same topic succeeded")
	}
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"storage.mode": kadm.StringPtr("bogus")}, "bad"); r.Err == nil {
		t.Fatal("create with a bad storage.mode succeeded")
	}
	if r, _ := adm.CreateTopic(ctx, 1, 3, nil, "rf3"); r.Err == nil {
		t.Fatal("create with replication factor 3 on one broker succeeded")
	}

	td, err := adm.ListTopics(ctx, "adm")
	if err != nil || len(td["adm"].Partitions) != 3 || td["adm"].ID != cr.ID {
		t.Fatalf("list: %v %+v", err, td)
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "adm")
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		conf[c.Key] = c
	}
	if v := conf["retention.ms"]; v.MaybeValue() != "60000" || v.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("retention.ms: %+v", v)
	}
	if v := conf["storage.mode"]; v.MaybeValue() != "memory" {
		t.Fatalf("storage.mode: %+v", v)
	}
	if v := conf["segment.bytes"]; v.Source.String() != "DEFAULT_CONFIG" {
		t.Fatalf("segment.bytes: %+v", v)
	}
	if v := conf["cleanup.policy"]; v.MaybeValue() != "delete" {
		t.Fatalf("cleanup.policy: %+v", v)
	}

	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("1048576")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"}}, "adm")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, ar)
	}
	ti, err := b.store.Topic("adm")
	if err != nil || ti.Config.RetentionBytes != 1048576 || ti.Config.RetentionMs != 7*24*3600*1000 {
		t.Fatalf("after alter: %+v %v", ti.Config, err)
	}
	ar, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "storage.mode", Value: kadm.StringPtr("persistent")}}, "adm")
	if err != nil || ar[0].Err == nil {
		t.Fatalf("changing storage.mode was accepted: %v %+v", err, ar)
	}
	// Non-incremental AlterConfigs replaces the overrides.
	ar, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "storage.mode", Value: kadm.StringPtr("memory")}, {Name: "segment.ms", Value: kadm.StringPtr("3600000")}}, "adm")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, ar)
	}
	if ti, _ := b.store.Topic("adm"); ti.Config.SegmentMs != 3600000 || ti.Config.RetentionBytes != -1 {
		t.Fatalf("after state alter: %+v", ti.Config)
	}

	brs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(brs) != 1 || brs[0].Err != nil || len(brs[0].Configs) == 0 {
		t.Fatalf("broker configs: %v %+v", err, brs)
	}

	if _, err := adm.CreatePartitions(ctx, 2, "adm"); err != nil {
		t.Fatal(err)
	}
	if ti, _ := b.store.Topic("adm"); ti.Partitions != 5 {
		t.Fatalf("partitions after CreatePartitions: %d", ti.Partitions)
	}

	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || meta.Cluster != DefaultClusterID || len(meta.Brokers) != 1 || meta.Brokers[0].NodeID != 1 {
		t.Fatalf("describe cluster: %v %+v", err, meta)
	}

	cl := newFranz(t, b.addr, kgo.DefaultProduceTopic("adm"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"adm": {0: {At: 4}}})
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete records: %v %v", err, dr.Error())
	}
	lo, err := adm.ListStartOffsets(ctx, "adm")
	if err != nil || lo["adm"][0].Offset != 4 {
		t.Fatalf("start offset after delete records: %v %+v", err, lo)
	}

	ld, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil || ld[1].Error() != nil {
		t.Fatalf("log dirs: %v %+v", err, ld)
	}
	if p, ok := ld[1].LookupPartition("adm", 0); !ok || p.Size == 0 {
		t.Fatal("log dirs do not show adm-0 with bytes")
	}

	if _, err := adm.DeleteTopic(ctx, "adm"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Topic("adm"); err == nil {
		t.Fatal("topic still there after delete")
	}
}

// TestFranzEveryEngine produces and consumes through each storage mode
// and engine (memory and lite return their batches as bytes, segment as
// file chunks).
func TestFranzEveryEngine(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newFranz(t, b.addr))
	for _, cfg := range []map[string]string{
		{"storage.mode": "memory"},
		{"storage.mode": "hybrid"},
		{"storage.mode": "persistent", "storage.engine": "lite"},
		{"storage.mode": "persistent", "storage.engine": "segment"},
		{"storage.mode": "tiered"},
	} {
		topic := "eng-" + cfg["storage.mode"] + "-" + cfg["storage.engine"]
		if topic[len(topic)-1] == '-' {
			topic = topic[:len(topic)-1]
		}
		t.Run(topic, func(t *testing.T) {
			configs := map[string]*string{}
			for k, v := range cfg {
				configs[k] = kadm.StringPtr(v)
			}
			if r, err := adm.CreateTopic(ctx, 2, 1, configs, topic); err != nil || r.Err != nil {
				t.Fatalf("create: %v %v", err, r.Err)
			}
			cl := newFranz(t, b.addr, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
			recs := testRecords(topic, 80)
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			got := consumeN(t, b.addr, topic, len(recs))
			byValue := map[string]*kgo.Record{}
			for _, r := range got {
				byValue[string(r.Value)] = r
			}
			for _, want := range recs {
				g := byValue[string(want.Value)]
				if g == nil {
					t.Fatalf("record %q not consumed", want.Key)
				}
				sameRecord(t, want, g)
			}
		})
	}
}
