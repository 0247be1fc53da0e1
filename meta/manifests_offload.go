package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"strata/logstore"
)

// ManifestOffloaderOptions configure a ManifestOffloader.
type ManifestOffloaderOptions struct {
	// QueueSize bounds the sealed segments waiting to be recorded
	// (0 = DefaultManifestQueueSize). Full policy: block. A manifest entry
	// may not be dropped (a sealed segment missing from the manifest is
	// never uploaded), so when meta cannot keep up SegmentSealed blocks the
	// log's roll until the queue has room; Blocked counts those waits.
	QueueSize int
	// RetryBackoff is the first wait after a failed proposal (0 = 100ms);
	// it doubles up to MaxRetryBackoff (0 = 5s). A proposal that fails
	// (no quorum, shard not ready) is retried until it succeeds or the
	// offloader closes; a rejection is not retried.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// ReadTimeout bounds IsOffloaded's read (0 = 5s).
	ReadTimeout time.Duration
	// Owns reports whether this node's log of a partition is the one the
	// manifest describes (nil = every partition). The manifest holds one
	// list per partition, but until partition data is replicated every
	// node of a cluster keeps its own, different log of every partition:
	// only one of them may record. For the others nothing is recorded or
	// removed and IsOffloaded is false. It is called on the worker and in
	// IsOffloaded, and must not block.
	Owns   func(topic string, partition int32) bool
	Logger *slog.Logger // nil = slog.Default()
	// Objects is the object tier sealed segments of tiered topics are
	// uploaded to (nil = none: segments are only recorded, and Uploads is
	// false); logstore.NewSegmentObjects wraps a tier.ObjectStore with its
	// retries. Uploads run on their own goroutine, one segment at a time in
	// seal order; a failed upload is retried (RetryBackoff up to
	// MaxRetryBackoff) until it succeeds, the segment is deleted, or the
	// offloader closes, and never blocks the log.
	Objects *logstore.SegmentObjects
}

// DefaultManifestQueueSize is ManifestOffloaderOptions.QueueSize's default.
const DefaultManifestQueueSize = 1024

