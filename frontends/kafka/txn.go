package kafka

// The transaction coordinator: producer ids (InitProducerId), the state of
// every transactional id (AddPartitionsToTxn, AddOffsetsToTxn,
// TxnOffsetCommit, EndTxn), transaction timeouts, and the markers that end
// a transaction on its partitions. This node coordinates every
// transactional id (FindCoordinator answers with it).
//
// States (Kafka's): Empty -> Ongoing (first AddPartitions/AddOffsets) ->
// PrepareCommit | PrepareAbort (EndTxn, a timeout, or InitProducerId
// fencing an open transaction) -> CompleteCommit | CompleteAbort ->
// Ongoing again with the next transaction.
//
// Invariants:
//
//  1. Every state change is written to the producers shard of meta
//     (meta.Producers.PutTxn, a compare-and-set on the stored producer id
//     and epoch) before the request is answered, so an answered request
//     survives a restart.
//  2. EndTxn writes Prepare*, then a COMMIT or ABORT control batch to
//     every partition of the transaction (writeMarker), then on commit the
//     held offsets to the groups store, then Complete*. A transaction found
//     in a Prepare state (after a restart, or a marker that failed to
//     write) is completed again by the next EndTxn retry or the timer; a
//     marker written twice is harmless (the second finds no open
//     transaction of the producer on the partition).
//  3. A transactional batch is appended only while its producer's
//     transaction is Ongoing with the partition in it (checkProduce runs
//     under the partition's producer lock; EndTxn leaves Ongoing before it
//     takes those locks to write markers), so no batch lands after its
//     transaction's marker.
//  4. Lock order: txnEntry.mu, then a partition's producer lock
//     (partProducers.mu, markers), then txnCoordinator.mu. No meta call is
//     made with txnCoordinator.mu held.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
	"strata/meta"
)

// Defaults of the coordinator (Kafka's broker configs).
const (
	// DefaultTransactionMaxTimeout is transaction.max.timeout.ms.
	DefaultTransactionMaxTimeout = 15 * time.Minute
	// DefaultTransactionalIDExpiration is transactional.id.expiration.ms.
	DefaultTransactionalIDExpiration = 7 * 24 * time.Hour
	// producerIDBlock is how many producer ids one meta proposal reserves.
	producerIDBlock = 100
	// txnStoreTimeout bounds one meta call of the coordinator.
	txnStoreTimeout = 10 * time.Second
)

// txnTick is how often the coordinator looks for timed-out transactions;
// a variable so tests can make it short.
var txnTick = time.Second

// producerStore is the producers shard as the coordinator uses it:
// *meta.Producers in a server with a meta node, memProducerStore without.
type producerStore interface {
	AllocProducerIDs(ctx context.Context, count int64) (int64, error)
	PutTxn(ctx context.Context, t meta.TxnMeta, expectPID int64, expectEpoch int16) (meta.TxnMeta, error)
	DeleteTxn(ctx context.Context, txnID string) error
	ListTxns(ctx context.Context) ([]meta.TxnMeta, error)
}

var _ producerStore = (*meta.Producers)(nil)

// memProducerStore keeps producer ids and transactions in memory, with the
// producers shard's compare-and-set, for servers without meta.
type memProducerStore struct {
	mu   sync.Mutex
	next int64
	txns map[string]meta.TxnMeta
}

func newMemProducerStore() *memProducerStore {
	return &memProducerStore{txns: map[string]meta.TxnMeta{}}
}

func (m *memProducerStore) AllocProducerIDs(_ context.Context, count int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := m.next
	m.next += count
	return first, nil
}

func (m *memProducerStore) PutTxn(_ context.Context, t meta.TxnMeta, expectPID int64, expectEpoch int16) (meta.TxnMeta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.txns[t.TransactionalID]
	if ok != (expectPID != -1) || ok && (old.ProducerID != expectPID || old.ProducerEpoch != expectEpoch) {
		return meta.TxnMeta{}, &meta.Rejection{Code: meta.RejectConflict, Message: "txn " + t.TransactionalID + " changed"}
	}
	m.txns[t.TransactionalID] = t
	return t, nil
}

func (m *memProducerStore) DeleteTxn(_ context.Context, txnID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.txns, txnID)
	return nil
}

