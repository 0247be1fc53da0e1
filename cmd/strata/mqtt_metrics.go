package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"strata/frontends/mqtt"
)

// registerMQTTMetrics puts the MQTT broker's counters (the ones $SYS
// publishes) and its session store's on /metrics:
//
//	strata_mqtt_clients_connected                 connected clients
//	strata_mqtt_sessions                          sessions, connected or not
//	strata_mqtt_messages_dropped_total{reason}    queue: oldest QoS 1/2 dropped, a session's queue was full
//	                                              (Options.MaxQueuedMessages, drop oldest); qos0: a connection's
//	                                              queue was full; offline: QoS 0 for an offline session;
//	                                              other: expired, too large for the client, refused
//	strata_mqtt_store_enqueued_total              messages stored for offline sessions (before PUBACK)
//	strata_mqtt_store_queue_dropped_total         stored messages deleted by the queue bound
//	strata_mqtt_store_errors_total                failed writes to <data>/mqtt
//	strata_mqtt_store_corrupt_total               corrupt values dropped at start (DropCorrupt)
//
// A name already registered is logged and skipped.
func registerMQTTMetrics(reg prometheus.Registerer, srv *mqtt.Server, st *mqtt.PebbleStore, log *slog.Logger) {
	register := func(c prometheus.Collector) {
		if err := reg.Register(c); err != nil {
			log.Warn("mqtt metrics", "err", err)
		}
	}
	register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_mqtt_clients_connected", Help: "Connected MQTT clients."},
		func() float64 { return float64(srv.Stats().Connected) }))
	register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_mqtt_sessions", Help: "MQTT sessions, connected or not."},
		func() float64 { return float64(srv.Stats().Sessions) }))
	for _, r := range []struct {
		reason string
		get    func(mqtt.Stats) int64
	}{
		{"queue", func(s mqtt.Stats) int64 { return s.DroppedQueued }},
		{"qos0", func(s mqtt.Stats) int64 { return s.DroppedQoS0 }},
		{"offline", func(s mqtt.Stats) int64 { return s.DroppedOffline }},
		{"other", func(s mqtt.Stats) int64 { return s.DroppedOther }},
	} {
		get := r.get
		register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_mqtt_messages_dropped_total",
			Help: "MQTT messages dropped, by reason.", ConstLabels: prometheus.Labels{"reason": r.reason}},
			func() float64 { return float64(get(srv.Stats())) }))
	}
	if st == nil {
		return
	}
	for _, c := range []struct {
		name, help string
		get        func(mqtt.PebbleStoreStats) int64
	}{
		{"strata_mqtt_store_enqueued_total", "MQTT messages stored for offline sessions.", func(s mqtt.PebbleStoreStats) int64 { return s.Enqueued }},
		{"strata_mqtt_store_queue_dropped_total", "Stored MQTT messages deleted by a session's queue bound.", func(s mqtt.PebbleStoreStats) int64 { return s.Dropped }},
		{"strata_mqtt_store_errors_total", "Failed writes to the MQTT session store.", func(s mqtt.PebbleStoreStats) int64 { return s.Errors }},
		{"strata_mqtt_store_corrupt_total", "Corrupt MQTT store values dropped at start.", func(s mqtt.PebbleStoreStats) int64 { return s.Corrupt }},
	} {
		get := c.get
		register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(get(st.Stats())) }))
	}
}
