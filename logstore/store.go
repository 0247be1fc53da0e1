package logstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Data directory layout owned by the Store:
//
//	<data>/LOCK                         held while a Store is open (one process per data dir)
//	<data>/catalog.json                 the FileCatalog (when no other Catalog is given)
//	<data>/meta/                        not the Store's: strata serve's meta node, whose Catalog it uses
//	<data>/topics/<topic>-<partition>/  segment and hybrid partitions
//	<data>/lite/                        the pebble database of every lite topic
const (
	StoreLockFileName = "LOCK"
	TopicsDirName     = "topics"
	LiteDirName       = "lite"
)

// DefaultRetentionCheckInterval is how often the Store applies retention,
// Kafka's log.retention.check.interval.ms default.
const DefaultRetentionCheckInterval = 5 * time.Minute

// MaxTopicPartitions caps a topic's partition count, so that a typo in a
// request cannot ask for a billion partition directories.
const MaxTopicPartitions = 100_000

// StoreOptions configure a Store.
type StoreOptions struct {
	// Dir is the data directory, created if missing.
	Dir string
	// FS is the file system (nil = vfs.Default); tests pass vfs.NewMem().
	FS vfs.FS
	// Catalog persists topic metadata. nil = a FileCatalog in Dir, which
	// the Store closes; a Catalog passed in is the caller's to close.
	Catalog Catalog
	// Offloader receives sealed segments (nil = NopOffloader{}).
	Offloader Offloader
	// Remote reads offloaded segments of tiered topics (the block cache
	// over the object store). nil: local copies are never evicted.
	Remote RemoteReader
	// Logger for the store and its logs (nil = slog.Default()).
	Logger *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// RetentionCheckInterval is how often retention runs on every log
	// (0 = DefaultRetentionCheckInterval).
	RetentionCheckInterval time.Duration
	// Registerer, if set, receives the store's metrics (strata_ prefix).
	Registerer prometheus.Registerer
}

// EnsureDefaults fills zero fields with their defaults.
func (o *StoreOptions) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Offloader == nil {
		o.Offloader = NopOffloader{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RetentionCheckInterval == 0 {
		o.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
}

// Validate reports options that cannot work.
func (o StoreOptions) Validate() error {
	if o.Dir == "" {
		return errors.New("logstore: StoreOptions.Dir is empty")
	}
	if o.RetentionCheckInterval < 0 {
		return fmt.Errorf("logstore: StoreOptions.RetentionCheckInterval %v is negative", o.RetentionCheckInterval)
	}
	return nil
}

// TopicInfo describes a topic: its catalogue entry, effective config and a
// snapshot of every partition's stats.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
	// Config is the effective config: defaults plus Overrides.
	Config TopicConfig
	// Overrides are the keys set explicitly at create or alter time.
	Overrides      map[string]string
	CreatedAt      time.Time
	PartitionStats []LogStats
}

// IDString formats the topic ID as a UUID (8-4-4-4-12 hex).
func (t TopicInfo) IDString() string { return FormatTopicID(t.ID) }

// FormatTopicID formats a topic ID as a UUID (8-4-4-4-12 hex).
func FormatTopicID(id [16]byte) string {
	const hexdig = "0123456789abcdef"
	var b strings.Builder
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b.WriteByte('-')
		}
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&0xf])
	}
	return b.String()
}

// PartitionDirName is the directory name of a segment or hybrid partition
// under <data>/topics. The partition follows the last '-', so names that
// contain '-' stay unambiguous.
func PartitionDirName(topic string, partition int32) string {
	return topic + "-" + strconv.FormatInt(int64(partition), 10)
}

// Store owns the topics of one data directory: it keeps the catalogue, opens
// each partition's Log with the engine its config names, and applies
// retention in the background. When other writers share the catalogue (the
// meta catalogue of a cluster), Reconcile brings the open topics in line
// with it, and a Catalog that implements TopicCreator tells creates from
// replaces (store_reconcile.go).
//
// Concurrency: admin serializes every change to the set of topics (create,
// delete, alter, add partitions, close) and is held across the I/O those
// changes do. mu guards the published topic map; readers (Partition,
// Topics) take it briefly and never wait for admin I/O. Lock order: admin,
// then mu. A published storeTopic is never mutated: a change builds a new
// one and swaps the pointer.
type Store struct {
	opts       StoreOptions
	fs         vfs.FS
	log        *slog.Logger
	catalog    Catalog
	ownCatalog bool
	lock       io.Closer
	metrics    *storeMetrics

	stopRetention chan struct{}
	retentionDone chan struct{}

	admin sync.Mutex
	// lite is the shared pebble database, opened on first use; guarded by admin.
	lite *LiteDB

	mu struct {
		sync.RWMutex
		closed bool
		topics map[string]*storeTopic
	}
}

