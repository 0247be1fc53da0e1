package meta

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"

	"strata/logstore"
)

// Manifest/file reconciliation. A segment seal is: roll the file (fsync,
// new active segment, checkpoint), then add_segment. An upload is:
// set_state uploading, write the object, set_state offloaded, then delete
// the local copy (retention). A crash can stop either between any two
// steps; ReconcilePartition compares a partition directory with its
// manifest and lists what brings them back into agreement:
//
//	file state                                 manifest                       action / problem
//	sealed file, not in the manifest           -                              add (local)
//	sealed file                                local|uploading, differs       replace (remove, add the file's)
//	sealed file                                uploading                      reset_upload (back to local; upload again)
//	no file, object present                    uploading                      mark_offloaded
//	file or not, object present                offloaded                      nothing (eviction may have run)
//	file, object missing                       offloaded                      problem object_missing
//	no file, no object, below log start        local                          remove (retention deleted it)
//	no file, no object                         any other                      problem lost
//	active (newest) file                       reached by an entry            remove, and problem truncated (never in a manifest)
//	sealed file that fails its CRC scan        -                              problem corrupt
//
// Run it after the partition's log has opened (its recovery has cut torn
// tails) and before the offloader's uploads start, so that no set_state
// races the actions; ReconcileTopicsDir does it for a whole data directory.

// Reconcile action kinds.
const (
	ReconcileAdd           = "add"
	ReconcileReplace       = "replace"
	ReconcileResetUpload   = "reset_upload"
	ReconcileMarkOffloaded = "mark_offloaded"
	ReconcileRemove        = "remove"
)

// Reconcile problem kinds: disagreements that no proposal can repair.
const (
	ProblemLost          = "lost"           // neither a local file nor an object holds the segment
	ProblemCorrupt       = "corrupt"        // a sealed local file fails its scan
	ProblemObjectMissing = "object_missing" // offloaded, but the object is gone (the local copy is still there)
	ProblemMismatch      = "mismatch"       // an offloaded entry disagrees with its local file
	ProblemOverlap       = "overlap"        // a file overlaps a manifest entry with another base
	ProblemTruncated     = "truncated"      // an entry reaches the active segment: the log was cut below it
)

// ErrManifestDisagrees is wrapped by ReconcileReport.Err when a partition's
// manifest and files disagree in a way that loses or risks data.
var ErrManifestDisagrees = errors.New("meta: manifest and segment files disagree")

// ReconcileAction is one proposal that brings the manifest in line.
type ReconcileAction struct {
	Kind string `json:"kind"`
	// Segment is the entry to add, or the one to change or remove.
	Segment SegmentEntry `json:"segment"`
	Reason  string       `json:"reason"`
}

// ReconcileProblem is a disagreement that needs an operator.
type ReconcileProblem struct {
	Kind   string `json:"kind"`
	Base   int64  `json:"base"`
	Detail string `json:"detail"`
}

// ReconcileReport is what ReconcilePartition found for one partition.
type ReconcileReport struct {
	Topic     string
	Partition int32
	Dir       string
	// ActiveBase is the newest file's base offset (-1 with no files).
	ActiveBase int64
	// LogStartOffset is the local log start (checkpoint or first file).
	LogStartOffset int64
	Actions        []ReconcileAction
	Problems       []ReconcileProblem
}

// Err returns nil when nothing is lost or damaged, or an error wrapping
// ErrManifestDisagrees that lists every problem. Callers log it at error
// level: it means data loss or a tier that lost objects.
func (r ReconcileReport) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	var b strings.Builder
	for i, p := range r.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "segment %d %s: %s", p.Base, p.Kind, p.Detail)
	}
	return fmt.Errorf("%w: %s-%d: %s", ErrManifestDisagrees, r.Topic, r.Partition, b.String())
}

// ParsePartitionDirName splits "<topic>-<partition>" (logstore's
// PartitionDirName) at its last '-'.
func ParsePartitionDirName(name string) (topic string, partition int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || name[i+1:] != strconv.FormatInt(p, 10) {
		return "", 0, false
	}
	return name[:i], int32(p), true
}

