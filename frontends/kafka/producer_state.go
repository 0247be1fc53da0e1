package kafka

// Per-partition producer state: idempotent sequence checks, the open
// transactions of the partition (its last stable offset) and the index of
// its aborted transactions (read_committed fetches). The produce path
// reaches it through the hooks in hooks.go; EndTxn writes its markers
// through writeMarker.
//
// Sequence rules (Kafka's ProducerStateManager, 2.5+):
//
//   - a producer the partition has no state for is accepted at any
//     sequence (Kafka 2.5+ never answers UNKNOWN_PRODUCER_ID to a produce:
//     its state may have expired or been deleted with old segments);
//   - an epoch below the producer's is INVALID_PRODUCER_EPOCH; a higher
//     epoch must start at sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER);
//   - within the epoch, a batch whose first and last sequence match one of
//     the producer's last five batches is a duplicate: it is not appended
//     and the response is success at the original base offset (what Kafka
//     answers; DUPLICATE_SEQUENCE_NUMBER is never sent);
//   - otherwise the first sequence must follow the last one (wrapping at
//     MaxInt32), else OUT_OF_ORDER_SEQUENCE_NUMBER.
//
// Atomicity: the check, Log.Append and the state update of a batch that
// carries a producer id run under the partition's mu (producerLock, taken
// by producePartition), so two retries of one batch cannot both pass the
// check. Batches without a producer id skip the lock. The cost: the
// idempotent appends of one partition do not share a group commit with
// each other (each waits for the one before it).
//
// Restart: the state is rebuilt from the log's batch headers, lazily, the
// first time a partition's state is needed after the log was opened (a
// produce, a fetch asking for its last stable offset): the scan runs from
// max(log start, OffsetForTime(now - producer.id.expiration)) to the high
// watermark, reading headers only (control batches whole, they are a few
// dozen bytes). Producers idle longer than the expiration (1 day, Kafka's
// producer.id.expiration.ms) are forgotten, as Kafka forgets them.
// Limitation: an aborted transaction whose records are all older than the
// scan window is not in the rebuilt index, so a read_committed consumer
// reading data more than a day old after a restart may see its records
// (Kafka keeps a .txnindex per segment for this).
//
// Lock order: partProducers.mu, then partProducers.view, then
// producerStates.mu is never held with either (it only guards the map).

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// DefaultProducerIDExpiration is Kafka's producer.id.expiration.ms.
const DefaultProducerIDExpiration = 24 * time.Hour

// producerWindow is how many batches per producer are remembered for
// duplicate detection: the producer's max.in.flight.requests limit.
const producerWindow = 5

// batchMeta is one remembered batch of a producer.
type batchMeta struct {
	firstSeq, lastSeq int32
	base              int64
}

// producerEntry is one producer's state on one partition.
type producerEntry struct {
	epoch int16
	// batches is a ring of the last n (up to producerWindow) batches of
	// this epoch; next is where the next one goes.
	batches [producerWindow]batchMeta
	n, next int
	// lastSeq is the last sequence appended in this epoch, -1 when none
	// (a new epoch set by a marker: the next batch must be sequence 0).
	lastSeq int32
	lastMs  int64 // last append (ms), for expiry
}

func (e *producerEntry) push(b batchMeta) {
	e.batches[e.next] = b
	e.next = (e.next + 1) % producerWindow
	e.n = min(e.n+1, producerWindow)
	e.lastSeq = b.lastSeq
}

func (e *producerEntry) setEpoch(epoch int16) {
	if epoch != e.epoch {
		e.epoch, e.n, e.next, e.lastSeq = epoch, 0, 0, -1
	}
}

// txnRange is one transaction on a partition: its producer, its first
// offset, and (aborted ones) the offset of its ABORT marker.
type txnRange struct {
	pid         int64
	first, last int64
}

