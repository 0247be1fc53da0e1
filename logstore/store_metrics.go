package logstore

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// storeMetrics is the Store's Prometheus collector. Sizes and offsets are
// read from each log's Stats at scrape time (no bookkeeping on the append
// path); append and read traffic are counters bumped by meteredLog.
//
// Per-partition series (strata_log_*{topic,partition,engine}) are exported
// for every engine except lite: a node may hold a million lite topics, and
// four series each would swamp Prometheus. Lite partitions, like all
// others, are counted in the per-engine totals strata_engine_*{engine}.
type storeMetrics struct {
	s *Store

	topics, partitions                 *prometheus.Desc
	logBytes, logHW, logStart, logSegs *prometheus.Desc
	remoteBytes, remoteSegs            *prometheus.Desc
	remoteReads, evictions             *prometheus.Desc
	engineParts, engineBytes           *prometheus.Desc

	appendBatches, appendRecords, appendBytes, appendErrors prometheus.Counter
	readBytes, readErrors                                   prometheus.Counter
	retentionRuns, retentionErrors                          prometheus.Counter
}

var _ prometheus.Collector = (*storeMetrics)(nil)

func newStoreMetrics(s *Store) *storeMetrics {
	part := []string{"topic", "partition", "engine"}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "strata", Subsystem: "log", Name: name, Help: help})
	}
	return &storeMetrics{
		s:               s,
		topics:          prometheus.NewDesc("strata_topics", "Number of topics.", nil, nil),
		partitions:      prometheus.NewDesc("strata_partitions", "Number of partitions over all topics.", nil, nil),
		logBytes:        prometheus.NewDesc("strata_log_bytes", "Stored batch bytes of a partition.", part, nil),
		logHW:           prometheus.NewDesc("strata_log_high_watermark", "High watermark (next offset) of a partition.", part, nil),
		logStart:        prometheus.NewDesc("strata_log_start_offset", "Log start offset of a partition.", part, nil),
		logSegs:         prometheus.NewDesc("strata_log_segments", "Segment files of a partition (0 for engines without segments).", part, nil),
		remoteBytes:     prometheus.NewDesc("strata_log_remote_bytes", "Batch bytes of a tiered partition whose local copies were evicted (read from the object tier).", part, nil),
		remoteSegs:      prometheus.NewDesc("strata_log_remote_segments", "Segments of a tiered partition whose local copies were evicted.", part, nil),
		remoteReads:     prometheus.NewDesc("strata_log_remote_reads_total", "Reads of a tiered partition served from the object tier through the cache.", part, nil),
		evictions:       prometheus.NewDesc("strata_log_evictions_total", "Local copies of offloaded segments evicted.", part, nil),
		engineParts:     prometheus.NewDesc("strata_engine_partitions", "Partitions per engine.", []string{"engine"}, nil),
		engineBytes:     prometheus.NewDesc("strata_engine_log_bytes", "Stored batch bytes per engine.", []string{"engine"}, nil),
		appendBatches:   counter("append_batches_total", "Record batches appended."),
		appendRecords:   counter("append_records_total", "Records appended."),
		appendBytes:     counter("append_bytes_total", "Batch bytes appended."),
		appendErrors:    counter("append_errors_total", "Appends that failed."),
		readBytes:       counter("read_bytes_total", "Batch bytes returned by reads."),
		readErrors:      counter("read_errors_total", "Reads that failed (out-of-range included)."),
		retentionRuns:   counter("retention_runs_total", "Retention passes over every log."),
		retentionErrors: counter("retention_errors_total", "Logs whose retention pass failed."),
	}
}

func (m *storeMetrics) counters() []prometheus.Counter {
	return []prometheus.Counter{m.appendBatches, m.appendRecords, m.appendBytes, m.appendErrors, m.readBytes, m.readErrors, m.retentionRuns, m.retentionErrors}
}

