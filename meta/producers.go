package meta

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"unicode/utf8"
)

// Shard 8, producers: Kafka producer ids and transaction state, for the
// Kafka frontend's idempotent producers and transaction coordinator.
//
// Producer ids are allocated in blocks from a counter that only goes up,
// so an id is never handed out twice, across restarts and leader changes
// (the counter is in the snapshot and every allocation is a proposal).
// Per transactional.id the machine stores the coordinator's record of the
// transaction: producer id and epoch, timeout, state, the partitions and
// groups in the current transaction, the offsets TxnOffsetCommit holds
// until EndTxn, and times. The coordinator (frontends/kafka, txn.go) owns
// the state machine of a transaction and writes each new state here
// before it answers; this machine checks the record's shape and fences
// stale writers with a compare-and-set on (producer id, epoch).
//
// Operations (Command.Op):
//
//	alloc_producer_ids {count}                -> {first}: ids [first, first+count)
//	put_txn {txn, expect_producer_id, expect_epoch}
//	                                           -> the txn as stored; conflict when the stored
//	                                              record's (producer id, epoch) is not the expected
//	                                              one (expect_producer_id -1: must not exist yet)
//	delete_txn {transactional_id}              (expiry of an idle transactional id)
//
// Lookups (Query.Op): get_txn {transactional_id} -> *TxnMeta (nil if none),
// list_txns {} -> []TxnMeta by id, next_producer_id {} -> int64.

// ProducersKind names the producers machine in its snapshots.
const ProducersKind = "producers"

// Transaction states, as Kafka names them (DescribeTransactions and
// ListTransactions report these strings).
const (
	TxnEmpty          = "Empty"
	TxnOngoing        = "Ongoing"
	TxnPrepareCommit  = "PrepareCommit"
	TxnPrepareAbort   = "PrepareAbort"
	TxnCompleteCommit = "CompleteCommit"
	TxnCompleteAbort  = "CompleteAbort"
)

// MaxProducerIDBlock caps one alloc_producer_ids.
const MaxProducerIDBlock = 1 << 20

// validTxnState reports whether s is one of the Txn* states.
func validTxnState(s string) bool {
	switch s {
	case TxnEmpty, TxnOngoing, TxnPrepareCommit, TxnPrepareAbort, TxnCompleteCommit, TxnCompleteAbort:
		return true
	}
	return false
}