// partProducers is one partition's producer state.
type partProducers struct {
	mu sync.Mutex // see the file comment; guards every field but view
	// log is the log the state was built from; nil until built, and a
	// different one (the partition was deleted and created again) means
	// build again.
	log       logstore.Log
	producers map[int64]*producerEntry
	lastSweep int64

	// view is what fetches read without waiting for appends.
	view struct {
		sync.RWMutex
		built bool
		log   logstore.Log // the log it was built from, as ps.log
		// ongoing maps the producers with an open transaction on this
		// partition to its first offset; the last stable offset is the
		// smallest, or the high watermark when none.
		ongoing map[int64]int64
		// aborted holds aborted transactions in marker order.
		aborted []txnRange
	}
}

// producerStates holds every partition's producer state.
type producerStates struct {
	expiration time.Duration
	// duplicates counts retried batches answered from the window.
	duplicates atomic.Int64
	mu         sync.Mutex
	parts      map[tp]*partProducers
}

func newProducerStates() *producerStates {
	return &producerStates{expiration: DefaultProducerIDExpiration, parts: map[tp]*partProducers{}}
}

func (p *producerStates) part(t tp) *partProducers {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.parts[t]
	if ps == nil {
		ps = &partProducers{}
		p.parts[t] = ps
	}
	return ps
}

// lookup returns a partition's state if it has one, without making one.
func (p *producerStates) lookup(t tp) *partProducers {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parts[t]
}

// carriesProducer reports whether any batch has a producer id or claims to
// be transactional or control: those take the partition's producer lock.
func carriesProducer(hs []logstore.BatchHeader) bool {
	for _, h := range hs {
		if h.ProducerID >= 0 || h.IsTransactional() || h.IsControl() {
			return true
		}
	}
	return false
}

// ensureBuilt (re)builds ps from l when it was built from another log, or
// never. ps.mu must be held.
func (ps *partProducers) ensureBuilt(l logstore.Log, expiration time.Duration, nowMs int64) error {
	if ps.log == l {
		return nil
	}
	producers := map[int64]*producerEntry{}
	ongoing := map[int64]int64{}
	var aborted []txnRange
	start := l.LogStartOffset()
	if expiration > 0 {
		if off, err := l.OffsetForTime(nowMs - expiration.Milliseconds()); err == nil && off > start {
			start = off
		}
	}
	err := scanLog(l, start, l.HighWatermark(), func(h logstore.BatchHeader, ctl int16) {
		if h.ProducerID < 0 {
			return
		}
		e := producers[h.ProducerID]
		if e == nil {
			e = &producerEntry{epoch: h.ProducerEpoch, lastSeq: -1}
			producers[h.ProducerID] = e
		}
		if h.ProducerEpoch >= e.epoch {
			e.setEpoch(h.ProducerEpoch)
		}
		e.lastMs = max(e.lastMs, h.MaxTimestamp)
		if h.IsControl() {
			first, open := ongoing[h.ProducerID]
			delete(ongoing, h.ProducerID)
			if open && ctl == int16(kmsg.ControlRecordKeyTypeAbort) {
				aborted = append(aborted, txnRange{h.ProducerID, first, h.BaseOffset})
			}
			return
		}
		if h.BaseSequence >= 0 {
			e.push(batchMeta{h.BaseSequence, seqAdd(h.BaseSequence, h.LastOffsetDelta), h.BaseOffset})
		}
		if h.IsTransactional() {
			if _, open := ongoing[h.ProducerID]; !open {
				ongoing[h.ProducerID] = h.BaseOffset
			}
		}
	})
	if err != nil {
		return err
	}
	// Entries rebuilt from the log carry batch timestamps; a producer
	// seen in the window is kept even if its clock is off.
	for _, e := range producers {
		e.lastMs = max(e.lastMs, nowMs-expiration.Milliseconds()/2)
	}
	ps.log, ps.producers, ps.lastSweep = l, producers, nowMs
	ps.view.Lock()
	ps.view.built, ps.view.log, ps.view.ongoing, ps.view.aborted = true, l, ongoing, aborted
	ps.view.Unlock()
	return nil
}