// Describe implements prometheus.Collector.
func (m *storeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.topics, m.partitions, m.logBytes, m.logHW, m.logStart, m.logSegs, m.remoteBytes, m.remoteSegs, m.remoteReads, m.evictions, m.engineParts, m.engineBytes} {
		ch <- d
	}
	for _, c := range m.counters() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *storeMetrics) Collect(ch chan<- prometheus.Metric) {
	topics := m.s.snapshot()
	partitions := 0
	type engineTotal struct{ partitions, bytes int64 }
	engines := map[string]*engineTotal{}
	for _, t := range topics {
		partitions += len(t.logs)
		for p, l := range t.logs {
			st := l.Stats()
			et := engines[st.Engine]
			if et == nil {
				et = &engineTotal{}
				engines[st.Engine] = et
			}
			et.partitions++
			et.bytes += st.Bytes
			if st.Engine == EngineLite {
				continue
			}
			labels := []string{t.meta.Name, strconv.Itoa(p), st.Engine}
			ch <- prometheus.MustNewConstMetric(m.logBytes, prometheus.GaugeValue, float64(st.Bytes), labels...)
			ch <- prometheus.MustNewConstMetric(m.logHW, prometheus.GaugeValue, float64(st.HighWatermark), labels...)
			ch <- prometheus.MustNewConstMetric(m.logStart, prometheus.GaugeValue, float64(st.LogStartOffset), labels...)
			ch <- prometheus.MustNewConstMetric(m.logSegs, prometheus.GaugeValue, float64(st.Segments), labels...)
			if st.RemoteSegments > 0 || st.Evictions > 0 {
				ch <- prometheus.MustNewConstMetric(m.remoteBytes, prometheus.GaugeValue, float64(st.RemoteBytes), labels...)
				ch <- prometheus.MustNewConstMetric(m.remoteSegs, prometheus.GaugeValue, float64(st.RemoteSegments), labels...)
				ch <- prometheus.MustNewConstMetric(m.remoteReads, prometheus.CounterValue, float64(st.RemoteReads), labels...)
				ch <- prometheus.MustNewConstMetric(m.evictions, prometheus.CounterValue, float64(st.Evictions), labels...)
			}
		}
	}
	for engine, et := range engines {
		ch <- prometheus.MustNewConstMetric(m.engineParts, prometheus.GaugeValue, float64(et.partitions), engine)
		ch <- prometheus.MustNewConstMetric(m.engineBytes, prometheus.GaugeValue, float64(et.bytes), engine)
	}
	ch <- prometheus.MustNewConstMetric(m.topics, prometheus.GaugeValue, float64(len(topics)))
	ch <- prometheus.MustNewConstMetric(m.partitions, prometheus.GaugeValue, float64(partitions))
	for _, c := range m.counters() {
		c.Collect(ch)
	}
}

// meteredLog counts a log's traffic for the store's metrics; every other
// method goes straight to the engine.
type meteredLog struct {
	Log
	m *storeMetrics
}

// Append counts what the engine accepted.
func (l *meteredLog) Append(batches []byte) (AppendResult, error) {
	res, err := l.Log.Append(batches)
	if err != nil {
		l.m.appendErrors.Inc()
		return res, err
	}
	l.m.appendBatches.Add(float64(res.Batches))
	l.m.appendRecords.Add(float64(res.Records))
	l.m.appendBytes.Add(float64(len(batches)))
	return res, nil
}

// Read counts the bytes handed out.
func (l *meteredLog) Read(offset int64, maxBytes int) (*ReadResult, error) {
	res, err := l.Log.Read(offset, maxBytes)
	if err != nil {
		l.m.readErrors.Inc()
		return res, err
	}
	l.m.readBytes.Add(float64(res.Size()))
	return res, nil
}

// Unwrap returns the engine's Log, for callers that need its concrete type.
func (l *meteredLog) Unwrap() Log { return l.Log }
