package kafka

// Fetch: v4-17
//
// Returns stored batches as they are on disk, never re-encoded: each
// partition's Log.Read result goes into the response as file chunks that
// the writer sends with sendfile(2) (fetch_encode.go, conn.go).
//
// Limits: a partition gets at most its partition_max_bytes and the
// response at most max_bytes, except that the first batch of the first
// partition with data is returned whole however large (KIP-74), so a
// consumer always makes progress. Batches are never cut.
//
// Long poll: until min_bytes are there or max_wait_ms (capped by
// Options.MaxFetchWait) passes, the fetch waits on a waiter registered on
// every partition it reads, which Produce signals (notify.go). An error on
// any partition answers at once.
//
// Sessions (v7+, KIP-227): fetch_session.go. read_committed bounds reads
// at lastStableOffset and lists abortedTransactions (hooks.go: without
// transactions, the high watermark and an empty list).
//
// Version notes: v4 last stable offset, aborted transactions, isolation;
// v5 log start offset; v7 sessions; v9 current leader epoch; v11 rack,
// preferred read replica (-1); v12 flexible; v13 topic ids; v15 replica
// state; v16-17 node endpoints and replica directory (tags, unused).

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 1, min: 4, max: 17, serve: handleFetch})
}

// fetchItem is one partition of a fetch: its session entry (or a
// throwaway one without a session) and an error found while resolving it.
type fetchItem struct {
	sp  *sessionPart
	pre int16
}

// partRead is what one pass read of a partition.
type partRead struct {
	code                     int16
	hw, lastStable, logStart int64
	rr                       *logstore.ReadResult
}

func handleFetch(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.FetchResponse)

	var sess *fetchSession
	incremental := false
	if req.Version >= 7 {
		var code int16
		sess, incremental, code = s.sessions.resolve(req.SessionID, req.SessionEpoch)
		if code != 0 {
			resp.ErrorCode = code
			return resp, nil
		}
		if sess != nil {
			defer sess.mu.Unlock()
			resp.SessionID = sess.id
		}
	}

	// Resolve the request's partitions into items.
	var items []fetchItem
	for _, rt := range req.Topics {
		name, id, known := rt.Topic, rt.TopicID, true
		if req.Version >= 13 {
			name, known = s.topicIDs.name(rt.TopicID)
		}
		allowed := s.authorize(rc, aclRead, name)
		for _, rp := range rt.Partitions {
			t := tp{name, rp.Partition}
			pre := int16(0)
			switch {
			case !known:
				pre = kerr.UnknownTopicID.Code
			case !allowed:
				pre = kerr.TopicAuthorizationFailed.Code
			case rp.CurrentLeaderEpoch > 0:
				pre = kerr.UnknownLeaderEpoch.Code
			}
			if sess != nil && pre == 0 {
				sess.set(t, id, rp.FetchOffset, rp.PartitionMaxBytes)
				continue
			}
			items = append(items, fetchItem{sp: &sessionPart{t: t, id: id, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes}, pre: pre})
		}
	}
	if sess != nil {
		for _, ft := range req.ForgottenTopics {
			if req.Version >= 13 {
				sess.forgetTopicID(ft.TopicID, ft.Partitions)
				continue
			}
			for _, p := range ft.Partitions {
				sess.forget(tp{ft.Topic, p})
			}
		}
		sessItems := make([]fetchItem, 0, len(sess.mu.parts)+len(items))
		for _, sp := range sess.mu.parts {
			sessItems = append(sessItems, fetchItem{sp: sp})
		}
		items = append(sessItems, items...)
	}

	maxBytes := int64(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = math.MaxInt32
	}
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, s.opts.MaxFetchWait)
	var w *fetchWaiter
	var tps []tp
	if wait > 0 && req.MinBytes > 0 {
		w = &fetchWaiter{ch: make(chan struct{}, 1)}
		tps = make([]tp, 0, len(items))
		for _, it := range items {
			tps = append(tps, it.sp.t)
		}
		s.notify.register(w, tps)
		defer s.notify.unregister(w, tps)
	}
	deadline := time.Now().Add(wait)
	var reads []partRead
	for {
		var total int64
		var anyErr bool
		reads, total, anyErr = s.readItems(items, maxBytes, req.IsolationLevel)
		if w == nil || anyErr || total >= int64(req.MinBytes) {
			break
		}
		left := time.Until(deadline)
		if left <= 0 || rc.ctx.Err() != nil {
			break
		}
		releaseReads(reads)
		timer := time.NewTimer(left)
		select {
		case <-w.ch:
		case <-timer.C:
		case <-rc.ctx.Done():
		}
		timer.Stop()
	}

	// Build the response: every item for a full fetch, the changed ones
	// for an incremental fetch.
	out := &fetchResponse{FetchResponse: resp}
	var withData map[*sessionPart]bool
	var lastTopic string
	var lastID [16]byte
	for i, it := range items {
		r := reads[i]
		sp := it.sp
		changed := !incremental || r.rr != nil || r.code != 0 || !sp.sent ||
			sp.hw != r.hw || sp.lastStable != r.lastStable || sp.logStart != r.logStart
		if sess != nil && it.pre == 0 {
			sp.sent, sp.hw, sp.lastStable, sp.logStart, sp.code = true, r.hw, r.lastStable, r.logStart, r.code
		}
		if !changed {
			continue
		}
		if len(resp.Topics) == 0 || sp.t.topic != lastTopic || sp.id != lastID {
			ft := kmsg.NewFetchResponseTopic()
			ft.Topic, ft.TopicID = sp.t.topic, sp.id
			resp.Topics = append(resp.Topics, ft)
			out.reads = append(out.reads, nil)
			lastTopic, lastID = sp.t.topic, sp.id
		}
		fp := kmsg.NewFetchResponseTopicPartition()
		fp.Partition = sp.t.partition
		fp.ErrorCode = r.code
		fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = r.hw, r.lastStable, r.logStart
		fp.PreferredReadReplica = -1
		fp.RecordBatches = []byte{}
		if req.IsolationLevel == 1 && r.code == 0 {
			fp.AbortedTransactions = s.abortedTransactions(sp.t, sp.offset, r.lastStable)
		}
		ti := len(resp.Topics) - 1
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, fp)
		out.reads[ti] = append(out.reads[ti], r.rr)
		if r.rr != nil {
			s.metrics.fetched.Add(float64(r.rr.Size()))
		}
		if r.rr != nil && sess != nil {
			if withData == nil {
				withData = map[*sessionPart]bool{}
			}
			withData[sp] = true
		}
		reads[i].rr = nil // owned by out now
	}
	releaseReads(reads)
	if sess != nil && len(withData) > 0 {
		sess.rotate(withData)
	}
	if incremental {
		// A new session expects epoch 1 next (set at create).
		sess.mu.epoch++
		if sess.mu.epoch <= 0 {
			sess.mu.epoch = 1
		}
	}
	return out, nil
}

