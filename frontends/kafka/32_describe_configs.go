package kafka

// DescribeConfigs: v1-4
//
// Topic resources: every store config key with its effective value
// (DYNAMIC_TOPIC_CONFIG when set on the topic, DEFAULT_CONFIG otherwise)
// and the fixed Kafka keys, read-only (configs.go). Broker resources (""
// or this broker's id): the static broker configs, read-only. Synonyms
// and documentation are not reported.
//
// Version notes: v1 synonyms flag, source; v3 config type and
// documentation; v4 flexible.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 32, min: 1, max: 4, serve: handleDescribeConfigs})
}

func handleDescribeConfigs(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, r := range req.Resources {
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType, out.ResourceName = r.ResourceType, r.ResourceName
		switch r.ResourceType {
		case resourceTopic:
			if !s.authorize(rc, aclDescribeConfigs, r.ResourceName) {
				out.ErrorCode = kerr.TopicAuthorizationFailed.Code
				break
			}
			ti, err := s.store.Topic(r.ResourceName)
			if err != nil {
				out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			out.Configs = s.topicConfigEntries(ti, r.ConfigNames)
		case resourceBroker:
			if !s.isThisBroker(r.ResourceName) {
				out.ErrorCode = kerr.InvalidRequest.Code
				msg := "unknown broker " + r.ResourceName
				out.ErrorMessage = &msg
				break
			}
			out.Configs = s.brokerConfigEntries(r.ConfigNames)
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			msg := "unsupported resource type"
			out.ErrorMessage = &msg
		}
		if out.Configs == nil {
			out.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp, nil
}
