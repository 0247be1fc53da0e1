package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	chantransport "github.com/lni/dragonboat/v4/plugin/chan"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"strata/logstore"
)

// netFilter is an in-process raft network (Dragonboat's channel
// transport) that can cut nodes off: every message to or from a cut
// address is dropped, both ways, as a network partition would.
type netFilter struct {
	mu  sync.Mutex
	cut map[string]bool
}

func (f *netFilter) isCut(addrs ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		if f.cut[a] {
			return true
		}
	}
	return false
}

func (f *netFilter) set(addr string, cut bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[addr] = cut
}

// Create implements config.TransportFactory.
func (f *netFilter) Create(nhc config.NodeHostConfig, h raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	self := nhc.RaftAddress
	filtered := func(b pb.MessageBatch) {
		if !f.isCut(self, b.SourceAddress) {
			h(b)
		}
	}
	return &filteredTransport{ITransport: chantransport.NewChanTransport(nhc, filtered, ch), f: f, self: self}
}

// Validate implements config.TransportFactory.
func (f *netFilter) Validate(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

type filteredTransport struct {
	raftio.ITransport
	f    *netFilter
	self string
}

func (t *filteredTransport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c, err := t.ITransport.GetConnection(ctx, target)
	if err != nil {
		return nil, err
	}
	return &filteredConn{IConnection: c, f: t.f, from: t.self, to: target}, nil
}

type filteredConn struct {
	raftio.IConnection
	f        *netFilter
	from, to string
}

func (c *filteredConn) SendMessageBatch(b pb.MessageBatch) error {
	if c.f.isCut(c.from, c.to) {
		return nil // lost on the wire
	}
	return c.IConnection.SendMessageBatch(b)
}

// TestNodePartition cuts the topics leader off from the other two and
// heals it: the minority side refuses writes with ErrNoQuorum and is not
// ready, the majority elects a leader and goes on within seconds, and
// after the heal the cut node catches up; its refused write never appears.
func TestNodePartition(t *testing.T) {
	f := &netFilter{cut: map[string]bool{}}
	withNet := func(o *NodeOptions) { o.transport = f }
	peers := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		// Addresses only name nodes here: the channel transport opens no port.
		peers[id] = fmt.Sprintf("partition-test:%d", 7100+id)
	}
	nodes := map[uint64]*testNode{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id := uint64(1); id <= 3; id++ {
		wg.Go(func() {
			tn := openTestNode(t, id, peers[id], t.TempDir(), peers, withNet)
			mu.Lock()
			nodes[id] = tn
			mu.Unlock()
		})
	}
	wg.Wait()
	defer func() {
		for _, tn := range nodes {
			tn.close(t)
		}
	}()
	if _, err := nodes[1].store.CreateTopic("before", 1, nil); err != nil {
		t.Fatal(err)
	}
	var cut uint64
	eventually(t, 5*time.Second, "a topics leader", func() error {
		for _, s := range nodes[1].node.Status().Shards {
			if s.ShardID == ShardTopics && s.LeaderID != 0 {
				cut = s.LeaderID
				return nil
			}
		}
		return errors.New("no leader")
	})
	var majority []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != cut {
			majority = append(majority, id)
		}
	}

	f.set(peers[cut], true)
	minority, err := NewCatalog(nodes[cut].node, CatalogOptions{Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = minority.Create(logstore.TopicMeta{Name: "refused", ID: [16]byte{9}, Seq: 1 << 40, Partitions: 1, CreatedAt: time.Now()})
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("write on the minority side: %v, want ErrNoQuorum", err)
	}
	t.Logf("minority write: %v", err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	if nodes[cut].node.Ready(ctx) {
		t.Error("the cut-off node is ready")
	}
	cancel()
	start := time.Now()
	if _, err := nodes[majority[0]].store.CreateTopic("during", 1, nil); err != nil {
		t.Fatalf("write on the majority side: %v", err)
	}
	t.Logf("majority write after the cut took %v", time.Since(start))

	f.set(peers[cut], false)
	want := []string{"before", "during"}
	for _, id := range []uint64{cut, majority[0], majority[1]} {
		eventually(t, 10*time.Second, fmt.Sprintf("node %d after the heal", id), func() error {
			metas, err := nodes[id].catalog.Load()
			if err != nil {
				return err
			}
			var got []string
			for _, m := range metas {
				got = append(got, m.Name)
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("catalogue %v, want %v", got, want)
			}
			if got := storeNames(nodes[id].store); !slices.Equal(got, want) {
				return fmt.Errorf("store %v, want %v", got, want)
			}
			return nil
		})
	}
}
