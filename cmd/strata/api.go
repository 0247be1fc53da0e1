package main

import (
	"errors"
	"net/http"
	"time"

	"strata/logstore"
	"strata/meta"
)

// JSON bodies of the admin API (/api/v1). The CLI decodes the same types,
// so the server and its client cannot drift apart.

// topicJSON describes a topic.
type topicJSON struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Partitions int32  `json:"partitions"`
	// Configs is the effective config, every key; Overrides only the keys
	// set explicitly.
	Configs        map[string]string `json:"configs"`
	Overrides      map[string]string `json:"overrides"`
	CreatedAt      time.Time         `json:"created_at"`
	Bytes          int64             `json:"bytes"`
	PartitionStats []partitionJSON   `json:"partition_stats"`
}

// partitionJSON is one partition's stats.
type partitionJSON struct {
	Partition      int32  `json:"partition"`
	Engine         string `json:"engine"`
	LogStartOffset int64  `json:"log_start_offset"`
	HighWatermark  int64  `json:"high_watermark"`
	Bytes          int64  `json:"bytes"`
	Segments       int    `json:"segments"`
	Batches        int64  `json:"batches"`
}

// topicListJSON is GET /api/v1/topics.
type topicListJSON struct {
	Topics []topicJSON `json:"topics"`
}

// createTopicRequest is POST /api/v1/topics.
type createTopicRequest struct {
	Name string `json:"name"`
	// Partitions defaults to 1 when absent; an explicit 0 is an error.
	Partitions *int32            `json:"partitions,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// alterTopicRequest is PATCH /api/v1/topics/{name}: keys to set and keys
// to return to their defaults.
type alterTopicRequest struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// createPartitionsRequest is POST /api/v1/topics/{name}/partitions: the new
// total partition count.
type createPartitionsRequest struct {
	Count int32 `json:"count"`
}

// clusterJSON is GET /api/v1/cluster: this node's view (members and
// leader per shard, applied index and lag, registered nodes and their
// liveness) and whether it has a meta quorum now.
type clusterJSON struct {
	meta.ClusterStatus
	Ready bool `json:"ready"`
}

// addNodeRequest is POST /api/v1/cluster/nodes (and its 201 response).
type addNodeRequest struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

// groupListJSON is GET /api/v1/groups: every group with metadata or
// committed offsets.
type groupListJSON struct {
	Groups []meta.GroupSummary `json:"groups"`
}

// groupOffsetsJSON is GET /api/v1/groups/{group}/offsets: the committed
// offsets, sorted by topic and partition, and the group's membership
// metadata when a coordinator wrote any.
type groupOffsetsJSON struct {
	Group    string                 `json:"group"`
	State    string                 `json:"state"`
	Metadata *meta.GroupMetadata    `json:"metadata,omitempty"`
	Offsets  []meta.CommittedOffset `json:"offsets"`
}

// offsetJSON is one partition of a commit.
type offsetJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata,omitempty"`
}

// commitOffsetsRequest is POST /api/v1/groups/{group}/offsets: committed
// in one proposal, all or nothing.
type commitOffsetsRequest struct {
	Offsets []offsetJSON `json:"offsets"`
}

// commitOffsetsJSON is its response.
type commitOffsetsJSON struct {
	Group     string `json:"group"`
	Committed int    `json:"committed"`
}

// errorJSON is every error response: a message for people, a stable code
// for scripts.
type errorJSON struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Error codes.
const (
	codeInvalidTopic      = "invalid_topic"
	codeInvalidConfig     = "invalid_config"
	codeInvalidPartitions = "invalid_partitions"
	codeTopicExists       = "topic_exists"
	codeUnknownTopic      = "unknown_topic"
	codeBadRequest        = "bad_request"
	codeNotFound          = "not_found"
	codeUnavailable       = "unavailable"
	codeNoQuorum          = "no_quorum"
	codeMembership        = "membership"
	codeUnknownGroup      = "unknown_group"
	codeGroupNotEmpty     = "group_not_empty"
	codeInternal          = "internal"
)

// errorStatus maps a logstore error to an HTTP status and code.
func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, logstore.ErrInvalidTopic):
		return http.StatusBadRequest, codeInvalidTopic
	case errors.Is(err, logstore.ErrInvalidConfig):
		return http.StatusBadRequest, codeInvalidConfig
	case errors.Is(err, logstore.ErrInvalidPartitions):
		return http.StatusBadRequest, codeInvalidPartitions
	case errors.Is(err, logstore.ErrTopicExists):
		return http.StatusConflict, codeTopicExists
	case errors.Is(err, logstore.ErrUnknownTopic):
		return http.StatusNotFound, codeUnknownTopic
	case errors.Is(err, meta.ErrNoQuorum):
		return http.StatusServiceUnavailable, codeNoQuorum
	case errors.Is(err, meta.ErrMembership):
		return http.StatusConflict, codeMembership
	case meta.RejectedWith(err, meta.RejectInvalid):
		return http.StatusBadRequest, codeBadRequest
	case errors.Is(err, logstore.ErrClosed), errors.Is(err, meta.ErrClosed):
		return http.StatusServiceUnavailable, codeUnavailable
	default:
		return http.StatusInternalServerError, codeInternal
	}
}

func toTopicJSON(t logstore.TopicInfo) topicJSON {
	out := topicJSON{
		Name:           t.Name,
		ID:             t.IDString(),
		Partitions:     t.Partitions,
		Configs:        t.Config.Map(),
		Overrides:      t.Overrides,
		CreatedAt:      t.CreatedAt,
		PartitionStats: make([]partitionJSON, len(t.PartitionStats)),
	}
	if out.Overrides == nil {
		out.Overrides = map[string]string{}
	}
	for i, st := range t.PartitionStats {
		out.Bytes += st.Bytes
		out.PartitionStats[i] = partitionJSON{
			Partition: int32(i), Engine: st.Engine, LogStartOffset: st.LogStartOffset, HighWatermark: st.HighWatermark,
			Bytes: st.Bytes, Segments: st.Segments, Batches: st.Batches,
		}
	}
	return out
}
