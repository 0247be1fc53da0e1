package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// Shard IDs: one raft shard per state machine, so that (say) offset commits
// never queue behind topic changes. The numbers are part of the on-disk
// format of <data>/meta and never change.
const (
	ShardCluster   uint64 = 1 // nodes, liveness, partition placement
	ShardTopics    uint64 = 2 // topics, partition counts, configs
	ShardManifests uint64 = 3 // segment manifests per partition
	ShardGroups    uint64 = 4 // consumer group offsets and group metadata
	ShardSecurity  uint64 = 5 // users, credentials, ACL rules
	ShardRoutes    uint64 = 6 // MQTT <-> topic routing rules
	ShardDatasets  uint64 = 7 // datasets and training cursors
	ShardProducers uint64 = 8 // Kafka producer ids and transactions
)

// Shards lists every shard ID, in start order.
var Shards = []uint64{ShardCluster, ShardTopics, ShardManifests, ShardGroups, ShardSecurity, ShardRoutes, ShardDatasets, ShardProducers}

// ShardName names a shard for logs, metrics and `strata cluster status`.
func ShardName(id uint64) string {
	switch id {
	case ShardCluster:
		return "cluster"
	case ShardTopics:
		return "topics"
	case ShardManifests:
		return "manifests"
	case ShardGroups:
		return "groups"
	case ShardSecurity:
		return "security"
	case ShardRoutes:
		return "routes"
	case ShardDatasets:
		return "datasets"
	case ShardProducers:
		return "producers"
	}
	return fmt.Sprintf("shard-%d", id)
}

// Command is what one raft proposal carries: an operation name and its
// JSON body. JSON keeps proposals and snapshots readable in a dump; the
// state machines decode it with DisallowUnknownFields, so a typo in a
// field name is a rejection, not a silent no-op.
type Command struct {
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body,omitempty"`
}

// EncodeCommand builds a proposal's bytes.
func EncodeCommand(op string, body any) ([]byte, error) {
	var raw json.RawMessage
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	return json.Marshal(Command{Op: op, Body: raw})
}

// decodeBody decodes a command body strictly into v.
func decodeBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the body")
	}
	return nil
}

// Result values of sm.Result.Value.
const (
	// ResultOK: the command was applied; Data holds the JSON result (may be empty).
	ResultOK uint64 = 0
	// ResultRejected: the command was refused deterministically on every
	// replica (already exists, not found, invalid); Data holds a Rejection.
	ResultRejected uint64 = 1
)

// Rejection codes.
const (
	RejectInvalid  = "invalid"   // malformed command or value
	RejectExists   = "exists"    // the thing to create exists already
	RejectNotFound = "not_found" // the thing to change does not exist
	RejectConflict = "conflict"  // a compare-and-set or generation check failed
)

// Rejection is a command that the state machine refused. Update never
// returns an error for bad input (Dragonboat treats an Update error as
// fatal); it returns a Rejection instead, the same on every replica.
type Rejection struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *Rejection) Error() string { return "meta: " + r.Code + ": " + r.Message }

// ErrRejected is matched by every *Rejection via errors.Is.
var ErrRejected = errors.New("meta: rejected")

// Is makes errors.Is(rej, ErrRejected) true.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// machine is the deterministic core of one state machine. It is plain Go
// over maps and slices, tested directly (data-driven) and wrapped for
// Dragonboat by adapter. Every method is called from one goroutine at a
// time except lookup, which the adapter serialises with apply (Dragonboat's
// IStateMachine contract: Update and Lookup are not concurrent).
type machine interface {
	// kind names the machine in its snapshots ("topics", "groups", ...).
	kind() string
	// apply applies one command at raft index idx and returns its result
	// (encoded as JSON into sm.Result.Data) or a rejection.
	apply(idx uint64, cmd Command) (any, *Rejection)
	// lookup answers a read query; q is the value the caller passed to
	// SyncRead / StaleRead.
	lookup(q any) (any, error)
	// save writes the whole state, deterministically (same state, same bytes).
	save(w io.Writer) error
	// load replaces the state with one written by save. On error the
	// state must be unchanged (decode into a fresh value, then swap).
	load(r io.Reader) error
}

// Snapshot file format, written by adapter.SaveSnapshot for every machine:
//
//	 0               8          12         14
//	+---------------+----------+----------+-------------+
//	| "STRATSNP"    | version  | kindLen  | kind bytes  |
//	+---------------+----------+----------+-------------+
//	+---------------+------------------------+----------+
//	| bodyLen u64   | body (machine.save)    | crc32c   |   crc32c covers everything before it
//	+---------------+------------------------+----------+
//
// All integers big endian; version 1.
var snapshotMagic = [8]byte{'S', 'T', 'R', 'A', 'T', 'S', 'N', 'P'}

const (
	snapshotVersion = 1
	// maxSnapshotBody caps what RecoverFromSnapshot will allocate.
	maxSnapshotBody = 4 << 30
)

// ErrCorruptSnapshot marks a snapshot that fails its checks.
var ErrCorruptSnapshot = errors.New("meta: corrupt snapshot")

