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
	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaProduceConsume produces with sarama's sync producer and every
// codec, consumes with sarama's partition consumer, and checks keys,
// values, headers and timestamps; franz-go reads the same bytes back.
func TestSaramaProduceConsume(t *testing.T) {
	b := startBroker(t)
	codecs := map[string]sarama.CompressionCodec{
		"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
		"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
	}
	type run struct {
		codec   sarama.CompressionCodec
		version sarama.KafkaVersion
	}
	runs := map[string]run{}
	for name, codec := range codecs {
		runs[name] = run{codec, sarama.V3_6_0_0}
	}
	// sarama's default protocol version (older request versions).
	runs["default-version-gzip"] = run{sarama.CompressionGZIP, sarama.NewConfig().Version}
	for name, rn := range runs {
		codec := rn.codec
		t.Run(name, func(t *testing.T) {
			topic := "sarama-" + name
			cfg := sarama.NewConfig()
			cfg.Version = rn.version
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Compression = codec
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Flush.Messages = 20
			cfg.Consumer.Return.Errors = true
			cl, err := sarama.NewClient([]string{b.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			prod, err := sarama.NewSyncProducerFromClient(cl)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			recs := testRecords(topic, 100)
			var msgs []*sarama.ProducerMessage
			for _, r := range recs {
				m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(r.Value), Timestamp: r.Timestamp}
				if r.Key != nil {
					m.Key = sarama.ByteEncoder(r.Key)
				}
				for _, h := range r.Headers {
					m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
				}
				msgs = append(msgs, m)
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatal(err)
			}
			cons, err := sarama.NewConsumerFromClient(cl)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			timeout := time.After(20 * time.Second)
			for i := range recs {
				select {
				case m := <-pc.Messages():
					if m.Offset != int64(i) {
						t.Fatalf("offset %d, want %d", m.Offset, i)
					}
					got := &kgo.Record{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp, Offset: m.Offset}
					for _, h := range m.Headers {
						got.Headers = append(got.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
					}
					sameRecord(t, recs[i], got)
				case err := <-pc.Errors():
					t.Fatal(err)
				case <-timeout:
					t.Fatalf("consumed %d of %d", i, len(recs))
				}
			}
			// Another client sees the same records.
			got := consumeN(t, b.addr, topic, len(recs))
			for i := range recs {
				sameRecord(t, recs[i], got[i])
			}
		})
	}
}

// TestKafkaGoProduceConsume writes with segmentio/kafka-go's Writer (every
// codec) and reads with its Reader.
func TestKafkaGoProduceConsume(t *testing.T) {
	b := startBroker(t)
	codecs := map[string]segkafka.Compression{
		"none": 0, "gzip": segkafka.Gzip, "snappy": segkafka.Snappy, "lz4": segkafka.Lz4, "zstd": segkafka.Zstd,
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "kafkago-" + name
			if _, err := b.store.CreateTopic(topic, 1, nil); err != nil {
				t.Fatal(err)
			}
			w := &segkafka.Writer{Addr: segkafka.TCP(b.addr), Topic: topic, Compression: codec,
				RequiredAcks: segkafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 50,
				Transport: &segkafka.Transport{MetadataTTL: 50 * time.Millisecond}}
			defer w.Close()
			recs := testRecords(topic, 100)
			var msgs []segkafka.Message
			for _, r := range recs {
				m := segkafka.Message{Key: r.Key, Value: r.Value, Time: r.Timestamp}
				for _, h := range r.Headers {
					m.Headers = append(m.Headers, segkafka.Header{Key: h.Key, Value: h.Value})
				}
				msgs = append(msgs, m)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			rd := segkafka.NewReader(segkafka.ReaderConfig{Brokers: []string{b.addr}, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
			defer rd.Close()
			for i := range recs {
				m, err := rd.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				got := &kgo.Record{Key: m.Key, Value: m.Value, Timestamp: m.Time, Offset: m.Offset}
				for _, h := range m.Headers {
					got.Headers = append(got.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
				}
				if len(got.Key) == 0 && recs[i].Key == nil {
					got.Key = nil
				}
				sameRecord(t, recs[i], got)
			}
		})
	}
}

// kcatPath finds kcat (Debian package kcat, formerly kafkacat). Missing is
// a failure, not a skip: scripts/test-deps.sh installs it.
func kcatPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("kcat is not installed: run scripts/test-deps.sh (or: apt-get install kcat)")
	return ""
}

// TestKcatProduceConsume drives librdkafka through kcat: produce with
// every codec, keys and headers, consume to the end, compare; then a
// metadata listing.
func TestKcatProduceConsume(t *testing.T) {
	kcat := kcatPath(t)
	b := startBroker(t)
	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", b.addr, "-X", "api.version.request=true"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "kcat-" + codec
			var in, want strings.Builder
			for i := 0; i < 50; i++ {
				fmt.Fprintf(&in, "key%d:value %d %s\n", i, i, strings.Repeat("x", i))
				fmt.Fprintf(&want, "key%d|value %d %s|h=v%d\n", i, i, strings.Repeat("x", i), 0)
			}
			run(in.String(), "-P", "-t", topic, "-K:", "-z", codec, "-H", "h=v0", "-X", "acks=all")
			got := run("", "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\n")
			if got != want.String() {
				t.Fatalf("kcat consumed:\n%s\nwant:\n%s", got, want.String())
			}
		})
	}
	md := run("", "-L")
	if !strings.Contains(md, "kcat-zstd") || !strings.Contains(md, "1 brokers") {
		t.Fatalf("kcat -L:\n%s", md)
	}
}
