package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"strata/logstore"
)

// CatalogOptions configure a Catalog.
type CatalogOptions struct {
	// Timeout bounds each catalogue call (a proposal or a linearizable
	// read, with its retries); past it the call fails with ErrNoQuorum.
	// Default DefaultCatalogTimeout.
	Timeout time.Duration
	// SeqBlock is how many topic seqs one proposal reserves (default 64),
	// so that a topic create costs one proposal, not two.
	SeqBlock uint64
	// DropOnDelete makes Delete also forget what other shards hold about
	// the topic: its segment manifests (shard 3), every group's committed
	// offsets for it (shard 4) and its partition placements (shard 1).
	// The node whose Store proposes the delete does it, once per delete;
	// the other nodes only see the topic go (Store.Reconcile).
	DropOnDelete bool
	// Logger receives the failures of those drops (nil = slog.Default()).
	Logger *slog.Logger
}

// DefaultCatalogTimeout is CatalogOptions.Timeout's default.
const DefaultCatalogTimeout = 5 * time.Second

// EnsureDefaults fills zero fields with their defaults.
func (o *CatalogOptions) EnsureDefaults() {
	if o.Timeout == 0 {
		o.Timeout = DefaultCatalogTimeout
	}
	if o.SeqBlock == 0 {
		o.SeqBlock = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports options that cannot work.
func (o CatalogOptions) Validate() error {
	if o.Timeout < 0 {
		return fmt.Errorf("meta: CatalogOptions.Timeout %v is negative", o.Timeout)
	}
	if o.SeqBlock > maxSeqReservation {
		return fmt.Errorf("meta: CatalogOptions.SeqBlock %d is over %d", o.SeqBlock, maxSeqReservation)
	}
	return nil
}

// Catalog is logstore.Catalog over the topics shard: the Store's topic
// catalogue, replicated. It also implements logstore.TopicCreator, so that
// a create fails with ErrTopicExists when another node took the name and
// an alter fails with ErrUnknownTopic when another node deleted the topic.
type Catalog struct {
	p    Proposer
	opts CatalogOptions

	mu struct {
		sync.Mutex
		closed bool
		// [next, end) are seqs reserved by this Catalog and not handed
		// out yet; a restart skips them, which is allowed (never reused).
		next, end uint64
	}
}

var (
	_ logstore.Catalog      = (*Catalog)(nil)
	_ logstore.TopicCreator = (*Catalog)(nil)
)

// NewCatalog returns a Catalog that reaches the topics shard through p
// (a *Node).
func NewCatalog(p Proposer, opts CatalogOptions) (*Catalog, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Catalog{p: p, opts: opts}, nil
}

func (c *Catalog) context() (context.Context, context.CancelFunc, error) {
	c.mu.Lock()
	closed := c.mu.closed
	c.mu.Unlock()
	if closed {
		return nil, nil, logstore.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	return ctx, cancel, nil
}

// propose sends op with body and decodes the result into out.
func (c *Catalog) propose(op string, body, out any) error {
	ctx, cancel, err := c.context()
	if err != nil {
		return err
	}
	defer cancel()
	cmd, err := EncodeCommand(op, body)
	if err != nil {
		return err
	}
	res, err := c.p.Propose(ctx, ShardTopics, cmd)
	if err != nil {
		return err
	}
	return DecodeResult(res, out)
}

// Load returns every topic, sorted by name (a linearizable read).
func (c *Catalog) Load() ([]logstore.TopicMeta, error) {
	ctx, cancel, err := c.context()
	if err != nil {
		return nil, err
	}
	defer cancel()
	v, err := c.p.Read(ctx, ShardTopics, Query{Op: QueryTopicList})
	if err != nil {
		return nil, err
	}
	entries, ok := v.([]topicEntry)
	if !ok {
		return nil, fmt.Errorf("meta: topics list returned %T", v)
	}
	out := make([]logstore.TopicMeta, 0, len(entries))
	for _, e := range entries {
		m, err := e.meta()
		if err != nil {
			return nil, fmt.Errorf("meta: topic %q: %w", e.Name, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Create adds a new topic; ErrTopicExists if the name is taken.
func (c *Catalog) Create(t logstore.TopicMeta) error {
	return mapTopicError(t.Name, c.propose(OpTopicCreate, entryFromMeta(t), nil))
}

// Replace replaces the entry of an existing topic with the same ID;
// ErrUnknownTopic if it is gone or the name now belongs to another topic.
func (c *Catalog) Replace(t logstore.TopicMeta) error {
	return mapTopicError(t.Name, c.propose(OpTopicPut, entryFromMeta(t), nil))
}

// Put creates or replaces a topic's entry (logstore.Catalog's contract):
// a replace, or a create if the name is free. The Store calls Create and
// Replace instead, which say which one it means.
func (c *Catalog) Put(t logstore.TopicMeta) error {
	err := c.Replace(t)
	if errors.Is(err, logstore.ErrUnknownTopic) {
		if _, exists := c.get(t.Name); !exists {
			return c.Create(t)
		}
	}
	return err
}

func (c *Catalog) get(name string) (topicEntry, bool) {
	ctx, cancel, err := c.context()
	if err != nil {
		return topicEntry{}, false
	}
	defer cancel()
	q, err := NewQuery(QueryTopicGet, map[string]string{"name": name})
	if err != nil {
		return topicEntry{}, false
	}
	v, err := c.p.Read(ctx, ShardTopics, q)
	if err != nil {
		return topicEntry{}, false
	}
	e, ok := v.(topicEntry)
	return e, ok
}

// Delete removes a topic's entry; a missing topic is not an error. With
// DropOnDelete it then drops the topic's manifests, offsets and
// placements (also when the entry was gone already: a retried delete
// finishes what a crash interrupted).
func (c *Catalog) Delete(name string) error {
	err := c.propose(OpTopicDelete, map[string]string{"name": name}, nil)
	if isRejection(err, RejectNotFound) {
		err = nil
	}
	if err != nil {
		return mapTopicError(name, err)
	}
	if c.opts.DropOnDelete {
		c.dropTopic(name)
	}
	return nil
}

// dropTopic forgets a deleted topic in the other shards. The topic is
// deleted whatever happens here, so a failure is logged, not returned:
// leftovers are inert (no topic reads them) until a topic of the same name
// is created, and a repeated delete of that name drops them.
func (c *Catalog) dropTopic(name string) {
	ctx, cancel, err := c.context()
	if err != nil {
		return
	}
	defer cancel()
	log := c.opts.Logger.With("topic", name)
	if n, err := NewManifests(c.p).DropTopic(ctx, name); err != nil {
		log.Error("meta: deleted topic: dropping its segment manifests failed", "err", err)
	} else if n > 0 {
		log.Info("meta: deleted topic: segment manifests dropped", "segments", n)
	}
	if n, err := NewGroups(c.p).DropTopic(ctx, name); err != nil {
		log.Error("meta: deleted topic: dropping its committed offsets failed", "err", err)
	} else if n > 0 {
		log.Info("meta: deleted topic: committed offsets dropped", "offsets", n)
	}
	if err := NewCluster(c.p).DeletePlacements(ctx, name); err != nil && !isRejection(err, RejectNotFound) {
		log.Error("meta: deleted topic: dropping its placements failed", "err", err)
	}
}

// NextSeq returns a seq never returned before, from a block reserved with
// one proposal.
func (c *Catalog) NextSeq() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return 0, logstore.ErrClosed
	}
	if c.mu.next >= c.mu.end {
		var res struct {
			First uint64 `json:"first"`
		}
		// Proposing under mu serialises reservations; creates are
		// serialised by the Store's admin lock anyway.
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		defer cancel()
		cmd, err := EncodeCommand(OpTopicNextSeq, map[string]uint64{"count": c.opts.SeqBlock})
		if err != nil {
			return 0, err
		}
		r, err := c.p.Propose(ctx, ShardTopics, cmd)
		if err != nil {
			return 0, err
		}
		if err := DecodeResult(r, &res); err != nil {
			return 0, err
		}
		c.mu.next, c.mu.end = res.First, res.First+c.opts.SeqBlock
	}
	seq := c.mu.next
	c.mu.next++
	return seq, nil
}

// Close makes further calls fail with logstore.ErrClosed. The Node is the
// caller's to close.
func (c *Catalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	return nil
}

// mapTopicError turns topics-machine rejections into logstore's errors.
func mapTopicError(name string, err error) error {
	var rej *Rejection
	if !errors.As(err, &rej) {
		return err
	}
	switch rej.Code {
	case RejectExists:
		return fmt.Errorf("%w: %q", logstore.ErrTopicExists, name)
	case RejectNotFound, RejectConflict:
		return fmt.Errorf("%w: %q (%s)", logstore.ErrUnknownTopic, name, rej.Message)
	case RejectInvalid:
		return fmt.Errorf("%w: %s", logstore.ErrInvalidTopic, rej.Message)
	}
	return err
}

// ImportedSuffix is appended to catalog.json once ImportFile moved its
// topics into meta.
const ImportedSuffix = ".imported"

// ImportFile migrates the interim file catalogue: if dir holds
// catalog.json (logstore.FileCatalog), its topics and next seq go into the
// topics shard in one proposal, which the machine accepts only while it is
// empty, and the file is renamed catalog.json.imported. It returns how
// many topics were imported. If meta already holds topics, the file is
// left where it is (and logged), unless meta holds every topic of the file
// with the same ID: then a previous import was cut short before the rename,
// and the rename is done now.
func (c *Catalog) ImportFile(fs vfs.FS, dir string, log *slog.Logger) (int, error) {
	if fs == nil {
		fs = vfs.Default
	}
	path := fs.PathJoin(dir, logstore.CatalogFileName)
	if _, err := fs.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("meta: import %s: %w", path, err)
	}
	fc, err := logstore.OpenFileCatalog(fs, dir)
	if err != nil {
		return 0, fmt.Errorf("meta: import: %w", err)
	}
	metas, err := fc.Load()
	var next uint64
	if err == nil {
		next, err = fc.NextSeq()
	}
	fc.Close()
	if err != nil {
		return 0, fmt.Errorf("meta: import %s: %w", path, err)
	}
	st := topicsState{NextSeq: next, Topics: make([]topicEntry, 0, len(metas))}
	for _, m := range metas {
		st.Topics = append(st.Topics, entryFromMeta(m))
	}
	var res struct {
		Imported int `json:"imported"`
	}
	err = c.propose(OpTopicImport, st, &res)
	switch {
	case err == nil:
		log.Info("meta: imported the file catalogue into meta", "file", path, "topics", res.Imported, "next_seq", next)
	case isRejection(err, RejectExists):
		have, lerr := c.Load()
		if lerr != nil {
			return 0, fmt.Errorf("meta: import %s: %w", path, lerr)
		}
		ids := make(map[string][16]byte, len(have))
		for _, m := range have {
			ids[m.Name] = m.ID
		}
		for _, m := range metas {
			if id, ok := ids[m.Name]; !ok || id != m.ID {
				log.Warn("meta: not importing the file catalogue: meta holds other topics already; the file is left in place",
					"file", path, "file_topics", len(metas), "meta_topics", len(have))
				return 0, nil
			}
		}
		log.Info("meta: the file catalogue was imported before; renaming it", "file", path)
	default:
		return 0, fmt.Errorf("meta: import %s: %w", path, err)
	}
	if err := fs.Rename(path, path+ImportedSuffix); err != nil {
		return 0, fmt.Errorf("meta: import: rename %s: %w", path, err)
	}
	if d, err := fs.OpenDir(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return res.Imported, nil
}