// storeTopic is one topic as published to readers; immutable once published.
type storeTopic struct {
	meta TopicMeta
	cfg  TopicConfig
	logs []Log
}

// OpenStore opens the data directory: it takes the directory lock, loads
// the catalogue and opens every partition of every topic (running each
// engine's recovery) before it returns. Memory topics come back empty.
func OpenStore(opts StoreOptions) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		opts:          opts,
		fs:            opts.FS,
		log:           opts.Logger,
		catalog:       opts.Catalog,
		stopRetention: make(chan struct{}),
		retentionDone: make(chan struct{}),
	}
	s.mu.topics = make(map[string]*storeTopic)
	if err := s.fs.MkdirAll(s.fs.PathJoin(opts.Dir, TopicsDirName), 0o755); err != nil {
		return nil, fmt.Errorf("logstore: data dir %s: %w", opts.Dir, err)
	}
	lock, err := s.fs.Lock(s.fs.PathJoin(opts.Dir, StoreLockFileName))
	if err != nil {
		return nil, fmt.Errorf("logstore: cannot lock data dir %s (is another strata using it?): %w", opts.Dir, err)
	}
	s.lock = lock
	if s.catalog == nil {
		fc, err := OpenFileCatalog(s.fs, opts.Dir)
		if err != nil {
			s.lock.Close()
			return nil, err
		}
		s.catalog, s.ownCatalog = fc, true
	}
	s.metrics = newStoreMetrics(s)
	if err := s.load(); err != nil {
		s.closeAll()
		return nil, err
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.metrics); err != nil {
			s.closeAll()
			return nil, fmt.Errorf("logstore: register metrics: %w", err)
		}
	}
	go s.retentionLoop()
	return s, nil
}

// storeOpenParallelism bounds how many partitions open (and recover) at
// once when the store opens, like Kafka's num.recovery.threads.per.data.dir:
// recovery is mostly waiting on the disk, and partitions are independent.
const storeOpenParallelism = 8

