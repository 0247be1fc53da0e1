package meta

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Shard 3, manifests: per partition, the ordered list of sealed segments and
// where each lives. Any node can find tiered data through it, and after a
// crash ReconcilePartition brings it and the files back into agreement.
//
// Operations (Command.Op):
//
//	add_segment     {topic, partition, segment}          -> {"added": bool}
//	                idempotent when an identical entry exists; a conflict when it overlaps another
//	set_state       {topic, partition, base, state, object_key?} -> {"changed": bool}
//	                local -> uploading (object_key required) -> offloaded; uploading -> local (failed upload)
//	remove_segment  {topic, partition, base}             -> the removed SegmentEntry
//	truncate        {topic, partition, offset}           -> {"removed": n}  entries holding offsets >= offset
//	drop_partition  {topic, partition?}                  -> {"removed": n}  one partition, or every one of the topic
//
// Lookups (Query.Op): partition {topic, partition} -> []SegmentEntry,
// segment {topic, partition, base} -> *SegmentEntry, topic {topic} and
// all {} -> []PartitionManifest.

// ManifestsKind names the manifests machine in its snapshots.
const ManifestsKind = "manifests"

// Segment states in a manifest.
const (
	SegmentLocal     = "local"     // only on the local disk
	SegmentUploading = "uploading" // an upload to ObjectKey is in flight
	SegmentOffloaded = "offloaded" // safely at ObjectKey; the local copy may be evicted
)

// SegmentEntry is one sealed segment of a partition.
type SegmentEntry struct {
	Base int64 `json:"base"`
	// Last is the offset of the segment's last record (Base <= Last).
	Last int64 `json:"last"`
	// Size is the .log file's size in bytes, header included; CRC is the
	// CRC32C (Castagnoli) of those bytes.
	Size         int64  `json:"size"`
	CRC          uint32 `json:"crc32c"`
	MaxTimestamp int64  `json:"max_timestamp"`
	State        string `json:"state"`
	ObjectKey    string `json:"object_key,omitempty"`
}

// sameSegment reports whether a and b describe the same sealed file.
func (e SegmentEntry) sameSegment(b SegmentEntry) bool {
	return e.Base == b.Base && e.Last == b.Last && e.Size == b.Size && e.CRC == b.CRC && e.MaxTimestamp == b.MaxTimestamp
}

// PartitionManifest is one partition's segments, in base order.
type PartitionManifest struct {
	Topic     string         `json:"topic"`
	Partition int32          `json:"partition"`
	Segments  []SegmentEntry `json:"segments"`
}

type (
	addSegmentBody struct {
		Topic     string       `json:"topic"`
		Partition int32        `json:"partition"`
		Segment   SegmentEntry `json:"segment"`
	}
	setStateBody struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Base      int64  `json:"base"`
		State     string `json:"state"`
		ObjectKey string `json:"object_key,omitempty"`
	}
	segmentRefBody struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Base      int64  `json:"base"`
	}
	truncateBody struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	dropPartitionBody struct {
		Topic     string `json:"topic"`
		Partition *int32 `json:"partition,omitempty"`
	}
	topicOnlyBody struct {
		Topic string `json:"topic"`
	}
	addedResult struct {
		Added bool `json:"added"`
	}
	changedResult struct {
		Changed bool `json:"changed"`
	}
	removedResult struct {
		Removed int `json:"removed"`
	}
)

type manifestsMachine struct {
	// parts holds each partition's segments sorted by Base, never empty
	// (a partition whose last segment goes is deleted from the map).
	parts map[TopicPartition][]SegmentEntry
}

func newManifestsMachine() machine {
	return &manifestsMachine{parts: map[TopicPartition][]SegmentEntry{}}
}

func init() { registerMachine(ShardManifests, newManifestsMachine) }

func (m *manifestsMachine) kind() string { return ManifestsKind }

