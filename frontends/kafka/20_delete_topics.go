package kafka

// DeleteTopics: v1-6
//
// Deletes through the store (data, then the catalogue entry; meta drops
// the topic's offsets and manifests). Fetches waiting on a deleted
// partition wake on their timer and see UNKNOWN_TOPIC_OR_PARTITION.
//
// Version notes: v4 flexible; v5 error message; v6 topics by name or id.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 20, min: 1, max: 6, serve: handleDeleteTopics})
}

func handleDeleteTopics(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	for _, tg := range targets {
		out := kmsg.NewDeleteTopicsResponseTopic()
		out.Topic, out.TopicID = tg.name, tg.id
		name := ""
		switch {
		case tg.name != nil && *tg.name != "":
			name = *tg.name
		case tg.id != [16]byte{}:
			n, ok := s.topicIDs.name(tg.id)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, out)
				continue
			}
			name = n
			out.Topic = &n
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, out)
			continue
		}
		if !s.authorize(rc, aclDelete, name) {
			out.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, out)
			continue
		}
		if ti, err := s.store.Topic(name); err == nil {
			out.TopicID = ti.ID
		}
		if err := s.store.DeleteTopic(name); err != nil {
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			s.log.Info("kafka: topic deleted", "topic", name)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp, nil
}