// seqAdd adds n to a sequence, wrapping past MaxInt32 to 0 as Kafka does.
func seqAdd(seq, n int32) int32 {
	s := int64(seq) + int64(n)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

// check decides one idempotent batch (ProducerID >= 0): accepted, a
// duplicate of an appended batch at base, or an error code. ps.mu held.
func (ps *partProducers) check(h logstore.BatchHeader) (dup bool, base int64, code int16) {
	e := ps.producers[h.ProducerID]
	if e == nil {
		return false, 0, 0
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return false, 0, kerr.InvalidProducerEpoch.Code
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return false, 0, kerr.OutOfOrderSequenceNumber.Code
		}
		return false, 0, 0
	}
	last := seqAdd(h.BaseSequence, h.LastOffsetDelta)
	for i := range e.n {
		if b := e.batches[i]; b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return true, b.base, 0
		}
	}
	if h.BaseSequence != seqAdd(e.lastSeq, 1) {
		return false, 0, kerr.OutOfOrderSequenceNumber.Code
	}
	return false, 0, 0
}

// record notes an appended batch (data or marker) at base. ctl is the
// marker type of a control batch (kmsg.ControlRecordKeyType*), else -1.
// ps.mu held.
func (ps *partProducers) record(h logstore.BatchHeader, base int64, ctl int16, nowMs int64) {
	if h.ProducerID < 0 {
		return
	}
	e := ps.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, lastSeq: -1}
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch > e.epoch || h.IsControl() {
		e.setEpoch(max(e.epoch, h.ProducerEpoch))
	} else {
		e.setEpoch(h.ProducerEpoch)
	}
	e.lastMs = nowMs
	if !h.IsControl() && h.BaseSequence >= 0 {
		e.push(batchMeta{h.BaseSequence, seqAdd(h.BaseSequence, h.LastOffsetDelta), base})
	}
	if !h.IsControl() && !h.IsTransactional() {
		return
	}
	ps.view.Lock()
	defer ps.view.Unlock()
	if !h.IsControl() {
		if _, open := ps.view.ongoing[h.ProducerID]; !open {
			ps.view.ongoing[h.ProducerID] = base
		}
		return
	}
	first, open := ps.view.ongoing[h.ProducerID]
	delete(ps.view.ongoing, h.ProducerID)
	if open && ctl == int16(kmsg.ControlRecordKeyTypeAbort) {
		ps.view.aborted = append(ps.view.aborted, txnRange{h.ProducerID, first, base})
	}
}

// inTxn reports whether pid has an open transaction on the partition.
func (ps *partProducers) inTxn(pid int64) bool {
	ps.view.RLock()
	defer ps.view.RUnlock()
	_, ok := ps.view.ongoing[pid]
	return ok
}

// sweep forgets producers idle past the expiration (at most once a
// minute), except those with an open transaction. ps.mu held.
func (ps *partProducers) sweep(expiration time.Duration, nowMs int64) {
	if expiration <= 0 || nowMs-ps.lastSweep < time.Minute.Milliseconds() {
		return
	}
	ps.lastSweep = nowMs
	for pid, e := range ps.producers {
		if nowMs-e.lastMs > expiration.Milliseconds() && !ps.inTxn(pid) {
			delete(ps.producers, pid)
		}
	}
}

// lastStable is the partition's last stable offset given its high
// watermark; ok is false when the state is not built yet.
func (ps *partProducers) lastStable(hw int64) (int64, bool) {
	ps.view.RLock()
	defer ps.view.RUnlock()
	if !ps.view.built {
		return hw, false
	}
	lso := hw
	for _, first := range ps.view.ongoing {
		lso = min(lso, first)
	}
	return lso, true
}

// abortedIn lists the aborted transactions that overlap [from, to): those
// whose marker is at or after from and whose first offset is before to.
// Entries wholly below logStart are dropped on the way.
func (ps *partProducers) abortedIn(from, to, logStart int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	ps.view.RLock()
	stale := len(ps.view.aborted) > 0 && ps.view.aborted[0].last < logStart
	for _, a := range ps.view.aborted {
		if a.last >= from && a.first < to {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.pid, a.first
			out = append(out, at)
		}
	}
	ps.view.RUnlock()
	if stale {
		ps.view.Lock()
		i := 0
		for i < len(ps.view.aborted) && ps.view.aborted[i].last < logStart {
			i++
		}
		ps.view.aborted = append([]txnRange(nil), ps.view.aborted[i:]...)
		ps.view.Unlock()
	}
	return out
}