func (m *manifestsMachine) apply(_ uint64, cmd Command) (any, *Rejection) {
	switch cmd.Op {
	case "add_segment":
		var b addSegmentBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "add_segment: %v", err)
		}
		return m.add(b)
	case "set_state":
		var b setStateBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "set_state: %v", err)
		}
		return m.setState(b)
	case "remove_segment":
		var b segmentRefBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "remove_segment: %v", err)
		}
		tp := TopicPartition{b.Topic, b.Partition}
		segs := m.parts[tp]
		i, ok := findSegment(segs, b.Base)
		if !ok {
			return nil, reject(RejectNotFound, "%s-%d has no segment at %d", b.Topic, b.Partition, b.Base)
		}
		e := segs[i]
		m.setSegs(tp, slices.Delete(segs, i, i+1))
		return e, nil
	case "truncate":
		var b truncateBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "truncate: %v", err)
		}
		if err := validTopicPartition(b.Topic, b.Partition); err != nil {
			return nil, reject(RejectInvalid, "truncate: %v", err)
		}
		if b.Offset < 0 {
			return nil, reject(RejectInvalid, "truncate: negative offset %d", b.Offset)
		}
		tp := TopicPartition{b.Topic, b.Partition}
		segs := m.parts[tp]
		keep := segs[:0:0]
		for _, e := range segs {
			if e.Last < b.Offset {
				keep = append(keep, e)
			}
		}
		n := len(segs) - len(keep)
		m.setSegs(tp, keep)
		return removedResult{n}, nil
	case "drop_partition":
		var b dropPartitionBody
		if err := decodeBody(cmd.Body, &b); err != nil {
			return nil, reject(RejectInvalid, "drop_partition: %v", err)
		}
		if b.Topic == "" {
			return nil, reject(RejectInvalid, "drop_partition: empty topic")
		}
		n := 0
		for tp, segs := range m.parts {
			if tp.Topic == b.Topic && (b.Partition == nil || *b.Partition == tp.Partition) {
				n += len(segs)
				delete(m.parts, tp)
			}
		}
		return removedResult{n}, nil
	}
	return nil, reject(RejectInvalid, "unknown manifests op %q", cmd.Op)
}

func (m *manifestsMachine) setSegs(tp TopicPartition, segs []SegmentEntry) {
	if len(segs) == 0 {
		delete(m.parts, tp)
		return
	}
	m.parts[tp] = segs
}

// findSegment returns the index of the segment at base, or where it would go.
func findSegment(segs []SegmentEntry, base int64) (int, bool) {
	return slices.BinarySearchFunc(segs, base, func(e SegmentEntry, b int64) int {
		switch {
		case e.Base < b:
			return -1
		case e.Base > b:
			return 1
		}
		return 0
	})
}

func validSegmentState(s string) bool {
	return s == SegmentLocal || s == SegmentUploading || s == SegmentOffloaded
}

func (m *manifestsMachine) add(b addSegmentBody) (any, *Rejection) {
	if err := validTopicPartition(b.Topic, b.Partition); err != nil {
		return nil, reject(RejectInvalid, "add_segment: %v", err)
	}
	e := b.Segment
	if e.State == "" {
		e.State = SegmentLocal
	}
	switch {
	case e.Base < 0 || e.Last < e.Base:
		return nil, reject(RejectInvalid, "add_segment: %s-%d: bad offsets [%d, %d]", b.Topic, b.Partition, e.Base, e.Last)
	case e.Size <= 0:
		return nil, reject(RejectInvalid, "add_segment: %s-%d: segment %d has size %d", b.Topic, b.Partition, e.Base, e.Size)
	case !validSegmentState(e.State):
		return nil, reject(RejectInvalid, "add_segment: %s-%d: unknown state %q", b.Topic, b.Partition, e.State)
	case e.State != SegmentLocal && e.ObjectKey == "":
		return nil, reject(RejectInvalid, "add_segment: %s-%d: a segment in state %s needs an object key", b.Topic, b.Partition, e.State)
	}
	tp := TopicPartition{b.Topic, b.Partition}
	segs := m.parts[tp]
	i, found := findSegment(segs, e.Base)
	if found {
		if segs[i].sameSegment(e) {
			return addedResult{false}, nil
		}
		return nil, reject(RejectConflict, "%s-%d: segment %d is already recorded as [%d, %d] size %d crc32c %08x",
			b.Topic, b.Partition, e.Base, segs[i].Base, segs[i].Last, segs[i].Size, segs[i].CRC)
	}
	if i > 0 && segs[i-1].Last >= e.Base {
		p := segs[i-1]
		return nil, reject(RejectConflict, "%s-%d: segment [%d, %d] overlaps [%d, %d]", b.Topic, b.Partition, e.Base, e.Last, p.Base, p.Last)
	}
	if i < len(segs) && segs[i].Base <= e.Last {
		n := segs[i]
		return nil, reject(RejectConflict, "%s-%d: segment [%d, %d] overlaps [%d, %d]", b.Topic, b.Partition, e.Base, e.Last, n.Base, n.Last)
	}
	m.parts[tp] = slices.Insert(segs, i, e)
	return addedResult{true}, nil
}

