package main

import (
	"log/slog"

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

// openPipeline builds the router; nil without a meta node.
func openPipeline(store *logstore.Store, node *meta.Node, log *slog.Logger) (*pipeline, error) {
	if node == nil {
		return nil, nil
	}
	r, err := mqtt.NewTopicRouter(mqtt.RouterOptions{Rules: meta.NewRoutes(node), Store: store, Logger: log})
	if err != nil {
		return nil, err
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
