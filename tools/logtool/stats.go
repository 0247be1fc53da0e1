package logtool

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"strata/logstore"
)

// PartitionStats describes one partition's files.
type PartitionStats struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Mode and Engine come from the catalogue; a partition directory the
	// catalogue does not name (a deleted topic's leftovers) shows mode "?".
	Mode     string `json:"mode"`
	Engine   string `json:"engine"`
	Segments int    `json:"segments"`
	Bytes    int64  `json:"bytes"`
	// StartOffset is the log start offset: the base of the oldest segment on
	// disk, or the checkpointed log start offset if DeleteRecords or
	// retention moved it higher. -1 when the data is not in segment files
	// (lite and memory engines).
	StartOffset int64 `json:"start_offset"`
	// NextOffset is the offset after the last whole batch on disk, -1 when
	// the data is not in segment files.
	NextOffset int64 `json:"next_offset"`
	Batches    int64 `json:"batches"`
}

// Stats is what `strata log stats` reports.
type Stats struct {
	Partitions []PartitionStats `json:"partitions"`
	// LiteBytes is the size of the lite engine's pebble database.
	LiteBytes int64 `json:"lite_bytes"`
}

// StatsOptions says where topic configs come from.
type StatsOptions struct {
	// Server, if set, is a running strata's HTTP address: topic modes and
	// engines, and the offsets of lite and memory partitions (which live in
	// the pebble database or in RAM, not in files), come from its admin API.
	// Without it, a data directory from before meta existed still has its
	// catalog.json; a newer one keeps topics in raft (<data>/meta), which a
	// tool cannot read offline, so mode and engine show as "?".
	Server string
}

// CollectStats walks dataDir. For each segment partition it reads batch
// headers only (hopping by length), so it is fast even on large logs; use
// Verify to check CRCs.
func CollectStats(dataDir string, opts StatsOptions, progressOut io.Writer) (Stats, error) {
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
	topics, err := loadTopics(dataDir, opts.Server)
	if err != nil {
		return st, err
	}
	bar := newProgress(progressOut, total, "stats")
	defer bar.finish()
	seen := map[string]bool{}
	for _, p := range parts {
		ps := PartitionStats{Topic: p.Topic, Partition: p.Partition, Mode: "?", Engine: logstore.EngineSegment, Segments: len(p.Segments)}
		if cfg, ok := topics[p.Topic]; ok {
			ps.Mode, ps.Engine = cfg.mode, cfg.engine
		}
		seen[logstore.PartitionDirName(p.Topic, p.Partition)] = true
		for i, s := range p.Segments {
			if i == 0 {
				ps.StartOffset, ps.NextOffset = s.Base, s.Base
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
		if cp, err := logstore.ReadCheckpoint(vfs.Default, p.Dir); err == nil {
			ps.StartOffset = max(ps.StartOffset, cp.LogStartOffset)
		}
		st.Partitions = append(st.Partitions, ps)
	}
	// Partitions whose data is not in segment files: lite (in the pebble
	// database) and memory (in RAM only).
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		cfg := topics[name]
		for p := int32(0); p < cfg.partitions; p++ {
			if seen[logstore.PartitionDirName(name, p)] {
				continue
			}
			ps := PartitionStats{Topic: name, Partition: p, Mode: cfg.mode, Engine: cfg.engine, StartOffset: -1, NextOffset: -1}
			if live, ok := cfg.live[p]; ok {
				ps.StartOffset, ps.NextOffset, ps.Bytes, ps.Batches = live.LogStartOffset, live.HighWatermark, live.Bytes, live.Batches
			}
			st.Partitions = append(st.Partitions, ps)
		}
	}
	slices.SortStableFunc(st.Partitions, func(a, b PartitionStats) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
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

type catalogTopic struct {
	mode, engine string
	partitions   int32
	live         map[int32]livePartition // from the server, when asked
}

type livePartition struct {
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	Bytes          int64 `json:"bytes"`
	Batches        int64 `json:"batches"`
	Partition      int32 `json:"partition"`
}

// loadTopics returns topic configs from the server when one is named, else
// from a pre-meta catalog.json.
func loadTopics(dataDir, server string) (map[string]catalogTopic, error) {
	if server != "" {
		return fetchTopics(server)
	}
	return loadCatalog(dataDir)
}

// fetchTopics reads GET /api/v1/topics from a running server.
func fetchTopics(server string) (map[string]catalogTopic, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	url := strings.TrimRight(server, "/") + "/api/v1/topics"
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("reading topics from %s: %w (is `strata serve` running there?)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("reading topics from %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var list struct {
		Topics []struct {
			Name       string            `json:"name"`
			Partitions int32             `json:"partitions"`
			Configs    map[string]string `json:"configs"`
			Stats      []livePartition   `json:"partition_stats"`
		} `json:"topics"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("reading topics from %s: %w", url, err)
	}
	out := map[string]catalogTopic{}
	for _, t := range list.Topics {
		ct := catalogTopic{mode: t.Configs[logstore.KeyStorageMode], engine: t.Configs[logstore.KeyStorageEngine], partitions: t.Partitions, live: map[int32]livePartition{}}
		for _, p := range t.Stats {
			ct.live[p.Partition] = p
		}
		out[t.Name] = ct
	}
	return out, nil
}

// loadCatalog reads the topic catalogue, if the data directory has one.
func loadCatalog(dataDir string) (map[string]catalogTopic, error) {
	out := map[string]catalogTopic{}
	if _, err := os.Stat(filepath.Join(dataDir, logstore.CatalogFileName)); err != nil {
		return out, nil
	}
	cat, err := logstore.OpenFileCatalog(vfs.Default, dataDir)
	if err != nil {
		return nil, err
	}
	defer cat.Close()
	metas, err := cat.Load()
	if err != nil {
		return nil, err
	}
	for _, m := range metas {
		cfg, err := logstore.ParseTopicConfig(m.Configs)
		if err != nil {
			return nil, fmt.Errorf("catalogue topic %s: %w", m.Name, err)
		}
		out[m.Name] = catalogTopic{mode: cfg.Mode, engine: cfg.Engine, partitions: m.Partitions}
	}
	return out, nil
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
