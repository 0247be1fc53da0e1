package kafka

// Metadata: v0-13
//
// This node is the only broker and the leader (epoch 0) of every
// partition, with itself as the only replica and in-sync replica.
// Topics that do not exist are created when auto-creation is on
// (Options.AutoCreateTopics, and the request's allow_auto_topic_creation
// from v4; v0-3 always allow it), with Options.DefaultPartitions.
//
// Version notes: v1 controller id, internal flag, null = all topics; v2
// cluster id; v5 offline replicas; v7 leader epoch; v8-10 authorized
// operations; v9 flexible; v10 topic ids (a topic may be asked for by id
// alone); v11 drops cluster authorized operations; v13 top-level error.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 3, min: 0, max: 13, serve: handleMetadata})
}

// authorizedOpsUnknown is what Kafka reports when operations were not asked for.
const authorizedOpsUnknown = -2147483648

func handleMetadata(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.advertised()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = s.opts.BrokerID, host, port
	resp.Brokers = append(resp.Brokers, b)
	resp.ClusterID = &s.opts.ClusterID
	resp.ControllerID = s.opts.BrokerID
	resp.AuthorizedOperations = authorizedOpsUnknown

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range s.store.Topics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
		return resp, nil
	}
	autoCreate := *s.opts.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var info logstore.TopicInfo
		var err error
		switch {
		case rt.Topic == nil || *rt.Topic == "":
			if rt.TopicID == ([16]byte{}) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.ErrorCode = kerr.InvalidRequest.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			name, ok := s.topicIDs.name(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			info, err = s.store.Topic(name)
		default:
			info, err = s.store.Topic(*rt.Topic)
			if errors.Is(err, logstore.ErrUnknownTopic) && autoCreate {
				info, err = s.autoCreate(*rt.Topic)
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = rt.Topic
			mt.TopicID = rt.TopicID
			mt.ErrorCode = errorCode(err)
			if errors.Is(err, logstore.ErrUnknownTopic) {
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(info))
	}
	return resp, nil
}

// autoCreate creates a topic Metadata asked for. A concurrent create of
// the same name (another connection's Metadata) is not an error.
func (s *Server) autoCreate(name string) (logstore.TopicInfo, error) {
	info, err := s.store.CreateTopic(name, s.opts.DefaultPartitions, nil)
	if errors.Is(err, logstore.ErrTopicExists) {
		return s.store.Topic(name)
	}
	if err == nil {
		s.log.Info("kafka: topic auto-created", "topic", name, "partitions", s.opts.DefaultPartitions)
	}
	return info, err
}

// metadataTopic describes a topic: every partition led by this broker.
func (s *Server) metadataTopic(t logstore.TopicInfo) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.AuthorizedOperations = authorizedOpsUnknown
	for p := int32(0); p < t.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.Leader = s.opts.BrokerID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{s.opts.BrokerID}
		mp.ISR = []int32{s.opts.BrokerID}
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
