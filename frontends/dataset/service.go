package dataset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"strata/cache"
	"strata/logstore"
	"strata/meta"
	"strata/tier"
)

// Options configure a Service.
type Options struct {
	// Datasets is meta's datasets shard (required).
	Datasets *meta.Datasets
	// Topics serves topic:NAME sources (nil: none).
	Topics *logstore.Store
	// OpenStore opens an object source's store (required for s3:// and
	// file:// sources).
	OpenStore StoreOpener
	// Cache is the template of each store's block cache (Store and
	// Registerer are set per store; an L2Dir gets one subdirectory per
	// store). Zero fields take cache's defaults.
	Cache cache.Options
	// ScanConcurrency bounds the footer reads of one registration
	// (default 64).
	ScanConcurrency int
	// LoadConcurrency bounds the shards of one window a reader loads at
	// once (default 8).
	LoadConcurrency int
	// TopicShardRecords is how many offsets of a partition make one shard
	// of a topic dataset (default 65536).
	TopicShardRecords int64
	// IdleWindowBytes bounds the decoded windows kept after their last
	// reader let go, for ranks that lag (default 512 MiB; evict the
	// oldest).
	IdleWindowBytes int64
	// Registerer takes the caches' metrics, labelled by store (nil: none).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock of CreatedMs and cursors' UpdatedMs (default time.Now).
	Now func() time.Time
}