func (m *memProducerStore) ListTxns(context.Context) ([]meta.TxnMeta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]meta.TxnMeta, 0, len(m.txns))
	for _, t := range m.txns {
		out = append(out, t)
	}
	return out, nil
}

// txnEntry is one transactional id.
type txnEntry struct {
	// mu serialises the requests of this transactional id; m is written
	// with mu held.
	mu sync.Mutex
	m  meta.TxnMeta
	// pub is what produce checks read, with txnCoordinator.mu held; it
	// is set from m by publish.
	pub struct {
		pid   int64
		epoch int16
		state string
		parts map[tp]bool
		// offsetGroups are the groups whose offsets the transaction
		// holds (OffsetFetch require_stable).
		offsetGroups []string
	}
}

// txnCoordinator is the transaction coordinator of a Server.
type txnCoordinator struct {
	s            *Server
	store        producerStore
	log          *slog.Logger
	now          func() time.Time
	maxTimeout   time.Duration
	idExpiration time.Duration

	loadMu sync.Mutex
	loaded bool

	idMu          sync.Mutex
	nextID, endID int64 // the unused part of the reserved block

	done chan struct{}
	wg   sync.WaitGroup

	mu struct {
		sync.Mutex
		txns  map[string]*txnEntry
		byPID map[int64]*txnEntry
	}
}

func newTxnCoordinator(s *Server) *txnCoordinator {
	c := &txnCoordinator{
		s: s, log: s.log, now: time.Now,
		maxTimeout: DefaultTransactionMaxTimeout, idExpiration: DefaultTransactionalIDExpiration,
		done: make(chan struct{}),
	}
	if s.opts.Node != nil {
		c.store = meta.NewProducers(s.opts.Node)
	} else {
		c.store = newMemProducerStore()
	}
	c.mu.txns = map[string]*txnEntry{}
	c.mu.byPID = map[int64]*txnEntry{}
	c.wg.Add(1)
	go c.timerLoop()
	return c
}

func (c *txnCoordinator) close() {
	close(c.done)
	c.wg.Wait()
}

func (c *txnCoordinator) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.s.ctx, txnStoreTimeout)
}

func (c *txnCoordinator) nowMs() int64 { return c.now().UnixMilli() }

// ensureLoaded reads the stored transactions once. Transactions found in
// a Prepare state are completed by the timer.
func (c *txnCoordinator) ensureLoaded() bool {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if c.loaded {
		return true
	}
	ctx, cancel := c.storeCtx()
	defer cancel()
	txns, err := c.store.ListTxns(ctx)
	if err != nil {
		c.log.Warn("kafka: loading transactions", "err", err)
		return false
	}
	c.mu.Lock()
	for _, t := range txns {
		e := &txnEntry{m: t}
		c.mu.txns[t.TransactionalID] = e
		c.publishLocked(e)
	}
	c.mu.Unlock()
	c.loaded = true
	return true
}

// entry returns the entry of a transactional id, making an empty one
// (m.TransactionalID == "") if create is set.
func (c *txnCoordinator) entry(txnID string, create bool) *txnEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.mu.txns[txnID]
	if e == nil && create {
		e = &txnEntry{}
		c.mu.txns[txnID] = e
	}
	return e
}

// publish makes e.m visible to produce checks. e.mu held.
func (c *txnCoordinator) publish(e *txnEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publishLocked(e)
}

func (c *txnCoordinator) publishLocked(e *txnEntry) {
	if old := c.mu.byPID[e.pub.pid]; old == e && e.pub.pid != e.m.ProducerID {
		delete(c.mu.byPID, e.pub.pid)
	}
	e.pub.pid, e.pub.epoch, e.pub.state = e.m.ProducerID, e.m.ProducerEpoch, e.m.State
	e.pub.offsetGroups = e.pub.offsetGroups[:0]
	for _, o := range e.m.Offsets {
		if !slices.Contains(e.pub.offsetGroups, o.Group) {
			e.pub.offsetGroups = append(e.pub.offsetGroups, o.Group)
		}
	}
	e.pub.parts = make(map[tp]bool, len(e.m.Partitions))
	for _, p := range e.m.Partitions {
		e.pub.parts[tp{p.Topic, p.Partition}] = true
	}
	if e.m.TransactionalID != "" {
		c.mu.byPID[e.m.ProducerID] = e
	}
}

