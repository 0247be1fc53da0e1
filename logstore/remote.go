package logstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"strata/tier"
)

// Offloaded segments of a tiered topic (see doc.go, "Tiered topics").
//
// A sealed segment of a tiered topic is uploaded by the Offloader. Once
// IsOffloaded says so and the local copy is past local.retention.bytes/ms,
// retention evicts the local files; the segment stays in the log as a
// remote segment (SegmentLog.mu.remote), read through the RemoteReader (the
// block cache over the object store). Remote segments all lie below the
// first local segment. retention.bytes/ms count remote and local segments
// together; when they drop a remote segment the Offloader hears
// SegmentDeleted, and deletes the manifest entry and then the object.

// RemoteSegment is one offloaded segment as the Offloader records it.
type RemoteSegment struct {
	BaseOffset int64
	// LastOffset is the offset of the segment's last record.
	LastOffset int64
	// Size is the .log file's size, header included; MaxTimestamp is the
	// largest batch max timestamp (-1 when unknown).
	Size         int64
	MaxTimestamp int64
	// Key names the segment object in the object store.
	Key string
}

// RemoteLister is implemented by an Offloader that knows which segments
// are in the object store (the manifest). A segment log asks it once at
// open, for the segments whose local copies are gone, and when it evicts a
// local copy, for the object's key.
type RemoteLister interface {
	RemoteSegments(topic string, partition int32) ([]RemoteSegment, error)
}

// RemoteReader reads byte ranges of objects: *cache.Cache implements it, so
// remote reads share the block cache, its readahead and its single-flight
// misses.
type RemoteReader interface {
	ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error)
}

// remotePrefetcher is the optional part of a RemoteReader that fetches
// ahead: a consumer nearing the end of one segment object gets the start
// of the next one fetched (the cache's readahead follows one object).
type remotePrefetcher interface {
	Prefetch(key string, off, n int64)
}

// remotePrefetchLead is how close to the end of a remote segment a read
// must come for the next segment's first remotePrefetchLead bytes to be
// fetched ahead.
const remotePrefetchLead = 16 << 20

// remoteInvalidator is the optional part of a RemoteReader that forgets an
// object's cached blocks when the object is deleted.
type remoteInvalidator interface {
	Invalidate(key string)
}

// ErrRemoteUnavailable marks a read of an offloaded segment that failed
// because the object store did not answer (down, slow, throttling). It is
// retriable: the data is safe, the read may succeed later.
var ErrRemoteUnavailable = errors.New("logstore: offloaded segment unavailable (retriable)")

// ErrOffloaded refuses an operation that would rewrite an offloaded
// segment (Truncate below the first local segment).
var ErrOffloaded = errors.New("logstore: offset is in an offloaded segment")

// DefaultRemoteReadTimeout bounds one read of an offloaded segment.
const DefaultRemoteReadTimeout = 30 * time.Second

// remoteIndexSpacing thins the offset index kept in memory for an evicted
// segment: one entry per this many log bytes (a 1 GiB segment keeps 4096
// entries, 32 KiB). A lookup then walks at most this many bytes of batch
// headers, which the block cache serves from one or two blocks.
const remoteIndexSpacing = 256 << 10

// remoteInfo is what a remote segment has instead of a file.
type remoteInfo struct {
	key    string
	hdrLen int64 // the object's header length; file position p is object offset p-FileHeaderSize+hdrLen
	// hint is where the last read of this segment ended (offset after it,
	// and its byte position), so a sequential consumer's next read starts
	// there instead of walking batch headers from an index entry. Written
	// by readers without a lock: two atomics may briefly disagree, so a
	// reader checks the batch header it lands on.
	hintNext atomic.Int64
	hintPos  atomic.Int64
	// nextPrefetched is set once a read near the end asked for the next
	// remote segment's start to be fetched ahead.
	nextPrefetched atomic.Bool
}

// newRemoteSegment builds the in-memory remote segment for r; index (may be
// nil) is thinned to remoteIndexSpacing.
func newRemoteSegment(topic string, r RemoteSegment, index []IndexEntry) *segment {
	info := &remoteInfo{key: r.Key, hdrLen: int64(tier.SegmentHeader{Topic: topic}.Len())}
	return &segment{
		base:    r.BaseOffset,
		path:    r.Key,
		size:    r.Size,
		next:    r.LastOffset + 1,
		maxTS:   r.MaxTimestamp,
		index:   thinIndex(index, remoteIndexSpacing),
		batches: -1,
		remote:  info,
	}
}

