package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/tier"
)

// Defaults applied by EnsureDefaults.
const (
	DefaultBlockSize           = 4 << 20
	DefaultL1Bytes             = 1 << 30
	DefaultL2Bytes             = 16 << 30
	DefaultPrefetchBytes       = 128 << 20
	DefaultPrefetchConcurrency = 8
	DefaultReadahead           = 4
	DefaultMaxObjects          = 1 << 16
	DefaultFetchTimeout        = 30 * time.Second

	// maxBlockSize caps a block so that its length fits the entry header's
	// uint32 and one block is never an unreasonable allocation.
	maxBlockSize = 1 << 30
)

// Options configures a Cache. Call EnsureDefaults, then Validate (Open does
// both).
type Options struct {
	// Store is the object tier the cache reads through (L3). Required.
	Store tier.ObjectStore
	// BlockSize is the unit of caching and fetching: reads are split into
	// block-aligned ranges of this many bytes (the last block of an object is
	// shorter). Default 4 MiB.
	BlockSize int64
	// L1Bytes bounds the memory level: the plan pool (PlanBytes) plus the
	// ristretto cache (the rest). Default 1 GiB.
	L1Bytes int64
	// PlanBytes is the share of L1Bytes kept for blocks that an active plan
	// will read again, evicted by Belady's rule. Default L1Bytes/2; equal to
	// L1Bytes leaves no ristretto cache (blocks no plan mentions are not kept
	// in memory); negative gives ristretto all of L1 (plans then only steer
	// prefetching).
	PlanBytes int64
	// L2Dir is the local-SSD directory of the second level; "" disables L2.
	L2Dir string
	// L2Bytes bounds the bytes of entry files in L2Dir. Default 16 GiB when
	// L2Dir is set.
	L2Bytes int64
	// PrefetchBytes bounds the bytes fetched ahead of readers (readahead and
	// plans together) that are in flight or fetched and not yet read.
	// Prefetched blocks are staged in memory, besides L1Bytes, until their
	// first read. Default 128 MiB; set DisablePrefetch to turn it off.
	PrefetchBytes int64
	// PrefetchConcurrency is the number of prefetch workers, so the most
	// store requests prefetching has in flight. Default 8.
	PrefetchConcurrency int
	// Readahead is how many blocks ahead of a sequential reader the cache
	// fetches. Default 4.
	Readahead int
	// DisablePrefetch turns off readahead and plan prefetching (plans still
	// steer eviction).
	DisablePrefetch bool
	// FetchTimeout bounds one store request (Head or a block's Get). A
	// fetch is shared by every reader of the block, so it runs under the
	// cache's context and this timeout, not under a reader's context; a
	// timed-out fetch fails with tier.ErrUnavailable. Default 30 s.
	FetchTimeout time.Duration
	// MaxObjects bounds the per-object state (size from Head, readahead
	// state). Full policy: drop an arbitrary object's state. Default 65536.
	MaxObjects int
	// Registerer, if set, receives the cache's metrics (strata_cache_*).
	Registerer prometheus.Registerer
	// Logger receives L2 recovery and corruption reports. Default
	// slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.L1Bytes == 0 {
		o.L1Bytes = DefaultL1Bytes
	}
	switch {
	case o.PlanBytes == 0:
		o.PlanBytes = o.L1Bytes / 2
	case o.PlanBytes < 0:
		o.PlanBytes = -1
	}
	if o.L2Dir != "" && o.L2Bytes == 0 {
		o.L2Bytes = DefaultL2Bytes
	}
	if o.PrefetchBytes == 0 {
		o.PrefetchBytes = DefaultPrefetchBytes
	}
	if o.PrefetchConcurrency == 0 {
		o.PrefetchConcurrency = DefaultPrefetchConcurrency
	}
	if o.Readahead == 0 {
		o.Readahead = DefaultReadahead
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxObjects == 0 {
		o.MaxObjects = DefaultMaxObjects
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports the first invalid field.
func (o *Options) Validate() error {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if o.BlockSize <= 0 || o.BlockSize > maxBlockSize {
		errs = append(errs, fmt.Errorf("BlockSize %d outside (0, %d]", o.BlockSize, maxBlockSize))
	}
	if o.L1Bytes < o.BlockSize {
		errs = append(errs, fmt.Errorf("L1Bytes %d smaller than one block (%d)", o.L1Bytes, o.BlockSize))
	}
	if o.PlanBytes < -1 || o.PlanBytes > o.L1Bytes {
		errs = append(errs, fmt.Errorf("PlanBytes %d outside [-1, L1Bytes=%d]", o.PlanBytes, o.L1Bytes))
	}
	if o.L2Dir != "" && o.L2Bytes < o.BlockSize {
		errs = append(errs, fmt.Errorf("L2Bytes %d smaller than one block (%d)", o.L2Bytes, o.BlockSize))
	}
	if o.PrefetchBytes < 0 {
		errs = append(errs, fmt.Errorf("PrefetchBytes %d negative", o.PrefetchBytes))
	}
	if o.PrefetchConcurrency < 1 || o.PrefetchConcurrency > 1024 {
		errs = append(errs, fmt.Errorf("PrefetchConcurrency %d outside [1, 1024]", o.PrefetchConcurrency))
	}
	if o.Readahead < 0 {
		errs = append(errs, fmt.Errorf("negative Readahead %d", o.Readahead))
	}
	if o.FetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("negative FetchTimeout %v", o.FetchTimeout))
	}
	if o.MaxObjects < 1 {
		errs = append(errs, fmt.Errorf("MaxObjects %d < 1", o.MaxObjects))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cache: options: %w", err)
	}
	return nil
}
