package kafka

// DescribeTransactions: v0
//
// The coordinator's record of each transactional id asked for: state,
// producer id and epoch, timeout, start time of the open transaction and
// its partitions (kafka-transactions.sh describe). An unknown id is
// TRANSACTIONAL_ID_NOT_FOUND.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 65, min: 0, max: 0, serve: handleDescribeTransactions})
}

func handleDescribeTransactions(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	c := rc.srv.txns
	loaded := c.ensureLoaded()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.StartTimestamp, st.ProducerID, st.ProducerEpoch = id, -1, -1, -1
		m, ok := c.describe(id)
		switch {
		case !loaded:
			st.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		case !ok:
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			st.State, st.TimeoutMillis, st.ProducerID, st.ProducerEpoch = m.State, m.TimeoutMs, m.ProducerID, m.ProducerEpoch
			if m.StartMs >= 0 {
				st.StartTimestamp = m.StartMs
			}
			for _, p := range m.Partitions {
				if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != p.Topic {
					tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					tt.Topic = p.Topic
					st.Topics = append(st.Topics, tt)
				}
				st.Topics[len(st.Topics)-1].Partitions = append(st.Topics[len(st.Topics)-1].Partitions, p.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