// thinIndex keeps entries at least spacing bytes apart.
func thinIndex(idx []IndexEntry, spacing uint32) []IndexEntry {
	var out []IndexEntry
	last := uint32(0)
	for _, e := range idx {
		if len(out) == 0 && e.Position >= spacing || len(out) > 0 && e.Position-last >= spacing {
			out = append(out, e)
			last = e.Position
		}
	}
	return out
}

// remoteFile reads a remote segment's bytes by .log file position.
type remoteFile struct {
	r    RemoteReader
	info *remoteInfo
	ctx  context.Context
}

// ReadAt reads file bytes [off, off+len(p)); the .log file header is not
// in the object and cannot be read.
func (f remoteFile) ReadAt(p []byte, off int64) (int, error) {
	if off < FileHeaderSize {
		return 0, fmt.Errorf("logstore: remote read at %d is inside the file header", off)
	}
	n, err := f.r.ReadAt(f.ctx, f.info.key, p, off-FileHeaderSize+f.info.hdrLen)
	if err == nil || n == len(p) {
		return n, nil
	}
	// Only a store that did not answer is worth retrying: a missing or
	// damaged object is data lost, and retrying would spin forever.
	if errors.Is(err, tier.ErrNotFound) || errors.Is(err, tier.ErrCorrupt) || errors.Is(err, tier.ErrRange) {
		return n, fmt.Errorf("%w: offloaded segment object: %w", ErrCorrupt, err)
	}
	return n, fmt.Errorf("%w: %w", ErrRemoteUnavailable, err)
}

// remoteView is a read's view of remote segment s.
func (l *SegmentLog) remoteView(ctx context.Context, s *segment) segView {
	v := segView{s: s, ra: remoteFile{r: l.opts.Remote, info: s.remote, ctx: ctx}, size: s.size, next: s.next, index: s.index}
	v.hintNext, v.hintPos = s.remote.hintNext.Load(), s.remote.hintPos.Load()
	return v
}

// remoteFor returns the remote segment a read of offset starts in: the one
// holding it, or the first one after it (a gap). nil when offset is at or
// above the first local segment. mu must be held.
func (l *SegmentLog) remoteFor(offset int64) *segment {
	rs := l.mu.remote
	if len(rs) == 0 || offset >= l.mu.segs[0].base {
		return nil
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].next > offset })
	if i == len(rs) {
		return nil
	}
	return rs[i]
}

// readRemote reads whole batches of remote segment s from offset, up to
// maxBytes (the first batch whole). The result holds the bytes in memory.
func (l *SegmentLog) readRemote(s *segment, offset int64, maxBytes int, hw, lso int64) (*ReadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.RemoteReadTimeout)
	defer cancel()
	v := l.remoteView(ctx, s)
	head := make([]byte, BatchHeaderSize)
	pos, err := findBatchPos(v, max(offset, s.base), head, false)
	if err != nil {
		return nil, err
	}
	end, next, err := batchesEnd(v, pos, int64(max(maxBytes, 0)), true, head)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, end-pos)
	if _, err := v.ra.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	if err := checkBatches(buf, pos, s.path); err != nil {
		return nil, err
	}
	s.remote.hintPos.Store(end)
	s.remote.hintNext.Store(next)
	l.remoteReads.Add(1)
	if s.size-end < remotePrefetchLead {
		l.prefetchNext(s)
	}
	return NewReadResult([]Chunk{{Data: buf}}, next, hw, lso, nil), nil
}

// prefetchNext asks the cache, once per segment, to fetch the start of the
// remote segment after s.
func (l *SegmentLog) prefetchNext(s *segment) {
	p, ok := l.opts.Remote.(remotePrefetcher)
	if !ok || s.remote.nextPrefetched.Swap(true) {
		return
	}
	l.mu.Lock()
	var next *segment
	if i := sort.Search(len(l.mu.remote), func(i int) bool { return l.mu.remote[i].base > s.base }); i < len(l.mu.remote) {
		next = l.mu.remote[i]
	}
	l.mu.Unlock()
	if next != nil {
		p.Prefetch(next.remote.key, next.remote.hdrLen, remotePrefetchLead)
	}
}

// checkBatches verifies every batch in buf (CRC32C included): bytes that
// come back from the object store are checked before a consumer sees them.
func checkBatches(buf []byte, pos int64, name string) error {
	if err := SplitBatches(buf, func([]byte, BatchHeader) error { return nil }); err != nil {
		return fmt.Errorf("%w: %s from byte %d: %w", ErrCorrupt, name, pos, err)
	}
	return nil
}

