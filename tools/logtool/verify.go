package logtool

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"

	"strata/logstore"
)

// VerifyReport counts what Verify checked.
type VerifyReport struct {
	Partitions int   `json:"partitions"`
	Segments   int   `json:"segments"`
	Batches    int64 `json:"batches"`
	Bytes      int64 `json:"bytes"`
	// Notes are findings that are not corruption (a missing index, which
	// recovery rebuilds).
	Notes []string `json:"notes,omitempty"`
}

// ErrCorruption is wrapped by every corruption Verify reports.
var ErrCorruption = errors.New("corruption")

// Verify checks every segment-engine partition under dataDir with the
// engine's own read-only checker (logstore.VerifySegmentDir): each batch's
// length, magic and CRC32C; offset continuity inside and across segments;
// every .index and .timeindex entry against the batches it points at; the
// checkpoint's checksum. It returns at the first corruption with an error
// wrapping ErrCorruption that names the file and byte position.
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
		info, err := logstore.VerifySegmentDir(vfs.Default, p.Dir)
		for _, s := range info.Segments {
			rep.Segments++
			rep.Batches += s.Batches
			rep.Bytes += s.Size
			bar.add(s.Size)
			if s.IndexMissing {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: segment %d has no index files (recovery rebuilds them)", p.Dir, s.Base))
			}
		}
		if err != nil {
			if errors.Is(err, logstore.ErrCorrupt) {
				return rep, fmt.Errorf("%w: %v", ErrCorruption, err)
			}
			return rep, err
		}
	}
	return rep, nil
}
