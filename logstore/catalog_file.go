package logstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Catalogue file (<data>/catalog.json). JSON so that an operator can read
// it; the magic and version fields make it self-describing like every other
// durable file (doc.go, invariant 5):
//
//	{
//	  "magic": "strata-catalog",
//	  "version": 1,
//	  "next_seq": 65,
//	  "topics": [ {"name": "orders", "id": [16 bytes], "seq": 1, "partitions": 3,
//	               "configs": {"retention.ms": "3600000"}, "created_at": "..."} ]
//	}
const (
	CatalogFileName    = "catalog.json"
	catalogMagic       = "strata-catalog"
	catalogVersion     = 1
	catalogTempSuffix  = ".tmp"
	maxCatalogFileSize = 1 << 30
)

// catalogFile is the on-disk form of the catalogue.
type catalogFile struct {
	Magic   string      `json:"magic"`
	Version int         `json:"version"`
	NextSeq uint64      `json:"next_seq"`
	Topics  []TopicMeta `json:"topics"`
}

// FileCatalog implements Catalog with one JSON file in the data directory,
// replaced atomically on every change: write a temp file, fsync it, rename it
// over catalog.json, fsync the directory. A crash leaves either the old or
// the new file, never a mix; a stray temp file is ignored and overwritten.
//
// Every change rewrites the whole file, so a change costs O(topics). That is
// fine for thousands of topics; the meta package (Dragonboat) replaces this
// catalogue before millions of lite topics are created one by one.
type FileCatalog struct {
	fs   vfs.FS
	dir  string
	path string

	mu struct {
		sync.Mutex
		closed bool
		// nextSeq is the next seq to hand out; reserved is the next_seq
		// on disk. Seqs in [nextSeq, reserved) are handed out without a
		// write; a crash skips them, which is allowed (never reused).
		nextSeq, reserved uint64
		topics            map[string]TopicMeta
	}
}

// catalogSeqBlock is how many seqs one catalogue write reserves, so that a
// topic create costs one write (the entry), not two.
const catalogSeqBlock = 64

var _ Catalog = (*FileCatalog)(nil)

// OpenFileCatalog opens (or creates, empty) the catalogue in dir.
func OpenFileCatalog(fs vfs.FS, dir string) (*FileCatalog, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: catalogue: %w", err)
	}
	c := &FileCatalog{fs: fs, dir: dir, path: fs.PathJoin(dir, CatalogFileName)}
	c.mu.topics = make(map[string]TopicMeta)
	c.mu.nextSeq, c.mu.reserved = 1, 1
	data, err := storeReadFile(fs, c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("logstore: catalogue %s: %w", c.path, err)
	}
	cf, err := decodeCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	c.mu.nextSeq, c.mu.reserved = cf.NextSeq, cf.NextSeq
	for _, t := range cf.Topics {
		c.mu.topics[t.Name] = t
	}
	return c, nil
}

// Load returns every topic, sorted by name.
func (c *FileCatalog) Load() ([]TopicMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, ErrClosed
	}
	out := make([]TopicMeta, 0, len(c.mu.topics))
	for _, name := range slices.Sorted(maps.Keys(c.mu.topics)) {
		out = append(out, cloneMeta(c.mu.topics[name]))
	}
	return out, nil
}

// Put creates or replaces a topic's entry and returns once it is durable.
func (c *FileCatalog) Put(t TopicMeta) error {
	if err := ValidateTopicName(t.Name); err != nil {
		return err
	}
	if t.Partitions <= 0 {
		return fmt.Errorf("%w: %d", ErrInvalidPartitions, t.Partitions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	old, had := c.mu.topics[t.Name]
	oldNext, oldReserved := c.mu.nextSeq, c.mu.reserved
	c.mu.topics[t.Name] = cloneMeta(t)
	if t.Seq >= c.mu.nextSeq {
		// A caller-chosen seq (meta replay, tests) must never be handed out again.
		c.mu.nextSeq = t.Seq + 1
		c.mu.reserved = max(c.mu.reserved, c.mu.nextSeq)
	}
	if err := c.writeLocked(); err != nil {
		c.mu.nextSeq, c.mu.reserved = oldNext, oldReserved
		if had {
			c.mu.topics[t.Name] = old
		} else {
			delete(c.mu.topics, t.Name)
		}
		return err
	}
	return nil
}

// Delete removes a topic's entry durably. A missing topic is not an error.
func (c *FileCatalog) Delete(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	old, had := c.mu.topics[name]
	if !had {
		return nil
	}
	delete(c.mu.topics, name)
	if err := c.writeLocked(); err != nil {
		c.mu.topics[name] = old
		return err
	}
	return nil
}

// NextSeq returns a sequence number never returned before. Seqs are
// reserved on disk in blocks of catalogSeqBlock before they are handed out,
// so a crash can skip seqs but never hand one out twice.
func (c *FileCatalog) NextSeq() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return 0, ErrClosed
	}
	if c.mu.nextSeq >= c.mu.reserved {
		old := c.mu.reserved
		c.mu.reserved = c.mu.nextSeq + catalogSeqBlock
		if err := c.writeLocked(); err != nil {
			c.mu.reserved = old
			return 0, err
		}
	}
	seq := c.mu.nextSeq
	c.mu.nextSeq++
	return seq, nil
}