// scanLog calls fn with the header of every batch from offset from to to,
// and for control batches the marker type (-1 for data batches and for
// control batches that do not decode).
func scanLog(l logstore.Log, from, to int64, fn func(h logstore.BatchHeader, ctl int16)) error {
	for off := from; off < to; {
		rr, err := l.Read(off, 1<<20)
		if errors.Is(err, logstore.ErrOffsetOutOfRange) {
			// Retention moved the start under us: go on from there.
			if ls := l.LogStartOffset(); ls > off {
				off = ls
				continue
			}
		}
		if err != nil {
			return err
		}
		next := rr.NextOffset
		err = walkBatches(rr, func(h logstore.BatchHeader, _ int, _ int64, whole func() ([]byte, error)) bool {
			if h.BaseOffset >= to {
				return false
			}
			if h.LastOffset() < off {
				return true // the batch before the one asked for
			}
			ctl := int16(-1)
			if h.IsControl() {
				ctl = controlType(whole)
			}
			fn(h, ctl)
			return true
		})
		rr.Close()
		if err != nil {
			return err
		}
		if next <= off {
			break
		}
		off = next
	}
	return nil
}

// controlType decodes the marker type of a control batch, or -1.
func controlType(whole func() ([]byte, error)) int16 {
	b, err := whole()
	if err != nil {
		return -1
	}
	recs, err := logstore.DecodeRecords(b)
	if err != nil || len(recs) == 0 {
		return -1
	}
	var k kmsg.ControlRecordKey
	if err := k.ReadFrom(recs[0].Key); err != nil {
		return -1
	}
	return int16(k.Type)
}

// walkBatches calls fn for each batch of a read result in order, with its
// header, the chunk it is in, its position in the chunk, and a function
// that reads the whole batch. fn returns false to stop.
func walkBatches(rr *logstore.ReadResult, fn func(h logstore.BatchHeader, chunk int, pos int64, whole func() ([]byte, error)) bool) error {
	var hdr [logstore.BatchHeaderSize]byte
	for ci, c := range rr.Chunks {
		size := c.Size()
		for pos := int64(0); pos < size; {
			var hb []byte
			if c.File == nil {
				hb = c.Data[pos:]
			} else {
				n := min(int64(len(hdr)), size-pos)
				if _, err := c.File.ReadAt(hdr[:n], c.Pos+pos); err != nil {
					return err
				}
				hb = hdr[:n]
			}
			h, err := logstore.ParseBatchHeader(hb)
			if err != nil {
				return err
			}
			bsize := int64(h.Size())
			if pos+bsize > size {
				return logstore.ErrCorrupt
			}
			at := pos
			whole := func() ([]byte, error) {
				if c.File == nil {
					return c.Data[at : at+bsize], nil
				}
				b := make([]byte, bsize)
				_, err := c.File.ReadAt(b, c.Pos+at)
				return b, err
			}
			if !fn(h, ci, pos, whole) {
				return nil
			}
			pos += bsize
		}
	}
	return nil
}

// trimRead cuts a read result before the first batch at or past end (the
// last stable offset of a read_committed fetch), so that no record of an
// open transaction is returned. Batches never straddle the last stable
// offset: it is the base offset of a transaction's first batch.
func trimRead(rr *logstore.ReadResult, end int64) error {
	if rr.NextOffset <= end {
		return nil
	}
	cutChunk, cutPos, cutOff := -1, int64(0), int64(0)
	err := walkBatches(rr, func(h logstore.BatchHeader, ci int, pos int64, _ func() ([]byte, error)) bool {
		if h.BaseOffset >= end {
			cutChunk, cutPos, cutOff = ci, pos, h.BaseOffset
			return false
		}
		return true
	})
	if err != nil || cutChunk < 0 {
		return err
	}
	c := &rr.Chunks[cutChunk]
	if c.File == nil {
		c.Data = c.Data[:cutPos]
	} else {
		c.Len = cutPos
	}
	rr.Chunks = rr.Chunks[:cutChunk+1]
	if cutPos == 0 {
		rr.Chunks = rr.Chunks[:cutChunk]
	}
	rr.NextOffset = cutOff
	return nil
}