func (m *manifestsMachine) setState(b setStateBody) (any, *Rejection) {
	if !validSegmentState(b.State) {
		return nil, reject(RejectInvalid, "set_state: unknown state %q", b.State)
	}
	tp := TopicPartition{b.Topic, b.Partition}
	segs := m.parts[tp]
	i, ok := findSegment(segs, b.Base)
	if !ok {
		return nil, reject(RejectNotFound, "%s-%d has no segment at %d", b.Topic, b.Partition, b.Base)
	}
	e := &segs[i]
	if e.State == b.State && (b.ObjectKey == "" || b.ObjectKey == e.ObjectKey) {
		return changedResult{false}, nil
	}
	switch {
	case e.State == SegmentLocal && b.State == SegmentUploading:
		if b.ObjectKey == "" {
			return nil, reject(RejectInvalid, "set_state: %s-%d segment %d: uploading needs an object key", b.Topic, b.Partition, b.Base)
		}
		e.ObjectKey = b.ObjectKey
	case e.State == SegmentUploading && b.State == SegmentOffloaded:
		if b.ObjectKey != "" && b.ObjectKey != e.ObjectKey {
			return nil, reject(RejectConflict, "%s-%d segment %d is uploading to %q, not %q", b.Topic, b.Partition, b.Base, e.ObjectKey, b.ObjectKey)
		}
	case e.State == SegmentUploading && b.State == SegmentLocal:
		e.ObjectKey = ""
	default:
		return nil, reject(RejectConflict, "%s-%d segment %d: no transition from %s to %s", b.Topic, b.Partition, b.Base, e.State, b.State)
	}
	e.State = b.State
	return changedResult{true}, nil
}

func (m *manifestsMachine) lookup(q any) (any, error) {
	query, err := asQuery(q)
	if err != nil {
		return nil, err
	}
	switch query.Op {
	case "partition":
		var b TopicPartition
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return append([]SegmentEntry{}, m.parts[b]...), nil
	case "segment":
		var b segmentRefBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		segs := m.parts[TopicPartition{b.Topic, b.Partition}]
		if i, ok := findSegment(segs, b.Base); ok {
			e := segs[i]
			return &e, nil
		}
		return (*SegmentEntry)(nil), nil
	case "topic":
		var b topicOnlyBody
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.manifests(func(tp TopicPartition) bool { return tp.Topic == b.Topic }), nil
	case "all":
		var b struct{}
		if err := decodeQueryBody(query, &b); err != nil {
			return nil, err
		}
		return m.manifests(func(TopicPartition) bool { return true }), nil
	}
	return nil, reject(RejectInvalid, "unknown manifests lookup %q", query.Op)
}