// load opens every catalogued topic and warns about partition directories
// that no topic owns.
func (s *Store) load() error {
	metas, err := s.catalog.Load()
	if err != nil {
		return fmt.Errorf("logstore: load catalogue: %w", err)
	}
	type job struct {
		t *storeTopic
		p int32
	}
	var jobs []job
	owned := make(map[string]bool)
	for _, m := range metas {
		cfg, err := ParseTopicConfig(m.Configs)
		if err != nil {
			return fmt.Errorf("logstore: topic %q in the catalogue: %w", m.Name, err)
		}
		if cfg.Engine == EngineLite {
			// Open the shared database before the workers need it.
			if _, err := s.liteDB(); err != nil {
				return err
			}
		}
		t := &storeTopic{meta: m, cfg: cfg, logs: make([]Log, m.Partitions)}
		s.mu.topics[m.Name] = t
		for p := range m.Partitions {
			jobs = append(jobs, job{t, p})
			if usesPartitionDir(cfg) {
				owned[PartitionDirName(m.Name, p)] = true
			}
		}
	}

	work := make(chan job)
	var wg sync.WaitGroup
	var firstErr struct {
		sync.Mutex
		err error
	}
	for range min(storeOpenParallelism, len(jobs)) {
		wg.Go(func() {
			for j := range work {
				l, err := s.openLogNamed(j.t, j.p)
				if err != nil {
					firstErr.Lock()
					if firstErr.err == nil {
						firstErr.err = err
					}
					firstErr.Unlock()
					continue
				}
				j.t.logs[j.p] = l // each job owns its slot
			}
		})
	}
	for _, j := range jobs {
		firstErr.Lock()
		failed := firstErr.err != nil
		firstErr.Unlock()
		if failed {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if firstErr.err != nil {
		// closeAll closes what did open.
		for _, t := range s.mu.topics {
			t.logs = slices.DeleteFunc(t.logs, func(l Log) bool { return l == nil })
		}
		return firstErr.err
	}

	names, err := s.fs.List(s.topicsDir())
	if err != nil {
		return fmt.Errorf("logstore: list %s: %w", s.topicsDir(), err)
	}
	for _, n := range names {
		if !owned[n] {
			s.log.Warn("logstore: partition directory belongs to no topic; it is left alone, and removed if a topic of that name is created",
				"dir", s.fs.PathJoin(s.topicsDir(), n))
		}
	}
	s.log.Info("logstore: store open", "dir", s.opts.Dir, "topics", len(metas), "partitions", len(jobs))
	return nil
}

func (s *Store) topicsDir() string { return s.fs.PathJoin(s.opts.Dir, TopicsDirName) }

func (s *Store) partitionDir(topic string, p int32) string {
	return s.fs.PathJoin(s.topicsDir(), PartitionDirName(topic, p))
}

// CreateTopic creates a topic with the given partition count and config
// overrides (validated with ParseTopicConfig).
//
// Crash safety: the catalogue entry is written first, then the partitions
// are opened. A crash in between leaves a catalogued topic whose partitions
// are created empty when the store next opens, never an uncatalogued one.
func (s *Store) CreateTopic(name string, partitions int32, configs map[string]string) (TopicInfo, error) {
	if err := ValidateTopicName(name); err != nil {
		return TopicInfo{}, err
	}
	if err := validatePartitionCount(partitions); err != nil {
		return TopicInfo{}, err
	}
	cfg, err := ParseTopicConfig(configs)
	if err != nil {
		return TopicInfo{}, err
	}
	s.admin.Lock()
	defer s.admin.Unlock()
	if _, err := s.lookup(name); err == nil {
		return TopicInfo{}, fmt.Errorf("%w: %q", ErrTopicExists, name)
	} else if !errors.Is(err, ErrUnknownTopic) {
		return TopicInfo{}, err
	}
	seq, err := s.catalog.NextSeq()
	if err != nil {
		return TopicInfo{}, fmt.Errorf("logstore: create topic %q: %w", name, err)
	}
	meta := TopicMeta{Name: name, Seq: seq, Partitions: partitions, Configs: maps.Clone(configs), CreatedAt: s.opts.Now().UTC()}
	if len(meta.Configs) == 0 {
		meta.Configs = nil
	}
	meta.ID = newTopicID()
	t := &storeTopic{meta: meta, cfg: cfg}
	// A directory of this name can only be left over from outside the
	// catalogue's knowledge (a lost catalogue, a copied directory); a new
	// topic has a new ID and must start empty.
	s.removeStaleDirs(t, 0, partitions)
	if err := s.catalogCreate(meta); err != nil {
		return TopicInfo{}, fmt.Errorf("logstore: create topic %q: %w", name, err)
	}
	t.logs, err = s.openLogs(t, 0, partitions)
	if err != nil {
		s.discardData(t, 0, partitions)
		if derr := s.catalog.Delete(name); derr != nil {
			err = errors.Join(err, fmt.Errorf("logstore: roll back catalogue entry: %w", derr))
		}
		return TopicInfo{}, err
	}
	s.publish(t)
	s.log.Info("logstore: topic created", "topic", name, "partitions", partitions, "mode", cfg.Mode, "engine", cfg.Engine)
	return t.info(), nil
}

// DeleteTopic closes the topic's logs, removes their data (files, or lite
// keys) and then the catalogue entry.
//
// Crash safety: data goes before the catalogue entry, so a crash midway
// leaves a catalogued topic with fewer records (it reopens, and the delete
// can be repeated), never data that a later topic of the same name would
// inherit.
func (s *Store) DeleteTopic(name string) error {
	s.admin.Lock()
	defer s.admin.Unlock()
	t, err := s.lookup(name)
	if err != nil {
		return err
	}
	s.unpublish(name)
	for p, l := range t.logs {
		// A failed final flush does not matter: the data is being deleted.
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Warn("logstore: closing a partition of a deleted topic", "topic", name, "partition", p, "err", err)
		}
	}
	if err := s.removeData(t, 0, t.meta.Partitions); err != nil {
		return s.republish(t, fmt.Errorf("logstore: delete topic %q: %w", name, err))
	}
	if err := s.catalog.Delete(name); err != nil {
		// The data is gone but the entry stays: show the topic (empty) so
		// that the delete can be retried, as it would be after a restart.
		return s.republish(t, fmt.Errorf("logstore: delete topic %q: %w", name, err))
	}
	s.log.Info("logstore: topic deleted", "topic", name)
	return nil
}

// discardData removes what a failed create left of partitions [from, to),
// so that it is not reported as a stray directory; their logs are closed.
func (s *Store) discardData(t *storeTopic, from, to int32) {
	if err := s.removeData(t, from, to); err != nil {
		s.log.Warn("logstore: removing the partitions of a failed create", "topic", t.meta.Name, "err", err)
	}
}

// republish reopens the logs of a topic whose delete failed, so that it
// stays usable and the delete can be retried; it returns cause, joined with
// any reopen failure.
func (s *Store) republish(t *storeTopic, cause error) error {
	logs, err := s.openLogs(t, 0, t.meta.Partitions)
	if err != nil {
		s.log.Error("logstore: reopen after a failed delete; the topic is back after a restart", "topic", t.meta.Name, "err", err)
		return errors.Join(cause, fmt.Errorf("logstore: reopen after failed delete: %w", err))
	}
	s.publish(&storeTopic{meta: t.meta, cfg: t.cfg, logs: logs})
	return cause
}

// AlterTopicConfig sets and removes config overrides (removing a key goes
// back to its default) and applies the result to every open log. An unknown
// key, a bad value, or a change of storage.mode or storage.engine is
// ErrInvalidConfig and changes nothing.
func (s *Store) AlterTopicConfig(name string, set map[string]string, remove []string) (TopicInfo, error) {
	s.admin.Lock()
	defer s.admin.Unlock()
	t, err := s.lookup(name)
	if err != nil {
		return TopicInfo{}, err
	}
	overrides := maps.Clone(t.meta.Configs)
	if overrides == nil {
		overrides = make(map[string]string)
	}
	known := ConfigKeys()
	for _, k := range remove {
		if !slices.Contains(known, k) {
			return TopicInfo{}, fmt.Errorf("%w: unknown key %q (known: %s)", ErrInvalidConfig, k, strings.Join(known, ", "))
		}
		if _, both := set[k]; both {
			return TopicInfo{}, fmt.Errorf("%w: %s is both set and removed", ErrInvalidConfig, k)
		}
		delete(overrides, k)
	}
	maps.Copy(overrides, set)
	cfg, err := ParseTopicConfig(overrides)
	if err != nil {
		return TopicInfo{}, err
	}
	if cfg.Mode != t.cfg.Mode {
		return TopicInfo{}, fmt.Errorf("%w: %s cannot change after creation (%s -> %s)", ErrInvalidConfig, KeyStorageMode, t.cfg.Mode, cfg.Mode)
	}
	if cfg.Engine != t.cfg.Engine {
		return TopicInfo{}, fmt.Errorf("%w: %s cannot change after creation (%s -> %s)", ErrInvalidConfig, KeyStorageEngine, t.cfg.Engine, cfg.Engine)
	}
	meta := t.meta
	meta.Configs = overrides
	if len(overrides) == 0 {
		meta.Configs = nil
	}
	// The catalogue is the truth: store first, so a failed Reconfigure is
	// still applied when the log is next opened.
	if err := s.catalogReplace(meta); err != nil {
		return TopicInfo{}, fmt.Errorf("logstore: alter topic %q: %w", name, err)
	}
	nt := &storeTopic{meta: meta, cfg: cfg, logs: t.logs}
	s.publish(nt)
	var errs []error
	for p, l := range t.logs {
		if err := l.Reconfigure(cfg); err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return nt.info(), fmt.Errorf("logstore: alter topic %q: %w", name, errors.Join(errs...))
	}
	s.log.Info("logstore: topic config altered", "topic", name, "set", set, "removed", remove)
	return nt.info(), nil
}

// CreatePartitions grows a topic to total partitions (Kafka's
// CreatePartitions: the count only grows). The catalogue entry is written
// first, as in CreateTopic.
func (s *Store) CreatePartitions(name string, total int32) (TopicInfo, error) {
	if err := validatePartitionCount(total); err != nil {
		return TopicInfo{}, err
	}
	s.admin.Lock()
	defer s.admin.Unlock()
	t, err := s.lookup(name)
	if err != nil {
		return TopicInfo{}, err
	}
	old := t.meta.Partitions
	if total <= old {
		return TopicInfo{}, fmt.Errorf("%w: topic %q has %d partitions; the count can only grow (asked for %d)", ErrInvalidPartitions, name, old, total)
	}
	meta := t.meta
	meta.Partitions = total
	nt := &storeTopic{meta: meta, cfg: t.cfg}
	s.removeStaleDirs(nt, old, total)
	if err := s.catalogReplace(meta); err != nil {
		return TopicInfo{}, fmt.Errorf("logstore: create partitions of %q: %w", name, err)
	}
	added, err := s.openLogs(nt, old, total)
	if err != nil {
		s.discardData(nt, old, total)
		if perr := s.catalogReplace(t.meta); perr != nil {
			err = errors.Join(err, fmt.Errorf("logstore: roll back catalogue entry: %w", perr))
		}
		return TopicInfo{}, err
	}
	nt.logs = append(slices.Clone(t.logs), added...)
	s.publish(nt)
	s.log.Info("logstore: partitions created", "topic", name, "from", old, "to", total)
	return nt.info(), nil
}

// Topics describes every topic, sorted by name.
func (s *Store) Topics() []TopicInfo {
	s.mu.RLock()
	ts := make([]*storeTopic, 0, len(s.mu.topics))
	for _, t := range s.mu.topics {
		ts = append(ts, t)
	}
	s.mu.RUnlock()
	slices.SortFunc(ts, func(a, b *storeTopic) int { return strings.Compare(a.meta.Name, b.meta.Name) })
	out := make([]TopicInfo, len(ts))
	for i, t := range ts {
		out[i] = t.info()
	}
	return out
}

// Topic describes one topic.
func (s *Store) Topic(name string) (TopicInfo, error) {
	t, err := s.lookup(name)
	if err != nil {
		return TopicInfo{}, err
	}
	return t.info(), nil
}

// Partition returns a partition's Log. The Log stays valid until the topic
// is deleted or the store closed; after that its methods return ErrClosed.
func (s *Store) Partition(name string, p int32) (Log, error) {
	t, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if p < 0 || int(p) >= len(t.logs) {
		return nil, fmt.Errorf("%w: topic %q has %d partitions, asked for partition %d", ErrUnknownPartition, name, len(t.logs), p)
	}
	return t.logs[p], nil
}

// Sync makes every appended batch of every log durable.
func (s *Store) Sync() error {
	var errs []error
	for _, t := range s.snapshot() {
		for p, l := range t.logs {
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				errs = append(errs, fmt.Errorf("logstore: sync %s: %w", PartitionDirName(t.meta.Name, int32(p)), err))
			}
		}
	}
	return errors.Join(errs...)
}

