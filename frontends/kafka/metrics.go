package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// serverMetrics are the frontend's Prometheus metrics (strata_kafka_*),
// registered with Options.Registerer when one is given.
type serverMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	connections prometheus.Gauge
	accepted    prometheus.Counter
	closedBad   prometheus.Counter
	produced    prometheus.Counter
	fetched     prometheus.Counter
	sessions    prometheus.GaugeFunc

	// byKey caches the per-api children, filled for every registered key.
	byKey map[int16]keyMetrics

	// sec: authentication and authorization counters (sasl.go).
	sec securityMetrics
}

type keyMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_kafka_requests_total",
			Help: "Kafka requests served, by API."}, []string{"api"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_kafka_request_duration_seconds",
			Help:    "Time from a decoded request to its response (long polls and waits included), by API.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10)}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_kafka_connections",
			Help: "Open Kafka client connections."}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_kafka_connections_accepted_total",
			Help: "Kafka client connections accepted."}),
		closedBad: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_kafka_connections_closed_malformed_total",
			Help: "Connections closed for a malformed or oversized frame, an unknown API or a handler failure."}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_kafka_produce_bytes_total",
			Help: "Record batch bytes appended by Produce."}),
		fetched: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_kafka_fetch_bytes_total",
			Help: "Record batch bytes returned by Fetch."}),
		sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_kafka_fetch_sessions",
			Help: "Incremental fetch sessions held."}, func() float64 { return float64(s.sessions.len()) }),
		byKey: map[int16]keyMetrics{},
		sec:   newSecurityMetrics(),
	}
	for _, k := range apiKeys() {
		name := kmsg.NameForKey(k)
		m.byKey[k] = keyMetrics{requests: m.requests.WithLabelValues(name), duration: m.duration.WithLabelValues(name)}
	}
	return m
}

func (m *serverMetrics) collectors() []prometheus.Collector {
	return append([]prometheus.Collector{m.requests, m.duration, m.connections, m.accepted, m.closedBad, m.produced, m.fetched, m.sessions},
		m.sec.collectors()...)
}

// register adds the metrics to r (nil: nothing).
func (m *serverMetrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *serverMetrics) unregister(r prometheus.Registerer) {
	if r == nil {
		return
	}
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

// request counts one served request.
func (m *serverMetrics) request(key int16, seconds float64) {
	if km, ok := m.byKey[key]; ok {
		km.requests.Inc()
		km.duration.Observe(seconds)
	}
}
