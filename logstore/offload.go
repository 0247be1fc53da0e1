package logstore

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
	// Tiered is whether the topic's storage.mode is tiered when the
	// segment is announced: only such segments are uploaded to the object
	// tier.
	Tiered bool
}

// Offloader is the hand-off between the log engine and the object tier.
// The segment engine calls SegmentSealed when it rolls; the tier uploads the
// segment, and retention asks IsOffloaded before it evicts the local copy
// of a tiered topic's segment. Reads below the oldest local segment go
// through RemoteLister and the log's RemoteReader (remote.go).
type Offloader interface {
	// SegmentSealed announces a sealed segment. It must not block on I/O:
	// an implementation queues the upload and returns.
	SegmentSealed(seg SealedSegment)
	// IsOffloaded reports whether the segment is safely in the object store
	// (so the local copy may be deleted).
	IsOffloaded(topic string, partition int32, baseOffset int64) bool
}

// NopOffloader keeps everything local: nothing is ever offloaded.
type NopOffloader struct{}

// SegmentSealed does nothing.
func (NopOffloader) SegmentSealed(SealedSegment) {}

// IsOffloaded is always false.
func (NopOffloader) IsOffloaded(string, int32, int64) bool { return false }

// SegmentDeleteNotifier is implemented by an Offloader that wants to know
// when a sealed segment leaves the log for good: retention deleted it,
// DeleteRecordsBefore moved the log start past it, Truncate cut it off (or
// cut into it, making it the active segment again), or recovery finished
// such a deletion that a crash interrupted; for a segment whose local copy
// was evicted, the notification means its object may go too. It is
// optional (the log checks with a type assertion), so that NopOffloader
// and other Offloaders need not implement it. Like SegmentSealed it is
// called under the log's write lock and must not block on I/O.
//
// It is not called for a torn or corrupt tail that recovery cuts off:
// that is data lost, which manifest reconciliation reports rather than
// forgets. Evicting the local copy of an offloaded segment is not a
// deletion either: the segment stays in the log, read from its object.
type SegmentDeleteNotifier interface {
	SegmentDeleted(topic string, partition int32, baseOffset int64)
}

// notifyDeleted tells the offloader, if it listens, that the segment at
// base left the log.
func (l *SegmentLog) notifyDeleted(base int64) {
	if n, ok := l.opts.Offloader.(SegmentDeleteNotifier); ok {
		n.SegmentDeleted(l.opts.Topic, l.opts.Partition, base)
	}
}

// Uploader is implemented by an Offloader that can say whether it uploads
// segments at all. Retention of a tiered topic deletes a segment only once
// IsOffloaded says so; an Offloader whose Uploads is false (it records
// segments but there is no object tier to put them in) would hold every
// tiered segment forever, so retention then deletes as for a persistent
// topic. It is optional: an Offloader without it gates retention unless it
// is NopOffloader.
type Uploader interface {
	Uploads() bool
}

// gatesRetention reports whether retention of a tiered topic must wait
// for IsOffloaded.
func gatesRetention(o Offloader) bool {
	if u, ok := o.(Uploader); ok {
		return u.Uploads()
	}
	return !isNopOffloader(o)
}
