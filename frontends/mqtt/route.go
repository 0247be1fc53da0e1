package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/logstore"
	"strata/meta"
)

// This file is the unified pipeline's MQTT -> log half: TopicRouter, the
// Router that appends each matching PUBLISH to the topics meta's routing
// rules name. route_reverse.go is the log -> MQTT half (Kafka produces
// delivered to MQTT subscribers by reverse rules).
//
// Rules are cached with a short TTL (RouterOptions.RefreshInterval,
// default 1 s), not watched: meta has no change feed for the routes
// shard. A publish that finds the cache older than the TTL re-reads the
// rules (a linearizable read of the routes shard) before it is routed, so
// a rule added or removed through the CLI or HTTP applies to every
// publish that starts one TTL after the change returned. When meta cannot
// be read, the last rules are kept (and the failure logged) for another
// TTL; a router that never read them refuses publishes.
//
// Records. One PUBLISH (or will) becomes one record in each routed topic:
//
//	key      the MQTT topic (key mode mqtt-topic) or the client id (client-id)
//	value    the payload
//	time     when the broker accepted the message (CreateTime, ms)
//	headers  mqtt.topic        the MQTT topic name
//	         mqtt.qos          "0", "1" or "2"
//	         mqtt.retain       "true" or "false"
//	         mqtt.client_id    the publisher (every routed record has it:
//	                           it marks the record as from MQTT)
//	         mqtt.content_type, mqtt.response_topic, mqtt.correlation_data,
//	         mqtt.payload_format ("1" = UTF-8), mqtt.message_expiry
//	                           (seconds): the 5.0 properties, when present
//	         then each user property as a header of its own name, in order
//
// Topics. A routed topic that does not exist is created on first use with
// one partition: a template with captures ("agent-{1}") gives a lite topic
// (storage.engine=lite, storage.mode=persistent), one per agent; a
// literal template ("factory-temp") a topic with the store's defaults.
// A topic of several partitions gets the record in the partition of
// Kafka's default partitioner (murmur2 of the key), so keyed readers see
// one MQTT topic (or client) in one partition, in order.

// Record header names of routed messages (and of reverse delivery).
const (
	HeaderTopic           = "mqtt.topic"
	HeaderQoS             = "mqtt.qos"
	HeaderRetain          = "mqtt.retain"
	HeaderClientID        = "mqtt.client_id"
	HeaderContentType     = "mqtt.content_type"
	HeaderResponseTopic   = "mqtt.response_topic"
	HeaderCorrelationData = "mqtt.correlation_data"
	HeaderPayloadFormat   = "mqtt.payload_format"
	HeaderMessageExpiry   = "mqtt.message_expiry"
)

// headerPrefix marks the headers the pipeline owns; other headers are
// user properties.
const headerPrefix = "mqtt."

// TopicRouter defaults.
const (
	DefaultRouteRefresh = time.Second
	DefaultReverseQueue = 1024
	// DefaultReverseQueueBytes bounds the bytes of the queued batches.
	DefaultReverseQueueBytes = 64 << 20
	DefaultRouteTimeout      = 10 * time.Second
)

// RouteRules is where a TopicRouter reads its rules: *meta.Routes.
type RouteRules interface {
	List(ctx context.Context) ([]meta.RouteRule, error)
}

// RouteStore is the part of *logstore.Store a TopicRouter uses (an
// interface so that tests can make appends fail).
type RouteStore interface {
	Topic(name string) (logstore.TopicInfo, error)
	CreateTopic(name string, partitions int32, configs map[string]string) (logstore.TopicInfo, error)
	Partition(name string, p int32) (logstore.Log, error)
}

// Injector delivers a message to MQTT subscribers: *Server.
type Injector interface {
	Inject(ctx context.Context, msg Message) error
}

// RouterOptions configure a TopicRouter.
type RouterOptions struct {
	// Rules and Store are required.
	Rules RouteRules
	Store RouteStore
	// Logger; nil = slog.Default().
	Logger *slog.Logger
	// RefreshInterval is the rule cache's TTL (see the file comment).
	RefreshInterval time.Duration
	// Timeout bounds one read of the rules and one topic creation.
	Timeout time.Duration
	// ReverseQueue and ReverseQueueBytes bound the appended Kafka
	// batches waiting for reverse delivery (Appended), in batches and in
	// bytes. Full policy: drop the new batch and count it
	// (RouterStats.ReverseDropped): a Kafka producer is never slowed by
	// MQTT subscribers.
	ReverseQueue      int
	ReverseQueueBytes int64
}

