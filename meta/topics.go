package meta

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"strata/logstore"
)

// The topics machine (shard ShardTopics) keeps the topic catalogue: what
// logstore.Catalog persists, replicated. Catalog is its typed client.
func init() { registerMachine(ShardTopics, func() machine { return newTopicsMachine() }) }

// Topics machine operations (Command.Op) and queries (Query.Op).
const (
	// OpTopicCreate {topicEntry}: adds a topic; rejects exists. Applying
	// the same entry twice (a retried proposal) returns it again.
	OpTopicCreate = "create"
	// OpTopicDelete {"name", "id"?}: removes a topic; rejects not_found
	// (also when id is given and names another topic).
	OpTopicDelete = "delete"
	// OpTopicPut {topicEntry}: replaces an existing topic (alter, more
	// partitions); rejects not_found, and conflict when the ID or seq
	// differ (the name now belongs to another topic).
	OpTopicPut = "put"
	// OpTopicNextSeq {"count"}: reserves count sequence numbers and
	// returns the first as {"first": n}; they are never handed out again.
	OpTopicNextSeq = "next_seq"
	// OpTopicImport {"next_seq", "topics"}: loads a whole catalogue (the
	// migration of catalog.json) into an empty machine; rejects exists if
	// the machine holds anything.
	OpTopicImport = "import"

	// QueryTopicList {}: every topic, sorted by name.
	QueryTopicList = "list"
	// QueryTopicGet {"name"}: one topic, or a not_found Rejection.
	QueryTopicGet = "get"
)

// maxSeqReservation caps one next_seq.
const maxSeqReservation = 1 << 20

