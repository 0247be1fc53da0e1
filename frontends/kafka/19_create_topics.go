package kafka

// CreateTopics: v2-7
//
// num_partitions -1 means Options.DefaultPartitions; replication factor
// must be -1 or 1 (one broker), else INVALID_REPLICATION_FACTOR; a manual
// replica assignment may only name this broker. Configs are the store's
// topic configs (storage.mode, storage.engine, retention, segment and
// flush keys; logstore.ConfigKeys) plus the fixed Kafka keys at their
// fixed values (configs.go). validate_only checks everything and creates
// nothing.
//
// Version notes: v4 defaults (-1); v5 flexible, response configs and
// counts; v7 topic id.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 19, min: 2, max: 7, serve: handleCreateTopics})
}

func handleCreateTopics(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		out := kmsg.NewCreateTopicsResponseTopic()
		out.Topic = rt.Topic
		out.NumPartitions, out.ReplicationFactor = -1, -1
		fail := func(code int16, msg string) {
			out.ErrorCode, out.ErrorMessage = code, &msg
			resp.Topics = append(resp.Topics, out)
		}
		if seen[rt.Topic] > 1 {
			fail(kerr.InvalidRequest.Code, "topic named more than once in the request")
			continue
		}
		if !s.authorize(rc, aclCreate, rt.Topic) {
			fail(kerr.TopicAuthorizationFailed.Code, "not authorized")
			continue
		}
		parts := rt.NumPartitions
		if len(rt.ReplicaAssignment) > 0 {
			if parts != -1 || rt.ReplicationFactor != -1 {
				fail(kerr.InvalidRequest.Code, "replica assignment given with num_partitions or replication_factor")
				continue
			}
			parts = int32(len(rt.ReplicaAssignment))
			bad := false
			for _, a := range rt.ReplicaAssignment {
				if len(a.Replicas) != 1 || a.Replicas[0] != s.opts.BrokerID {
					bad = true
				}
			}
			if bad {
				fail(kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("every partition must have exactly this broker (%d) as its replica", s.opts.BrokerID))
				continue
			}
		}
		if parts == -1 {
			parts = s.opts.DefaultPartitions
		}
		if rf := rt.ReplicationFactor; rf != -1 && rf != 1 {
			fail(kerr.InvalidReplicationFactor.Code, fmt.Sprintf("replication factor %d: this cluster has 1 broker", rf))
			continue
		}
		if parts <= 0 {
			fail(kerr.InvalidPartitions.Code, fmt.Sprintf("%d partitions", parts))
			continue
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		configs, err := s.splitTopicConfigs(configs)
		if err == nil {
			err = logstore.ValidateTopicName(rt.Topic)
		}
		if err == nil {
			_, err = logstore.ParseTopicConfig(configs)
		}
		if err == nil && parts > logstore.MaxTopicPartitions {
			err = fmt.Errorf("%w: %d partitions, the maximum is %d", logstore.ErrInvalidPartitions, parts, logstore.MaxTopicPartitions)
		}
		var info logstore.TopicInfo
		if err == nil && req.ValidateOnly {
			if _, terr := s.store.Topic(rt.Topic); terr == nil {
				err = fmt.Errorf("%w: %q", logstore.ErrTopicExists, rt.Topic)
			}
			info = logstore.TopicInfo{Name: rt.Topic, Partitions: parts}
			info.Config, _ = logstore.ParseTopicConfig(configs)
			info.Overrides = configs
		} else if err == nil {
			info, err = s.store.CreateTopic(rt.Topic, parts, configs)
		}
		if err != nil {
			fail(errorCode(err), err.Error())
			continue
		}
		out.TopicID = info.ID
		out.NumPartitions, out.ReplicationFactor = info.Partitions, 1
		for _, c := range s.topicConfigEntries(info, nil) {
			rc := kmsg.NewCreateTopicsResponseTopicConfig()
			rc.Name, rc.Value, rc.ReadOnly, rc.Source, rc.IsSensitive = c.Name, c.Value, c.ReadOnly, int8(c.Source), c.IsSensitive
			out.Configs = append(out.Configs, rc)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}