// EnsureDefaults fills zero fields with their defaults.
func (o *ManifestOffloaderOptions) EnsureDefaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultManifestQueueSize
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 100 * time.Millisecond
	}
	if o.MaxRetryBackoff <= 0 {
		o.MaxRetryBackoff = 5 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate checks the options after EnsureDefaults.
func (o *ManifestOffloaderOptions) Validate() error {
	if o.MaxRetryBackoff < o.RetryBackoff {
		return fmt.Errorf("meta: manifest offloader: max retry backoff %v is below the first backoff %v", o.MaxRetryBackoff, o.RetryBackoff)
	}
	return nil
}

// ManifestOffloader is the logstore.Offloader that records every sealed
// segment in the manifest (add_segment, state local), asynchronously: the
// log's roll only queues the segment; one worker goroutine reads the file
// (offsets, size, CRC32C through ScanSegmentFile, so the entry agrees with
// what ReconcilePartition computes) and proposes it. It uploads nothing:
// the tier issue adds the uploader, which moves entries through uploading
// to offloaded; IsOffloaded reads that state.
//
// Entries lost in the queue by a crash or Close are not lost for good: on
// open the segment log announces again every sealed segment IsOffloaded
// denies, and ReconcilePartition adds sealed files the manifest lacks.
type ManifestOffloader struct {
	c     *Manifests
	opts  ManifestOffloaderOptions
	queue chan offloadItem

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	recorded atomic.Int64 // entries added (or found identical)
	removed  atomic.Int64 // entries removed after the log deleted their segment (or found gone)
	refused  atomic.Int64 // entries the manifest rejected, or files that would not scan
	blocked  atomic.Int64 // SegmentSealed and SegmentDeleted calls that found the queue full

	uploaded       atomic.Int64 // segments uploaded, verified and marked offloaded
	uploadFailures atomic.Int64 // upload attempts that failed (each is retried)

	// up is the upload queue: segments recorded, in seal order, waiting
	// for the upload goroutine. Unbounded (one entry per sealed segment),
	// so a slow or down object store never blocks the recording worker.
	up struct {
		sync.Mutex
		pending []logstore.SealedSegment
		wake    chan struct{}
		done    chan struct{}
	}

	closeOnce sync.Once
}

type offloadItem struct {
	seg     logstore.SealedSegment
	deleted bool          // remove seg's entry (only Topic, Partition, BaseOffset are set)
	flushed chan struct{} // set: a Flush marker, closed when reached
}

var (
	_ logstore.Offloader             = (*ManifestOffloader)(nil)
	_ logstore.SegmentDeleteNotifier = (*ManifestOffloader)(nil)
	_ logstore.Uploader              = (*ManifestOffloader)(nil)
)

// NewManifestOffloader starts an offloader that records into c.
func NewManifestOffloader(c *Manifests, opts ManifestOffloaderOptions) (*ManifestOffloader, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Owns == nil {
		opts.Owns = func(string, int32) bool { return true }
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &ManifestOffloader{c: c, opts: opts, queue: make(chan offloadItem, opts.QueueSize), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	o.up.wake = make(chan struct{}, 1)
	o.up.done = make(chan struct{})
	go o.run()
	if opts.Objects != nil {
		go o.uploadLoop()
	} else {
		close(o.up.done)
	}
	return o, nil
}

// SegmentSealed queues seg to be recorded. It does no I/O; when the queue
// is full it blocks until there is room (see QueueSize) or the offloader
// closes.
func (o *ManifestOffloader) SegmentSealed(seg logstore.SealedSegment) {
	o.enqueue(offloadItem{seg: seg})
}

// SegmentDeleted queues the removal of the segment's entry: the log
// deleted it (retention, DeleteRecordsBefore, Truncate), so the manifest
// must not keep describing it. Same queue and full policy as
// SegmentSealed, so a removal never overtakes the seal it follows.
func (o *ManifestOffloader) SegmentDeleted(topic string, partition int32, baseOffset int64) {
	o.enqueue(offloadItem{seg: logstore.SealedSegment{Topic: topic, Partition: partition, BaseOffset: baseOffset}, deleted: true})
}

func (o *ManifestOffloader) enqueue(it offloadItem) bool {
	select {
	case o.queue <- it:
		return true
	default:
	}
	o.blocked.Add(1)
	select {
	case o.queue <- it:
		return true
	case <-o.ctx.Done():
		return false
	}
}

// IsOffloaded reads the segment's manifest state (a linearizable read,
// bounded by ReadTimeout). Any failure answers false: the local copy stays.
func (o *ManifestOffloader) IsOffloaded(topic string, partition int32, baseOffset int64) bool {
	if !o.opts.Owns(topic, partition) {
		return false
	}
	ctx, cancel := context.WithTimeout(o.ctx, o.opts.ReadTimeout)
	defer cancel()
	e, ok, err := o.c.Segment(ctx, topic, partition, baseOffset)
	if err != nil {
		o.opts.Logger.Warn("manifest read failed; keeping the local segment", "topic", topic, "partition", partition, "base", baseOffset, "err", err)
		return false
	}
	return ok && e.State == SegmentOffloaded
}

// Uploads reports whether the offloader has an object tier (Objects): only
// then does retention of tiered topics wait for IsOffloaded
// (logstore.Uploader).
func (o *ManifestOffloader) Uploads() bool { return o.opts.Objects != nil }

// RemoteSegments lists the partition's offloaded segments from the
// manifest (logstore.RemoteLister). A partition this node does not own has
// none.
func (o *ManifestOffloader) RemoteSegments(topic string, partition int32) ([]logstore.RemoteSegment, error) {
	if !o.opts.Owns(topic, partition) || o.opts.Objects == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(o.ctx, o.opts.ReadTimeout)
	defer cancel()
	entries, err := o.c.Partition(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	var out []logstore.RemoteSegment
	for _, e := range entries {
		if e.State != SegmentOffloaded || e.ObjectKey == "" {
			continue
		}
		out = append(out, logstore.RemoteSegment{BaseOffset: e.Base, LastOffset: e.Last, Size: e.Size, MaxTimestamp: e.MaxTimestamp, Key: e.ObjectKey})
	}
	return out, nil
}

// Flush waits until every segment queued before the call has been
// recorded or refused.
func (o *ManifestOffloader) Flush(ctx context.Context) error {
	it := offloadItem{flushed: make(chan struct{})}
	if !o.enqueue(it) {
		return fmt.Errorf("meta: manifest offloader closed")
	}
	select {
	case <-it.flushed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-o.done:
		return fmt.Errorf("meta: manifest offloader closed")
	}
}

// ManifestOffloaderStats are the offloader's counters.
type ManifestOffloaderStats struct {
	Recorded, Removed, Refused, Blocked int64
	Queued                              int
	// Uploaded counts segments uploaded and marked offloaded,
	// UploadFailures failed upload attempts (each retried), UploadQueued
	// the segments waiting for (or in) an upload.
	Uploaded, UploadFailures int64
	UploadQueued             int
}

// Stats returns the counters and the current queue depths.
func (o *ManifestOffloader) Stats() ManifestOffloaderStats {
	o.up.Lock()
	upq := len(o.up.pending)
	o.up.Unlock()
	return ManifestOffloaderStats{Recorded: o.recorded.Load(), Removed: o.removed.Load(), Refused: o.refused.Load(), Blocked: o.blocked.Load(), Queued: len(o.queue),
		Uploaded: o.uploaded.Load(), UploadFailures: o.uploadFailures.Load(), UploadQueued: upq}
}

// Close stops the worker. Segments still queued are not recorded; the
// next open's re-announcement and reconciliation record them.
func (o *ManifestOffloader) Close() error {
	o.closeOnce.Do(func() {
		o.cancel()
		<-o.done
		<-o.up.done
		if n := len(o.queue); n > 0 {
			o.opts.Logger.Info("manifest offloader closed with sealed segments unrecorded; reconciliation adds them at the next start", "segments", n)
		}
	})
	return nil
}

func (o *ManifestOffloader) run() {
	defer close(o.done)
	for {
		select {
		case <-o.ctx.Done():
			return
		case it := <-o.queue:
			if it.flushed != nil {
				close(it.flushed)
				continue
			}
			if !o.opts.Owns(it.seg.Topic, it.seg.Partition) {
				continue
			}
			if it.deleted {
				o.remove(it.seg)
				continue
			}
			o.record(it.seg)
		}
	}
}

// record adds one sealed segment, retrying proposals that fail.
func (o *ManifestOffloader) record(seg logstore.SealedSegment) {
	log := o.opts.Logger.With("topic", seg.Topic, "partition", seg.Partition, "base", seg.BaseOffset)
	if seg.LastOffset < seg.BaseOffset {
		return // an empty segment holds no offsets
	}
	e, err := ScanSegmentFile(seg.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		o.refused.Add(1)
		log.Warn("sealed segment deleted before it was recorded in the manifest (retention)", "path", seg.Path)
		return
	case err != nil:
		o.refused.Add(1)
		log.Error("sealed segment not recorded in the manifest: cannot read it", "path", seg.Path, "err", err)
		return
	}
	if e.Base != seg.BaseOffset || e.Last != seg.LastOffset || e.Size != seg.Size {
		log.Warn("sealed segment file differs from the roll's description; recording the file",
			"path", seg.Path, "file_last", e.Last, "file_size", e.Size, "last", seg.LastOffset, "size", seg.Size)
	}
	recorded := false
	o.retry(func() bool {
		_, err := o.c.AddSegment(o.ctx, seg.Topic, seg.Partition, e)
		switch {
		case err == nil:
			o.recorded.Add(1)
			recorded = true
		case errors.Is(err, ErrRejected):
			o.refused.Add(1)
			log.Error("manifest refused a sealed segment; ReconcilePartition will report it", "err", err)
		case o.ctx.Err() != nil:
		default:
			log.Warn("recording a sealed segment failed; retrying", "err", err)
			return false
		}
		return true
	})
	if recorded && seg.Tiered && o.opts.Objects != nil {
		o.queueUpload(seg)
	}
}

// remove drops the entry of a segment the log deleted, retrying proposals
// that fail. An entry that is not there (never recorded, or a retried
// proposal removed it) is fine. The log deletes a segment for retention,
// DeleteRecords or Truncate, all of which end the segment's life in the
// tier too (evicting a local copy is not a deletion: the log does not
// announce it), so an uploaded object is deleted after its entry: in that order a crash leaves at worst an
// unreferenced object, never an entry whose data is gone.
func (o *ManifestOffloader) remove(seg logstore.SealedSegment) {
	log := o.opts.Logger.With("topic", seg.Topic, "partition", seg.Partition, "base", seg.BaseOffset)
	var objectKey string
	o.retry(func() bool {
		e, err := o.c.RemoveSegment(o.ctx, seg.Topic, seg.Partition, seg.BaseOffset)
		switch {
		case err == nil:
			o.removed.Add(1)
			objectKey = e.ObjectKey
		case RejectedWith(err, RejectNotFound):
			o.removed.Add(1)
		case errors.Is(err, ErrRejected):
			o.refused.Add(1)
			log.Error("manifest refused to remove a deleted segment; reconciliation will", "err", err)
		case o.ctx.Err() != nil:
		default:
			log.Warn("removing a deleted segment from the manifest failed; retrying", "err", err)
			return false
		}
		return true
	})
	if objectKey == "" || o.opts.Objects == nil {
		return
	}
	o.retry(func() bool {
		err := o.opts.Objects.Delete(o.ctx, objectKey)
		if err != nil && o.ctx.Err() == nil {
			log.Warn("deleting the object of a deleted segment failed; retrying", "key", objectKey, "err", err)
			return false
		}
		return true
	})
}

// retry runs attempt until it reports done or the offloader closes,
// backing off between attempts.
func (o *ManifestOffloader) retry(attempt func() (done bool)) {
	backoff := o.opts.RetryBackoff
	for !attempt() {
		if o.ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(backoff):
		case <-o.ctx.Done():
			return
		}
		backoff = min(2*backoff, o.opts.MaxRetryBackoff)
	}
}
