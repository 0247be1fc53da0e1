package kafka

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"strata/logstore"
	"strata/meta"
)

// groupStore is where committed offsets and group metadata live: meta's
// groups shard (*meta.Groups) in a server, memGroupStore when a Server has
// no meta node and in the spec tests. The method set is meta.Groups'.
type groupStore interface {
	CommitOffsets(ctx context.Context, group string, expectGeneration *int32, nowMs int64, offsets []meta.OffsetCommit) error
	FetchOffsets(ctx context.Context, group string, partitions []meta.TopicPartition) ([]meta.CommittedOffset, error)
	DeleteOffsets(ctx context.Context, group string, partitions []meta.TopicPartition) (int, error)
	PutGroup(ctx context.Context, md meta.GroupMetadata, expectGeneration *int32) error
	GetGroup(ctx context.Context, group string) (meta.GroupMetadata, bool, error)
	ListGroups(ctx context.Context, states ...string) ([]meta.GroupSummary, error)
	DeleteGroup(ctx context.Context, group string) error
}

var _ groupStore = (*meta.Groups)(nil)

// memGroupStore is an in-memory groupStore: offsets are lost on restart.
// It keeps meta's semantics for what the coordinator relies on: fetched
// offsets sorted by (topic, partition), ListGroups covering groups with
// metadata or offsets.
type memGroupStore struct {
	mu     sync.Mutex
	groups map[string]*memGroup
}

type memGroup struct {
	md      *meta.GroupMetadata
	offsets map[meta.TopicPartition]meta.CommittedOffset
}

func newMemGroupStore() *memGroupStore { return &memGroupStore{groups: map[string]*memGroup{}} }

func (s *memGroupStore) get(group string) *memGroup {
	g := s.groups[group]
	if g == nil {
		g = &memGroup{offsets: map[meta.TopicPartition]meta.CommittedOffset{}}
		s.groups[group] = g
	}
	return g
}

// errBadGroupID is what memGroupStore answers for a group id meta would
// refuse.
var errBadGroupID = errors.New("kafka: bad group id")

func (s *memGroupStore) CommitOffsets(_ context.Context, group string, _ *int32, nowMs int64, offsets []meta.OffsetCommit) error {
	if !validGroupID(group) {
		return errBadGroupID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.get(group)
	for _, o := range offsets {
		g.offsets[meta.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = meta.CommittedOffset{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimeMs: nowMs,
		}
	}
	return nil
}

func (s *memGroupStore) FetchOffsets(_ context.Context, group string, partitions []meta.TopicPartition) ([]meta.CommittedOffset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []meta.CommittedOffset{}
	g := s.groups[group]
	if g == nil {
		return out, nil
	}
	if partitions == nil {
		for _, o := range g.offsets {
			out = append(out, o)
		}
	} else {
		for _, tp := range partitions {
			if o, ok := g.offsets[tp]; ok {
				out = append(out, o)
			}
		}
	}
	slices.SortFunc(out, func(a, b meta.CommittedOffset) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return slices.CompactFunc(out, func(a, b meta.CommittedOffset) bool { return a.Topic == b.Topic && a.Partition == b.Partition }), nil
}

func (s *memGroupStore) DeleteOffsets(_ context.Context, group string, partitions []meta.TopicPartition) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return 0, nil
	}
	n := 0
	for _, tp := range partitions {
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			n++
		}
	}
	return n, nil
}

func (s *memGroupStore) PutGroup(_ context.Context, md meta.GroupMetadata, _ *int32) error {
	if !validGroupID(md.Group) {
		return errBadGroupID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	md.Members = slices.Clone(md.Members)
	s.get(md.Group).md = &md
	return nil
}

func (s *memGroupStore) GetGroup(_ context.Context, group string) (meta.GroupMetadata, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil || g.md == nil {
		return meta.GroupMetadata{}, false, nil
	}
	md := *g.md
	md.Members = slices.Clone(md.Members)
	return md, true, nil
}

func (s *memGroupStore) ListGroups(_ context.Context, states ...string) ([]meta.GroupSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []meta.GroupSummary{}
	for name, g := range s.groups {
		sum := meta.GroupSummary{Group: name, State: "Empty", Offsets: len(g.offsets)}
		if g.md != nil {
			sum.ProtocolType, sum.State, sum.Members = g.md.ProtocolType, g.md.State, len(g.md.Members)
		}
		if len(states) > 0 && !slices.Contains(states, sum.State) {
			continue
		}
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b meta.GroupSummary) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

func (s *memGroupStore) DeleteGroup(_ context.Context, group string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, group)
	return nil
}

// topicRef is what the coordinator needs to know of a topic.
type topicRef struct {
	name       string
	id         [16]byte
	partitions int32
}

// topicLookup resolves topics for offset commits (UNKNOWN_TOPIC_OR_PARTITION),
// topic-id requests (OffsetCommit/OffsetFetch v10) and the KIP-848
// assignors. Called with the coordinator's mu held: it must not call back
// into the coordinator.
type topicLookup interface {
	topic(name string) (topicRef, bool)
	topicByID(id [16]byte) (topicRef, bool)
	// all lists every topic (regex subscriptions, assignors).
	all() []topicRef
}

// storeTopics is topicLookup over a logstore.Store, with the Server's
// topic id cache when there is one.
type storeTopics struct {
	s   *logstore.Store
	ids *topicIDCache
}

func (t storeTopics) topic(name string) (topicRef, bool) {
	if t.s == nil {
		return topicRef{}, false
	}
	info, err := t.s.Topic(name)
	if err != nil {
		return topicRef{}, false
	}
	return topicRef{name: info.Name, id: info.ID, partitions: info.Partitions}, true
}

func (t storeTopics) topicByID(id [16]byte) (topicRef, bool) {
	if t.ids != nil {
		if name, ok := t.ids.name(id); ok {
			return t.topic(name)
		}
		return topicRef{}, false
	}
	for _, r := range t.all() {
		if r.id == id {
			return r, true
		}
	}
	return topicRef{}, false
}

func (t storeTopics) all() []topicRef {
	if t.s == nil {
		return nil
	}
	infos := t.s.Topics()
	out := make([]topicRef, len(infos))
	for i, info := range infos {
		out[i] = topicRef{name: info.Name, id: info.ID, partitions: info.Partitions}
	}
	return out
}