// topicEntry is a topic as the machine keeps it: logstore.TopicMeta with
// the ID as a UUID string, so that snapshots and testdata stay readable.
type topicEntry struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Seq        uint64            `json:"seq"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

func entryFromMeta(m logstore.TopicMeta) topicEntry {
	e := topicEntry{Name: m.Name, ID: logstore.FormatTopicID(m.ID), Seq: m.Seq, Partitions: m.Partitions,
		Configs: maps.Clone(m.Configs), CreatedAt: m.CreatedAt.UTC()}
	if len(e.Configs) == 0 {
		e.Configs = nil
	}
	return e
}

func (e topicEntry) meta() (logstore.TopicMeta, error) {
	id, err := parseTopicID(e.ID)
	if err != nil {
		return logstore.TopicMeta{}, err
	}
	return logstore.TopicMeta{Name: e.Name, ID: id, Seq: e.Seq, Partitions: e.Partitions,
		Configs: maps.Clone(e.Configs), CreatedAt: e.CreatedAt}, nil
}

func (e topicEntry) clone() topicEntry {
	e.Configs = maps.Clone(e.Configs)
	return e
}

// parseTopicID parses the 8-4-4-4-12 hex form that logstore.FormatTopicID writes.
func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("topic id %q is not a UUID (8-4-4-4-12 hex)", s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("topic id %q is not a UUID (8-4-4-4-12 hex)", s)
	}
	copy(id[:], b)
	return id, nil
}

// validate checks what every replica can check the same way: the name,
// the partition count, the ID and seq. Config values are checked by the
// proposer (logstore.ParseTopicConfig) and not here, so that a newer
// binary's stricter rule cannot make replicas disagree.
func (e topicEntry) validate() *Rejection {
	if err := logstore.ValidateTopicName(e.Name); err != nil {
		return reject(RejectInvalid, "%v", err)
	}
	if e.Partitions < 1 || e.Partitions > logstore.MaxTopicPartitions {
		return reject(RejectInvalid, "topic %q: %d partitions, want 1 to %d", e.Name, e.Partitions, logstore.MaxTopicPartitions)
	}
	if id, err := parseTopicID(e.ID); err != nil {
		return reject(RejectInvalid, "topic %q: %v", e.Name, err)
	} else if id == ([16]byte{}) {
		return reject(RejectInvalid, "topic %q: the id is all zero", e.Name)
	}
	if e.Seq == 0 {
		return reject(RejectInvalid, "topic %q: seq is 0", e.Name)
	}
	if e.CreatedAt.IsZero() {
		return reject(RejectInvalid, "topic %q: created_at is missing (the proposer chooses it)", e.Name)
	}
	return nil
}

type topicsMachine struct {
	topics map[string]topicEntry
	// nextSeq is the lowest seq never handed out nor used; starts at 1.
	nextSeq uint64
}

func newTopicsMachine() *topicsMachine {
	return &topicsMachine{topics: make(map[string]topicEntry), nextSeq: 1}
}

func (m *topicsMachine) kind() string { return "topics" }

// seqOwner returns the topic other than name that uses seq.
func (m *topicsMachine) seqOwner(seq uint64, name string) (string, bool) {
	for n, t := range m.topics {
		if t.Seq == seq && n != name {
			return n, true
		}
	}
	return "", false
}

func (m *topicsMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case OpTopicCreate:
		var e topicEntry
		if err := decodeBody(cmd.Body, &e); err != nil {
			return nil, reject(RejectInvalid, "create: %v", err)
		}
		if rej := e.validate(); rej != nil {
			return nil, rej
		}
		if old, ok := m.topics[e.Name]; ok {
			if old.ID == e.ID && old.Seq == e.Seq {
				return old, nil // a retried proposal that was applied already
			}
			return nil, reject(RejectExists, "topic %q exists (id %s)", e.Name, old.ID)
		}
		if other, used := m.seqOwner(e.Seq, e.Name); used {
			return nil, reject(RejectConflict, "topic %q: seq %d belongs to topic %q", e.Name, e.Seq, other)
		}
		m.topics[e.Name] = e.clone()
		m.nextSeq = max(m.nextSeq, e.Seq+1)
		return e, nil
	case OpTopicDelete:
		var req struct {
			Name string `json:"name"`
			ID   string `json:"id,omitempty"`
		}
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "delete: %v", err)
		}
		old, ok := m.topics[req.Name]
		if !ok {
			return nil, reject(RejectNotFound, "topic %q does not exist", req.Name)
		}
		if req.ID != "" && req.ID != old.ID {
			return nil, reject(RejectNotFound, "topic %q has id %s, not %s", req.Name, old.ID, req.ID)
		}
		delete(m.topics, req.Name)
		return nil, nil
	case OpTopicPut:
		var e topicEntry
		if err := decodeBody(cmd.Body, &e); err != nil {
			return nil, reject(RejectInvalid, "put: %v", err)
		}
		if rej := e.validate(); rej != nil {
			return nil, rej
		}
		old, ok := m.topics[e.Name]
		if !ok {
			return nil, reject(RejectNotFound, "topic %q does not exist", e.Name)
		}
		if old.ID != e.ID || old.Seq != e.Seq {
			return nil, reject(RejectConflict, "topic %q is now id %s seq %d, not id %s seq %d", e.Name, old.ID, old.Seq, e.ID, e.Seq)
		}
		m.topics[e.Name] = e.clone()
		return e, nil
	case OpTopicNextSeq:
		var req struct {
			Count uint64 `json:"count"`
		}
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "next_seq: %v", err)
		}
		if req.Count < 1 || req.Count > maxSeqReservation {
			return nil, reject(RejectInvalid, "next_seq: count %d, want 1 to %d", req.Count, maxSeqReservation)
		}
		first := m.nextSeq
		m.nextSeq += req.Count
		return map[string]uint64{"first": first}, nil
	case OpTopicImport:
		var req topicsState
		if err := decodeBody(cmd.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "import: %v", err)
		}
		if len(m.topics) > 0 || m.nextSeq > 1 {
			return nil, reject(RejectExists, "import: the catalogue is not empty (%d topics, next seq %d)", len(m.topics), m.nextSeq)
		}
		fresh, rej := topicsFromState(req)
		if rej != nil {
			return nil, rej
		}
		*m = *fresh
		return map[string]int{"imported": len(m.topics)}, nil
	}
	return nil, reject(RejectInvalid, "unknown topics op %q", cmd.Op)
}

// topicsFromState checks a whole catalogue (an import or a snapshot).
func topicsFromState(st topicsState) (*topicsMachine, *Rejection) {
	m := newTopicsMachine()
	m.nextSeq = max(st.NextSeq, 1)
	seqs := make(map[uint64]string, len(st.Topics))
	for _, e := range st.Topics {
		if rej := e.validate(); rej != nil {
			return nil, rej
		}
		if _, dup := m.topics[e.Name]; dup {
			return nil, reject(RejectInvalid, "topic %q is listed twice", e.Name)
		}
		if other, dup := seqs[e.Seq]; dup {
			return nil, reject(RejectInvalid, "topics %q and %q share seq %d", other, e.Name, e.Seq)
		}
		seqs[e.Seq] = e.Name
		m.topics[e.Name] = e.clone()
		m.nextSeq = max(m.nextSeq, e.Seq+1)
	}
	return m, nil
}

func (m *topicsMachine) lookup(q any) (any, error) {
	query, ok := q.(Query)
	if !ok {
		return nil, fmt.Errorf("meta: topics: query of type %T, want meta.Query", q)
	}
	switch query.Op {
	case QueryTopicList:
		out := make([]topicEntry, 0, len(m.topics))
		for _, name := range slices.Sorted(maps.Keys(m.topics)) {
			out = append(out, m.topics[name].clone())
		}
		return out, nil
	case QueryTopicGet:
		var req struct {
			Name string `json:"name"`
		}
		if err := decodeBody(query.Body, &req); err != nil {
			return nil, reject(RejectInvalid, "get: %v", err)
		}
		e, ok := m.topics[req.Name]
		if !ok {
			return nil, reject(RejectNotFound, "topic %q does not exist", req.Name)
		}
		return e.clone(), nil
	}
	return nil, reject(RejectInvalid, "unknown topics query %q", query.Op)
}

// topicsState is the snapshot body (and the import body).
type topicsState struct {
	NextSeq uint64       `json:"next_seq"`
	Topics  []topicEntry `json:"topics"`
}

func (m *topicsMachine) save(w io.Writer) error {
	st := topicsState{NextSeq: m.nextSeq, Topics: make([]topicEntry, 0, len(m.topics))}
	for _, name := range slices.Sorted(maps.Keys(m.topics)) {
		st.Topics = append(st.Topics, m.topics[name])
	}
	return json.NewEncoder(w).Encode(st)
}

func (m *topicsMachine) load(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var st topicsState
	if err := decodeBody(b, &st); err != nil {
		return fmt.Errorf("%w: topics: %v", ErrCorruptSnapshot, err)
	}
	fresh, rej := topicsFromState(st)
	if rej != nil {
		return fmt.Errorf("%w: topics: %v", ErrCorruptSnapshot, rej)
	}
	*m = *fresh
	return nil
}
