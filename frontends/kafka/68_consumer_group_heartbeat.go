package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// ConsumerGroupHeartbeat: v0-1 (KIP-848).
//
//   - v0: the coordinator makes the member id of a member joining without one
//   - v1: the client makes its member id (accepted either way here);
//     SubscribedTopicRegex
//
// Server assignors: "uniform" (the default) and "range"
// (group_consumer.go).
func init() {
	register(handler{key: 68, min: 0, max: 1, serve: serveConsumerGroupHeartbeat})
}

func serveConsumerGroupHeartbeat(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	c := rc.srv.groups
	who := callerOf(rc)
	return c.locked(req, func() kmsg.Response { return c.consumerHeartbeat(who, req) }), nil
}