// ScanSegmentFile reads a sealed .log file whole and describes it as a
// local manifest entry: offsets from its batches (checked by
// logstore.ScanSegment), size, CRC32C of every byte, largest batch
// timestamp. A torn or corrupt file is an error wrapping logstore.ErrCorrupt.
func ScanSegmentFile(path string) (SegmentEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return SegmentEntry{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SegmentEntry{}, err
	}
	size := st.Size()
	maxTS := int64(-1)
	base, validEnd, next, err := logstore.ScanSegment(f, size, func(_ int64, h logstore.BatchHeader, _ []byte) error {
		maxTS = max(maxTS, h.MaxTimestamp)
		return nil
	})
	if err != nil {
		return SegmentEntry{}, fmt.Errorf("%s: %w", path, err)
	}
	if validEnd != size {
		return SegmentEntry{}, fmt.Errorf("%s: %w: %d bytes after the last batch", path, logstore.ErrCorrupt, size-validEnd)
	}
	h := crc32.New(crc32c)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return SegmentEntry{}, err
	}
	return SegmentEntry{Base: base, Last: next - 1, Size: size, CRC: h.Sum32(), MaxTimestamp: maxTS, State: SegmentLocal}, nil
}

// ReconcilePartition compares the segment partition directory dir (named
// "<topic>-<partition>") with the partition's manifest and returns the
// actions that make them agree and the problems no action can fix (see the
// table above). objectExists reports whether the object store holds a key;
// nil means there is no object tier. A missing dir counts as no files.
func ReconcilePartition(dir string, manifest []SegmentEntry, objectExists func(key string) bool) (ReconcileReport, error) {
	topic, partition, ok := ParsePartitionDirName(filepath.Base(dir))
	if !ok {
		return ReconcileReport{}, fmt.Errorf("meta: reconcile: %s is not a <topic>-<partition> directory", dir)
	}
	r := ReconcileReport{Topic: topic, Partition: partition, Dir: dir, ActiveBase: -1, LogStartOffset: -1}
	if objectExists == nil {
		objectExists = func(string) bool { return false }
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return r, err
	}
	var bases []int64
	for _, de := range entries {
		if base, ext, ok := logstore.ParseSegmentFileName(de.Name()); ok && ext == logstore.SegmentExt && de.Type().IsRegular() {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	if n := len(bases); n > 0 {
		r.ActiveBase = bases[n-1]
		r.LogStartOffset = bases[0]
		cp, err := logstore.ReadCheckpoint(vfs.Default, dir)
		switch {
		case err == nil:
			r.LogStartOffset = max(r.LogStartOffset, cp.LogStartOffset)
		case !errors.Is(err, os.ErrNotExist):
			return r, err
		}
	}

	// Scan the sealed files.
	files := map[int64]SegmentEntry{}
	corrupt := map[int64]bool{}
	var fileOrder []int64
	if len(bases) > 1 {
		for _, base := range bases[:len(bases)-1] {
			e, err := ScanSegmentFile(filepath.Join(dir, logstore.SegmentFileName(base, logstore.SegmentExt)))
			switch {
			case errors.Is(err, logstore.ErrCorrupt):
				r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemCorrupt, Base: base, Detail: err.Error()})
				corrupt[base] = true
				continue
			case err != nil:
				return r, err
			case e.Last < e.Base:
				continue // an empty sealed segment holds no offsets; nothing to record
			}
			files[base] = e
			fileOrder = append(fileOrder, base)
		}
	}

	inManifest := map[int64]bool{}
	for _, m := range manifest {
		inManifest[m.Base] = true
		if r.ActiveBase >= 0 && m.Last >= r.ActiveBase {
			if m.State == SegmentOffloaded {
				r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemMismatch, Base: m.Base,
					Detail: fmt.Sprintf("offloaded entry [%d, %d] reaches the active segment at %d", m.Base, m.Last, r.ActiveBase)})
				continue
			}
			why := fmt.Sprintf("entry [%d, %d] reaches the active segment at %d: the log was truncated below it", m.Base, m.Last, r.ActiveBase)
			r.Actions = append(r.Actions, ReconcileAction{Kind: ReconcileRemove, Segment: m, Reason: why})
			r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemTruncated, Base: m.Base, Detail: why})
			continue
		}
		if corrupt[m.Base] {
			continue // reported as corrupt; nothing to propose until an operator decides
		}
		f, hasFile := files[m.Base]
		hasObject := m.ObjectKey != "" && objectExists(m.ObjectKey)
		switch {
		case hasFile && !f.sameSegment(m) && m.State != SegmentOffloaded:
			r.Actions = append(r.Actions, ReconcileAction{Kind: ReconcileReplace, Segment: f,
				Reason: fmt.Sprintf("entry [%d, %d] size %d crc32c %08x differs from the file: [%d, %d] size %d crc32c %08x",
					m.Base, m.Last, m.Size, m.CRC, f.Base, f.Last, f.Size, f.CRC)})
		case hasFile && !f.sameSegment(m):
			r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemMismatch, Base: m.Base,
				Detail: fmt.Sprintf("offloaded entry (size %d crc32c %08x) differs from the local file (size %d crc32c %08x)", m.Size, m.CRC, f.Size, f.CRC)})
		case m.State == SegmentUploading && hasFile:
			r.Actions = append(r.Actions, ReconcileAction{Kind: ReconcileResetUpload, Segment: m,
				Reason: "upload interrupted; upload again from the local file"})
		case m.State == SegmentUploading && hasObject:
			r.Actions = append(r.Actions, ReconcileAction{Kind: ReconcileMarkOffloaded, Segment: m,
				Reason: "object written, local copy gone: the object is the only copy"})
		case m.State == SegmentOffloaded && !hasObject && hasFile:
			r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemObjectMissing, Base: m.Base,
				Detail: fmt.Sprintf("object %q is missing; the local copy is still there", m.ObjectKey)})
		case hasFile, m.State == SegmentOffloaded && hasObject:
			// Agrees (an offloaded segment whose local copy was evicted, or not yet).
		case m.State == SegmentLocal && r.LogStartOffset >= 0 && m.Last < r.LogStartOffset:
			r.Actions = append(r.Actions, ReconcileAction{Kind: ReconcileRemove, Segment: m,
				Reason: fmt.Sprintf("below the log start offset %d: retention deleted the file", r.LogStartOffset)})
		default:
			detail := fmt.Sprintf("%s entry [%d, %d] has no local file", m.State, m.Base, m.Last)
			if m.ObjectKey != "" {
				detail += fmt.Sprintf(" and object %q is missing", m.ObjectKey)
			}
			r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemLost, Base: m.Base, Detail: detail})
		}
	}
	for _, base := range fileOrder {
		if inManifest[base] {
			continue
		}
		f := files[base]
		if i := slices.IndexFunc(manifest, func(m SegmentEntry) bool { return m.Base <= f.Last && f.Base <= m.Last }); i >= 0 {
			m := manifest[i]
			r.Problems = append(r.Problems, ReconcileProblem{Kind: ProblemOverlap, Base: base,
				Detail: fmt.Sprintf("file [%d, %d] overlaps the entry [%d, %d]", f.Base, f.Last, m.Base, m.Last)})
			continue
		}
		r.Actions = append(r.Actions, ReconcileAction{Kind: ReconcileAdd, Segment: f, Reason: "sealed file not in the manifest"})
	}
	return r, nil
}

