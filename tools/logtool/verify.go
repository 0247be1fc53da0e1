package logtool

import (
	"errors"
	"fmt"
	"io"
	"os"

	"strata/logstore"
)

// VerifyReport counts what Verify checked.
type VerifyReport struct {
	Partitions int
	Segments   int
	Batches    int64
	Bytes      int64
	// Notes are findings that are not corruption (a missing index, which
	// recovery rebuilds).
	Notes []string
}

// ErrCorruption is wrapped by every corruption Verify reports.
var ErrCorruption = errors.New("corruption")

type batchInfo struct {
	pos   int64
	maxTS int64
}

// Verify checks every segment-engine partition under dataDir: each batch's
// length, magic and CRC32C; offset continuity inside and across segments;
// and every .index and .timeindex entry against the batches it points at.
// It returns at the first corruption with an error wrapping ErrCorruption
// that names the file and byte position.
func Verify(dataDir string, progressOut io.Writer) (VerifyReport, error) {
	var rep VerifyReport
	parts, err := listPartitions(dataDir)
	if err != nil {
		return rep, err
	}
	var total int64
	for _, p := range parts {
		for _, s := range p.Segments {
			total += s.Size
		}
	}
	bar := newProgress(progressOut, total, "verify")
	defer bar.finish()
	for _, p := range parts {
		rep.Partitions++
		var next int64 = -1
		for _, s := range p.Segments {
			rep.Segments++
			batches := map[int64]batchInfo{} // relative offset -> batch
			base, _, segNext, err := scanFile(s.Log, func(pos int64, h logstore.BatchHeader, batch []byte) error {
				batches[h.BaseOffset] = batchInfo{pos: pos, maxTS: h.MaxTimestamp}
				rep.Batches++
				bar.add(int64(len(batch)))
				return nil
			})
			if err != nil {
				if errors.Is(err, logstore.ErrCorrupt) {
					return rep, fmt.Errorf("%w: %s: %v", ErrCorruption, s.Log, err)
				}
				return rep, err
			}
			if base != s.Base {
				return rep, fmt.Errorf("%w: %s: byte 16: header base offset %d does not match the file name", ErrCorruption, s.Log, base)
			}
			if next >= 0 && s.Base != next {
				return rep, fmt.Errorf("%w: %s: byte 24: segment starts at offset %d but the previous segment ends before offset %d", ErrCorruption, s.Log, s.Base, next)
			}
			next = segNext
			rep.Bytes += s.Size
			if err := verifyIndex(s, batches, &rep); err != nil {
				return rep, err
			}
			if err := verifyTimeIndex(s, batches, &rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func verifyIndex(s segmentFile, batches map[int64]batchInfo, rep *VerifyReport) error {
	if s.Index == "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: no .index file (recovery rebuilds it)", s.Log))
		return nil
	}
	b, err := os.ReadFile(s.Index)
	if err != nil {
		return err
	}
	base, entries, err := logstore.DecodeIndex(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruption, s.Index, err)
	}
	if base != s.Base {
		return fmt.Errorf("%w: %s: byte 16: header base offset %d does not match the file name", ErrCorruption, s.Index, base)
	}
	for i, e := range entries {
		bi, ok := batches[s.Base+int64(e.RelOffset)]
		if !ok || bi.pos != int64(e.Position) {
			return fmt.Errorf("%w: %s: byte %d: entry (offset %d -> position %d) does not point at the start of that batch",
				ErrCorruption, s.Index, logstore.FileHeaderSize+i*logstore.IndexEntrySize, s.Base+int64(e.RelOffset), e.Position)
		}
	}
	return nil
}

func verifyTimeIndex(s segmentFile, batches map[int64]batchInfo, rep *VerifyReport) error {
	if s.TimeIndex == "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: no .timeindex file (recovery rebuilds it)", s.Log))
		return nil
	}
	b, err := os.ReadFile(s.TimeIndex)
	if err != nil {
		return err
	}
	base, entries, err := logstore.DecodeTimeIndex(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruption, s.TimeIndex, err)
	}
	if base != s.Base {
		return fmt.Errorf("%w: %s: byte 16: header base offset %d does not match the file name", ErrCorruption, s.TimeIndex, base)
	}
	for i, e := range entries {
		bi, ok := batches[s.Base+int64(e.RelOffset)]
		if !ok || bi.maxTS < e.Timestamp {
			return fmt.Errorf("%w: %s: byte %d: entry (timestamp %d -> offset %d) does not match a batch with that max timestamp",
				ErrCorruption, s.TimeIndex, logstore.FileHeaderSize+i*logstore.TimeIndexEntrySize, e.Timestamp, s.Base+int64(e.RelOffset))
		}
	}
	return nil
}
