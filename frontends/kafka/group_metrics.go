package kafka

import "github.com/prometheus/client_golang/prometheus"

// groupMetrics are the group coordinator's metrics, registered with
// Options.Registerer when the Server has one:
//
//	strata_kafka_groups{type, state}        groups by type (classic, consumer) and state
//	strata_kafka_group_rebalances_total     classic generations and KIP-848 group epochs started
//	strata_kafka_offset_commits_total       partitions committed by OffsetCommit
type groupMetrics struct {
	rebalances prometheus.Counter
	commits    prometheus.Counter
	groups     *groupsCollector
}

func newGroupMetrics(c *groupCoordinator) *groupMetrics {
	return &groupMetrics{
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_kafka_group_rebalances_total",
			Help: "Consumer group rebalances: classic generations and KIP-848 group epochs started."}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_kafka_offset_commits_total",
			Help: "Partitions whose offset OffsetCommit stored."}),
		groups: &groupsCollector{c: c, desc: prometheus.NewDesc("strata_kafka_groups",
			"Consumer groups by type (classic, consumer) and state.", []string{"type", "state"}, nil)},
	}
}

func (m *groupMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rebalances, m.commits, m.groups}
}

func (m *groupMetrics) register(r prometheus.Registerer) error {
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

func (m *groupMetrics) unregister(r prometheus.Registerer) {
	if r == nil {
		return
	}
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

// groupsCollector counts the groups at scrape time (mu held briefly).
type groupsCollector struct {
	c    *groupCoordinator
	desc *prometheus.Desc
}

func (g *groupsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *groupsCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ typ, state string }
	counts := map[key]int{}
	g.c.mu.Lock()
	for _, gr := range g.c.mu.groups {
		counts[key{gr.typ, gr.state.String()}]++
	}
	g.c.mu.Unlock()
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), k.typ, k.state)
	}
}