func releaseReads(reads []partRead) {
	for i := range reads {
		if reads[i].rr != nil {
			reads[i].rr.Close()
			reads[i].rr = nil
		}
	}
}

// readItems reads every item once within the response byte budget. It
// returns the reads, the bytes read and whether any partition has an error.
func (s *Server) readItems(items []fetchItem, maxBytes int64, isolation int8) ([]partRead, int64, bool) {
	reads := make([]partRead, len(items))
	var total int64
	anyErr := false
	for i, it := range items {
		r := &reads[i]
		r.hw, r.lastStable, r.logStart = -1, -1, -1
		if it.pre != 0 {
			r.code, anyErr = it.pre, true
			continue
		}
		sp := it.sp
		if sp.id != ([16]byte{}) {
			// v13+: the topic of this id, not a re-created one of the
			// same name (a session may outlive its topic).
			if id, ok := s.topicIDs.id(sp.t.topic); !ok || id != sp.id {
				r.code, anyErr = kerr.UnknownTopicID.Code, true
				continue
			}
		}
		l, err := s.store.Partition(sp.t.topic, sp.t.partition)
		if err != nil {
			r.code, anyErr = errorCode(err), true
			continue
		}
		r.hw, r.logStart = l.HighWatermark(), l.LogStartOffset()
		r.lastStable = s.lastStableOffset(sp.t, r.hw)
		end := r.hw
		if isolation == 1 {
			end = r.lastStable
		}
		if sp.offset < r.logStart || sp.offset > r.hw {
			r.code, anyErr = kerr.OffsetOutOfRange.Code, true
			continue
		}
		left := maxBytes - total
		if sp.offset >= end || (left <= 0 && total > 0) || sp.maxBytes <= 0 {
			continue
		}
		rr, err := l.Read(sp.offset, int(min(int64(sp.maxBytes), max(left, 1))))
		if err != nil {
			r.code, anyErr = errorCode(err), true
			continue
		}
		if isolation == 1 {
			// read_committed: nothing at or past the last stable offset (producer_state.go).
			if err := trimRead(rr, end); err != nil {
				rr.Close()
				r.code, anyErr = errorCode(err), true
				continue
			}
		}
		n := rr.Size()
		if n == 0 || (total > 0 && n > left) {
			rr.Close()
			continue
		}
		r.rr = rr
		total += n
	}
	return reads, total, anyErr
}
