package logstore

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"strata/tier"
)

// SegmentObjects is the object tier as the offload path sees it: it turns
// a sealed .log file into a segment object (tier/doc.go: the tier header,
// then the file's bytes after its own 24-byte header), checks it, and
// deletes objects. It lives here, not in meta, because meta may use only
// logstore's types (DESIGN.md, layers): meta's uploader drives the
// manifest states and calls these methods; the bytes stay below.
type SegmentObjects struct {
	store tier.ObjectStore
}

// ErrSegmentChanged refuses an upload whose local file no longer is what
// the manifest recorded (gone, another size or CRC32C): retrying cannot
// help; the manifest entry's owner decides what to do.
var ErrSegmentChanged = errors.New("logstore: segment file changed since it was recorded")

// NewSegmentObjects wraps store for uploads. A store that does not retry
// already (*tier.Retrying) is wrapped with tier.WithRetry(retry).
func NewSegmentObjects(store tier.ObjectStore, retry tier.RetryOptions) (*SegmentObjects, error) {
	if _, ok := store.(*tier.Retrying); !ok {
		retry.EnsureDefaults()
		if err := retry.Validate(); err != nil {
			return nil, fmt.Errorf("logstore: segment objects: %w", err)
		}
		store = tier.WithRetry(store, retry)
	}
	return &SegmentObjects{store: store}, nil
}

// SegmentObjectKey names the object of the segment [base, last] of a
// partition: topics/<topic>/<partition>/<base>-<last>.seg.
func SegmentObjectKey(topic string, partition int32, base, last int64) (string, error) {
	return tier.SegmentKey(topic, partition, base, last)
}

// SegmentFile is a sealed .log file as its manifest entry records it.
type SegmentFile struct {
	Path       string
	Topic      string
	Partition  int32
	BaseOffset int64
	LastOffset int64
	// Size and CRC are the whole file's size and CRC32C (Castagnoli).
	Size int64
	CRC  uint32
}

// Upload puts the segment object for f under key, streamed from the file
// (the retrying store can seek back), then Heads it and checks its size.
// The file is read once first, to check it against f (ErrSegmentChanged
// when it differs) and to compute the payload CRC32C for the header.
func (o *SegmentObjects) Upload(ctx context.Context, key string, f SegmentFile) error {
	file, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrSegmentChanged, err)
	} else if err != nil {
		return err
	}
	defer file.Close()
	obj, err := newSegmentObject(file, f)
	if err != nil {
		return err
	}
	if err := o.store.Put(ctx, key, io.NewSectionReader(obj, 0, obj.size), obj.size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	info, err := o.store.Head(ctx, key)
	if err != nil {
		return fmt.Errorf("head %s: %w", key, err)
	}
	if info.Size != obj.size {
		return fmt.Errorf("verify %s: object has %d bytes, uploaded %d", key, info.Size, obj.size)
	}
	return nil
}

// Delete deletes the object under key (a missing one is not an error).
func (o *SegmentObjects) Delete(ctx context.Context, key string) error {
	err := o.store.Delete(ctx, key)
	if errors.Is(err, tier.ErrNotFound) {
		return nil
	}
	return err
}

// segmentObject is a segment object as an io.ReaderAt: the encoded tier
// header, then the .log file's bytes after its own header.
type segmentObject struct {
	hdr  []byte
	f    *os.File
	size int64
}

// newSegmentObject reads file once to check it against f (size and CRC32C
// of the whole file) and to compute the payload CRC32C for the header.
func newSegmentObject(file *os.File, f SegmentFile) (*segmentObject, error) {
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != f.Size || f.Size < FileHeaderSize {
		return nil, fmt.Errorf("%w: %s has %d bytes, the manifest entry %d", ErrSegmentChanged, f.Path, st.Size(), f.Size)
	}
	whole := crc32.New(crc32c)
	payload := crc32.New(crc32c)
	if _, err := io.Copy(whole, io.NewSectionReader(file, 0, FileHeaderSize)); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.MultiWriter(whole, payload), io.NewSectionReader(file, FileHeaderSize, f.Size-FileHeaderSize)); err != nil {
		return nil, err
	}
	if whole.Sum32() != f.CRC {
		return nil, fmt.Errorf("%w: %s: crc32c %08x, the manifest entry %08x", ErrSegmentChanged, f.Path, whole.Sum32(), f.CRC)
	}
	hdr, err := tier.EncodeSegmentHeader(nil, tier.SegmentHeader{
		Topic: f.Topic, Partition: f.Partition, BaseOffset: f.BaseOffset, LastOffset: f.LastOffset,
		PayloadSize: f.Size - FileHeaderSize, PayloadCRC: payload.Sum32(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSegmentChanged, err)
	}
	return &segmentObject{hdr: hdr, f: file, size: int64(len(hdr)) + f.Size - FileHeaderSize}, nil
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
		m, err := s.f.ReadAt(p[n:], off+int64(n)-int64(len(s.hdr))+FileHeaderSize)
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