// producerLock takes t's producer lock when a batch carries a producer id
// (see the file comment) and returns its unlock; a no-op otherwise.
func (s *Server) producerLock(t tp, hs []logstore.BatchHeader) func() {
	if !carriesProducer(hs) {
		return func() {}
	}
	ps := s.producers.part(t)
	ps.mu.Lock()
	return ps.mu.Unlock
}

// gateProducer is producerGate: the checks of an idempotent or
// transactional produce, under t's producer lock.
func (s *Server) gateProducer(_ *reqCtx, t tp, hs []logstore.BatchHeader) (dup bool, base int64, code int16) {
	if !carriesProducer(hs) {
		return false, 0, 0
	}
	for _, h := range hs {
		if h.IsControl() {
			return false, 0, kerr.InvalidRecord.Code // only the coordinator writes control batches
		}
	}
	h := hs[0]
	if h.ProducerID < 0 {
		// Transactional without a producer id.
		return false, 0, kerr.InvalidProducerIDMapping.Code
	}
	if len(hs) > 1 {
		return false, 0, kerr.InvalidRecord.Code // one batch per partition, as Kafka requires of v2 produces
	}
	l, err := s.store.Partition(t.topic, t.partition)
	if err != nil {
		return false, 0, errorCode(err)
	}
	ps := s.producers.part(t)
	now := time.Now().UnixMilli()
	if err := ps.ensureBuilt(l, s.producers.expiration, now); err != nil {
		s.log.Warn("kafka: rebuilding producer state", "topic", t.topic, "partition", t.partition, "err", err)
		return false, 0, kerr.KafkaStorageError.Code
	}
	ps.sweep(s.producers.expiration, now)
	if h.IsTransactional() {
		if code := s.txns.checkProduce(h.ProducerID, h.ProducerEpoch, t); code != 0 {
			return false, 0, code
		}
	} else if ps.inTxn(h.ProducerID) {
		return false, 0, kerr.InvalidTxnState.Code
	}
	dup, base, code = ps.check(h)
	if dup {
		s.producers.duplicates.Add(1)
	}
	return dup, base, code
}

// recordAppended is producerAppended: it records where the batches of a
// producer went, under t's producer lock.
func (s *Server) recordAppended(t tp, hs []logstore.BatchHeader, res logstore.AppendResult) {
	if !carriesProducer(hs) {
		return
	}
	ps := s.producers.lookup(t)
	if ps == nil || ps.log == nil {
		return
	}
	now := time.Now().UnixMilli()
	base := res.BaseOffset
	for _, h := range hs {
		ps.record(h, base, -1, now)
		base += int64(h.LastOffsetDelta) + 1
	}
}

// partLastStable is lastStableOffset: the first offset of the oldest open
// transaction of t, or hw. The first call for a partition builds its
// state from the log.
func (s *Server) partLastStable(t tp, hw int64) int64 {
	l, err := s.store.Partition(t.topic, t.partition)
	if err != nil {
		return hw
	}
	ps := s.producers.part(t)
	ps.view.RLock()
	current := ps.view.log == l
	ps.view.RUnlock()
	if !current {
		ps.mu.Lock()
		err := ps.ensureBuilt(l, s.producers.expiration, time.Now().UnixMilli())
		ps.mu.Unlock()
		if err != nil {
			s.log.Warn("kafka: rebuilding producer state", "topic", t.topic, "partition", t.partition, "err", err)
		}
	}
	lso, _ := ps.lastStable(hw)
	return lso
}

// partAborted is abortedTransactions.
func (s *Server) partAborted(t tp, from, to int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	ps := s.producers.lookup(t)
	if ps == nil {
		return []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	logStart := int64(0)
	if l, err := s.store.Partition(t.topic, t.partition); err == nil {
		logStart = l.LogStartOffset()
	}
	return ps.abortedIn(from, to, logStart)
}
