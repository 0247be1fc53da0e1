package cache

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Levels, as metric labels and counter indexes.
const (
	levelL1 = iota // memory: the plan pool and ristretto
	levelL2        // local SSD directory
	levelL3        // object store
	numLevels
)

var levelNames = [numLevels]string{"l1", "l2", "store"}

// counters are the cache's counters; Stats copies them and the Prometheus
// collectors read them.
type counters struct {
	hits       [numLevels]atomic.Int64 // reads served by the level (L3: store fetches)
	misses     [numLevels]atomic.Int64 // lookups the level could not serve (L1, L2)
	bytes      [numLevels]atomic.Int64 // bytes served by the level
	evictions  [numLevels]atomic.Int64 // L1: ristretto evictions and rejections
	planEvicts atomic.Int64

	prefetchIssued  atomic.Int64
	prefetchUsed    atomic.Int64
	prefetchWasted  atomic.Int64
	prefetchDropped atomic.Int64

	l2Corrupt      atomic.Int64
	l2WriteDropped atomic.Int64
	l2Resident     atomic.Int64
	planResident   atomic.Int64
	storeGets      atomic.Int64
}

// Stats is a snapshot of the cache's counters.
type Stats struct {
	L1Hits, L1Misses, L2Hits, L2Misses int64
	// StoreFetches counts blocks fetched from the object store, demand and
	// prefetch together; StoreGets counts the ranged Gets sent, failed ones
	// included.
	StoreFetches, StoreGets       int64
	L1BytesRead, L2BytesRead      int64
	StoreBytesRead                int64
	L1Evictions, PlanEvictions    int64
	L2Evictions                   int64
	PrefetchIssued, PrefetchUsed  int64
	PrefetchWasted                int64
	PrefetchDropped               int64
	L2Corrupt, L2WritesDropped    int64
	PlanResidentBytes, L2Resident int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		L1Hits:            c.hits[levelL1].Load(),
		L1Misses:          c.misses[levelL1].Load(),
		L2Hits:            c.hits[levelL2].Load(),
		L2Misses:          c.misses[levelL2].Load(),
		StoreFetches:      c.hits[levelL3].Load(),
		StoreGets:         c.storeGets.Load(),
		L1BytesRead:       c.bytes[levelL1].Load(),
		L2BytesRead:       c.bytes[levelL2].Load(),
		StoreBytesRead:    c.bytes[levelL3].Load(),
		L1Evictions:       c.evictions[levelL1].Load(),
		PlanEvictions:     c.planEvicts.Load(),
		L2Evictions:       c.evictions[levelL2].Load(),
		PrefetchIssued:    c.prefetchIssued.Load(),
		PrefetchUsed:      c.prefetchUsed.Load(),
		PrefetchWasted:    c.prefetchWasted.Load(),
		PrefetchDropped:   c.prefetchDropped.Load(),
		L2Corrupt:         c.l2Corrupt.Load(),
		L2WritesDropped:   c.l2WriteDropped.Load(),
		PlanResidentBytes: c.planResident.Load(),
		L2Resident:        c.l2Resident.Load(),
	}
}

// metrics holds the Prometheus side: collectors over counters, and the
// fetch latency histograms.
type metrics struct {
	collectors []prometheus.Collector
	fetch      *prometheus.HistogramVec // by level: l2, store
}

func newMetrics(c *counters) *metrics {
	m := &metrics{
		fetch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_cache_fetch_seconds",
			Help:    "Latency of one block fetch from a cache level (l2: read and verify the entry file; store: ranged Get).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"level"}),
	}
	m.collectors = append(m.collectors, m.fetch)
	counter := func(name, help string, labels prometheus.Labels, v *atomic.Int64) {
		m.collectors = append(m.collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) }))
	}
	gauge := func(name, help string, labels prometheus.Labels, v *atomic.Int64) {
		m.collectors = append(m.collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) }))
	}
	for lv := range numLevels {
		l := prometheus.Labels{"level": levelNames[lv]}
		counter("strata_cache_hits_total", "Block reads served by the level (store: blocks fetched).", l, &c.hits[lv])
		counter("strata_cache_bytes_total", "Bytes of the blocks served by the level.", l, &c.bytes[lv])
		if lv != levelL3 {
			counter("strata_cache_misses_total", "Block lookups the level could not serve.", l, &c.misses[lv])
			counter("strata_cache_evictions_total", "Blocks evicted from the level.", l, &c.evictions[lv])
		}
	}
	counter("strata_cache_evictions_total", "Blocks evicted from the level.", prometheus.Labels{"level": "plan"}, &c.planEvicts)
	counter("strata_cache_prefetch_issued_total", "Blocks fetched ahead of readers (readahead and plans).", nil, &c.prefetchIssued)
	counter("strata_cache_prefetch_used_total", "Prefetched blocks later read.", nil, &c.prefetchUsed)
	counter("strata_cache_prefetch_wasted_total", "Prefetched blocks evicted, skipped or invalidated before being read.", nil, &c.prefetchWasted)
	counter("strata_cache_prefetch_dropped_total", "Prefetch requests dropped because the prefetch queue was full.", nil, &c.prefetchDropped)
	counter("strata_cache_l2_corrupt_total", "L2 entries dropped as torn or corrupt.", nil, &c.l2Corrupt)
	counter("strata_cache_l2_writes_dropped_total", "L2 writes dropped because the write queue was full.", nil, &c.l2WriteDropped)
	counter("strata_cache_store_gets_total", "Ranged Gets sent to the object store.", nil, &c.storeGets)
	gauge("strata_cache_resident_bytes", "Bytes held by the level.", prometheus.Labels{"level": "plan"}, &c.planResident)
	gauge("strata_cache_resident_bytes", "Bytes held by the level.", prometheus.Labels{"level": "l2"}, &c.l2Resident)
	return m
}

// register registers every collector, undoing on failure.
func (m *metrics) register(r prometheus.Registerer) error {
	for i, col := range m.collectors {
		if err := r.Register(col); err != nil {
			for _, done := range m.collectors[:i] {
				r.Unregister(done)
			}
			return err
		}
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, col := range m.collectors {
		r.Unregister(col)
	}
}
