package kafka

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

// Config sources and types as DescribeConfigs reports them.
const (
	sourceDynamicTopic = 1
	sourceStaticBroker = 4
	sourceDefault      = 5

	typeBoolean = 1
	typeString  = 2
	typeInt     = 3
	typeLong    = 5
	typeList    = 7
)

// Resource types of the config APIs.
const (
	resourceTopic  = 2
	resourceBroker = 4
)

// fixedTopicConfigs are Kafka topic configs that Strata does not let a
// topic change; they are reported read-only with these values, and a
// create or alter that sets one to this same value is accepted (Kafka
// tools often pass cleanup.policy=delete), any other value is refused.
func (s *Server) fixedTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":                 "delete",
		"compression.type":               "producer",
		"max.message.bytes":              strconv.Itoa(int(s.opts.MaxMessageBytes)),
		"message.timestamp.type":         "CreateTime",
		"min.insync.replicas":            "1",
		"unclean.leader.election.enable": "false",
	}
}

// configType guesses the Kafka type of a topic config from its key.
func configType(key string) kmsg.ConfigType {
	switch {
	case key == "cleanup.policy":
		return typeList
	case key == "unclean.leader.election.enable":
		return typeBoolean
	case key == "min.insync.replicas" || key == "max.message.bytes":
		return typeInt
	case strings.HasSuffix(key, ".ms") || strings.HasSuffix(key, ".bytes") || strings.HasSuffix(key, ".messages"):
		return typeLong
	}
	return typeString
}

// splitTopicConfigs separates the keys the store knows from the fixed
// Kafka keys; a fixed key set to another value is an error.
func (s *Server) splitTopicConfigs(in map[string]string) (map[string]string, error) {
	fixed := s.fixedTopicConfigs()
	out := make(map[string]string, len(in))
	for k, v := range in {
		if want, ok := fixed[k]; ok {
			if strings.TrimSpace(v) != want {
				return nil, fmt.Errorf("%w: %s is fixed at %q in Strata", logstore.ErrInvalidConfig, k, want)
			}
			continue
		}
		out[k] = v
	}
	return out, nil
}

// topicConfigEntries describes a topic's configs: the store's keys (from
// the effective config; DYNAMIC_TOPIC_CONFIG when overridden) and the
// fixed Kafka keys, sorted by key; names filters (nil = all).
func (s *Server) topicConfigEntries(t logstore.TopicInfo, names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	all := t.Config.Map()
	fixed := s.fixedTopicConfigs()
	maps.Copy(all, fixed)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if names != nil && !slices.Contains(names, k) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		v := all[k]
		c.Name, c.Value = k, &v
		c.ConfigType = configType(k)
		c.Source = sourceDefault
		c.IsDefault = true
		if _, ok := t.Overrides[k]; ok {
			c.Source, c.IsDefault = sourceDynamicTopic, false
		}
		_, c.ReadOnly = fixed[k]
		out = append(out, c)
	}
	return out
}

// brokerConfigEntries describes this broker's (static, read-only) configs.
func (s *Server) brokerConfigEntries(names []string) []kmsg.DescribeConfigsResponseResourceConfig {
	host, port := s.advertised()
	d := logstore.DefaultTopicConfig()
	id := strconv.Itoa(int(s.opts.BrokerID))
	all := map[string]string{
		"broker.id":                                 id,
		"node.id":                                   id,
		"advertised.listeners":                      fmt.Sprintf("PLAINTEXT://%s:%d", host, port),
		"auto.create.topics.enable":                 strconv.FormatBool(*s.opts.AutoCreateTopics),
		"num.partitions":                            strconv.Itoa(int(s.opts.DefaultPartitions)),
		"default.replication.factor":                "1",
		"min.insync.replicas":                       "1",
		"offsets.topic.replication.factor":          "1",
		"message.max.bytes":                         strconv.Itoa(int(s.opts.MaxMessageBytes)),
		"socket.request.max.bytes":                  strconv.Itoa(int(s.opts.MaxFrameBytes)),
		"log.dirs":                                  s.logDir(),
		"log.retention.ms":                          strconv.FormatInt(d.RetentionMs, 10),
		"log.retention.bytes":                       strconv.FormatInt(d.RetentionBytes, 10),
		"log.segment.bytes":                         strconv.FormatInt(d.SegmentBytes, 10),
		"log.roll.ms":                               strconv.FormatInt(d.SegmentMs, 10),
		"log.flush.interval.messages":               strconv.FormatInt(d.FlushMessages, 10),
		"log.flush.interval.ms":                     strconv.FormatInt(d.FlushMs, 10),
		"max.incremental.fetch.session.cache.slots": strconv.Itoa(s.opts.MaxFetchSessions),
		"fetch.max.wait.ms":                         strconv.FormatInt(s.opts.MaxFetchWait.Milliseconds(), 10),
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if names != nil && !slices.Contains(names, k) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		v := all[k]
		c.Name, c.Value = k, &v
		c.ConfigType = configType(k)
		c.ReadOnly = true
		c.Source = sourceStaticBroker
		out = append(out, c)
	}
	return out
}

// isThisBroker reports whether a broker resource name means this broker
// ("" is the cluster-wide default, which is this broker's too).
func (s *Server) isThisBroker(name string) bool {
	return name == "" || name == strconv.Itoa(int(s.opts.BrokerID))
}
