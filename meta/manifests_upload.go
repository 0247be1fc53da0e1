package meta

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"strata/logstore"
	"strata/tier"
)

// The uploader: ManifestOffloader's second goroutine, running only when
// Objects is set. For each recorded sealed segment of a tiered topic, in
// seal order:
//
//  1. read the manifest entry: gone (the log deleted the segment) or
//     already offloaded ends the work; otherwise
//  2. set_state uploading with the object key (tier.SegmentKey), unless
//     the entry is uploading already (an earlier attempt);
//  3. read the .log file once for the CRC32C of its bytes (checked against
//     the entry: a file that changed is not uploaded) and of the payload;
//  4. Put the object: the tier segment header, then the .log file's bytes
//     after its own header, streamed from the file through an
//     io.SectionReader (so the retrying store can seek back);
//  5. Head it and check the size;
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
		key, err = tier.SegmentKey(seg.Topic, seg.Partition, e.Base, e.Last)
		if err != nil {
			return fmt.Errorf("%w: %w", errUploadDropped, err)
		}
	}
	f, err := os.Open(seg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", errUploadDropped, err)
	} else if err != nil {
		return err
	}
	defer f.Close()
	obj, err := newSegmentObject(f, seg.Topic, seg.Partition, e)
	if err != nil {
		return err
	}
	if e.State == SegmentLocal {
		if _, err := o.c.SetState(ctx, seg.Topic, seg.Partition, e.Base, SegmentUploading, key); err != nil {
			if RejectedWith(err, RejectNotFound) {
				return fmt.Errorf("%w: %w", errUploadDropped, err)
			}
			return fmt.Errorf("set_state uploading: %w", err)
		}
	}
	if err := o.opts.Objects.Put(ctx, key, io.NewSectionReader(obj, 0, obj.size), obj.size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	info, err := o.opts.Objects.Head(ctx, key)
	if err != nil {
		return fmt.Errorf("head %s: %w", key, err)
	}
	if info.Size != obj.size {
		return fmt.Errorf("verify %s: object has %d bytes, uploaded %d", key, info.Size, obj.size)
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

// segmentObject is a segment object as an io.ReaderAt: the encoded tier
// header, then the .log file's bytes after its own header.
type segmentObject struct {
	hdr  []byte
	f    *os.File
	size int64
}

// newSegmentObject reads f once to check it against the manifest entry e
// (size and CRC32C of the whole file) and to compute the payload CRC32C
// for the header.
func newSegmentObject(f *os.File, topic string, partition int32, e SegmentEntry) (*segmentObject, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != e.Size || e.Size < logstore.FileHeaderSize {
		return nil, fmt.Errorf("%w: %s has %d bytes, the manifest entry %d", errUploadDropped, f.Name(), st.Size(), e.Size)
	}
	whole := crc32.New(crc32c)
	payload := crc32.New(crc32c)
	if _, err := io.Copy(whole, io.NewSectionReader(f, 0, logstore.FileHeaderSize)); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.MultiWriter(whole, payload), io.NewSectionReader(f, logstore.FileHeaderSize, e.Size-logstore.FileHeaderSize)); err != nil {
		return nil, err
	}
	if whole.Sum32() != e.CRC {
		return nil, fmt.Errorf("%w: %s: crc32c %08x, the manifest entry %08x", errUploadDropped, f.Name(), whole.Sum32(), e.CRC)
	}
	hdr, err := tier.EncodeSegmentHeader(nil, tier.SegmentHeader{
		Topic: topic, Partition: partition, BaseOffset: e.Base, LastOffset: e.Last,
		PayloadSize: e.Size - logstore.FileHeaderSize, PayloadCRC: payload.Sum32(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUploadDropped, err)
	}
	return &segmentObject{hdr: hdr, f: f, size: int64(len(hdr)) + e.Size - logstore.FileHeaderSize}, nil
}

// ReadAt reads the header's bytes from memory and the rest from the file.
func (s *segmentObject) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("segment object: negative offset %d", off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := s.size - off; int64(want) > rem {
		p = p[:rem]
	}
	n := 0
	if h := int64(len(s.hdr)); off < h {
		n = copy(p, s.hdr[off:])
	}
	if n < len(p) {
		m, err := s.f.ReadAt(p[n:], off+int64(n)-int64(len(s.hdr))+logstore.FileHeaderSize)
		n += m
		if err != nil && (err != io.EOF || n < len(p)) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank
			}
			return n, err
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}