// encodeSnapshot frames a machine's state.
func encodeSnapshot(m machine) ([]byte, error) {
	var body bytes.Buffer
	if err := m.save(&body); err != nil {
		return nil, err
	}
	kind := m.kind()
	out := make([]byte, 0, 8+4+2+len(kind)+8+body.Len()+4)
	out = append(out, snapshotMagic[:]...)
	out = binary.BigEndian.AppendUint32(out, snapshotVersion)
	out = binary.BigEndian.AppendUint16(out, uint16(len(kind)))
	out = append(out, kind...)
	out = binary.BigEndian.AppendUint64(out, uint64(body.Len()))
	out = append(out, body.Bytes()...)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out, crc32c))
	return out, nil
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// decodeSnapshot checks a framed snapshot for kind and returns its body.
func decodeSnapshot(b []byte, kind string) ([]byte, error) {
	const fixed = 8 + 4 + 2
	if len(b) < fixed+8+4 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorruptSnapshot, len(b))
	}
	if [8]byte(b[:8]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorruptSnapshot, b[:8])
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCorruptSnapshot, v)
	}
	kl := int(binary.BigEndian.Uint16(b[12:]))
	if len(b) < fixed+kl+8+4 {
		return nil, fmt.Errorf("%w: truncated kind", ErrCorruptSnapshot)
	}
	if got := string(b[fixed : fixed+kl]); got != kind {
		return nil, fmt.Errorf("%w: snapshot of %q, want %q", ErrCorruptSnapshot, got, kind)
	}
	bl := binary.BigEndian.Uint64(b[fixed+kl:])
	start := fixed + kl + 8
	if bl > uint64(len(b)-start-4) {
		return nil, fmt.Errorf("%w: body length %d exceeds the snapshot", ErrCorruptSnapshot, bl)
	}
	end := start + int(bl)
	if end+4 != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptSnapshot, len(b)-end-4)
	}
	if want, got := binary.BigEndian.Uint32(b[end:]), crc32.Checksum(b[:end], crc32c); want != got {
		return nil, fmt.Errorf("%w: crc32c %08x, computed %08x", ErrCorruptSnapshot, want, got)
	}
	return b[start:end], nil
}

// adapter wraps a machine as a Dragonboat IStateMachine.
type adapter struct {
	m machine
	// onApply, if set, runs after every applied (not rejected) command, on
	// the apply goroutine; nodes use it to react to replicated changes
	// (open the partitions of a topic created through another node).
	onApply func(cmd Command)
}

var _ sm.IStateMachine = (*adapter)(nil)

// Update applies one committed entry. Bad bytes are a rejection, never an
// error: an error from Update stops the replica.
func (a *adapter) Update(e sm.Entry) (sm.Result, error) {
	var cmd Command
	if err := json.Unmarshal(e.Cmd, &cmd); err != nil {
		return rejected(reject(RejectInvalid, "undecodable command: %v", err)), nil
	}
	res, rej := a.m.apply(e.Index, cmd)
	if rej != nil {
		return rejected(rej), nil
	}
	var data []byte
	if res != nil {
		b, err := json.Marshal(res)
		if err != nil {
			return sm.Result{}, fmt.Errorf("meta: %s: encoding the result of %s: %w", a.m.kind(), cmd.Op, err)
		}
		data = b
	}
	if a.onApply != nil {
		a.onApply(cmd)
	}
	return sm.Result{Value: ResultOK, Data: data}, nil
}

func rejected(r *Rejection) sm.Result {
	b, _ := json.Marshal(r)
	return sm.Result{Value: ResultRejected, Data: b}
}

// Lookup answers a read query.
func (a *adapter) Lookup(q any) (any, error) { return a.m.lookup(q) }

// SaveSnapshot writes the framed state.
func (a *adapter) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	b, err := encodeSnapshot(a.m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// RecoverFromSnapshot replaces the state with a snapshot's.
func (a *adapter) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	b, err := io.ReadAll(io.LimitReader(r, maxSnapshotBody+1024))
	if err != nil {
		return err
	}
	body, err := decodeSnapshot(b, a.m.kind())
	if err != nil {
		return err
	}
	return a.m.load(bytes.NewReader(body))
}

// Close releases nothing: the state lives in memory, the raft log and
// snapshots on disk are Dragonboat's.
func (a *adapter) Close() error { return nil }

// DecodeResult turns an sm.Result into the JSON result (decoded into out,
// which may be nil) or the Rejection as an error.
func DecodeResult(res sm.Result, out any) error {
	switch res.Value {
	case ResultOK:
		if out == nil || len(res.Data) == 0 {
			return nil
		}
		return json.Unmarshal(res.Data, out)
	case ResultRejected:
		rej := &Rejection{}
		if err := json.Unmarshal(res.Data, rej); err != nil {
			return fmt.Errorf("meta: undecodable rejection: %w", err)
		}
		return rej
	}
	return fmt.Errorf("meta: unknown result value %d", res.Value)
}

// Query is the read-side counterpart of Command: what callers pass to
// Lookup (through NodeHost.SyncRead or StaleRead). Results are plain Go
// values that marshal to JSON.
type Query struct {
	Op   string
	Body json.RawMessage
}

// NewQuery builds a Query with a JSON-encoded body.
func NewQuery(op string, body any) (Query, error) {
	q := Query{Op: op}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return q, err
		}
		q.Body = b
	}
	return q, nil
}

// Proposer is how typed clients (Catalog, Groups, Manifests, ...) reach a
// shard: the Node implements it over Dragonboat, tests may implement it
// over a bare machine. Propose returns once the command is committed and
// applied on this node; a Rejection comes back through DecodeResult. Read
// is linearizable (a ReadIndex round, then Lookup).
type Proposer interface {
	Propose(ctx context.Context, shard uint64, cmd []byte) (sm.Result, error)
	Read(ctx context.Context, shard uint64, q Query) (any, error)
}

// machines maps each shard to its machine's constructor. Each machine's
// file registers itself in an init function.
var machines = map[uint64]func() machine{}

func registerMachine(shard uint64, f func() machine) {
	if _, dup := machines[shard]; dup {
		panic(fmt.Sprintf("meta: shard %d registered twice", shard))
	}
	machines[shard] = f
}