// TxnOffset is one offset that TxnOffsetCommit holds for a group until the
// transaction ends (committed to the groups shard on commit, dropped on
// abort).
type TxnOffset struct {
	Group       string `json:"group"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
}

// TxnMeta is the coordinator's record of one transactional id.
type TxnMeta struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	TimeoutMs       int32  `json:"timeout_ms"`
	State           string `json:"state"`
	// Partitions and Groups are in the current (or ending) transaction,
	// sorted; Offsets are the pending TxnOffsetCommit offsets, sorted by
	// group, topic and partition.
	Partitions []TopicPartition `json:"partitions,omitempty"`
	Groups     []string         `json:"groups,omitempty"`
	Offsets    []TxnOffset      `json:"offsets,omitempty"`
	// StartMs is when the current transaction began (-1 when none);
	// UpdateMs is the last change, for transactional.id expiry.
	StartMs  int64 `json:"start_ms"`
	UpdateMs int64 `json:"update_ms"`
}

func (t TxnMeta) validate(nextID int64) error {
	switch {
	case t.TransactionalID == "" || len(t.TransactionalID) > 32767 || !utf8.ValidString(t.TransactionalID):
		return fmt.Errorf("bad transactional id %q", t.TransactionalID)
	case t.ProducerID < 0 || t.ProducerID >= nextID:
		return fmt.Errorf("txn %q: producer id %d was never allocated (next is %d)", t.TransactionalID, t.ProducerID, nextID)
	case t.ProducerEpoch < 0:
		return fmt.Errorf("txn %q: negative epoch %d", t.TransactionalID, t.ProducerEpoch)
	case t.TimeoutMs <= 0:
		return fmt.Errorf("txn %q: timeout %d ms is not positive", t.TransactionalID, t.TimeoutMs)
	case !validTxnState(t.State):
		return fmt.Errorf("txn %q: unknown state %q", t.TransactionalID, t.State)
	}
	for i, p := range t.Partitions {
		if !validTopicName(p.Topic) || p.Partition < 0 {
			return fmt.Errorf("txn %q: bad partition %s/%d", t.TransactionalID, p.Topic, p.Partition)
		}
		if i > 0 && !tpLess(t.Partitions[i-1], p) {
			return fmt.Errorf("txn %q: partitions not sorted and unique at %s/%d", t.TransactionalID, p.Topic, p.Partition)
		}
	}
	for i, g := range t.Groups {
		if g == "" || (i > 0 && t.Groups[i-1] >= g) {
			return fmt.Errorf("txn %q: groups empty, unsorted or repeated at %q", t.TransactionalID, g)
		}
	}
	for i, o := range t.Offsets {
		if !slices.Contains(t.Groups, o.Group) {
			return fmt.Errorf("txn %q: offset of group %q, which is not in the transaction", t.TransactionalID, o.Group)
		}
		if !validTopicName(o.Topic) || o.Partition < 0 || o.Offset < 0 || len(o.Metadata) > MaxOffsetMetadata {
			return fmt.Errorf("txn %q: bad offset %s/%d@%d", t.TransactionalID, o.Topic, o.Partition, o.Offset)
		}
		if i > 0 && !txnOffsetLess(t.Offsets[i-1], o) {
			return fmt.Errorf("txn %q: offsets not sorted and unique at %s %s/%d", t.TransactionalID, o.Group, o.Topic, o.Partition)
		}
	}
	return nil
}

func tpLess(a, b TopicPartition) bool {
	return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
}

func txnOffsetLess(a, b TxnOffset) bool {
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	return tpLess(TopicPartition{a.Topic, a.Partition}, TopicPartition{b.Topic, b.Partition})
}

type (
	allocProducerIDsBody struct {
		Count int64 `json:"count"`
	}
	allocProducerIDsResult struct {
		First int64 `json:"first"`
	}
	putTxnBody struct {
		Txn TxnMeta `json:"txn"`
		// ExpectProducerID and ExpectEpoch: the stored record's producer
		// id and epoch; ExpectProducerID -1 means none may be stored.
		ExpectProducerID int64 `json:"expect_producer_id"`
		ExpectEpoch      int16 `json:"expect_epoch"`
	}
	txnIDBody struct {
		TransactionalID string `json:"transactional_id"`
	}
)

type producersMachine struct {
	nextID int64
	txns   map[string]TxnMeta
}

func newProducersMachine() machine { return &producersMachine{txns: map[string]TxnMeta{}} }

func init() { registerMachine(ShardProducers, newProducersMachine) }

func (m *producersMachine) kind() string { return ProducersKind }

func (m *producersMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "alloc_producer_ids":
		var b allocProducerIDsBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "alloc_producer_ids: %v", err)
		}
		if b.Count < 1 || b.Count > MaxProducerIDBlock {
			return nil, reject(RejectInvalid, "alloc_producer_ids: count %d is outside [1, %d]", b.Count, MaxProducerIDBlock)
		}
		if m.nextID > math.MaxInt64-b.Count {
			return nil, reject(RejectInvalid, "alloc_producer_ids: producer ids exhausted")
		}
		first := m.nextID
		m.nextID += b.Count
		return allocProducerIDsResult{First: first}, nil
	case "put_txn":
		var b putTxnBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "put_txn: %v", err)
		}
		t := b.Txn
		if err := t.validate(m.nextID); err != nil {
			return nil, reject(RejectInvalid, "put_txn: %v", err)
		}
		old, ok := m.txns[t.TransactionalID]
		if ok && sameJSON(old, t) {
			return t, nil // the same proposal applied twice (invariant 4)
		}
		switch {
		case b.ExpectProducerID == -1 && ok:
			return nil, reject(RejectConflict, "txn %q exists with producer %d epoch %d", t.TransactionalID, old.ProducerID, old.ProducerEpoch)
		case b.ExpectProducerID != -1 && !ok:
			return nil, reject(RejectConflict, "txn %q does not exist", t.TransactionalID)
		case ok && (old.ProducerID != b.ExpectProducerID || old.ProducerEpoch != b.ExpectEpoch):
			return nil, reject(RejectConflict, "txn %q has producer %d epoch %d, not %d epoch %d",
				t.TransactionalID, old.ProducerID, old.ProducerEpoch, b.ExpectProducerID, b.ExpectEpoch)
		}
		m.txns[t.TransactionalID] = t
		return t, nil
	case "delete_txn":
		var b txnIDBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "delete_txn: %v", err)
		}
		// Deleting what is not there succeeds: a retried delete.
		delete(m.txns, b.TransactionalID)
		return nil, nil
	}
	return nil, reject(RejectInvalid, "unknown producers op %q", cmd.Op)
}

func (m *producersMachine) list() []TxnMeta {
	out := []TxnMeta{}
	for _, id := range slices.Sorted(maps.Keys(m.txns)) {
		out = append(out, m.txns[id])
	}
	return out
}

func (m *producersMachine) lookup(q any) (any, error) {
	query, err := asQuery(q)
	if err != nil {
		return nil, err
	}
	switch query.Op {
	case "get_txn":
		var b txnIDBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		if t, ok := m.txns[b.TransactionalID]; ok {
			return &t, nil
		}
		return (*TxnMeta)(nil), nil
	case "list_txns":
		var b struct{}
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.list(), nil
	case "next_producer_id":
		var b struct{}
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.nextID, nil
	}
	return nil, reject(RejectInvalid, "unknown producers lookup %q", query.Op)
}

type producersSnapshot struct {
	NextProducerID int64     `json:"next_producer_id"`
	Txns           []TxnMeta `json:"txns"`
}

func (m *producersMachine) save(w io.Writer) error {
	return writeJSON(w, producersSnapshot{NextProducerID: m.nextID, Txns: m.list()})
}

func (m *producersMachine) load(r io.Reader) error {
	var snap producersSnapshot
	if err := decodeSnapshotBody(r, &snap); err != nil {
		return err
	}
	if snap.NextProducerID < 0 {
		return fmt.Errorf("%w: producers: next producer id %d", ErrCorruptSnapshot, snap.NextProducerID)
	}
	txns := make(map[string]TxnMeta, len(snap.Txns))
	for _, t := range snap.Txns {
		if err := t.validate(snap.NextProducerID); err != nil {
			return fmt.Errorf("%w: producers: %v", ErrCorruptSnapshot, err)
		}
		if _, dup := txns[t.TransactionalID]; dup {
			return fmt.Errorf("%w: producers: txn %q twice", ErrCorruptSnapshot, t.TransactionalID)
		}
		txns[t.TransactionalID] = t
	}
	m.nextID, m.txns = snap.NextProducerID, txns
	return nil
}

// Producers is the typed client of the producers shard.
type Producers struct{ p Proposer }

// NewProducers returns a producers client over p.
func NewProducers(p Proposer) *Producers { return &Producers{p: p} }

// AllocProducerIDs reserves count fresh producer ids and returns the first;
// the block is [first, first+count). No id is ever returned twice.
func (c *Producers) AllocProducerIDs(ctx context.Context, count int64) (int64, error) {
	var out allocProducerIDsResult
	err := proposeOp(ctx, c.p, ShardProducers, "alloc_producer_ids", allocProducerIDsBody{Count: count}, &out)
	return out.First, err
}

// PutTxn stores t if the stored record of its transactional id has
// producer id expectPID and epoch expectEpoch (expectPID -1: there must be
// none); otherwise it fails with a conflict rejection.
func (c *Producers) PutTxn(ctx context.Context, t TxnMeta, expectPID int64, expectEpoch int16) (TxnMeta, error) {
	var out TxnMeta
	err := proposeOp(ctx, c.p, ShardProducers, "put_txn", putTxnBody{Txn: t, ExpectProducerID: expectPID, ExpectEpoch: expectEpoch}, &out)
	return out, err
}

// DeleteTxn forgets a transactional id (expiry); deleting none succeeds.
func (c *Producers) DeleteTxn(ctx context.Context, txnID string) error {
	return proposeOp(ctx, c.p, ShardProducers, "delete_txn", txnIDBody{TransactionalID: txnID}, nil)
}

// GetTxn returns one transactional id's record; ok is false if none.
func (c *Producers) GetTxn(ctx context.Context, txnID string) (t TxnMeta, ok bool, err error) {
	p, err := readOp[*TxnMeta](ctx, c.p, ShardProducers, "get_txn", txnIDBody{TransactionalID: txnID})
	if err != nil || p == nil {
		return TxnMeta{}, false, err
	}
	return *p, true, nil
}

// ListTxns returns every record, sorted by transactional id.
func (c *Producers) ListTxns(ctx context.Context) ([]TxnMeta, error) {
	return readOp[[]TxnMeta](ctx, c.p, ShardProducers, "list_txns", nil)
}

// NextProducerID returns the id the next allocation starts at.
func (c *Producers) NextProducerID(ctx context.Context) (int64, error) {
	return readOp[int64](ctx, c.p, ShardProducers, "next_producer_id", nil)
}
