package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"strata/meta"
)

// groupsTimeout bounds one groups request: a linearizable read or one
// proposal (retried through a leader change) on the groups shard.
const groupsTimeout = 10 * time.Second

// The consumer group routes go through meta's groups shard from any node:
// a commit is proposed (forwarded to the shard's leader by Dragonboat) and
// a read is linearizable, so every node answers the same.

func (a *httpAPI) groupsContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc, bool) {
	if !a.haveMeta(w) {
		return nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), groupsTimeout)
	return ctx, cancel, true
}

func (a *httpAPI) listGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, ok := a.groupsContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	groups, err := meta.NewGroups(a.node).ListGroups(ctx)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, groupListJSON{Groups: groups})
}

func (a *httpAPI) groupOffsets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, ok := a.groupsContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	group := r.PathValue("group")
	g := meta.NewGroups(a.node)
	offsets, err := g.FetchOffsets(ctx, group, nil)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	md, hasMeta, err := g.GetGroup(ctx, group)
	if err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	if len(offsets) == 0 && !hasMeta {
		writeError(w, http.StatusNotFound, codeUnknownGroup, fmt.Sprintf("unknown group: %q has no committed offsets and no members", group))
		return
	}
	out := groupOffsetsJSON{Group: group, State: "Empty", Offsets: offsets}
	if hasMeta {
		out.State, out.Metadata = md.State, &md
	}
	writeJSON(w, http.StatusOK, out)
}

// commitOffsets commits every offset of the request in one proposal. Each
// partition must exist on this node's view of the topic (the catalogue is
// replicated, so that is the cluster's view once it caught up).
func (a *httpAPI) commitOffsets(w http.ResponseWriter, r *http.Request) {
	var req commitOffsetsRequest
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel, ok := a.groupsContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	group := r.PathValue("group")
	if len(req.Offsets) == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "offsets: give at least one {topic, partition, offset}")
		return
	}
	batch := make([]meta.OffsetCommit, 0, len(req.Offsets))
	for _, o := range req.Offsets {
		t, err := a.store.Topic(o.Topic)
		if err != nil {
			a.writeStoreError(w, r, err)
			return
		}
		if o.Partition < 0 || o.Partition >= t.Partitions {
			writeError(w, http.StatusBadRequest, codeInvalidPartitions,
				fmt.Sprintf("topic %q has partitions 0..%d, not %d", o.Topic, t.Partitions-1, o.Partition))
			return
		}
		if o.Offset < 0 {
			writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("%s-%d: negative offset %d", o.Topic, o.Partition, o.Offset))
			return
		}
		if len(o.Metadata) > meta.MaxOffsetMetadata {
			writeError(w, http.StatusBadRequest, codeBadRequest,
				fmt.Sprintf("%s-%d: metadata of %d bytes is over %d", o.Topic, o.Partition, len(o.Metadata), meta.MaxOffsetMetadata))
			return
		}
		batch = append(batch, meta.OffsetCommit{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: -1, Metadata: o.Metadata})
	}
	if err := meta.NewGroups(a.node).CommitOffsets(ctx, group, nil, time.Now().UnixMilli(), batch); err != nil {
		a.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, commitOffsetsJSON{Group: group, Committed: len(batch)})
}

// deleteGroup deletes a group with its offsets; one with members (a live
// consumer group) is refused with 409.
func (a *httpAPI) deleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, ok := a.groupsContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	group := r.PathValue("group")
	err := meta.NewGroups(a.node).DeleteGroup(ctx, group)
	switch {
	case meta.RejectedWith(err, meta.RejectNotFound):
		writeError(w, http.StatusNotFound, codeUnknownGroup, fmt.Sprintf("unknown group: %q", group))
	case meta.RejectedWith(err, meta.RejectConflict):
		writeError(w, http.StatusConflict, codeGroupNotEmpty, err.Error())
	case err != nil:
		a.writeStoreError(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
