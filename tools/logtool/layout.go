package logtool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"strata/logstore"
)

// segmentFile is one segment's files in a partition directory.
type segmentFile struct {
	Base      int64
	Log       string // path of the .log file
	Index     string // path of the .index file, "" if missing
	TimeIndex string // path of the .timeindex file, "" if missing
	Size      int64  // .log size
}

// partitionDir is one <topic>-<partition> directory.
type partitionDir struct {
	Topic     string
	Partition int32
	Dir       string
	Segments  []segmentFile
}

// listSegments finds the segments of a partition directory, ordered by base offset.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byBase := map[int64]*segmentFile{}
	for _, e := range entries {
		base, ext, ok := logstore.ParseSegmentFileName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		s := byBase[base]
		if s == nil {
			s = &segmentFile{Base: base}
			byBase[base] = s
		}
		p := filepath.Join(dir, e.Name())
		switch ext {
		case logstore.SegmentExt:
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			s.Log, s.Size = p, info.Size()
		case logstore.IndexExt:
			s.Index = p
		case logstore.TimeIndexExt:
			s.TimeIndex = p
		}
	}
	var out []segmentFile
	for _, s := range byBase {
		if s.Log == "" {
			continue // an index without its log is left over from a deletion; recovery removes it
		}
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b segmentFile) int { return int(min(max(a.Base-b.Base, -1), 1)) })
	return out, nil
}

// splitPartitionName splits "<topic>-<partition>" at the last dash.
func splitPartitionName(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, false
	}
	return name[:i], int32(p), true
}

// listPartitions finds every segment-engine partition under <data>/topics,
// ordered by topic then partition.
func listPartitions(dataDir string) ([]partitionDir, error) {
	info, err := os.Stat(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("data directory %s is not a directory", dataDir)
	}
	root := filepath.Join(dataDir, "topics")
	entries, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []partitionDir
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		topic, p, ok := splitPartitionName(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name())
		segs, err := listSegments(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, partitionDir{Topic: topic, Partition: p, Dir: dir, Segments: segs})
	}
	slices.SortFunc(out, func(a, b partitionDir) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out, nil
}

// scanFile runs logstore.ScanSegment over a .log file.
func scanFile(path string, fn func(pos int64, h logstore.BatchHeader, batch []byte) error) (base, validEnd, next int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	return logstore.ScanSegment(f, info.Size(), fn)
}
