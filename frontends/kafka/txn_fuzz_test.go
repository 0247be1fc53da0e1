package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnSeeds are valid transaction requests for the fuzz server's topic "t"
// with transactional id "x" and producer id 0 (the first one allocated),
// every served version.
func txnSeeds() [][]byte {
	txnID := "x"
	reqs := []kmsg.Request{}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = &txnID, 60000
	reqs = append(reqs, ip, kmsg.NewPtrInitProducerIDRequest())
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.TransactionalID, ap.ProducerID = txnID, 0
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "t", []int32{0, 1}
	ap.Topics = append(ap.Topics, at)
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID = txnID, 0
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = "t", []int32{0}
	tx.Topics = append(tx.Topics, tt)
	ap.Transactions = append(ap.Transactions, tx)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.Group = txnID, 0, "g"
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.TransactionalID, oc.ProducerID, oc.Group = txnID, 0, "g"
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = "t"
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Offset = 2
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	pr := kmsg.NewPtrProduceRequest()
	pr.TransactionID, pr.Acks = &txnID, -1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = producerBatch(0, 0, 0, 2, true)
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID, et.Commit = txnID, true
	wm := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = "t", []int32{0}
	m.Topics = append(m.Topics, mt)
	wm.Markers = append(wm.Markers, m)
	reqs = append(reqs, ap, ao, oc, pr, et, wm)
	var out [][]byte
	for _, r := range reqs {
		h := handlers[r.Key()]
		for v := h.min; v <= h.max; v++ {
			out = append(out, frame(r, v, int32(v)))
		}
	}
	return out
}

// TestTxnSeeds runs the transaction seeds in order on one server: each is
// answered.
func TestTxnSeeds(t *testing.T) {
	s := fuzzServer(t)
	for i, fr := range txnSeeds() {
		if err := serveFrame(s, fr); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
}

// FuzzTxnHandlers: mutated transaction requests (InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, transactional
// Produce, EndTxn, WriteTxnMarkers) against one server whose state they
// build up: no panic.
func FuzzTxnHandlers(f *testing.F) {
	for _, s := range txnSeeds() {
		f.Add(s)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, fr []byte) {
		if tooBig(fr) {
			return
		}
		if err := serveFrame(s, fr); err != nil && containsPanic(err) {
			t.Fatal(err)
		}
	})
}