// Apply proposes r's actions through c: removals first, then state
// changes, then additions in base order. Every step is idempotent (an entry
// already removed, a state already set, an identical entry already added),
// so Apply may be run again after a crash. Problems are not touched; see
// Err.
func (r ReconcileReport) Apply(ctx context.Context, c *Manifests) error {
	order := map[string]int{ReconcileRemove: 0, ReconcileReplace: 0, ReconcileResetUpload: 1, ReconcileMarkOffloaded: 1, ReconcileAdd: 2}
	acts := slices.Clone(r.Actions)
	slices.SortStableFunc(acts, func(a, b ReconcileAction) int {
		if d := order[a.Kind] - order[b.Kind]; d != 0 {
			return d
		}
		return int(min(max(a.Segment.Base-b.Segment.Base, -1), 1))
	})
	for _, a := range acts {
		var err error
		switch a.Kind {
		case ReconcileRemove:
			_, err = c.RemoveSegment(ctx, r.Topic, r.Partition, a.Segment.Base)
			if RejectedWith(err, RejectNotFound) {
				err = nil
			}
		case ReconcileReplace:
			_, err = c.RemoveSegment(ctx, r.Topic, r.Partition, a.Segment.Base)
			if err == nil || RejectedWith(err, RejectNotFound) {
				_, err = c.AddSegment(ctx, r.Topic, r.Partition, a.Segment)
			}
		case ReconcileResetUpload, ReconcileMarkOffloaded:
			state, key := SegmentLocal, ""
			if a.Kind == ReconcileMarkOffloaded {
				state, key = SegmentOffloaded, a.Segment.ObjectKey
			}
			_, err = c.SetState(ctx, r.Topic, r.Partition, a.Segment.Base, state, key)
			if RejectedWith(err, RejectConflict) {
				// The uploader, which runs beside a start-up
				// reconciliation, moved the entry on meanwhile (to
				// offloaded); the next reconciliation looks again.
				err = nil
			}
		case ReconcileAdd:
			_, err = c.AddSegment(ctx, r.Topic, r.Partition, a.Segment)
		default:
			err = fmt.Errorf("unknown action %q", a.Kind)
		}
		if err != nil {
			return fmt.Errorf("meta: reconcile %s-%d: %s segment %d: %w", r.Topic, r.Partition, a.Kind, a.Segment.Base, err)
		}
	}
	return nil
}