// EnsureDefaults fills zero fields with their defaults.
func (o *RouterOptions) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRouteRefresh
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRouteTimeout
	}
	if o.ReverseQueue == 0 {
		o.ReverseQueue = DefaultReverseQueue
	}
	if o.ReverseQueueBytes == 0 {
		o.ReverseQueueBytes = DefaultReverseQueueBytes
	}
}

// Validate reports options that cannot work.
func (o RouterOptions) Validate() error {
	switch {
	case o.Rules == nil || o.Store == nil:
		return errors.New("mqtt: RouterOptions.Rules and Store are required")
	case o.RefreshInterval < 0 || o.Timeout < 0:
		return errors.New("mqtt: RouterOptions.RefreshInterval and Timeout must not be negative")
	case o.ReverseQueue < 1 || o.ReverseQueueBytes < 1:
		return errors.New("mqtt: RouterOptions.ReverseQueue and ReverseQueueBytes must be at least 1")
	}
	return nil
}

// RouterStats counts what a TopicRouter did.
type RouterStats struct {
	Routed        uint64 // records appended (one per routed topic)
	RouteErrors   uint64 // publishes refused because an append failed
	TopicsCreated uint64 // topics auto-created

	ReverseDelivered uint64 // records injected to MQTT
	ReverseDropped   uint64 // appended batches dropped: queue full
	ReverseLooped    uint64 // records skipped: they came from MQTT
	ReverseErrors    uint64 // records that could not be decoded or injected
}

// TopicRouter is the Router of the unified pipeline (see the file
// comment). Its rules are a TTL cache of meta's routes shard
// (RouterOptions.RefreshInterval), not a watch. It is safe for concurrent
// use.
type TopicRouter struct {
	opts RouterOptions
	log  *slog.Logger

	// refresh serializes rule reads, so that a burst of publishes after
	// the TTL makes one read.
	refresh sync.Mutex
	mu      struct {
		sync.Mutex
		rules   []meta.RouteRule
		fetched time.Time // zero: never read
		parts   map[string]int32
	}

	// Reverse delivery (route_reverse.go).
	queue       chan appendedBatch
	queuedBytes atomic.Int64
	started     atomic.Bool
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	start       sync.Once

	stats struct {
		routed, routeErrors, created                   atomic.Uint64
		revDelivered, revDropped, revLooped, revErrors atomic.Uint64
	}
}

