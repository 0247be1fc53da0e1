package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
		"delete_user": true, "remove_route": true, "delete_dataset": true, "delete_cursor": true, "mqtt_acl_remove": true}
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

// shardMachines3to7 maps the shards of this file's machines to their
// constructors and data-driven directories.
var shardMachines3to7 = []struct {
	shard uint64
	dir   string
	new   func() machine
}{
	{ShardManifests, "testdata/manifests", newManifestsMachine},
	{ShardGroups, "testdata/groups", newGroupsMachine},
	{ShardSecurity, "testdata/security", newSecurityMachine},
	{ShardRoutes, "testdata/routes", newRoutesMachine},
	{ShardDatasets, "testdata/datasets", newDatasetsMachine},
	{ShardProducers, "testdata/producers", newProducersMachine},
}

// FuzzShardStateLoad feeds arbitrary snapshot bodies straight to load (past
// the CRC that stops FuzzStateMachines from reaching it) for shards 3 to 7,
// then arbitrary commands: load must fail cleanly leaving the state as it
// was, or succeed with a state that saves, reloads and saves to the same
// bytes; apply must never panic and keep that round trip.
func FuzzShardStateLoad(f *testing.F) {
	for i, m := range shardMachines3to7 {
		f.Add(uint8(i), []byte(`{}`), []byte(`{"op":"x"}`))
		// Seed with the state each data-driven file ends in.
		st := m.new()
		a := &adapter{m: st}
		files, err := os.ReadDir(m.dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			datadriven.RunTestAny(f, filepath.Join(m.dir, file.Name()), func(t testing.TB, d *datadriven.TestData) string {
				if d.Cmd == "apply" {
					var op string
					d.ScanArgs(t, "op", &op)
					cmd, _ := json.Marshal(Command{Op: op, Body: json.RawMessage(strings.TrimSpace(d.Input))})
					a.Update(sm.Entry{Index: 1, Cmd: cmd})
					f.Add(uint8(i), []byte(`{}`), cmd)
				}
				return d.Expected
			})
		}
		var b bytes.Buffer
		if err := st.save(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b.Bytes(), []byte(`{"op":"x"}`))
	}
	f.Fuzz(func(t *testing.T, which uint8, state, cmd []byte) {
		if int(which) >= len(shardMachines3to7) {
			return
		}
		newMachine := shardMachines3to7[which].new
		m := newMachine()
		var before, after bytes.Buffer
		if err := m.save(&before); err != nil {
			t.Fatal(err)
		}
		if err := m.load(bytes.NewReader(state)); err != nil {
			if err := m.save(&after); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before.Bytes(), after.Bytes()) {
				t.Fatalf("a failed load changed the state to %s", after.Bytes())
			}
		}
		checkSnapshotRoundTrip(t, m, newMachine)
		a := &adapter{m: m}
		if _, err := a.Update(sm.Entry{Index: 2, Cmd: cmd}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		checkSnapshotRoundTrip(t, m, newMachine)
		for _, op := range []string{"fetch_offsets", "list_groups", "all", "list_users", "describe_acls", "list_routes", "list_datasets", "list_cursors", "list_txns", "next_producer_id"} {
			_, _ = a.Lookup(Query{Op: op})
		}
	})
}
