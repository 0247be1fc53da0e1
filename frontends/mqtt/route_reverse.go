package mqtt

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"strata/logstore"
	"strata/meta"
)

// The log -> MQTT half of the unified pipeline: records produced by Kafka
// clients to a topic with a reverse rule (direction out or both) are
// delivered to MQTT subscribers through Injector (the Server's Inject).
//
// The Kafka frontend calls Appended after each successful produce append
// (kafka.Options.OnAppend). Appended never blocks: the batch goes to a
// queue bounded in batches and bytes (RouterOptions.ReverseQueue,
// ReverseQueueBytes; full: drop the new batch, counted in ReverseDropped)
// that one goroutine drains in order, so records of one partition reach
// MQTT in log order. Before StartReverse nothing is queued. The same
// goroutine re-reads the rules every half TTL, so that Appended can skip,
// without queueing, a topic no reverse rule names.
//
// Which record goes where. The MQTT topic is the record's mqtt.topic
// header when present, else its key; with neither, a rule whose filter
// has no wildcards gives its filter. The record is delivered when some
// out/both rule's filter matches that MQTT topic and its topic template,
// expanded with that match's captures, is the record's topic: the rule
// `agents/+/inbox -> agent-{1}` delivers a record of topic agent-7 keyed
// agents/7/inbox, and not one keyed agents/8/inbox (a producer cannot
// reach another agent's MQTT topics through agent-7). QoS is the mqtt.qos
// header (0, 1 or 2; else 0), retain the mqtt.retain header ("true" or
// "1"); mqtt.content_type, mqtt.response_topic, mqtt.correlation_data and
// mqtt.message_expiry (seconds, counted from delivery) become those
// properties, and every header outside "mqtt." a user property. Control batches are skipped; transactional records are
// delivered when appended (read_uncommitted: a later abort does not take
// them back).
//
// No loops. A record with an mqtt.client_id header came from MQTT (only
// Route writes that header) and is never delivered back, whatever rules
// exist; that covers records copied between topics by a Kafka client.
// Route's own appends do not go through Kafka's Produce, so they never
// reach Appended at all: a `both` rule sends an MQTT publish to its
// topic once, and a Kafka record to MQTT once.

// appendedBatch is one produce append waiting for reverse delivery.
type appendedBatch struct {
	topic     string
	partition int32
	batches   []byte
}

// Appended queues the batches a Kafka client appended to topic/partition
// for delivery to MQTT by the reverse rules. It never blocks (see above).
// The caller must not change batches afterwards.
func (r *TopicRouter) Appended(topic string, partition int32, batches []byte) {
	if !r.started.Load() || r.ctx.Err() != nil {
		return
	}
	// With fresh rules at hand, a topic no reverse rule can name is
	// skipped without queueing (the common case: most topics are plain
	// Kafka topics).
	r.mu.Lock()
	rules, fetched := r.mu.rules, r.mu.fetched
	r.mu.Unlock()
	if !fetched.IsZero() && time.Since(fetched) < r.opts.RefreshInterval && !anyReverse(rules, topic) {
		return
	}
	n := int64(len(batches))
	if r.queuedBytes.Add(n) > r.opts.ReverseQueueBytes {
		r.queuedBytes.Add(-n)
		r.stats.revDropped.Add(1)
		return
	}
	select {
	case r.queue <- appendedBatch{topic, partition, batches}:
	default:
		r.queuedBytes.Add(-n)
		r.stats.revDropped.Add(1)
	}
}

// StartReverse starts delivering appended records to inj (the MQTT
// server). Later calls do nothing.
func (r *TopicRouter) StartReverse(inj Injector) {
	r.start.Do(func() {
		r.wg.Add(1)
		go r.reverseLoop(inj)
		r.started.Store(true)
	})
}

func (r *TopicRouter) reverseLoop(inj Injector) {
	defer r.wg.Done()
	tick := time.NewTicker(max(r.opts.RefreshInterval/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
			if _, err := r.rules(r.ctx); err != nil {
				r.log.Debug("mqtt: reverse delivery: reading the routing rules", "err", err)
			}
		case b := <-r.queue:
			r.queuedBytes.Add(-int64(len(b.batches)))
			r.deliver(inj, b)
		}
	}
}

