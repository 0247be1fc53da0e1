package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// Heartbeat: v0-4.
//
//   - v3: InstanceID (KIP-345)
//   - v4: flexible versions
//
// REBALANCE_IN_PROGRESS tells a member of a rebalancing group to rejoin.
func init() {
	register(handler{key: 12, min: 0, max: 4, serve: serveHeartbeat})
}

func serveHeartbeat(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	c := rc.srv.groups
	return c.locked(req, func() kmsg.Response { return c.heartbeat(req) }), nil
}
