package kafka

// AddPartitionsToTxn: v0-5
//
// Adds partitions to a producer's transaction (starting it when none is
// open). A partition that does not exist fails the request: it gets
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.
//
// Version notes: v1 is v0; v2 PRODUCER_FENCED for a stale epoch (KIP-588,
// INVALID_PRODUCER_EPOCH before); v3 flexible; v4 batched by transaction
// with verify_only (KIP-890 part 1: a broker asks whether partitions are
// in a transaction; verify_only answers without adding) and a top-level
// error code; v5 TRANSACTION_ABORTABLE may be returned (never here).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 24, min: 0, max: 5, serve: handleAddPartitionsToTxn})
}

func handleAddPartitionsToTxn(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	c := rc.srv.txns
	if req.Version < 4 {
		var parts []tp
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, tp{rt.Topic, p})
			}
		}
		codes := c.addPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, parts, false)
		i := 0
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, codes[i]
				i++
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	for _, rtx := range req.Transactions {
		var parts []tp
		for _, rt := range rtx.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, tp{rt.Topic, p})
			}
		}
		codes := c.addPartitions(rtx.TransactionalID, rtx.ProducerID, rtx.ProducerEpoch, req.Version, parts, rtx.VerifyOnly)
		stx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		stx.TransactionalID = rtx.TransactionalID
		i := 0
		for _, rt := range rtx.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				sp.Partition, sp.ErrorCode = p, codes[i]
				i++
				st.Partitions = append(st.Partitions, sp)
			}
			stx.Topics = append(stx.Topics, st)
		}
		resp.Transactions = append(resp.Transactions, stx)
	}
	return resp, nil
}