// loadRemote asks the Offloader, at open, for the offloaded segments below
// the first local one (first: its base, or -1 when there is none) and at
// or above lso. Entries wholly below lso were being dropped by retention
// when the process stopped: the Offloader hears SegmentDeleted for them
// again, so the objects go. Entries that overlap the local segments are
// local copies not yet evicted, and are skipped.
func (l *SegmentLog) loadRemote(first, lso int64) ([]*segment, error) {
	lister, ok := l.opts.Offloader.(RemoteLister)
	if !ok || l.opts.Remote == nil || l.mu.cfg.Mode != ModeTiered {
		return nil, nil
	}
	list, err := lister.RemoteSegments(l.opts.Topic, l.opts.Partition)
	if err != nil {
		return nil, fmt.Errorf("logstore: list offloaded segments of %s-%d: %w", l.opts.Topic, l.opts.Partition, err)
	}
	slices.SortFunc(list, func(a, b RemoteSegment) int { return int(a.BaseOffset - b.BaseOffset) })
	var out []*segment
	for _, r := range list {
		switch {
		case first >= 0 && r.LastOffset >= first:
			continue
		case r.LastOffset < lso:
			l.notifyDeleted(r.BaseOffset)
			continue
		case len(out) > 0 && r.BaseOffset < out[len(out)-1].next:
			l.log.Warn("offloaded segments overlap; skipping the later one", "key", r.Key, "previous", out[len(out)-1].path)
			continue
		}
		out = append(out, newRemoteSegment(l.opts.Topic, r, nil))
	}
	return out, nil
}

// evictLocal evicts the local copies of the oldest sealed segments of a
// tiered topic that are past local.retention.bytes/ms and safely in the
// object store. The segments stay in the log as remote segments. writeMu
// is held.
func (l *SegmentLog) evictLocal(now int64) (int, error) {
	lister, ok := l.opts.Offloader.(RemoteLister)
	l.mu.Lock()
	cfg := l.mu.cfg
	segs := slices.Clone(l.mu.segs)
	l.mu.Unlock()
	if !ok || l.opts.Remote == nil || cfg.Mode != ModeTiered || len(segs) < 2 {
		return 0, nil
	}
	maxBytes, maxMs := cfg.LocalLimits()
	var total int64
	for _, s := range segs {
		total += s.size
	}
	n := 0
	for _, s := range segs[:len(segs)-1] {
		over := (maxBytes >= 0 && total-s.size >= maxBytes) || (maxMs >= 0 && now-l.segmentTime(s) > maxMs)
		if !over || !l.opts.Offloader.IsOffloaded(l.opts.Topic, l.opts.Partition, s.base) {
			break
		}
		total -= s.size
		n++
	}
	if n == 0 {
		return 0, nil
	}
	list, err := lister.RemoteSegments(l.opts.Topic, l.opts.Partition)
	if err != nil {
		return 0, fmt.Errorf("logstore: list offloaded segments: %w", err)
	}
	byBase := make(map[int64]RemoteSegment, len(list))
	for _, r := range list {
		byBase[r.BaseOffset] = r
	}
	var evicted []*segment
	var remote []*segment
	for _, s := range segs[:n] {
		r, ok := byBase[s.base]
		if !ok || r.LastOffset+1 != s.next || r.Size != s.size {
			break // the manifest disagrees with the file: keep it
		}
		if r.MaxTimestamp < 0 {
			r.MaxTimestamp = s.maxTS
		}
		evicted = append(evicted, s)
		remote = append(remote, newRemoteSegment(l.opts.Topic, r, s.index))
	}
	if len(evicted) == 0 {
		return 0, nil
	}
	// Publish first: a reader that finds the segment remote reads the
	// object; one that pinned the local file keeps reading it (unlinked).
	l.mu.Lock()
	l.mu.segs = slices.Clone(l.mu.segs[len(evicted):])
	l.mu.remote = append(slices.Clone(l.mu.remote), remote...)
	l.mu.Unlock()
	for _, s := range evicted {
		// .log first: a crash between the removals leaves index files
		// without a log, which recovery deletes.
		if err := l.deleteSegmentFiles(s); err != nil {
			return len(evicted), fmt.Errorf("evict %s: %w", s.path, err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return len(evicted), err
	}
	l.evictions.Add(int64(len(evicted)))
	l.log.Info("evicted local copies of offloaded segments", "segments", len(evicted), "first_local", segs[len(evicted)].base)
	return len(evicted), nil
}

// forgetRemote tells the offloader and the cache that remote segments left
// the log.
func (l *SegmentLog) forgetRemote(victims []*segment) {
	inv, _ := l.opts.Remote.(remoteInvalidator)
	for _, s := range victims {
		l.notifyDeleted(s.base)
		if inv != nil {
			inv.Invalidate(s.remote.key)
		}
	}
}
