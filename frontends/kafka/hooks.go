package kafka

// The seams later work plugs into. Each is called from the handlers today
// and does the single-node, no-transactions, no-security thing.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// producerGate is the idempotent-producer and transaction seam of
// Produce. It runs after a partition's batches are framed and before they
// are appended, in the connection's goroutine, once per partition.
//
// A batch whose sequence is among its producer's last five appended is a
// duplicate: dup=true and its original base offset (the response says
// success at that offset and nothing is appended); a sequence gap is
// OUT_OF_ORDER_SEQUENCE_NUMBER; an old epoch is INVALID_PRODUCER_EPOCH;
// a transactional batch of a partition not in an open transaction is
// INVALID_TXN_STATE. It runs under the partition's producer lock
// (producerLock, taken by producePartition) until producerAppended.
// Producer state is rebuilt from the log lazily after a restart.
// Implemented in producer_state.go (gateProducer).
func (s *Server) producerGate(rc *reqCtx, t tp, hs []logstore.BatchHeader) (dup bool, dupBase int64, code int16) {
	return s.gateProducer(rc, t, hs)
}

// producerAppended is called after a successful append with where the
// batches went, so the producer state can record sequence -> offset.
func (s *Server) producerAppended(t tp, hs []logstore.BatchHeader, res logstore.AppendResult) {
	s.recordAppended(t, hs, res)
}

// lastStableOffset is the read_committed bound of a partition: the first
// offset of the oldest open transaction, or the high watermark when none
// is open (producer_state.go).
func (s *Server) lastStableOffset(t tp, hw int64) int64 { return s.partLastStable(t, hw) }

// abortedTransactions lists the aborted transactions that overlap
// [from, to) of a partition, for read_committed fetches. Without
// transactions there are none: an empty list (not null).
func (s *Server) abortedTransactions(t tp, from, to int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	return s.partAborted(t, from, to)
}

// The ACL seam, Server.authorize(rc, op, topic), and aclOp live in
// authz.go (security work): meta's ACLs are checked there.
