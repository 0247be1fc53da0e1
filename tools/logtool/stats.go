package logtool

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"strata/logstore"
)

// PartitionStats describes one partition's files.
type PartitionStats struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Engine    string `json:"engine"`
	Segments  int    `json:"segments"`
	Bytes     int64  `json:"bytes"`
	// FirstOffset is the base offset of the oldest segment on disk (the log
	// start offset may be higher after DeleteRecords).
	FirstOffset int64 `json:"first_offset"`
	// NextOffset is the offset after the last whole batch on disk.
	NextOffset int64 `json:"next_offset"`
	Batches    int64 `json:"batches"`
}

// Stats is what `strata log stats` reports.
type Stats struct {
	Partitions []PartitionStats `json:"partitions"`
	// LiteBytes is the size of the lite engine's pebble database.
	LiteBytes int64 `json:"lite_bytes"`
}

// CollectStats walks dataDir. For each segment partition it reads batch
// headers only (hopping by length), so it is fast even on large logs; use
// Verify to check CRCs.
func CollectStats(dataDir string, progressOut io.Writer) (Stats, error) {
	var st Stats
	parts, err := listPartitions(dataDir)
	if err != nil {
		return st, err
	}
	var total int64
	for _, p := range parts {
		for _, s := range p.Segments {
			total += s.Size
		}
	}
	bar := newProgress(progressOut, total, "stats")
	defer bar.finish()
	for _, p := range parts {
		ps := PartitionStats{Topic: p.Topic, Partition: p.Partition, Engine: logstore.EngineSegment, Segments: len(p.Segments)}
		for i, s := range p.Segments {
			if i == 0 {
				ps.FirstOffset, ps.NextOffset = s.Base, s.Base
			}
			n, next, err := hopBatches(s.Log, s.Size)
			if err != nil {
				return st, err
			}
			ps.Batches += n
			ps.NextOffset = max(next, s.Base)
			ps.Bytes += s.Size
			bar.add(s.Size)
		}
		st.Partitions = append(st.Partitions, ps)
	}
	lite := filepath.Join(dataDir, "lite")
	_ = filepath.WalkDir(lite, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, ierr := d.Info(); ierr == nil {
				st.LiteBytes += info.Size()
			}
		}
		return nil
	})
	return st, nil
}

// hopBatches counts the whole batches of a .log file by reading headers
// only, and returns the offset after the last one. It stops quietly at a
// torn or bad header (stats is not verify).
func hopBatches(path string, size int64) (n, next int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	hdr := make([]byte, logstore.BatchHeaderSize)
	if _, err := f.ReadAt(hdr[:logstore.FileHeaderSize], 0); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	base, err := logstore.DecodeFileHeader(hdr[:logstore.FileHeaderSize], logstore.SegmentMagic)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	next = base
	for pos := int64(logstore.FileHeaderSize); pos+logstore.BatchHeaderSize <= size; {
		if _, err := f.ReadAt(hdr, pos); err != nil {
			return n, next, fmt.Errorf("%s: %w", path, err)
		}
		h, err := logstore.ParseBatchHeader(hdr)
		if err != nil || pos+int64(h.Size()) > size {
			break
		}
		n++
		next = h.NextOffset()
		pos += int64(h.Size())
	}
	return n, next, nil
}