// manifests copies the partitions that keep selects, sorted.
func (m *manifestsMachine) manifests(keep func(TopicPartition) bool) []PartitionManifest {
	out := []PartitionManifest{}
	for tp, segs := range m.parts {
		if keep(tp) {
			out = append(out, PartitionManifest{Topic: tp.Topic, Partition: tp.Partition, Segments: slices.Clone(segs)})
		}
	}
	slices.SortFunc(out, func(a, b PartitionManifest) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}

type manifestsSnapshot struct {
	Partitions []PartitionManifest `json:"partitions"`
}

func (m *manifestsMachine) save(w io.Writer) error {
	return writeJSON(w, manifestsSnapshot{Partitions: m.manifests(func(TopicPartition) bool { return true })})
}

func (m *manifestsMachine) load(r io.Reader) error {
	var snap manifestsSnapshot
	if err := decodeSnapshotBody(r, &snap); err != nil {
		return err
	}
	parts := make(map[TopicPartition][]SegmentEntry, len(snap.Partitions))
	for _, p := range snap.Partitions {
		tp := TopicPartition{p.Topic, p.Partition}
		if _, dup := parts[tp]; dup || len(p.Segments) == 0 {
			return fmt.Errorf("%w: manifests: partition %s-%d is twice or empty", ErrCorruptSnapshot, p.Topic, p.Partition)
		}
		for i := 1; i < len(p.Segments); i++ {
			if p.Segments[i].Base <= p.Segments[i-1].Last {
				return fmt.Errorf("%w: manifests: %s-%d segments out of order at %d", ErrCorruptSnapshot, p.Topic, p.Partition, p.Segments[i].Base)
			}
		}
		parts[tp] = p.Segments
	}
	m.parts = parts
	return nil
}

// Manifests is the typed client of the manifests shard.
type Manifests struct{ p Proposer }

// NewManifests returns a manifests client over p.
func NewManifests(p Proposer) *Manifests { return &Manifests{p: p} }

// AddSegment records a sealed segment (state local when seg.State is
// empty). added is false when an identical entry was already there; an
// entry that overlaps another is a conflict rejection.
func (c *Manifests) AddSegment(ctx context.Context, topic string, partition int32, seg SegmentEntry) (added bool, err error) {
	var res addedResult
	err = proposeOp(ctx, c.p, ShardManifests, "add_segment", addSegmentBody{Topic: topic, Partition: partition, Segment: seg}, &res)
	return res.Added, err
}

// SetState moves a segment along local -> uploading -> offloaded (or
// uploading -> local after a failed upload). objectKey is required for
// uploading and optional (checked if given) for offloaded. Setting the
// current state again is a no-op (changed false).
func (c *Manifests) SetState(ctx context.Context, topic string, partition int32, base int64, state, objectKey string) (changed bool, err error) {
	var res changedResult
	err = proposeOp(ctx, c.p, ShardManifests, "set_state",
		setStateBody{Topic: topic, Partition: partition, Base: base, State: state, ObjectKey: objectKey}, &res)
	return res.Changed, err
}

// RemoveSegment removes one segment (retention or eviction of the last
// copy) and returns the entry it removed.
func (c *Manifests) RemoveSegment(ctx context.Context, topic string, partition int32, base int64) (SegmentEntry, error) {
	var e SegmentEntry
	err := proposeOp(ctx, c.p, ShardManifests, "remove_segment", segmentRefBody{Topic: topic, Partition: partition, Base: base}, &e)
	return e, err
}

// Truncate removes the entries holding any offset >= offset (the log was
// truncated to end before offset) and returns how many it removed.
func (c *Manifests) Truncate(ctx context.Context, topic string, partition int32, offset int64) (int, error) {
	var res removedResult
	err := proposeOp(ctx, c.p, ShardManifests, "truncate", truncateBody{Topic: topic, Partition: partition, Offset: offset}, &res)
	return res.Removed, err
}

// DropPartition forgets a partition's manifest; DropTopic every partition
// of a deleted topic. Both return the number of entries removed.
func (c *Manifests) DropPartition(ctx context.Context, topic string, partition int32) (int, error) {
	var res removedResult
	err := proposeOp(ctx, c.p, ShardManifests, "drop_partition", dropPartitionBody{Topic: topic, Partition: &partition}, &res)
	return res.Removed, err
}

// DropTopic forgets every partition of topic.
func (c *Manifests) DropTopic(ctx context.Context, topic string) (int, error) {
	var res removedResult
	err := proposeOp(ctx, c.p, ShardManifests, "drop_partition", dropPartitionBody{Topic: topic}, &res)
	return res.Removed, err
}

// Partition returns a partition's segments in base order (empty if none).
func (c *Manifests) Partition(ctx context.Context, topic string, partition int32) ([]SegmentEntry, error) {
	return readOp[[]SegmentEntry](ctx, c.p, ShardManifests, "partition", TopicPartition{Topic: topic, Partition: partition})
}

// Segment returns one segment's entry; ok is false when there is none.
func (c *Manifests) Segment(ctx context.Context, topic string, partition int32, base int64) (e SegmentEntry, ok bool, err error) {
	p, err := readOp[*SegmentEntry](ctx, c.p, ShardManifests, "segment", segmentRefBody{Topic: topic, Partition: partition, Base: base})
	if err != nil || p == nil {
		return SegmentEntry{}, false, err
	}
	return *p, true, nil
}

// Topic returns the manifests of every partition of topic that has one.
func (c *Manifests) Topic(ctx context.Context, topic string) ([]PartitionManifest, error) {
	return readOp[[]PartitionManifest](ctx, c.p, ShardManifests, "topic", topicOnlyBody{Topic: topic})
}

// All returns every partition's manifest (startup reconciliation, tools).
func (c *Manifests) All(ctx context.Context) ([]PartitionManifest, error) {
	return readOp[[]PartitionManifest](ctx, c.p, ShardManifests, "all", nil)
}
