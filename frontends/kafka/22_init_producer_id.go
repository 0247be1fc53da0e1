package kafka

// InitProducerId: v0-5
//
// Without a transactional id: a fresh producer id at epoch 0, every time
// (an idempotent producer). With one: the transactional id's producer id
// (allocated on first use) at a bumped epoch, which fences the previous
// producer; an open transaction is aborted first (txn.go).
//
// Version notes: v1 is v0; v2 flexible; v3 producer id and epoch in the
// request (KIP-360: a producer recovering from a fatal error asks for a
// bump of its own epoch; another id is INVALID_PRODUCER_ID_MAPPING, a
// stale epoch fenced); v4 PRODUCER_FENCED instead of
// INVALID_PRODUCER_EPOCH (KIP-588); v5 TRANSACTION_ABORTABLE may be
// returned (never here).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 22, min: 0, max: 5, serve: handleInitProducerID})
}

func handleInitProducerID(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = rc.srv.txns.initProducerID(req)
	if resp.ErrorCode != 0 {
		resp.ProducerID, resp.ProducerEpoch = -1, -1
	}
	return resp, nil
}
