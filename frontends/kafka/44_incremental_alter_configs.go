package kafka

// IncrementalAlterConfigs: v0-1
//
// SET and DELETE a topic's config keys; APPEND and SUBTRACT apply to list
// configs, and no store key is a list: INVALID_CONFIG. Broker configs are
// static: INVALID_REQUEST. validate_only checks and changes nothing.
//
// Version notes: v1 flexible.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/logstore"
)

func init() {
	register(handler{key: 44, min: 0, max: 1, serve: handleIncrementalAlterConfigs})
}

func handleIncrementalAlterConfigs(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, r := range req.Resources {
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = r.ResourceType, r.ResourceName
		code, msg := s.alterTopicConfigs(rc, r.ResourceType, r.ResourceName, func(map[string]string) (map[string]string, []string, error) {
			set := map[string]string{}
			var remove []string
			for _, c := range r.Configs {
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					v := ""
					if c.Value != nil {
						v = *c.Value
					}
					set[c.Name] = v
				case kmsg.IncrementalAlterConfigOpDelete:
					remove = append(remove, c.Name)
				default:
					return nil, nil, fmt.Errorf("%w: %s: operation %v applies to list configs only", logstore.ErrInvalidConfig, c.Name, c.Op)
				}
			}
			return set, remove, nil
		}, req.ValidateOnly)
		out.ErrorCode, out.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, out)
	}
	return resp, nil
}

// alterTopicConfigs is the shared body of AlterConfigs and
// IncrementalAlterConfigs: plan gets the current overrides and returns
// what to set and remove; fixed Kafka keys are checked and dropped.
func (s *Server) alterTopicConfigs(rc *reqCtx, typ kmsg.ConfigResourceType, name string, plan func(cur map[string]string) (map[string]string, []string, error), validateOnly bool) (int16, *string) {
	fail := func(code int16, msg string) (int16, *string) { return code, &msg }
	switch typ {
	case resourceTopic:
	case resourceBroker:
		return fail(kerr.InvalidRequest.Code, "broker configs are static in Strata: set them in strata.yaml, flags or STRATA_* variables")
	default:
		return fail(kerr.InvalidRequest.Code, "unsupported resource type")
	}
	if !s.authorize(rc, aclAlterConfigs, name) {
		return kerr.TopicAuthorizationFailed.Code, nil
	}
	ti, err := s.store.Topic(name)
	if err != nil {
		return errorCode(err), errorMessage(err)
	}
	set, remove, err := plan(ti.Overrides)
	if err == nil {
		set, err = s.splitTopicConfigs(set)
	}
	fixed := s.fixedTopicConfigs()
	kept := remove[:0]
	for _, k := range remove {
		if _, ok := fixed[k]; !ok {
			kept = append(kept, k)
		}
	}
	remove = kept
	if err == nil && validateOnly {
		merged := map[string]string{}
		for k, v := range ti.Overrides {
			merged[k] = v
		}
		for _, k := range remove {
			delete(merged, k)
		}
		for k, v := range set {
			merged[k] = v
		}
		var cfg logstore.TopicConfig
		if cfg, err = logstore.ParseTopicConfig(merged); err == nil {
			if cfg.Mode != ti.Config.Mode || cfg.Engine != ti.Config.Engine {
				err = fmt.Errorf("%w: %s and %s cannot change after creation", logstore.ErrInvalidConfig, logstore.KeyStorageMode, logstore.KeyStorageEngine)
			}
		}
		for _, k := range remove {
			if _, both := set[k]; both && err == nil {
				err = fmt.Errorf("%w: %s is both set and removed", logstore.ErrInvalidConfig, k)
			}
		}
	} else if err == nil {
		_, err = s.store.AlterTopicConfig(name, set, remove)
	}
	if err != nil {
		return errorCode(err), errorMessage(err)
	}
	return 0, nil
}