// NewTopicRouter returns a router over opts.Rules and opts.Store. Reverse
// delivery starts with StartReverse.
func NewTopicRouter(opts RouterOptions) (*TopicRouter, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &TopicRouter{opts: opts, log: opts.Logger, queue: make(chan appendedBatch, opts.ReverseQueue)}
	r.mu.parts = map[string]int32{}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Stats returns the router's counters.
func (r *TopicRouter) Stats() RouterStats {
	return RouterStats{
		Routed: r.stats.routed.Load(), RouteErrors: r.stats.routeErrors.Load(), TopicsCreated: r.stats.created.Load(),
		ReverseDelivered: r.stats.revDelivered.Load(), ReverseDropped: r.stats.revDropped.Load(),
		ReverseLooped: r.stats.revLooped.Load(), ReverseErrors: r.stats.revErrors.Load(),
	}
}

// Close stops reverse delivery (batches still queued are dropped) and
// waits for its goroutine. Route keeps working after Close.
func (r *TopicRouter) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

// Refresh re-reads the rules now.
func (r *TopicRouter) Refresh(ctx context.Context) error {
	_, err := r.readRules(ctx, time.Time{}, true)
	return err
}

// rules returns the cached rules, re-read when older than the TTL.
func (r *TopicRouter) rules(ctx context.Context) ([]meta.RouteRule, error) {
	r.mu.Lock()
	rules, fetched := r.mu.rules, r.mu.fetched
	r.mu.Unlock()
	if !fetched.IsZero() && time.Since(fetched) < r.opts.RefreshInterval {
		return rules, nil
	}
	return r.readRules(ctx, fetched, false)
}

// readRules reads the rules; unless force, not when another caller read
// them since the caller saw the cache fetched at seen.
func (r *TopicRouter) readRules(ctx context.Context, seen time.Time, force bool) ([]meta.RouteRule, error) {
	r.refresh.Lock()
	defer r.refresh.Unlock()
	r.mu.Lock()
	rules, fetched := r.mu.rules, r.mu.fetched
	r.mu.Unlock()
	if !force && !fetched.Equal(seen) {
		return rules, nil // read while we waited
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	fresh, err := r.opts.Rules.List(ctx)
	now := time.Now()
	if err != nil {
		if fetched.IsZero() {
			return nil, fmt.Errorf("mqtt: reading the routing rules: %w", err)
		}
		r.log.Warn("mqtt: reading the routing rules failed; keeping the last ones", "err", err)
		r.mu.Lock()
		r.mu.fetched = now
		r.mu.Unlock()
		return rules, nil
	}
	r.mu.Lock()
	r.mu.rules, r.mu.fetched = fresh, now
	clear(r.mu.parts) // partition counts are re-read with the rules
	r.mu.Unlock()
	return fresh, nil
}

// routeTarget is one topic a message goes to.
type routeTarget struct {
	topic    string
	keyMode  string
	template bool // the rule's topic has captures: a lite topic
}

// targets lists the distinct topics that in/both rules route mqttTopic
// to, in rule (ID) order; a topic named by two rules gets the first
// rule's key mode.
func targets(rules []meta.RouteRule, mqttTopic string) []routeTarget {
	var out []routeTarget
	for _, rule := range rules {
		if rule.Direction == meta.RouteOut {
			continue
		}
		_, topic, ok := meta.MatchRouteRule([]meta.RouteRule{rule}, mqttTopic)
		if !ok {
			continue
		}
		dup := false
		for _, t := range out {
			dup = dup || t.topic == topic
		}
		if !dup {
			out = append(out, routeTarget{topic: topic, keyMode: rule.KeyMode, template: strings.Contains(rule.Topic, "{")})
		}
	}
	return out
}

// Route appends msg to every topic its rules name and returns once every
// append returned (each as durable as its topic's flush policy makes it),
// so the broker acknowledges a QoS 1/2 publish only then. The appends to
// several topics run concurrently and are not atomic together: when one
// fails, the others may have stored the message, and the client's resend
// stores it there again (at least once).
//
// Errors (the Router contract: a ReasonCode goes back in PUBACK/PUBREC,
// a 3.x client is disconnected): an append refused because the log's
// queue is full is QuotaExceeded; any other failure to create or append
// to a topic, or to read the rules, is ImplementationSpecificError, with
// the cause wrapped.
func (r *TopicRouter) Route(ctx context.Context, from *ClientInfo, msg *Message) error {
	rules, err := r.rules(ctx)
	if err != nil {
		r.stats.routeErrors.Add(1)
		return fmt.Errorf("%w: %w", ImplementationSpecificError, err)
	}
	ts := targets(rules, msg.Topic)
	if len(ts) == 0 {
		return nil
	}
	clientID := msg.From
	if from != nil && from.ClientID != "" {
		clientID = from.ClientID
	}
	headers := recordHeaders(msg, clientID)
	if len(ts) == 1 {
		err = r.appendTo(ctx, ts[0], msg, clientID, headers)
	} else {
		errs := make([]error, len(ts))
		var wg sync.WaitGroup
		for i, t := range ts {
			wg.Go(func() { errs[i] = r.appendTo(ctx, t, msg, clientID, headers) })
		}
		wg.Wait()
		err = errors.Join(errs...)
	}
	if err != nil {
		r.stats.routeErrors.Add(1)
		code := ImplementationSpecificError
		if errors.Is(err, logstore.ErrQueueFull) {
			code = QuotaExceeded
		}
		return fmt.Errorf("%w: %w", code, err)
	}
	return nil
}

// appendTo appends one record to t's topic.
func (r *TopicRouter) appendTo(ctx context.Context, t routeTarget, msg *Message, clientID string, headers []logstore.RecordHeader) error {
	key := []byte(msg.Topic)
	if t.keyMode == meta.RouteKeyClientID {
		key = []byte(clientID)
	}
	// One batch per topic: Append stamps its base offset in place, and a
	// memory log may keep the bytes.
	batch, err := logstore.EncodeBatch([]logstore.Record{{Timestamp: msg.Created.UnixMilli(), Key: key, Value: msg.Payload, Headers: headers}}, 0)
	if err != nil {
		return fmt.Errorf("mqtt: encode a record for %q: %w", t.topic, err)
	}
	for attempt := 0; ; attempt++ {
		n, err := r.partitions(ctx, t)
		if err != nil {
			return err
		}
		p := int32(0)
		if n > 1 {
			p = int32((murmur2(key) & 0x7fffffff) % uint32(n))
		}
		l, err := r.opts.Store.Partition(t.topic, p)
		if err == nil {
			if _, err = l.Append(batch); err == nil {
				r.stats.routed.Add(1)
				return nil
			}
		}
		// A topic deleted (or re-partitioned) since its partition count
		// was cached: forget it and look again, once.
		if attempt == 0 && (errors.Is(err, logstore.ErrUnknownTopic) || errors.Is(err, logstore.ErrUnknownPartition) || errors.Is(err, logstore.ErrClosed)) {
			r.forgetTopic(t.topic)
			continue
		}
		return fmt.Errorf("mqtt: append to topic %q partition %d: %w", t.topic, p, err)
	}
}

func (r *TopicRouter) forgetTopic(topic string) {
	r.mu.Lock()
	delete(r.mu.parts, topic)
	r.mu.Unlock()
}

// partitions returns t's partition count, creating the topic if it does
// not exist (see the file comment for its config).
func (r *TopicRouter) partitions(_ context.Context, t routeTarget) (int32, error) {
	r.mu.Lock()
	n, ok := r.mu.parts[t.topic]
	r.mu.Unlock()
	if ok {
		return n, nil
	}
	info, err := r.opts.Store.Topic(t.topic)
	if errors.Is(err, logstore.ErrUnknownTopic) {
		var configs map[string]string
		if t.template {
			configs = map[string]string{logstore.KeyStorageEngine: logstore.EngineLite, logstore.KeyStorageMode: logstore.ModePersistent}
		}
		info, err = r.opts.Store.CreateTopic(t.topic, 1, configs)
		switch {
		case err == nil:
			r.stats.created.Add(1)
			r.log.Info("mqtt: created a routed topic", "topic", t.topic, "lite", t.template)
		case errors.Is(err, logstore.ErrTopicExists):
			info, err = r.opts.Store.Topic(t.topic) // created by another publisher or a Kafka client
		}
	}
	if err != nil {
		return 0, fmt.Errorf("mqtt: routed topic %q: %w", t.topic, err)
	}
	r.mu.Lock()
	r.mu.parts[t.topic] = info.Partitions
	r.mu.Unlock()
	return info.Partitions, nil
}

// recordHeaders are a routed message's headers (see the file comment).
func recordHeaders(m *Message, clientID string) []logstore.RecordHeader {
	hs := []logstore.RecordHeader{
		{Key: HeaderTopic, Value: []byte(m.Topic)},
		{Key: HeaderQoS, Value: []byte{'0' + m.QoS}},
		{Key: HeaderRetain, Value: []byte(strconv.FormatBool(m.Retain))},
		{Key: HeaderClientID, Value: []byte(clientID)},
	}
	p := &m.Props
	if p.Has(PropContentType) {
		hs = append(hs, logstore.RecordHeader{Key: HeaderContentType, Value: []byte(p.ContentType)})
	}
	if p.Has(PropResponseTopic) {
		hs = append(hs, logstore.RecordHeader{Key: HeaderResponseTopic, Value: []byte(p.ResponseTopic)})
	}
	if p.Has(PropCorrelationData) {
		hs = append(hs, logstore.RecordHeader{Key: HeaderCorrelationData, Value: p.CorrelationData})
	}
	if p.Has(PropPayloadFormat) {
		hs = append(hs, logstore.RecordHeader{Key: HeaderPayloadFormat, Value: []byte(strconv.Itoa(int(p.PayloadFormat)))})
	}
	if p.Has(PropMessageExpiry) {
		hs = append(hs, logstore.RecordHeader{Key: HeaderMessageExpiry, Value: []byte(strconv.FormatUint(uint64(p.MessageExpiry), 10))})
	}
	for _, u := range p.User {
		hs = append(hs, logstore.RecordHeader{Key: u.Key, Value: []byte(u.Value)})
	}
	return hs
}

// murmur2 is Kafka's default partitioner hash (the Java client's
// Utils.murmur2), so a keyed record lands where a Kafka producer would
// put the same key.
func murmur2(b []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