// RunRetention applies retention to every log once, now. The background
// loop calls it every RetentionCheckInterval.
func (s *Store) RunRetention() error {
	now := s.opts.Now().UnixMilli()
	var errs []error
	for _, t := range s.snapshot() {
		for p, l := range t.logs {
			before := l.LogStartOffset()
			lso, err := l.ApplyRetention(now)
			switch {
			case errors.Is(err, ErrClosed):
				// Deleted while we ran; nothing to retain.
			case err != nil:
				s.metrics.retentionErrors.Inc()
				errs = append(errs, fmt.Errorf("logstore: retention on %s: %w", PartitionDirName(t.meta.Name, int32(p)), err))
			case lso > before:
				s.log.Debug("logstore: retention", "topic", t.meta.Name, "partition", p, "log_start_offset", lso)
			}
		}
	}
	s.metrics.retentionRuns.Inc()
	return errors.Join(errs...)
}

// Close stops the retention loop, flushes and closes every log, then the
// lite database, the catalogue (if the store opened it) and the directory
// lock. Further calls return ErrClosed.
func (s *Store) Close() error {
	s.admin.Lock()
	defer s.admin.Unlock()
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.mu.closed = true
	s.mu.Unlock()
	close(s.stopRetention)
	<-s.retentionDone
	if s.opts.Registerer != nil {
		s.opts.Registerer.Unregister(s.metrics)
	}
	return s.closeAll()
}

