package kafka

// AddOffsetsToTxn: v0-4
//
// Adds a consumer group to a producer's transaction (starting it when
// none is open), so that TxnOffsetCommit may hold offsets of the group
// until EndTxn.
//
// Version notes: v1 is v0; v2 PRODUCER_FENCED for a stale epoch
// (KIP-588); v3 flexible; v4 TRANSACTION_ABORTABLE may be returned (never
// here).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 25, min: 0, max: 4, serve: handleAddOffsetsToTxn})
}

func handleAddOffsetsToTxn(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	resp.ErrorCode = rc.srv.txns.addOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, req.Group)
	return resp, nil
}
