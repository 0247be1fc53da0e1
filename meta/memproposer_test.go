package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/datadriven"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// memProposer is a Proposer over bare adapters, one per registered shard,
// with no raft: Propose applies at the next index, Read looks up. It lets
// the typed clients be tested without a NodeHost.
type memProposer struct {
	mu     sync.Mutex
	shards map[uint64]*adapter
	index  uint64
	// failPropose, when set, fails every Propose (a shard without quorum).
	failPropose error
}

func newMemProposer() *memProposer {
	p := &memProposer{shards: map[uint64]*adapter{}}
	for shard, newMachine := range machines {
		p.shards[shard] = &adapter{m: newMachine()}
	}
	return p
}

var _ Proposer = (*memProposer)(nil)

func (p *memProposer) Propose(ctx context.Context, shard uint64, cmd []byte) (sm.Result, error) {
	if err := ctx.Err(); err != nil {
		return sm.Result{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failPropose != nil {
		return sm.Result{}, p.failPropose
	}
	a, ok := p.shards[shard]
	if !ok {
		return sm.Result{}, fmt.Errorf("no shard %d", shard)
	}
	p.index++
	return a.Update(sm.Entry{Index: p.index, Cmd: cmd})
}

func (p *memProposer) Read(ctx context.Context, shard uint64, q Query) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.shards[shard]
	if !ok {
		return nil, fmt.Errorf("no shard %d", shard)
	}
	return a.Lookup(q)
}

func (p *memProposer) setFail(err error) {
	p.mu.Lock()
	p.failPropose = err
	p.mu.Unlock()
}

// TestCommandsAppliedTwice replays every apply of the data-driven files of
// shards 3 to 7 on two machines, once on the first and twice on the
// second (a Node retries a proposal whose outcome it could not learn, and
// the NO-OP session does not deduplicate: invariant 4). The second
// application must succeed whenever the first did, except for deletions
// of one named thing (they answer not_found, documented in DESIGN.md), and
// both machines must end every step in the same state.
func TestCommandsAppliedTwice(t *testing.T) {
	deletes := map[string]bool{"delete_group": true, "remove_segment": true, "delete_credential": true,
		"delete_user": true, "remove_route": true, "delete_dataset": true, "delete_cursor": true}
	for dir, newMachine := range map[string]func() machine{
		"testdata/groups": newGroupsMachine, "testdata/manifests": newManifestsMachine, "testdata/security": newSecurityMachine,
		"testdata/routes": newRoutesMachine, "testdata/datasets": newDatasetsMachine,
	} {
		datadriven.Walk(t, dir, func(t *testing.T, path string) {
			once, twice := &adapter{m: newMachine()}, &adapter{m: newMachine()}
			idx := uint64(0)
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				if d.Cmd != "apply" {
					return d.Expected
				}
				var op string
				d.ScanArgs(t, "op", &op)
				var body json.RawMessage
				if s := strings.TrimSpace(d.Input); s != "" {
					body = json.RawMessage(s)
				}
				cmd, err := json.Marshal(Command{Op: op, Body: body})
				if err != nil {
					t.Fatal(err)
				}
				idx++
				r1, _ := once.Update(sm.Entry{Index: idx, Cmd: cmd})
				twice.Update(sm.Entry{Index: idx, Cmd: cmd})
				r2, _ := twice.Update(sm.Entry{Index: idx, Cmd: cmd})
				if r1.Value == ResultOK && r2.Value != ResultOK && !deletes[op] {
					t.Errorf("%s: %s succeeded once but not twice: %s", d.Pos, op, r2.Data)
				}
				var s1, s2 bytes.Buffer
				if err := once.m.save(&s1); err != nil {
					t.Fatal(err)
				}
				if err := twice.m.save(&s2); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(s1.Bytes(), s2.Bytes()) {
					t.Errorf("%s: %s applied twice leaves another state:\nonce  %s\ntwice %s", d.Pos, op, s1.Bytes(), s2.Bytes())
				}
				return d.Expected
			})
		})
	}
}
