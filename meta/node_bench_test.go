package meta

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkNodeProposals measures proposals through Node.Propose on one
// node and on three loopback nodes (proposing through node 1, whatever
// shard leader raft elected), from 1 and from 16 concurrent clients, for:
//
//	topic-config  a topics "put" of one topic entry (a config change), ~200 B of JSON
//	commit-1      a groups commit_offsets of one partition, ~170 B
//	commit-100    a groups commit_offsets of 100 partitions (one OffsetCommit), ~6 KB
//
// It reports proposals per second, p50 and p99 latency in milliseconds,
// the command's size in bytes and, for commits, offsets per second. Each
// cluster is opened once per node count and shared by its sub-benchmarks.
// Concurrent proposals are batched by Dragonboat into fewer raft entries
// and fsyncs.
//
//	go test ./meta -run '^$' -bench NodeProposals -benchtime 3s
func BenchmarkNodeProposals(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			n := openBenchCluster(b, nodes)
			for _, op := range []string{"topic-config", "commit-1", "commit-100"} {
				for _, clients := range []int{1, 16} {
					b.Run(fmt.Sprintf("op=%s/clients=%d", op, clients), func(b *testing.B) {
						benchProposals(b, n, op, clients)
					})
				}
			}
		})
	}
}

// openBenchCluster opens nodes loopback nodes and returns node 1 once
// every shard it proposes to has a leader; the nodes close with b.
func openBenchCluster(b *testing.B, nodes int) *Node {
	peers := map[uint64]string{}
	for id := uint64(1); id <= uint64(nodes); id++ {
		peers[id] = freeAddr(b)
	}
	all := map[uint64]*Node{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id := range peers {
		wg.Go(func() {
			n, err := OpenNode(NodeOptions{NodeID: id, RaftAddr: peers[id], Peers: peers, Dir: filepath.Join(b.TempDir(), "meta"),
				RTT: testRTT, Logger: discardLogger()})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			all[id] = n
			mu.Unlock()
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, n := range all {
			n.Close()
		}
	})
	if b.Failed() {
		b.FailNow()
	}
	n := all[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cmd, err := EncodeCommand(OpTopicCreate, benchTopic); err != nil {
		b.Fatal(err)
	} else if _, err := n.Propose(ctx, ShardTopics, cmd); err != nil {
		b.Fatal(err)
	}
	if err := NewGroups(n).CommitOffsets(ctx, "warmup", nil, 1, []OffsetCommit{{Topic: "bench", Partition: 0, Offset: 1}}); err != nil {
		b.Fatal(err)
	}
	return n
}

var benchTopic = topicEntry{Name: "bench", ID: "0a0b0c0d-0e0f-4011-8213-141516171819", Seq: 1, Partitions: 100,
	Configs: map[string]string{"retention.ms": "1"}, CreatedAt: time.Unix(1, 0).UTC()}

// benchCommand encodes operation i of op for client c.
func benchCommand(b *testing.B, op string, c, i int) (uint64, []byte) {
	var (
		cmd []byte
		err error
	)
	switch op {
	case "topic-config":
		e := benchTopic
		e.Configs = map[string]string{"retention.ms": fmt.Sprint(i + 1)}
		cmd, err = EncodeCommand(OpTopicPut, e)
		return ShardTopics, mustBench(b, cmd, err)
	case "commit-1", "commit-100":
		parts := 1
		if op == "commit-100" {
			parts = 100
		}
		offs := make([]OffsetCommit, parts)
		for p := range offs {
			offs[p] = OffsetCommit{Topic: "bench", Partition: int32(p), Offset: int64(1_000_000 + i), LeaderEpoch: -1}
		}
		cmd, err = EncodeCommand("commit_offsets", commitOffsetsBody{Group: fmt.Sprintf("bench-%d", c), TimeMs: 1_700_000_000_000 + int64(i), Offsets: offs})
		return ShardGroups, mustBench(b, cmd, err)
	}
	b.Fatalf("unknown op %q", op)
	return 0, nil
}

func mustBench(b *testing.B, cmd []byte, err error) []byte {
	if err != nil {
		b.Fatal(err)
	}
	return cmd
}

func benchProposals(b *testing.B, n *Node, op string, clients int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, sample := benchCommand(b, op, 0, 0)
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < b.N; i += clients {
				shard, cmd := benchCommand(b, op, c, i)
				t0 := time.Now()
				res, err := n.Propose(ctx, shard, cmd)
				if err == nil {
					err = DecodeResult(res, nil)
				}
				if err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	perSec := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(perSec, "proposals/s")
	b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	b.ReportMetric(float64(len(sample)), "cmd-bytes")
	switch op {
	case "commit-1":
		b.ReportMetric(perSec, "offsets/s")
	case "commit-100":
		b.ReportMetric(100*perSec, "offsets/s")
	}
	b.ReportMetric(0, "ns/op") // proposals/s and the percentiles say it; ns/op of a concurrent run misleads
}
