package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"strata/frontends/mqtt"
	"strata/logstore"
	"strata/meta"
)

// pipeline is serve's unified pipeline (MQTT in / Kafka out): one
// mqtt.TopicRouter over meta's routing rules and the store. It is the MQTT
// server's Router, and Kafka's Options.OnAppend feeds its reverse
// delivery, which injects into the MQTT server once that is open
// (attach). A nil *pipeline (no meta node) routes nothing.
type pipeline struct {
	router *mqtt.TopicRouter
}

// openPipeline builds the router, with its counters in reg
// (strata_mqtt_route_*); nil without a meta node.
func openPipeline(store *logstore.Store, node *meta.Node, reg prometheus.Registerer, log *slog.Logger) (*pipeline, error) {
	if node == nil {
		return nil, nil
	}
	r, err := mqtt.NewTopicRouter(mqtt.RouterOptions{Rules: meta.NewRoutes(node), Store: store, Logger: log})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		for _, c := range []struct {
			name, help string
			get        func(mqtt.RouterStats) uint64
		}{
			{"strata_mqtt_route_records_total", "Records appended to topics by MQTT routing rules.", func(s mqtt.RouterStats) uint64 { return s.Routed }},
			{"strata_mqtt_route_errors_total", "MQTT publishes refused because a routed append failed.", func(s mqtt.RouterStats) uint64 { return s.RouteErrors }},
			{"strata_mqtt_route_topics_created_total", "Topics created by MQTT routing rules.", func(s mqtt.RouterStats) uint64 { return s.TopicsCreated }},
			{"strata_mqtt_route_reverse_delivered_total", "Kafka records delivered to MQTT by reverse rules.", func(s mqtt.RouterStats) uint64 { return s.ReverseDelivered }},
			{"strata_mqtt_route_reverse_dropped_total", "Produced batches not delivered to MQTT: the reverse queue was full.", func(s mqtt.RouterStats) uint64 { return s.ReverseDropped }},
			{"strata_mqtt_route_reverse_looped_total", "Records not delivered to MQTT because they came from MQTT.", func(s mqtt.RouterStats) uint64 { return s.ReverseLooped }},
			{"strata_mqtt_route_reverse_errors_total", "Records that could not be decoded or injected into MQTT.", func(s mqtt.RouterStats) uint64 { return s.ReverseErrors }},
		} {
			get := c.get
			if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
				func() float64 { return float64(get(r.Stats())) })); err != nil {
				return nil, err
			}
		}
	}
	return &pipeline{router: r}, nil
}

// onAppend is the Kafka server's OnAppend: it queues the appended batches
// for reverse delivery and never blocks (mqtt.RouterOptions.ReverseQueue:
// full = drop the batch, counted).
func (p *pipeline) onAppend(topic string, partition int32, batches []byte) {
	if p != nil {
		p.router.Appended(topic, partition, batches)
	}
}

// mqttRouter is the MQTT server's Router (nil: the default, none).
func (p *pipeline) mqttRouter() mqtt.Router {
	if p == nil {
		return nil
	}
	return p.router
}

// attach starts reverse delivery into the MQTT server.
func (p *pipeline) attach(srv *mqtt.Server) {
	if p != nil && srv != nil {
		p.router.StartReverse(srv)
	}
}

// Close stops reverse delivery.
func (p *pipeline) Close() error {
	if p == nil {
		return nil
	}
	return p.router.Close()
}
