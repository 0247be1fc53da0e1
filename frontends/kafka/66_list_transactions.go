package kafka

// ListTransactions: v0-2
//
// Every transactional id with its producer id and state, filtered by
// state and producer id (v0), by how long the open transaction has run
// (v1, duration_filter_ms; -1 none) and by a regular expression over the
// id (v2). Unknown states are listed back in unknown_state_filters.

import (
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 66, min: 0, max: 2, serve: handleListTransactions})
}

func handleListTransactions(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	c := rc.srv.txns
	if !c.ensureLoaded() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil
	}
	var re *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	known := []string{meta.TxnEmpty, meta.TxnOngoing, meta.TxnPrepareCommit, meta.TxnPrepareAbort, meta.TxnCompleteCommit, meta.TxnCompleteAbort}
	var states []string
	for _, s := range req.StateFilters {
		if slices.Contains(known, s) {
			states = append(states, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	now := c.nowMs()
	for _, m := range c.list() {
		switch {
		case len(req.StateFilters) > 0 && !slices.Contains(states, m.State):
			continue
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.ProducerID):
			continue
		case req.Version >= 1 && req.DurationFilterMillis >= 0 && (m.StartMs < 0 || now-m.StartMs < req.DurationFilterMillis):
			continue
		case re != nil && !re.MatchString(m.TransactionalID):
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = m.TransactionalID, m.ProducerID, m.State
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}