// put writes next as e's record (compare-and-set on e.m's producer id and
// epoch) and publishes it. e.mu held.
func (c *txnCoordinator) put(e *txnEntry, next meta.TxnMeta) error {
	expectPID, expectEpoch := e.m.ProducerID, e.m.ProducerEpoch
	if e.m.TransactionalID == "" {
		expectPID, expectEpoch = -1, -1
	}
	next.UpdateMs = c.nowMs()
	ctx, cancel := c.storeCtx()
	defer cancel()
	if _, err := c.store.PutTxn(ctx, next, expectPID, expectEpoch); err != nil {
		return err
	}
	e.m = next
	c.publish(e)
	return nil
}

// allocID returns a fresh producer id.
func (c *txnCoordinator) allocID() (int64, error) {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	if c.nextID >= c.endID {
		ctx, cancel := c.storeCtx()
		defer cancel()
		first, err := c.store.AllocProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return -1, err
		}
		c.nextID, c.endID = first, first+producerIDBlock
	}
	id := c.nextID
	c.nextID++
	return id, nil
}

// storeErrCode maps a failed meta call to a retriable code.
func txnStoreErrCode(err error) int16 {
	if meta.RejectedWith(err, meta.RejectConflict) {
		return kerr.ConcurrentTransactions.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// fenced is the code for a stale epoch: PRODUCER_FENCED from the version
// that KIP-588 added it in, INVALID_PRODUCER_EPOCH before.
func fenced(version, since int16) int16 {
	if version >= since {
		return kerr.ProducerFenced.Code
	}
	return kerr.InvalidProducerEpoch.Code
}

// initProducerID serves InitProducerId.
func (c *txnCoordinator) initProducerID(req *kmsg.InitProducerIDRequest) (pid int64, epoch int16, code int16) {
	if req.TransactionalID == nil {
		id, err := c.allocID()
		if err != nil {
			c.log.Warn("kafka: allocating a producer id", "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		return id, 0, 0
	}
	txnID := *req.TransactionalID
	switch {
	case txnID == "":
		return -1, -1, kerr.InvalidRequest.Code
	case req.TransactionTimeoutMillis <= 0 || time.Duration(req.TransactionTimeoutMillis)*time.Millisecond > c.maxTimeout:
		return -1, -1, kerr.InvalidTransactionTimeout.Code
	case !c.ensureLoaded():
		return -1, -1, kerr.CoordinatorLoadInProgress.Code
	}
	e := c.entry(txnID, true)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m.TransactionalID == "" {
		id, err := c.allocID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		next := meta.TxnMeta{TransactionalID: txnID, ProducerID: id, TimeoutMs: req.TransactionTimeoutMillis, State: meta.TxnEmpty, StartMs: -1}
		if err := c.put(e, next); err != nil {
			return -1, -1, txnStoreErrCode(err)
		}
		return id, 0, 0
	}
	// KIP-360: a producer that knows its id and epoch asks for a bump; it
	// must be the current producer (or retrying the last bump).
	if req.ProducerID >= 0 {
		if req.ProducerID != e.m.ProducerID {
			return -1, -1, kerr.InvalidProducerIDMapping.Code
		}
		if req.ProducerEpoch != e.m.ProducerEpoch && req.ProducerEpoch != e.m.ProducerEpoch-1 {
			return -1, -1, fenced(req.Version, 4)
		}
	}
	// Finish an ending transaction first; abort an open one under a
	// bumped epoch (its markers fence the old producer on every partition
	// of the transaction); then bump the epoch for the new producer.
	if e.m.State == meta.TxnPrepareCommit || e.m.State == meta.TxnPrepareAbort {
		if code := c.complete(e); code != 0 {
			return -1, -1, kerr.ConcurrentTransactions.Code
		}
	}
	if e.m.State == meta.TxnOngoing {
		if code := c.end(e, false, bumpEpoch(e.m.ProducerEpoch)); code != 0 {
			return -1, -1, code
		}
	}
	next := e.m
	next.TimeoutMs, next.State, next.StartMs = req.TransactionTimeoutMillis, meta.TxnEmpty, -1
	if next.ProducerEpoch >= math.MaxInt16-1 {
		// Epochs exhausted: a new producer id, epoch 0.
		id, err := c.allocID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		next.ProducerID, next.ProducerEpoch = id, 0
	} else {
		next.ProducerEpoch++
	}
	if err := c.put(e, next); err != nil {
		return -1, -1, txnStoreErrCode(err)
	}
	return next.ProducerID, next.ProducerEpoch, 0
}

// bumpEpoch is the epoch that fences a producer at epoch: one more, except
// at the last usable epoch, which stays (InitProducerId then moves the
// producer to a new id).
func bumpEpoch(epoch int16) int16 {
	if epoch < math.MaxInt16-1 {
		return epoch + 1
	}
	return epoch
}

// lookupProducer returns the entry of txnID checked against the request's
// producer id and epoch, locked, or an error code. since is the request
// version that returns PRODUCER_FENCED for a stale epoch.
func (c *txnCoordinator) lookupProducer(txnID string, pid int64, epoch int16, version, since int16) (*txnEntry, int16) {
	if txnID == "" {
		return nil, kerr.InvalidRequest.Code
	}
	if !c.ensureLoaded() {
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	e := c.entry(txnID, false)
	if e == nil {
		return nil, kerr.InvalidProducerIDMapping.Code
	}
	e.mu.Lock()
	switch {
	case e.m.TransactionalID == "" || e.m.ProducerID != pid:
		e.mu.Unlock()
		return nil, kerr.InvalidProducerIDMapping.Code
	case e.m.ProducerEpoch != epoch:
		e.mu.Unlock()
		return nil, fenced(version, since)
	}
	return e, 0
}

// begin moves next into a transaction (Ongoing, StartMs now) if it is not
// in one. It reports CONCURRENT_TRANSACTIONS while the last one ends.
func (c *txnCoordinator) begin(next *meta.TxnMeta) int16 {
	switch next.State {
	case meta.TxnPrepareCommit, meta.TxnPrepareAbort:
		return kerr.ConcurrentTransactions.Code
	case meta.TxnOngoing:
		return 0
	}
	next.State, next.StartMs = meta.TxnOngoing, c.nowMs()
	next.Partitions, next.Groups, next.Offsets = nil, nil, nil
	return 0
}

// addPartitions adds partitions to the transaction; it returns a code per
// partition, in order.
func (c *txnCoordinator) addPartitions(txnID string, pid int64, epoch int16, version int16, parts []tp, verifyOnly bool) []int16 {
	codes := make([]int16, len(parts))
	fill := func(code int16) []int16 {
		for i := range codes {
			codes[i] = code
		}
		return codes
	}
	e, code := c.lookupProducer(txnID, pid, epoch, version, 2)
	if code != 0 {
		return fill(code)
	}
	defer e.mu.Unlock()
	if verifyOnly {
		for i, p := range parts {
			if e.m.State != meta.TxnOngoing || !slices.Contains(e.m.Partitions, meta.TopicPartition{Topic: p.topic, Partition: p.partition}) {
				codes[i] = kerr.InvalidTxnState.Code
			}
		}
		return codes
	}
	// A partition that does not exist fails the request: it is
	// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.
	bad := false
	for i, p := range parts {
		if _, err := c.s.store.Partition(p.topic, p.partition); err != nil {
			codes[i], bad = kerr.UnknownTopicOrPartition.Code, true
		}
	}
	if bad {
		for i := range codes {
			if codes[i] == 0 {
				codes[i] = kerr.OperationNotAttempted.Code
			}
		}
		return codes
	}
	next := e.m
	if code := c.begin(&next); code != 0 {
		return fill(code)
	}
	next.Partitions = slices.Clone(next.Partitions)
	for _, p := range parts {
		next.Partitions = append(next.Partitions, meta.TopicPartition{Topic: p.topic, Partition: p.partition})
	}
	slices.SortFunc(next.Partitions, cmpTopicPartition)
	next.Partitions = slices.Compact(next.Partitions)
	if sameTxn(e.m, next) {
		return codes
	}
	if err := c.put(e, next); err != nil {
		return fill(txnStoreErrCode(err))
	}
	return codes
}

func cmpTopicPartition(a, b meta.TopicPartition) int {
	switch {
	case a.Topic < b.Topic:
		return -1
	case a.Topic > b.Topic:
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

func sameTxn(a, b meta.TxnMeta) bool {
	return a.State == b.State && a.StartMs == b.StartMs && slices.Equal(a.Partitions, b.Partitions) &&
		slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Offsets, b.Offsets)
}

// addOffsets adds a group to the transaction (AddOffsetsToTxn).
func (c *txnCoordinator) addOffsets(txnID string, pid int64, epoch int16, version int16, group string) int16 {
	if group == "" {
		return kerr.InvalidGroupID.Code
	}
	e, code := c.lookupProducer(txnID, pid, epoch, version, 2)
	if code != 0 {
		return code
	}
	defer e.mu.Unlock()
	next := e.m
	if code := c.begin(&next); code != 0 {
		return code
	}
	if slices.Contains(next.Groups, group) {
		if sameTxn(e.m, next) {
			return 0
		}
	} else {
		next.Groups = append(slices.Clone(next.Groups), group)
		slices.Sort(next.Groups)
	}
	if err := c.put(e, next); err != nil {
		return txnStoreErrCode(err)
	}
	return 0
}

// commitOffsets holds offsets of a group in the transaction until it ends
// (TxnOffsetCommit). It returns a code for the whole request, or one per
// offset.
func (c *txnCoordinator) commitOffsets(req *kmsg.TxnOffsetCommitRequest, offsets []meta.TxnOffset) (int16, []int16) {
	e, code := c.lookupProducer(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, 3)
	if code != 0 {
		return code, nil
	}
	defer e.mu.Unlock()
	if e.m.State != meta.TxnOngoing || !slices.Contains(e.m.Groups, req.Group) {
		return kerr.InvalidTxnState.Code, nil
	}
	codes := make([]int16, len(offsets))
	next := e.m
	next.Offsets = slices.Clone(next.Offsets)
	for i, o := range offsets {
		switch {
		case len(o.Metadata) > meta.MaxOffsetMetadata:
			codes[i] = kerr.OffsetMetadataTooLarge.Code
			continue
		case o.Offset < 0:
			codes[i] = kerr.InvalidCommitOffsetSize.Code
			continue
		}
		if _, err := c.s.store.Partition(o.Topic, o.Partition); err != nil {
			codes[i] = kerr.UnknownTopicOrPartition.Code
			continue
		}
		j := slices.IndexFunc(next.Offsets, func(x meta.TxnOffset) bool {
			return x.Group == o.Group && x.Topic == o.Topic && x.Partition == o.Partition
		})
		if j >= 0 {
			next.Offsets[j] = o
		} else {
			next.Offsets = append(next.Offsets, o)
		}
	}
	slices.SortFunc(next.Offsets, func(a, b meta.TxnOffset) int {
		if a.Group != b.Group {
			if a.Group < b.Group {
				return -1
			}
			return 1
		}
		return cmpTopicPartition(meta.TopicPartition{Topic: a.Topic, Partition: a.Partition}, meta.TopicPartition{Topic: b.Topic, Partition: b.Partition})
	})
	if sameTxn(e.m, next) {
		return 0, codes
	}
	if err := c.put(e, next); err != nil {
		return txnStoreErrCode(err), nil
	}
	return 0, codes
}

// hasPendingOffsets reports whether an open transaction holds offsets of
// group (for OffsetFetch's require_stable, KIP-447).
func (c *txnCoordinator) hasPendingOffsets(group string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.mu.txns {
		if slices.Contains(e.pub.offsetGroups, group) {
			return true
		}
	}
	return false
}

// endTxn serves EndTxn.
func (c *txnCoordinator) endTxn(req *kmsg.EndTxnRequest) int16 {
	e, code := c.lookupProducer(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, 2)
	if code == kerr.ProducerFenced.Code || code == kerr.InvalidProducerEpoch.Code {
		// KIP-588: the coordinator aborted this producer's transaction at
		// its timeout and bumped the epoch by one; the producer's abort
		// of it succeeds, so that it can recover with InitProducerId
		// (which accepts the epoch before the current one).
		if e := c.entry(req.TransactionalID, false); e != nil && !req.Commit {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.m.ProducerID == req.ProducerID && e.m.ProducerEpoch == req.ProducerEpoch+1 && e.m.State == meta.TxnCompleteAbort {
				return 0
			}
		}
		return code
	}
	if code != 0 {
		return code
	}
	defer e.mu.Unlock()
	switch e.m.State {
	case meta.TxnOngoing:
		return c.end(e, req.Commit, e.m.ProducerEpoch)
	case meta.TxnPrepareCommit, meta.TxnPrepareAbort:
		if (e.m.State == meta.TxnPrepareCommit) != req.Commit {
			return kerr.InvalidTxnState.Code
		}
		return c.complete(e)
	case meta.TxnCompleteCommit:
		if req.Commit {
			return 0 // a retry of the commit that completed
		}
	case meta.TxnCompleteAbort:
		if !req.Commit {
			return 0
		}
	}
	return kerr.InvalidTxnState.Code
}

// end ends e's open transaction at epoch (the producer's, or a bumped one
// that fences it): Prepare*, then complete. e.mu held.
func (c *txnCoordinator) end(e *txnEntry, commit bool, epoch int16) int16 {
	next := e.m
	next.State = meta.TxnPrepareAbort
	if commit {
		next.State = meta.TxnPrepareCommit
	}
	next.ProducerEpoch = epoch
	if !commit {
		next.Offsets = nil
	}
	if err := c.put(e, next); err != nil {
		return txnStoreErrCode(err)
	}
	return c.complete(e)
}

// complete finishes a transaction in a Prepare state: markers, offsets,
// Complete*. On failure it stays in the Prepare state for a retry. e.mu
// held.
func (c *txnCoordinator) complete(e *txnEntry) int16 {
	commit := e.m.State == meta.TxnPrepareCommit
	for _, p := range e.m.Partitions {
		if err := c.s.writeMarker(tp{p.Topic, p.Partition}, e.m.ProducerID, e.m.ProducerEpoch, commit); err != nil {
			c.log.Warn("kafka: writing a transaction marker", "txn", e.m.TransactionalID, "topic", p.Topic, "partition", p.Partition, "err", err)
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	if commit && len(e.m.Offsets) > 0 {
		byGroup := map[string][]meta.OffsetCommit{}
		for _, o := range e.m.Offsets {
			byGroup[o.Group] = append(byGroup[o.Group], meta.OffsetCommit{
				Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata,
			})
		}
		for _, g := range e.m.Groups {
			if len(byGroup[g]) == 0 {
				continue
			}
			ctx, cancel := c.storeCtx()
			err := c.s.groups.store.CommitOffsets(ctx, g, nil, c.nowMs(), byGroup[g])
			cancel()
			if err != nil {
				c.log.Warn("kafka: committing transactional offsets", "txn", e.m.TransactionalID, "group", g, "err", err)
				return kerr.CoordinatorNotAvailable.Code
			}
		}
	}
	next := e.m
	next.State = meta.TxnCompleteAbort
	if commit {
		next.State = meta.TxnCompleteCommit
	}
	next.Partitions, next.Groups, next.Offsets, next.StartMs = nil, nil, nil, -1
	if err := c.put(e, next); err != nil {
		return txnStoreErrCode(err)
	}
	return 0
}

// checkProduce decides whether a transactional batch of (pid, epoch) may
// be appended to t: its transaction is Ongoing with t in it. It runs under
// t's producer lock.
func (c *txnCoordinator) checkProduce(pid int64, epoch int16, t tp) int16 {
	if !c.ensureLoaded() {
		return kerr.NotEnoughReplicas.Code // retriable: meta is not reachable yet
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.mu.byPID[pid]
	switch {
	case e == nil:
		return kerr.InvalidProducerIDMapping.Code
	case epoch < e.pub.epoch:
		return kerr.InvalidProducerEpoch.Code
	case epoch > e.pub.epoch:
		return kerr.InvalidProducerEpoch.Code
	case e.pub.state != meta.TxnOngoing || !e.pub.parts[t]:
		return kerr.InvalidTxnState.Code
	}
	return 0
}

// timerLoop aborts transactions past their timeout (with a bumped epoch,
// which fences the producer), completes transactions left in a Prepare
// state, and forgets transactional ids idle past their expiration.
func (c *txnCoordinator) timerLoop() {
	defer c.wg.Done()
	t := time.NewTicker(txnTick)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if !c.ensureLoaded() {
			continue
		}
		c.sweep()
	}
}

func (c *txnCoordinator) sweep() {
	c.mu.Lock()
	entries := make([]*txnEntry, 0, len(c.mu.txns))
	for _, e := range c.mu.txns {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	now := c.nowMs()
	for _, e := range entries {
		select {
		case <-c.done:
			return
		default:
		}
		e.mu.Lock()
		m := e.m
		switch {
		case m.TransactionalID == "":
		case m.State == meta.TxnOngoing && now-m.StartMs > int64(m.TimeoutMs):
			c.log.Info("kafka: transaction timed out; aborting", "txn", m.TransactionalID, "producer_id", m.ProducerID, "timeout_ms", m.TimeoutMs)
			c.end(e, false, bumpEpoch(m.ProducerEpoch)) // the bump fences the producer
		case m.State == meta.TxnPrepareCommit || m.State == meta.TxnPrepareAbort:
			c.complete(e)
		case m.State != meta.TxnOngoing && now-m.UpdateMs > c.idExpiration.Milliseconds():
			ctx, cancel := c.storeCtx()
			err := c.store.DeleteTxn(ctx, m.TransactionalID)
			cancel()
			if err == nil {
				c.mu.Lock()
				if c.mu.byPID[m.ProducerID] == e {
					delete(c.mu.byPID, m.ProducerID)
				}
				delete(c.mu.txns, m.TransactionalID)
				e.m = meta.TxnMeta{}
				c.mu.Unlock()
			}
		}
		e.mu.Unlock()
	}
}

// describe returns the record of a transactional id.
func (c *txnCoordinator) describe(txnID string) (meta.TxnMeta, bool) {
	e := c.entry(txnID, false)
	if e == nil {
		return meta.TxnMeta{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m, e.m.TransactionalID != ""
}

// list returns every transactional id's record.
func (c *txnCoordinator) list() []meta.TxnMeta {
	c.mu.Lock()
	entries := make([]*txnEntry, 0, len(c.mu.txns))
	for _, e := range c.mu.txns {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	out := make([]meta.TxnMeta, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		if e.m.TransactionalID != "" {
			out = append(out, e.m)
		}
		e.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b meta.TxnMeta) int {
		switch {
		case a.TransactionalID < b.TransactionalID:
			return -1
		case a.TransactionalID > b.TransactionalID:
			return 1
		}
		return 0
	})
	return out
}

// markerBatch builds the control batch that ends a transaction on a
// partition, as Kafka's coordinator writes it: attributes control (bit 5)
// and transactional (bit 4), no sequence, one record whose key is the
// ControlRecordKey (version 0, type 0 ABORT or 1 COMMIT) and whose value is
// the EndTxnMarker (version 0, coordinator epoch).
func markerBatch(pid int64, epoch int16, commit bool, nowMs int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	marker := kmsg.NewEndTxnMarker()
	marker.CoordinatorEpoch = 0
	rec := kmsg.Record{Key: key.AppendTo(nil), Value: marker.AppendTo(nil)}
	body := rec.AppendTo(nil)[1:] // AppendTo wrote Length 0 as one varint byte
	records := binary.AppendVarint(nil, int64(len(body)))
	records = append(records, body...)
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: 0, // the leader's epoch, as produced batches get
		Magic:                2,
		Attributes:           0x30,
		FirstTimestamp:       nowMs,
		MaxTimestamp:         nowMs,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              records,
	}
	rb.Length = int32(logstore.BatchHeaderSize - 12 + len(records))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// writeMarker appends a transaction marker to t under its producer lock
// and records it in the partition's state. A partition that no longer
// exists needs no marker.
func (s *Server) writeMarker(t tp, pid int64, epoch int16, commit bool) error {
	l, err := s.store.Partition(t.topic, t.partition)
	if errors.Is(err, logstore.ErrUnknownTopic) || errors.Is(err, logstore.ErrUnknownPartition) {
		return nil
	}
	if err != nil {
		return err
	}
	ps := s.producers.part(t)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := time.Now().UnixMilli()
	if err := ps.ensureBuilt(l, s.producers.expiration, now); err != nil {
		return fmt.Errorf("rebuilding producer state: %w", err)
	}
	b := markerBatch(pid, epoch, commit, now)
	h, err := logstore.ParseBatchHeader(b)
	if err != nil {
		return err
	}
	res, err := l.Append(b)
	if err != nil {
		return err
	}
	ctl := int16(kmsg.ControlRecordKeyTypeAbort)
	if commit {
		ctl = int16(kmsg.ControlRecordKeyTypeCommit)
	}
	ps.record(h, res.BaseOffset, ctl, now)
	s.notify.signal(t)
	return nil
}
