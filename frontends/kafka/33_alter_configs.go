package kafka

// AlterConfigs: v0-2
//
// Replaces a topic's config overrides with the request's set (keys not
// named go back to their defaults), through Store.AlterTopicConfig:
// storage.mode and storage.engine cannot change. Broker configs are
// static: INVALID_REQUEST. validate_only checks and changes nothing.
//
// Version notes: v2 flexible.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 33, min: 0, max: 2, serve: handleAlterConfigs})
}

func handleAlterConfigs(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, r := range req.Resources {
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = r.ResourceType, r.ResourceName
		set := map[string]string{}
		for _, c := range r.Configs {
			if c.Value != nil {
				set[c.Name] = *c.Value
			}
		}
		code, msg := s.alterTopicConfigs(rc, r.ResourceType, r.ResourceName, func(cur map[string]string) (map[string]string, []string, error) {
			var remove []string
			for k := range cur {
				if _, keep := set[k]; !keep {
					remove = append(remove, k)
				}
			}
			return set, remove, nil
		}, req.ValidateOnly)
		out.ErrorCode, out.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, out)
	}
	return resp, nil
}
