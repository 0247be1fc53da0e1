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
// Idempotence (later): look up producer (h.ProducerID, h.ProducerEpoch)
// for t; a batch whose sequence is among the last five appended is a
// duplicate: return dup=true and its original base offset (the response
// says success at that offset and nothing is appended); a sequence gap is
// OUT_OF_ORDER_SEQUENCE_NUMBER; an old epoch is INVALID_PRODUCER_EPOCH
// (PRODUCER_FENCED from v?); transactional batches of a partition not in
// the transaction are INVALID_TXN_STATE. Producer state is rebuilt from
// the log at start. Today every batch is accepted as new.
func (s *Server) producerGate(_ *reqCtx, _ tp, _ []logstore.BatchHeader) (dup bool, dupBase int64, code int16) {
	return false, 0, 0
}

// producerAppended is called after a successful append with where the
// batches went, so the producer state can record sequence -> offset.
func (s *Server) producerAppended(_ tp, _ []logstore.BatchHeader, _ logstore.AppendResult) {}

// lastStableOffset is the read_committed bound of a partition: the first
// offset of the oldest open transaction, or the high watermark when none
// is open. Without transactions it is the high watermark.
func (s *Server) lastStableOffset(_ tp, hw int64) int64 { return hw }

// abortedTransactions lists the aborted transactions that overlap
// [from, to) of a partition, for read_committed fetches. Without
// transactions there are none: an empty list (not null).
func (s *Server) abortedTransactions(_ tp, _, _ int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	return []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
}

// The ACL seam, Server.authorize(rc, op, topic), and aclOp live in
// authz.go (security work): meta's ACLs are checked there.
