package logstore

import "errors"

// Sentinel errors. Callers test with errors.Is; every error a Log returns wraps
// one of these or is an I/O error from the file system.
var (
	// ErrCorrupt marks data that failed a checksum or structural check. It is
	// wrapped (with file and byte position) so that callers can tell corruption
	// from an I/O failure.
	ErrCorrupt = errors.New("logstore: corrupt data")
	// ErrInvalidBatch is returned by Append for bytes that are not a valid
	// Kafka v2 record batch (bad magic, bad length, bad CRC, ...).
	ErrInvalidBatch = errors.New("logstore: invalid record batch")
	// ErrOffsetOutOfRange is returned by Read for an offset below the log
	// start offset or above the high watermark.
	ErrOffsetOutOfRange = errors.New("logstore: offset out of range")
	// ErrNotBatchBoundary is returned by Truncate for an offset that falls
	// inside a stored batch: batches are never split.
	ErrNotBatchBoundary = errors.New("logstore: offset is not a batch boundary")
	// ErrClosed is returned by every method of a closed Log or Store.
	ErrClosed = errors.New("logstore: closed")
	// ErrTopicExists, ErrUnknownTopic and ErrUnknownPartition report topic
	// catalogue errors.
	ErrTopicExists      = errors.New("logstore: topic already exists")
	ErrUnknownTopic     = errors.New("logstore: unknown topic")
	ErrUnknownPartition = errors.New("logstore: unknown partition")
	// ErrInvalidTopic is returned for a name that Kafka would not accept.
	ErrInvalidTopic = errors.New("logstore: invalid topic name")
	// ErrInvalidConfig is returned for an unknown topic config key or a value
	// that does not parse or is out of range.
	ErrInvalidConfig = errors.New("logstore: invalid topic config")
	// ErrInvalidPartitions is returned for a partition count that is not
	// positive, or a CreatePartitions call that does not grow the topic.
	ErrInvalidPartitions = errors.New("logstore: invalid partition count")
	// ErrQueueFull is returned when a bounded append queue is full and its
	// policy is to reject rather than block.
	ErrQueueFull = errors.New("logstore: append queue full")
)
