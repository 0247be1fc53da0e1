package kafka

// EndTxn: v0-4
//
// Commits or aborts a producer's open transaction: Prepare*, a COMMIT or
// ABORT marker on every partition of the transaction, the held offsets
// committed to their groups (commit only), Complete* (txn.go). A retry of
// an EndTxn that completed succeeds; the other outcome is
// INVALID_TXN_STATE.
//
// Version notes: v1 is v0; v2 PRODUCER_FENCED for a stale epoch
// (KIP-588); v3 flexible; v4 TRANSACTION_ABORTABLE may be returned (never
// here). v5 (KIP-890 part 2: a new epoch per transaction) is not served:
// clients use it only with transaction.version 2, which this broker does
// not advertise.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 26, min: 0, max: 4, serve: handleEndTxn})
}

func handleEndTxn(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ErrorCode = rc.srv.txns.endTxn(req)
	return resp, nil
}
