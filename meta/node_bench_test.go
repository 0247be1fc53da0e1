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

// BenchmarkProposeTopicConfig measures topic-config changes (a topics
// "put" of one topic entry, ~200 bytes) through Node.Propose, on one node
// and on three loopback nodes, serially and from 16 goroutines (which
// Dragonboat batches into fewer raft entries). It reports proposals per
// second and p50/p99 latency.
//
//	go test ./meta -run '^$' -bench ProposeTopicConfig -benchtime 2000x
func BenchmarkProposeTopicConfig(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		for _, par := range []int{1, 16} {
			b.Run(fmt.Sprintf("nodes=%d/clients=%d", nodes, par), func(b *testing.B) {
				benchPropose(b, nodes, par)
			})
		}
	}
}

func benchPropose(b *testing.B, nodes, clients int) {
	peers := map[uint64]string{}
	for id := uint64(1); id <= uint64(nodes); id++ {
		peers[id] = freeAddr(b)
	}
	var all []*Node
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
			all = append(all, n)
			mu.Unlock()
		})
	}
	wg.Wait()
	defer func() {
		for _, n := range all {
			n.Close()
		}
	}()
	if b.Failed() {
		b.FailNow()
	}
	n := all[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := topicEntry{Name: "bench", ID: "0a0b0c0d-0e0f-4011-8213-141516171819", Seq: 1, Partitions: 1,
		Configs: map[string]string{"retention.ms": "1"}, CreatedAt: time.Unix(1, 0).UTC()}
	if cmd, err := EncodeCommand(OpTopicCreate, e); err != nil {
		b.Fatal(err)
	} else if _, err := n.Propose(ctx, ShardTopics, cmd); err != nil {
		b.Fatal(err)
	}
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	start := time.Now()
	var cwg sync.WaitGroup
	for c := range clients {
		cwg.Go(func() {
			for i := c; i < b.N; i += clients {
				e := e
				e.Configs = map[string]string{"retention.ms": fmt.Sprint(i + 1)}
				cmd, err := EncodeCommand(OpTopicPut, e)
				if err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				res, err := n.Propose(ctx, ShardTopics, cmd)
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
	cwg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all1 := slices.Concat(lat...)
	slices.Sort(all1)
	if len(all1) == 0 {
		return
	}
	b.ReportMetric(float64(len(all1))/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(float64(all1[len(all1)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all1[len(all1)*99/100].Microseconds()), "p99-µs")
}
