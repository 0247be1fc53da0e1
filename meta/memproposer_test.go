package meta

import (
	"context"
	"fmt"
	"sync"

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