// Close makes further calls fail with ErrClosed. Every change is already
// durable, so there is nothing to flush.
func (c *FileCatalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	return nil
}

// Path is the catalogue file's path.
func (c *FileCatalog) Path() string { return c.path }

func (c *FileCatalog) writeLocked() error {
	cf := catalogFile{Magic: catalogMagic, Version: catalogVersion, NextSeq: c.mu.reserved, Topics: make([]TopicMeta, 0, len(c.mu.topics))}
	for _, name := range slices.Sorted(maps.Keys(c.mu.topics)) {
		cf.Topics = append(cf.Topics, c.mu.topics[name])
	}
	data, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return fmt.Errorf("logstore: catalogue: %w", err)
	}
	data = append(data, '\n')
	if err := storeWriteFileAtomic(c.fs, c.path, data); err != nil {
		return fmt.Errorf("logstore: catalogue %s: %w", c.path, err)
	}
	return nil
}

// decodeCatalog parses and checks a catalogue file. Every failure wraps
// ErrCorrupt: the file is ours, so anything unexpected means damage.
func decodeCatalog(data []byte) (catalogFile, error) {
	var cf catalogFile
	if len(data) > maxCatalogFileSize {
		return cf, fmt.Errorf("%w: catalogue is %d bytes, more than %d", ErrCorrupt, len(data), maxCatalogFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return cf, fmt.Errorf("%w: catalogue is not valid JSON: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return cf, fmt.Errorf("%w: catalogue has data after the JSON object", ErrCorrupt)
	}
	if cf.Magic != catalogMagic {
		return cf, fmt.Errorf("%w: catalogue magic is %q, want %q", ErrCorrupt, cf.Magic, catalogMagic)
	}
	if cf.Version != catalogVersion {
		return cf, fmt.Errorf("%w: catalogue version %d is not supported (want %d)", ErrCorrupt, cf.Version, catalogVersion)
	}
	if cf.NextSeq == 0 {
		return cf, fmt.Errorf("%w: catalogue next_seq is 0", ErrCorrupt)
	}
	names := make(map[string]bool, len(cf.Topics))
	seqs := make(map[uint64]string, len(cf.Topics))
	for i, t := range cf.Topics {
		if err := ValidateTopicName(t.Name); err != nil {
			return cf, fmt.Errorf("%w: catalogue topic %d: %v", ErrCorrupt, i, err)
		}
		if names[t.Name] {
			return cf, fmt.Errorf("%w: catalogue lists topic %q twice", ErrCorrupt, t.Name)
		}
		names[t.Name] = true
		if t.Partitions <= 0 {
			return cf, fmt.Errorf("%w: catalogue topic %q has %d partitions", ErrCorrupt, t.Name, t.Partitions)
		}
		if t.Seq == 0 || t.Seq >= cf.NextSeq {
			return cf, fmt.Errorf("%w: catalogue topic %q has seq %d outside [1, next_seq %d)", ErrCorrupt, t.Name, t.Seq, cf.NextSeq)
		}
		if other, dup := seqs[t.Seq]; dup {
			return cf, fmt.Errorf("%w: catalogue topics %q and %q share seq %d", ErrCorrupt, other, t.Name, t.Seq)
		}
		seqs[t.Seq] = t.Name
		if _, err := ParseTopicConfig(t.Configs); err != nil {
			return cf, fmt.Errorf("%w: catalogue topic %q: %v", ErrCorrupt, t.Name, err)
		}
	}
	return cf, nil
}

func cloneMeta(t TopicMeta) TopicMeta {
	t.Configs = maps.Clone(t.Configs)
	return t
}
