package logstore

import (
	"context"
	"io"
)

// SealedSegment describes a segment that will not be appended to again: the
// unit the tier uploads.
type SealedSegment struct {
	Topic      string
	Partition  int32
	BaseOffset int64
	// LastOffset is the offset of the last record in the segment.
	LastOffset int64
	// Size is the .log file's size in bytes, header included.
	Size int64
	// Path is the .log file's path on the local file system.
	Path string
	// MaxTimestamp is the largest batch max timestamp in the segment.
	MaxTimestamp int64
}

// Offloader is the hand-off between the log engine and the object tier.
// The segment engine calls SegmentSealed when it rolls; the tier uploads the
// segment and later calls back through the log's MarkOffloaded so that the
// local copy may be evicted. Reads below the oldest local segment go
// through OpenRemote.
type Offloader interface {
	// SegmentSealed announces a sealed segment. It must not block on I/O:
	// an implementation queues the upload and returns.
	SegmentSealed(seg SealedSegment)
	// IsOffloaded reports whether the segment is safely in the object store
	// (so the local copy may be deleted).
	IsOffloaded(topic string, partition int32, baseOffset int64) bool
	// OpenRemote opens a byte range of an offloaded segment.
	OpenRemote(ctx context.Context, topic string, partition int32, baseOffset, pos, length int64) (io.ReadCloser, error)
}

// NopOffloader keeps everything local: nothing is ever offloaded.
type NopOffloader struct{}

// SegmentSealed does nothing.
func (NopOffloader) SegmentSealed(SealedSegment) {}

// IsOffloaded is always false.
func (NopOffloader) IsOffloaded(string, int32, int64) bool { return false }

// OpenRemote always fails: there is no remote copy.
func (NopOffloader) OpenRemote(context.Context, string, int32, int64, int64, int64) (io.ReadCloser, error) {
	return nil, ErrOffsetOutOfRange
}