// closeAll releases everything the store holds; used by Close and by a
// failed OpenStore.
func (s *Store) closeAll() error {
	var errs []error
	s.mu.Lock()
	topics := s.mu.topics
	s.mu.topics = map[string]*storeTopic{}
	s.mu.closed = true
	s.mu.Unlock()
	for _, t := range topics {
		for _, l := range t.logs {
			if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	if s.lite != nil {
		if err := s.lite.Close(); err != nil {
			errs = append(errs, err)
		}
		s.lite = nil
	}
	if s.ownCatalog && s.catalog != nil {
		if err := s.catalog.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.lock != nil {
		if err := s.lock.Close(); err != nil {
			errs = append(errs, err)
		}
		s.lock = nil
	}
	return errors.Join(errs...)
}

func (s *Store) retentionLoop() {
	defer close(s.retentionDone)
	tick := time.NewTicker(s.opts.RetentionCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopRetention:
			return
		case <-tick.C:
			if err := s.RunRetention(); err != nil {
				s.log.Error("logstore: retention failed", "err", err)
			}
		}
	}
}

func (s *Store) lookup(name string) (*storeTopic, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return nil, ErrClosed
	}
	t, ok := s.mu.topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	return t, nil
}

func (s *Store) snapshot() []*storeTopic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*storeTopic, 0, len(s.mu.topics))
	for _, t := range s.mu.topics {
		out = append(out, t)
	}
	return out
}

