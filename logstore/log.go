package logstore

import (
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Log is one partition's ordered log of Kafka v2 record batches. Every engine
// (segment, lite, memory, hybrid) implements it with the same semantics, and
// the randomized engine test holds them to it.
//
// Offsets: the log start offset (LSO) is the first readable offset; the high
// watermark (HW) is the offset the next appended record gets. A single node
// has no followers, so HW is also the log end offset.
type Log interface {
	// Append stores one or more concatenated v2 record batches. Each batch is
	// validated (length, magic, CRC32C), given the next base offset (its
	// records keep their offset deltas), and stored byte-for-byte otherwise.
	// The call is atomic: all batches are stored or none. It returns once the
	// data is as durable as the log's flush policy promises (see FlushPolicy).
	Append(batches []byte) (AppendResult, error)

	// Read returns whole batches starting with the one that contains offset,
	// up to maxBytes in total; the first batch is returned whole even if it
	// is larger than maxBytes, so a reader always makes progress (Kafka's
	// KIP-74 rule). offset == HW returns an empty result; offset < LSO or
	// > HW returns ErrOffsetOutOfRange. The caller must Close the result.
	Read(offset int64, maxBytes int) (*ReadResult, error)

	// HighWatermark is the offset that the next appended record will get.
	HighWatermark() int64
	// LogStartOffset is the first offset a Read may ask for.
	LogStartOffset() int64

	// OffsetForTime returns the base offset of the first batch whose max
	// timestamp is >= ts (Kafka ListOffsets by timestamp), or HW if none.
	OffsetForTime(ts int64) (int64, error)

	// Truncate removes every batch at or after offset, which must be a batch
	// base offset or HW. The HW becomes offset.
	Truncate(offset int64) error

	// DeleteRecordsBefore moves the log start offset up to offset (Kafka
	// DeleteRecords). Storage wholly below it is freed; the batch that
	// contains offset stays, but reads below offset are refused.
	DeleteRecordsBefore(offset int64) error

	// ApplyRetention drops whole segments (or batches, for engines without
	// segments) that are past the log's retention.bytes / retention.ms
	// limits (now is ms since the epoch), never the active segment, and
	// returns the new log start offset.
	ApplyRetention(now int64) (int64, error)

	// Reconfigure applies a changed topic config (retention, roll and flush
	// keys) to an open log. storage.mode and storage.engine cannot change.
	Reconfigure(cfg TopicConfig) error

	// Sync makes every appended batch durable.
	Sync() error
	// Stats reports sizes and offsets for tools and metrics.
	Stats() LogStats
	// Close flushes and releases the log. Further calls return ErrClosed.
	Close() error
}

// AppendResult reports where an Append put its batches.
type AppendResult struct {
	// BaseOffset is the base offset given to the first batch.
	BaseOffset int64
	// LastOffset is the offset of the last record of the last batch.
	LastOffset int64
	// LogAppendTime is the broker time (ms) of the append.
	LogAppendTime int64
	// Batches and Records count what was appended.
	Batches int
	Records int
}

// LogStats is a snapshot of a log's size and offsets.
type LogStats struct {
	Engine         string
	LogStartOffset int64
	HighWatermark  int64
	Bytes          int64 // stored bytes of batches (not counting indexes)
	Segments       int   // segment files; 0 for engines without segments
	Batches        int64 // batches held (may be an estimate for lite)
	// Tiered segment logs: segments (and their batch bytes) whose local
	// copies were evicted, reads served from them, and evictions done.
	RemoteSegments int
	RemoteBytes    int64
	RemoteReads    int64
	Evictions      int64
}

// Chunk is one contiguous run of stored batch bytes. Exactly one of Data
// and File is set. A File chunk lets a frontend copy the bytes straight
// from the segment file to a socket (sendfile via File.Fd()) without
// reading them into user space.
type Chunk struct {
	Data []byte
	File vfs.File
	Pos  int64
	Len  int64
}

// Size is the number of bytes in the chunk.
func (c Chunk) Size() int64 {
	if c.File != nil {
		return c.Len
	}
	return int64(len(c.Data))
}

// ReadResult is what a Read returns: whole batches, in order, as chunks.
// It pins the files it refers to until Close.
type ReadResult struct {
	Chunks []Chunk
	// NextOffset is the offset after the last record returned (the offset to
	// read from next); equal to the requested offset when nothing was returned.
	NextOffset     int64
	HighWatermark  int64
	LogStartOffset int64

	release func()
}

// NewReadResult builds a ReadResult; release (may be nil) runs at Close.
func NewReadResult(chunks []Chunk, next, hw, lso int64, release func()) *ReadResult {
	return &ReadResult{Chunks: chunks, NextOffset: next, HighWatermark: hw, LogStartOffset: lso, release: release}
}

// Size is the total number of bytes in the result.
func (r *ReadResult) Size() int64 {
	var n int64
	for _, c := range r.Chunks {
		n += c.Size()
	}
	return n
}

// WriteTo writes every chunk to w in order.
func (r *ReadResult) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, c := range r.Chunks {
		if c.File == nil {
			n, err := w.Write(c.Data)
			total += int64(n)
			if err != nil {
				return total, err
			}
			continue
		}
		n, err := io.Copy(w, io.NewSectionReader(c.File, c.Pos, c.Len))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Bytes returns the result as one byte slice (copying file chunks in).
func (r *ReadResult) Bytes() ([]byte, error) {
	if len(r.Chunks) == 1 && r.Chunks[0].File == nil {
		return r.Chunks[0].Data, nil
	}
	buf := make([]byte, r.Size())
	off := 0
	for _, c := range r.Chunks {
		if c.File == nil {
			off += copy(buf[off:], c.Data)
			continue
		}
		if _, err := c.File.ReadAt(buf[off:off+int(c.Len)], c.Pos); err != nil {
			return nil, err
		}
		off += int(c.Len)
	}
	return buf, nil
}

// Close releases the files the result pins. It is safe to call twice.
func (r *ReadResult) Close() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
}