// ReconcileTopicsDir reconciles every segment partition directory under
// topicsDir (<data>/topics, named by logstore.PartitionDirName) and every
// partition the manifest holds without a directory, applying the actions
// through c. include (nil = all) selects the partitions to look at, for
// example only those of tiered topics. It returns one report per partition
// looked at, sorted by topic and partition; the error is for I/O and
// proposals only: each report's Err tells of lost or damaged segments,
// which the caller logs at error level.
func ReconcileTopicsDir(ctx context.Context, topicsDir string, c *Manifests, objectExists func(key string) bool,
	include func(topic string, partition int32) bool) ([]ReconcileReport, error) {
	if include == nil {
		include = func(string, int32) bool { return true }
	}
	all, err := c.All(ctx)
	if err != nil {
		return nil, err
	}
	manifests := map[TopicPartition][]SegmentEntry{}
	for _, pm := range all {
		manifests[TopicPartition{pm.Topic, pm.Partition}] = pm.Segments
	}
	seen := map[TopicPartition]bool{}
	entries, err := os.ReadDir(topicsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var parts []TopicPartition
	for _, de := range entries {
		if topic, p, ok := ParsePartitionDirName(de.Name()); ok && de.IsDir() {
			parts = append(parts, TopicPartition{topic, p})
			seen[TopicPartition{topic, p}] = true
		}
	}
	for tp := range manifests {
		if !seen[tp] {
			parts = append(parts, tp)
		}
	}
	slices.SortFunc(parts, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	var reports []ReconcileReport
	for _, tp := range parts {
		if !include(tp.Topic, tp.Partition) {
			continue
		}
		dir := filepath.Join(topicsDir, logstore.PartitionDirName(tp.Topic, tp.Partition))
		r, err := ReconcilePartition(dir, manifests[tp], objectExists)
		if err != nil {
			return reports, err
		}
		if err := r.Apply(ctx, c); err != nil {
			return reports, err
		}
		reports = append(reports, r)
	}
	return reports, nil
}
