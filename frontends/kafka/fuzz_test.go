package kafka

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// fuzzServer is a Server over an in-memory store (no meta node, no
// listener) with one topic holding a few batches; fetches never wait.
func fuzzServer(t testing.TB) *Server {
	t.Helper()
	st, err := logstore.OpenStore(logstore.StoreOptions{Dir: "/fuzz", FS: vfs.NewMem(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateTopic("t", 2, nil); err != nil {
		t.Fatal(err)
	}
	l, _ := st.Partition("t", 0)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(testBatch(i)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewServer(Options{Store: st, Logger: testLogger(), AutoCreateTopics: Bool(false), MaxFetchWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testBatch is one valid record batch with a record.
func testBatch(i int) []byte {
	rec := kmsg.Record{Key: []byte{byte(i)}, Value: []byte("fuzz value")}
	raw := rec.AppendTo(nil)
	b := kmsg.RecordBatch{Magic: 2, NumRecords: 1, Records: raw, FirstTimestamp: 1000, MaxTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	enc := b.AppendTo(nil)
	// kmsg leaves the length and the CRC (attributes onwards) to the caller.
	binary.BigEndian.PutUint32(enc[8:], uint32(len(enc)-12))
	binary.BigEndian.PutUint32(enc[17:], crc32c(enc[21:]))
	return enc
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// frame encodes req as a request frame body (no size prefix).
func frame(req kmsg.Request, v int16, corr int32) []byte {
	req.SetVersion(v)
	b := kbin.AppendInt16(nil, req.Key())
	b = kbin.AppendInt16(b, v)
	b = kbin.AppendInt32(b, corr)
	cid := "fuzz"
	b = kbin.AppendNullableString(b, &cid)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// seedRequests is a valid request of every served key at every served
// version, with topics and partitions where the request has them.
func seedRequests() [][]byte {
	var out [][]byte
	for _, k := range apiKeys() {
		h := handlers[k]
		for v := h.min; v <= h.max; v++ {
			req := kmsg.RequestForKey(k)
			fillRequest(req)
			out = append(out, frame(req, v, int32(v)))
		}
	}
	return out
}

// fillRequest gives the requests whose bodies matter a topic or two.
func fillRequest(req kmsg.Request) {
	name := "t"
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		r.Acks = -1
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = name
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testBatch(9)
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	case *kmsg.FetchRequest:
		r.MaxBytes, r.MinBytes, r.MaxWaitMillis = 1<<20, 1, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = name
		for p := int32(0); p < 3; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	case *kmsg.ListOffsetsRequest:
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = name
		for _, ts := range []int64{-1, -2, -3, 500} {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	case *kmsg.MetadataRequest:
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		r.Topics = append(r.Topics, rt)
	case *kmsg.CreateTopicsRequest:
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 2, 1
		v := "memory"
		rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: "storage.mode", Value: &v})
		r.Topics = append(r.Topics, rt)
	case *kmsg.DeleteTopicsRequest:
		r.TopicNames = []string{"gone"}
		r.Topics = append(r.Topics, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr("gone")})
	case *kmsg.DeleteRecordsRequest:
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = name
		rt.Partitions = append(rt.Partitions, kmsg.DeleteRecordsRequestTopicPartition{Partition: 1, Offset: 0})
		r.Topics = append(r.Topics, rt)
	case *kmsg.OffsetForLeaderEpochRequest:
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = name
		rt.Partitions = append(rt.Partitions, kmsg.OffsetForLeaderEpochRequestTopicPartition{Partition: 0, LeaderEpoch: 0, CurrentLeaderEpoch: -1})
		r.Topics = append(r.Topics, rt)
	case *kmsg.DescribeConfigsRequest:
		r.Resources = append(r.Resources, kmsg.DescribeConfigsRequestResource{ResourceType: 2, ResourceName: name},
			kmsg.DescribeConfigsRequestResource{ResourceType: 4, ResourceName: ""})
	case *kmsg.AlterConfigsRequest:
		v := "1000"
		r.Resources = append(r.Resources, kmsg.AlterConfigsRequestResource{ResourceType: 2, ResourceName: name,
			Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}})
	case *kmsg.IncrementalAlterConfigsRequest:
		v := "2000"
		r.Resources = append(r.Resources, kmsg.IncrementalAlterConfigsRequestResource{ResourceType: 2, ResourceName: name,
			Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}})
	case *kmsg.CreatePartitionsRequest:
		r.Topics = append(r.Topics, kmsg.CreatePartitionsRequestTopic{Topic: name, Count: 3})
	case *kmsg.DescribeLogDirsRequest:
		r.Topics = append(r.Topics, kmsg.DescribeLogDirsRequestTopic{Topic: name, Partitions: []int32{0}})
	case *kmsg.ApiVersionsRequest:
		r.ClientSoftwareName, r.ClientSoftwareVersion = "fuzz", "1"
	}
}

// tooBig reports requests the fuzzer may not run: partition counts that
// would create thousands of logs per iteration.
func tooBig(fr []byte) bool {
	h, body, err := parseHeader(fr)
	if err != nil || !h.known {
		return false
	}
	req, err := decodeRequest(h, body)
	if err != nil {
		return false
	}
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			if t.NumPartitions > 8 || len(t.ReplicaAssignment) > 8 {
				return true
			}
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			if t.Count > 8 {
				return true
			}
		}
	}
	return false
}

// serveFrame runs one frame through dispatch and encodes the response, as
// the connection would.
func serveFrame(s *Server, fr []byte) error {
	info := &connInfo{remoteAddr: "fuzz", principal: "User:ANONYMOUS"}
	resp, _, err := s.dispatch(context.Background(), info, s.log, fr)
	if resp != nil {
		resp.AppendTo(nil)
		if st, ok := resp.(streamer); ok {
			st.release()
		}
	}
	return err
}

// FuzzRequestHeader: random bytes into the frame size check and the
// header decoder never panic.
func FuzzRequestHeader(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s)
	}
	f.Add([]byte{0, 18, 0, 9, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 4 {
			checkFrameSize(int32(binary.BigEndian.Uint32(b)), DefaultMaxFrameBytes)
		}
		h, body, err := parseHeader(b)
		if err == nil && h.known {
			decodeRequest(h, body)
		}
	})
}

// FuzzDispatch: valid requests of every key and version, mutated, into
// every handler: no panic (a panic is caught by dispatch and reported as
// an error naming it; the fuzzer fails on it).
func FuzzDispatch(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, fr []byte) {
		if tooBig(fr) {
			return
		}
		if err := serveFrame(s, fr); err != nil && containsPanic(err) {
			t.Fatal(err)
		}
	})
}

func containsPanic(err error) bool {
	const marker = "handler panicked"
	msg := err.Error()
	for i := 0; i+len(marker) <= len(msg); i++ {
		if msg[i:i+len(marker)] == marker {
			return true
		}
	}
	return false
}

// TestDispatchSeeds runs every seed (all keys, all versions) and checks
// that each is answered and no goroutine is left behind.
func TestDispatchSeeds(t *testing.T) {
	s := fuzzServer(t)
	before := runtime.NumGoroutine()
	for i, fr := range seedRequests() {
		if err := serveFrame(s, fr); err != nil {
			t.Fatalf("seed %d (key %d v%d): %v", i, int16(binary.BigEndian.Uint16(fr)), int16(binary.BigEndian.Uint16(fr[2:])), err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines before the seeds, %d after", before, n)
	}
}
