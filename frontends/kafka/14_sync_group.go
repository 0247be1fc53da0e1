package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// SyncGroup: v0-5.
//
//   - v3: InstanceID (KIP-345)
//   - v4: flexible versions
//   - v5: ProtocolType and Protocol, checked against the group's (KIP-559)
//
// In CompletingRebalance a SyncGroup waits here for the leader's, which
// carries every member's assignment.
func init() {
	register(handler{key: 14, min: 0, max: 5, serve: serveSyncGroup})
}

func serveSyncGroup(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	c := rc.srv.groups
	reply, ch := replyChan()
	resp := c.locked(req, func() kmsg.Response { return c.sync(req, reply) })
	if resp != nil {
		return resp, nil
	}
	return await(rc.ctx, ch)
}