// deliver injects the records of one appended batch set.
func (r *TopicRouter) deliver(inj Injector, b appendedBatch) {
	rules, err := r.rules(r.ctx)
	if err != nil {
		r.log.Warn("mqtt: reverse delivery: no routing rules", "topic", b.topic, "err", err)
		r.stats.revErrors.Add(1)
		return
	}
	if !anyReverse(rules, b.topic) {
		return
	}
	err = logstore.SplitBatches(b.batches, func(batch []byte, h logstore.BatchHeader) error {
		if h.IsControl() {
			return nil
		}
		recs, err := logstore.DecodeRecords(batch)
		if err != nil {
			return err
		}
		for i := range recs {
			m, ok := r.reverseMessage(rules, b.topic, &recs[i])
			if !ok {
				continue
			}
			if err := inj.Inject(r.ctx, m); err != nil {
				r.stats.revErrors.Add(1)
				r.log.Debug("mqtt: reverse delivery refused", "topic", b.topic, "mqtt_topic", m.Topic, "err", err)
				continue
			}
			r.stats.revDelivered.Add(1)
		}
		return nil
	})
	if err != nil {
		r.stats.revErrors.Add(1)
		r.log.Warn("mqtt: reverse delivery: undecodable batch", "topic", b.topic, "partition", b.partition, "err", err)
	}
}

// anyReverse reports whether an out/both rule could name topic.
func anyReverse(rules []meta.RouteRule, topic string) bool {
	for _, rule := range rules {
		if rule.Direction != meta.RouteIn && templateCouldBe(rule.Topic, topic) {
			return true
		}
	}
	return false
}

// templateCouldBe is a cheap test: the template's literal prefix and
// suffix (around its captures) are topic's.
func templateCouldBe(template, topic string) bool {
	i := strings.IndexByte(template, '{')
	if i < 0 {
		return template == topic
	}
	j := strings.LastIndexByte(template, '}')
	return strings.HasPrefix(topic, template[:i]) && strings.HasSuffix(topic, template[j+1:])
}

// reverseMessage is the MQTT message for rec of topic, if a reverse rule
// delivers it (see the file comment).
func (r *TopicRouter) reverseMessage(rules []meta.RouteRule, topic string, rec *logstore.Record) (Message, bool) {
	var m Message
	mqttTopic, haveTopic := "", false
	for _, h := range rec.Headers {
		switch h.Key {
		case HeaderClientID:
			r.stats.revLooped.Add(1)
			return Message{}, false
		case HeaderTopic:
			mqttTopic, haveTopic = string(h.Value), true
		case HeaderQoS:
			if q, err := strconv.Atoi(string(h.Value)); err == nil && q >= 0 && q <= 2 {
				m.QoS = byte(q)
			}
		case HeaderRetain:
			m.Retain = string(h.Value) == "true" || string(h.Value) == "1"
		case HeaderContentType:
			m.Props.ContentType = string(h.Value)
			m.Props.Set(PropContentType)
		case HeaderResponseTopic:
			m.Props.ResponseTopic = string(h.Value)
			m.Props.Set(PropResponseTopic)
		case HeaderCorrelationData:
			m.Props.CorrelationData = h.Value
			m.Props.Set(PropCorrelationData)
		case HeaderMessageExpiry:
			if secs, err := strconv.ParseUint(string(h.Value), 10, 32); err == nil {
				m.Props.MessageExpiry = uint32(secs)
				m.Props.Set(PropMessageExpiry)
			}
		default:
			if !strings.HasPrefix(h.Key, headerPrefix) && utf8.ValidString(h.Key) && utf8.Valid(h.Value) {
				m.Props.User = append(m.Props.User, UserProperty{h.Key, string(h.Value)})
			}
		}
	}
	if !haveTopic {
		mqttTopic = string(rec.Key)
	}
	for _, rule := range rules {
		if rule.Direction == meta.RouteIn {
			continue
		}
		t := mqttTopic
		if t == "" {
			if strings.ContainsAny(rule.Filter, "+#") {
				continue
			}
			t = rule.Filter
		}
		in := rule
		in.Direction = meta.RouteBoth // MatchRouteRule looks at in/both rules
		if _, expanded, ok := meta.MatchRouteRule([]meta.RouteRule{in}, t); ok && expanded == topic {
			m.Topic = t
			m.Payload = rec.Value
			// Created stays zero: Inject stamps the delivery time (a
			// producer's timestamp says nothing about MQTT expiry).
			return m, true
		}
	}
	return Message{}, false
}