func (s *Store) publish(t *storeTopic) {
	s.mu.Lock()
	s.mu.topics[t.meta.Name] = t
	s.mu.Unlock()
}

func (s *Store) unpublish(name string) {
	s.mu.Lock()
	delete(s.mu.topics, name)
	s.mu.Unlock()
}

// openLogs opens partitions [from, to) of t; on failure it closes the ones
// it opened and leaves their data.
func (s *Store) openLogs(t *storeTopic, from, to int32) ([]Log, error) {
	logs := make([]Log, 0, to-from)
	for p := from; p < to; p++ {
		l, err := s.openLogNamed(t, p)
		if err != nil {
			for _, l := range logs {
				l.Close()
			}
			return nil, err
		}
		logs = append(logs, l)
	}
	return logs, nil
}

// openLogNamed opens one partition, metered, with an error that names it.
func (s *Store) openLogNamed(t *storeTopic, p int32) (Log, error) {
	l, err := s.openLog(t, p)
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s (%s/%s): %w", PartitionDirName(t.meta.Name, p), t.cfg.Mode, t.cfg.Engine, err)
	}
	return &meteredLog{Log: l, m: s.metrics}, nil
}

// removeStaleDirs removes partition directories [from, to) of t that exist
// before the partitions are created.
func (s *Store) removeStaleDirs(t *storeTopic, from, to int32) {
	if !usesPartitionDir(t.cfg) {
		return
	}
	for p := from; p < to; p++ {
		dir := s.partitionDir(t.meta.Name, p)
		if _, err := s.fs.Stat(dir); err != nil {
			continue
		}
		s.log.Warn("logstore: removing a partition directory that no topic owned", "dir", dir)
		if err := s.fs.RemoveAll(dir); err != nil {
			s.log.Error("logstore: remove stale partition directory", "dir", dir, "err", err)
		}
	}
}

func validatePartitionCount(n int32) error {
	if n < 1 || n > MaxTopicPartitions {
		return fmt.Errorf("%w: %d, want 1 to %d", ErrInvalidPartitions, n, MaxTopicPartitions)
	}
	return nil
}

// newTopicID returns a random (version 4) UUID, as Kafka gives topics.
func newTopicID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

func (t *storeTopic) info() TopicInfo {
	info := TopicInfo{
		Name:           t.meta.Name,
		ID:             t.meta.ID,
		Partitions:     t.meta.Partitions,
		Config:         t.cfg,
		Overrides:      maps.Clone(t.meta.Configs),
		CreatedAt:      t.meta.CreatedAt,
		PartitionStats: make([]LogStats, len(t.logs)),
	}
	if info.Overrides == nil {
		info.Overrides = map[string]string{}
	}
	for i, l := range t.logs {
		info.PartitionStats[i] = l.Stats()
	}
	return info
}