// EnsureDefaults fills unset fields.
func (o *Options) EnsureDefaults() {
	if o.ScanConcurrency == 0 {
		o.ScanConcurrency = 64
	}
	if o.LoadConcurrency == 0 {
		o.LoadConcurrency = 8
	}
	if o.TopicShardRecords == 0 {
		o.TopicShardRecords = 1 << 16
	}
	if o.IdleWindowBytes == 0 {
		o.IdleWindowBytes = 512 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate checks the options after EnsureDefaults.
func (o *Options) Validate() error {
	switch {
	case o.Datasets == nil:
		return errors.New("dataset: options: no Datasets")
	case o.ScanConcurrency < 1 || o.LoadConcurrency < 1 || o.TopicShardRecords < 1 || o.IdleWindowBytes < 0:
		return fmt.Errorf("dataset: options: concurrency and shard sizes must be positive")
	}
	return nil
}

// Service registers datasets and reads them; Flight, HTTP and the CLI sit
// on top of it.
type Service struct {
	opts    Options
	stores  *stores
	windows *windows
	nextID  atomic.Uint64
}

// New returns a Service.
func New(opts Options) (*Service, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	open := opts.OpenStore
	if open == nil {
		open = func(context.Context, tier.Location) (tier.ObjectStore, error) {
			return nil, errors.New("this server opens no object stores")
		}
	}
	return &Service{opts: opts, stores: newStores(open, opts.Cache, opts.Registerer), windows: newWindows(opts.IdleWindowBytes)}, nil
}

// Close frees the shared windows and closes the stores' caches. Readers
// must be closed first.
func (s *Service) Close() error {
	s.windows.close()
	return s.stores.close()
}

// WindowLoads is how many windows have been loaded (decoded) so far: with
// the ranks of a job on this server, each window once.
func (s *Service) WindowLoads() int64 { return s.windows.loads.Load() }

// CacheStats returns the block cache statistics of the store a source
// reads through (false if it was not opened yet): the seam for benchmarks.
func (s *Service) CacheStats(source string) (cache.Stats, bool) {
	src, err := ParseSource(source)
	if err != nil || src.Topic != "" {
		return cache.Stats{}, false
	}
	s.stores.mu.Lock()
	defer s.stores.mu.Unlock()
	e, ok := s.stores.mu.m[src.storeKey()]
	if !ok {
		return cache.Stats{}, false
	}
	return e.cache.Stats(), true
}

// CreateRequest registers a dataset.
type CreateRequest struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Format string `json:"format"`
	// Replace an existing dataset of the name.
	Replace bool `json:"replace,omitempty"`
	// Strict refuses the registration if any object is bad, instead of
	// registering the good ones.
	Strict bool `json:"strict,omitempty"`
}

// Progress reports a registration's work: objects scanned of the total.
type Progress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// ShardError is an object the registrar could not use.
type ShardError struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

// CreateResult is a registration's outcome.
type CreateResult struct {
	Dataset meta.DatasetInfo `json:"dataset"`
	Created bool             `json:"created"`
	// Errors lists the objects left out (each a shard with no rows).
	Errors []ShardError `json:"errors,omitempty"`
	Took   string       `json:"took"`
}

// skipObject reports keys that are not part of a dataset: line indexes,
// directory markers, and hidden or underscore names (_SUCCESS, .crc files
// of Spark and Hive).
func skipObject(key string) bool {
	base := path.Base(key)
	return strings.HasSuffix(key, IndexSuffix) || strings.HasSuffix(key, "/") ||
		strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")
}

// Create registers a dataset: lists the source's objects and reads each
// one's footer (or builds its line index), ScanConcurrency at a time.
// progress (may be nil) is called as objects complete, from one goroutine
// at a time. An object that cannot be used (corrupt, vanished, another
// schema than the first good object's) becomes a shard with no rows and an
// Error; with Strict, or when no object is usable, the registration fails
// and nothing is stored.
func (s *Service) Create(ctx context.Context, req CreateRequest, progress func(Progress)) (CreateResult, error) {
	start := time.Now()
	var res CreateResult
	src, err := ParseSource(req.Source)
	if err != nil {
		return res, err
	}
	if !validName(req.Name) {
		return res, invalid("name", "%q is not a dataset name ([a-zA-Z0-9._-], at most 249)", req.Name)
	}
	if !req.Replace {
		if _, exists, err := s.opts.Datasets.Get(ctx, req.Name); err != nil {
			return res, err
		} else if exists {
			return res, fmt.Errorf("%w: dataset %q (delete it, or replace it)", ErrExists, req.Name)
		}
	}
	d := meta.Dataset{Name: req.Name, Source: req.Source, Format: req.Format, CreatedMs: s.opts.Now().UnixMilli()}
	var schema *arrow.Schema
	if src.Topic != "" {
		if req.Format != "" && req.Format != meta.FormatRaw {
			return res, invalid("format", "a topic source is read as records; leave --format out or say raw")
		}
		if s.opts.Topics == nil {
			return res, invalid("source", "this server has no topics")
		}
		d.Format = meta.FormatRaw
		if d.Shards, err = topicShards(s.opts.Topics, src.Topic, s.opts.TopicShardRecords); err != nil {
			return res, err
		}
		schema = TopicSchema
		if progress != nil {
			progress(Progress{Done: len(d.Shards), Total: len(d.Shards)})
		}
	} else {
		f, err := formatOf(req.Format)
		if err != nil {
			return res, err
		}
		e, err := s.stores.get(ctx, src)
		if err != nil {
			return res, err
		}
		objs, err := e.store.List(ctx, src.Prefix)
		if err != nil {
			return res, fmt.Errorf("dataset: list %s: %w", req.Source, err)
		}
		objs = slices.DeleteFunc(objs, func(o tier.ObjectInfo) bool { return skipObject(o.Key) })
		if len(objs) == 0 {
			return res, invalid("source", "%s holds no objects", req.Source)
		}
		d.Shards, schema, res.Errors = s.scan(ctx, f, e.store, objs, progress)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if schema == nil {
			return res, fmt.Errorf("%w: no usable object in %s (first: %s: %s)", ErrCorrupt, req.Source, res.Errors[0].Key, res.Errors[0].Error)
		}
		if req.Strict && len(res.Errors) > 0 {
			return res, fmt.Errorf("%w: %d of %d objects are bad (first: %s: %s); nothing registered",
				ErrCorrupt, len(res.Errors), len(objs), res.Errors[0].Key, res.Errors[0].Error)
		}
	}
	d.Schema = flight.SerializeSchema(schema, mem)
	created, err := s.opts.Datasets.Put(ctx, d, req.Replace)
	if err != nil {
		return res, err
	}
	res.Created = created
	res.Dataset = infoOf(d)
	res.Took = time.Since(start).Round(time.Millisecond).String()
	s.opts.Logger.Info("dataset registered", "name", d.Name, "source", d.Source, "format", d.Format,
		"shards", len(d.Shards), "rows", res.Dataset.Rows, "bad", len(res.Errors), "took", res.Took)
	return res, nil
}

func infoOf(d meta.Dataset) meta.DatasetInfo {
	info := meta.DatasetInfo{Name: d.Name, Source: d.Source, Format: d.Format, Shards: len(d.Shards), CreatedMs: d.CreatedMs}
	for _, sh := range d.Shards {
		info.Rows += sh.Rows
		info.Bytes += sh.Bytes
	}
	return info
}

// scan reads every object's footer, ScanConcurrency at a time, and decides
// the dataset's schema: the first usable object's in key order.
func (s *Service) scan(ctx context.Context, f objectFormat, st tier.ObjectStore, objs []tier.ObjectInfo, progress func(Progress)) ([]meta.DatasetShard, *arrow.Schema, []ShardError) {
	shards := make([]meta.DatasetShard, len(objs))
	schemas := make([]*arrow.Schema, len(objs))
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.ScanConcurrency)
	for i, o := range objs {
		g.Go(func() error {
			shards[i] = meta.DatasetShard{Key: o.Key, Bytes: o.Size}
			rows, sc, err := f.scan(gctx, st, o)
			if err != nil {
				shards[i].Error = describeErr(err)
			} else {
				shards[i].Rows, schemas[i] = rows, sc
			}
			mu.Lock()
			done++
			if progress != nil {
				progress(Progress{Done: done, Total: len(objs)})
			}
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	var ref *arrow.Schema
	refKey := ""
	var errs []ShardError
	_, isJSONL := f.(*jsonlFormat)
	for i := range shards {
		sc := schemas[i]
		// JSONL files each infer their own columns from their first lines;
		// the first file with lines decides, and later files' values must
		// fit its columns.
		if sc != nil && ref == nil && (!isJSONL || shards[i].Rows > 0) {
			ref, refKey = sc, shards[i].Key
		}
		if sc != nil && ref != nil && !isJSONL && !sc.Equal(ref) {
			shards[i].Rows = 0
			shards[i].Error = fmt.Sprintf("schema differs from %s's: %s, want %s", refKey, oneLine(sc), oneLine(ref))
		}
		if shards[i].Error != "" {
			errs = append(errs, ShardError{Key: shards[i].Key, Error: shards[i].Error})
		}
	}
	if ref == nil && isJSONL && len(errs) < len(shards) {
		ref = arrow.NewSchema(nil, nil) // only empty objects
	}
	return shards, ref, errs
}

func oneLine(sc *arrow.Schema) string {
	parts := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		parts[i] = f.Name + ": " + f.Type.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// describeErr is an object's error as registration records it.
func describeErr(err error) string {
	switch {
	case errors.Is(err, tier.ErrNotFound):
		return "missing: " + err.Error()
	case errors.Is(err, ErrCorrupt):
		return err.Error()
	}
	return "unreadable: " + err.Error()
}

func validName(n string) bool {
	if n == "" || len(n) > 249 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// List lists the datasets.
func (s *Service) List(ctx context.Context) ([]meta.DatasetInfo, error) {
	return s.opts.Datasets.List(ctx)
}

// Description is what describe shows of a dataset.
type Description struct {
	meta.DatasetInfo
	// Schema lists the fields, "name: type" each.
	Schema []string `json:"schema"`
	// Errors lists the objects registration left out.
	Errors []ShardError `json:"errors,omitempty"`
	// Shards lists every shard (describe --shards; nil otherwise).
	ShardList []meta.DatasetShard `json:"shard_list,omitempty"`
}

// Get returns a dataset and its schema; ErrNotFound if there is none.
func (s *Service) Get(ctx context.Context, name string) (meta.Dataset, *arrow.Schema, error) {
	d, ok, err := s.opts.Datasets.Get(ctx, name)
	if err != nil {
		return d, nil, err
	}
	if !ok {
		return d, nil, fmt.Errorf("%w: dataset %q", ErrNotFound, name)
	}
	sc, err := flight.DeserializeSchema(d.Schema, mem)
	if err != nil {
		return d, nil, fmt.Errorf("%w: dataset %q: stored schema: %v", ErrCorrupt, name, err)
	}
	return d, sc, nil
}

// Describe returns a dataset's description, with its shards if shards.
func (s *Service) Describe(ctx context.Context, name string, shards bool) (Description, error) {
	d, sc, err := s.Get(ctx, name)
	if err != nil {
		return Description{}, err
	}
	out := Description{DatasetInfo: infoOf(d)}
	for _, f := range sc.Fields() {
		out.Schema = append(out.Schema, f.Name+": "+f.Type.String())
	}
	for _, sh := range d.Shards {
		if sh.Error != "" {
			out.Errors = append(out.Errors, ShardError{Key: sh.Key, Error: sh.Error})
		}
	}
	if shards {
		out.ShardList = d.Shards
	}
	return out, nil
}

// Delete removes a dataset and its cursors. The line indexes of a JSONL
// dataset stay beside the data (another dataset may use them).
func (s *Service) Delete(ctx context.Context, name string) error {
	_, err := s.opts.Datasets.Delete(ctx, name)
	return err
}

// CommitCursor stores a training cursor.
func (s *Service) CommitCursor(ctx context.Context, c meta.Cursor, force bool) (meta.Cursor, error) {
	c.UpdatedMs = s.opts.Now().UnixMilli()
	if c.WorldSize == 0 {
		c.WorldSize = 1
	}
	return s.opts.Datasets.CommitCursor(ctx, c, force)
}

// GetCursor reads a training cursor back; ErrNotFound if there is none.
func (s *Service) GetCursor(ctx context.Context, name string) (meta.Cursor, error) {
	c, ok, err := s.opts.Datasets.GetCursor(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("%w: cursor %q", ErrNotFound, name)
	}
	return c, err
}
