package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/cache"
	"strata/tier"
)

// Source is a parsed dataset source.
type Source struct {
	// Topic is the topic of a "topic:NAME" source ("" otherwise).
	Topic string
	// Loc is the store of an object source: an s3 bucket (no prefix) or a
	// file directory. Datasets over one bucket share its store and cache.
	Loc tier.Location
	// Prefix is the key prefix of the dataset's objects in Loc ("" for a
	// directory: every object under it).
	Prefix string
}

// ParseSource parses "s3://bucket/prefix", "file:///dir" or "topic:NAME".
func ParseSource(s string) (Source, error) {
	if name, ok := strings.CutPrefix(s, "topic:"); ok {
		if name == "" {
			return Source{}, invalid("source", "topic: needs a topic name")
		}
		return Source{Topic: name}, nil
	}
	if !strings.HasPrefix(s, "s3://") && !strings.HasPrefix(s, "file://") {
		return Source{}, invalid("source", "%q is not s3://bucket/prefix, file:///dir or topic:NAME", s)
	}
	loc, err := tier.ParseURL(s)
	if err != nil {
		return Source{}, invalid("source", "%v", err)
	}
	src := Source{Loc: loc}
	if loc.Scheme == "s3" {
		src.Prefix, src.Loc.Prefix = loc.Prefix, ""
	}
	if loc.Scheme == "file" && !filepath.IsAbs(loc.Dir) {
		return Source{}, invalid("source", "%q: the directory must be absolute (file:///dir)", s)
	}
	return src, nil
}

// storeKey names the store (and cache) a source reads through.
func (s Source) storeKey() string { return s.Loc.String() }

// StoreOpener opens the object store of an s3 location (a bucket);
// cmd/strata passes tier.Open with the AWS chain's settings. file://
// sources are read as plain files (plainDir) without it.
type StoreOpener func(ctx context.Context, loc tier.Location) (tier.ObjectStore, error)

// stores opens one store and one block cache per location, on first use,
// and keeps them until Close.
type stores struct {
	open     StoreOpener
	template cache.Options
	reg      prometheus.Registerer
	mu       struct {
		sync.Mutex
		m map[string]*storeEntry
	}
}

type storeEntry struct {
	store tier.ObjectStore
	cache *cache.Cache
}

func newStores(open StoreOpener, template cache.Options, reg prometheus.Registerer) *stores {
	s := &stores{open: open, template: template, reg: reg}
	s.mu.m = map[string]*storeEntry{}
	return s
}

// get returns the store and cache of src, opening them on first use.
func (s *stores) get(ctx context.Context, src Source) (*storeEntry, error) {
	key := src.storeKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.mu.m[key]; ok {
		return e, nil
	}
	var st tier.ObjectStore
	var err error
	if src.Loc.Scheme == "file" {
		st, err = newPlainDir(src.Loc.Dir)
	} else {
		st, err = s.open(ctx, src.Loc)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", key, err)
	}
	opts := s.template
	opts.Store = tier.WithRetry(st, tier.RetryOptions{MaxAttempts: 5, Timeout: 30 * time.Second})
	if opts.L2Dir != "" {
		sum := sha256.Sum256([]byte(key))
		opts.L2Dir = filepath.Join(opts.L2Dir, hex.EncodeToString(sum[:8]))
	}
	if s.reg != nil {
		// The tier's cache has the same metric names without a store
		// label, so dataset caches' metrics are dataset_strata_cache_*.
		opts.Registerer = prometheus.WrapRegistererWithPrefix("dataset_",
			prometheus.WrapRegistererWith(prometheus.Labels{"store": key}, s.reg))
	}
	c, err := cache.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("dataset: cache for %s: %w", key, err)
	}
	e := &storeEntry{store: opts.Store, cache: c}
	s.mu.m[key] = e
	return e, nil
}

func (s *stores) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for k, e := range s.mu.m {
		if err := e.cache.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.mu.m, k)
	}
	return first
}
