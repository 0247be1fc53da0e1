package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// LeaveGroup: v0-5.
//
//   - v3: a batch of members, each by member id or instance id (KIP-345)
//   - v4: flexible versions
//   - v5: Reason per member
func init() {
	register(handler{key: 13, min: 0, max: 5, serve: serveLeaveGroup})
}

func serveLeaveGroup(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	c := rc.srv.groups
	return c.locked(req, func() kmsg.Response { return c.leave(req) }), nil
}
