package meta

import (
	"errors"
	"fmt"
	"os"

	"strata/logstore"
)

// The uploader: ManifestOffloader's second goroutine, running only when
// Objects is set. For each recorded sealed segment of a tiered topic, in
// seal order:
//
//  1. read the manifest entry: gone (the log deleted the segment) or
//     already offloaded ends the work; otherwise
//  2. set_state uploading with the object key (logstore.SegmentObjectKey), unless
//     the entry is uploading already (an earlier attempt);
//  3-5. logstore.SegmentObjects.Upload: read the .log file once for the
//     CRC32C of its bytes (checked against the entry: a file that changed
//     is not uploaded) and of the payload; Put the object (the tier
//     segment header, then the file's bytes after its own header); Head
//     it and check the size;
//  6. set_state offloaded. Only now may retention delete the local file.
//
// A failure at any step is retried from step 1 after a backoff, for as
// long as the offloader runs; the entry meanwhile stays uploading (or
// local), which start-up reconciliation resets, and the segment log
// announces the segment again on open, so an upload cut by a crash or
// Close is redone.

// queueUpload appends seg to the upload queue.
func (o *ManifestOffloader) queueUpload(seg logstore.SealedSegment) {
	o.up.Lock()
	o.up.pending = append(o.up.pending, seg)
	o.up.Unlock()
	select {
	case o.up.wake <- struct{}{}:
	default:
	}
}

func (o *ManifestOffloader) uploadLoop() {
	defer close(o.up.done)
	for {
		o.up.Lock()
		var seg logstore.SealedSegment
		ok := len(o.up.pending) > 0
		if ok {
			seg = o.up.pending[0]
		}
		o.up.Unlock()
		if !ok {
			select {
			case <-o.ctx.Done():
				return
			case <-o.up.wake:
				continue
			}
		}
		o.uploadWithRetry(seg)
		if o.ctx.Err() != nil {
			return
		}
		o.up.Lock()
		o.up.pending[0] = logstore.SealedSegment{}
		o.up.pending = o.up.pending[1:]
		o.up.Unlock()
	}
}

// errUploadDropped ends an upload that must not be retried.
var errUploadDropped = errors.New("meta: upload dropped")

// uploadWithRetry uploads seg until it succeeds, is dropped, or the
// offloader closes.
func (o *ManifestOffloader) uploadWithRetry(seg logstore.SealedSegment) {
	log := o.opts.Logger.With("topic", seg.Topic, "partition", seg.Partition, "base", seg.BaseOffset)
	failures := 0
	o.retry(func() bool {
		err := o.upload(seg)
		switch {
		case err == nil:
			o.uploaded.Add(1)
		case errors.Is(err, errUploadDropped):
			log.Warn("sealed segment not uploaded", "err", err)
		case o.ctx.Err() != nil:
		default:
			o.uploadFailures.Add(1)
			failures++
			if failures == 1 || failures%10 == 0 {
				log.Warn("uploading a sealed segment failed; retrying (the local copy stays)", "err", err, "attempts", failures)
			}
			return false
		}
		return true
	})
}

// upload runs the steps above once.
func (o *ManifestOffloader) upload(seg logstore.SealedSegment) error {
	ctx := o.ctx
	e, ok, err := o.c.Segment(ctx, seg.Topic, seg.Partition, seg.BaseOffset)
	switch {
	case err != nil:
		return fmt.Errorf("read manifest entry: %w", err)
	case !ok:
		return fmt.Errorf("%w: no manifest entry (the segment was deleted)", errUploadDropped)
	case e.State == SegmentOffloaded:
		return nil
	}
	key := e.ObjectKey
	if key == "" {
		key, err = logstore.SegmentObjectKey(seg.Topic, seg.Partition, e.Base, e.Last)
		if err != nil {
			return fmt.Errorf("%w: %w", errUploadDropped, err)
		}
	}
	if _, err := os.Stat(seg.Path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", errUploadDropped, err)
	}
	if e.State == SegmentLocal {
		if _, err := o.c.SetState(ctx, seg.Topic, seg.Partition, e.Base, SegmentUploading, key); err != nil {
			if RejectedWith(err, RejectNotFound) {
				return fmt.Errorf("%w: %w", errUploadDropped, err)
			}
			return fmt.Errorf("set_state uploading: %w", err)
		}
	}
	err = o.opts.Objects.Upload(ctx, key, logstore.SegmentFile{
		Path: seg.Path, Topic: seg.Topic, Partition: seg.Partition,
		BaseOffset: e.Base, LastOffset: e.Last, Size: e.Size, CRC: e.CRC,
	})
	if errors.Is(err, logstore.ErrSegmentChanged) {
		return fmt.Errorf("%w: %w", errUploadDropped, err)
	} else if err != nil {
		return err
	}
	if _, err := o.c.SetState(ctx, seg.Topic, seg.Partition, e.Base, SegmentOffloaded, key); err != nil {
		if RejectedWith(err, RejectNotFound) {
			return fmt.Errorf("%w: %w", errUploadDropped, err)
		}
		// A conflict: reconciliation reset the entry to local meanwhile;
		// the next attempt starts again from it.
		return fmt.Errorf("set_state offloaded: %w", err)
	}
	return nil
}
