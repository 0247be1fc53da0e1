package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-6.
//
//   - v1: CoordinatorType (0 group, 1 transaction)
//   - v3: flexible versions
//   - v4: batched CoordinatorKeys (KIP-699)
//   - v6: share coordinators (type 2, KIP-932): none here, INVALID_REQUEST
//
// This node coordinates every group and every transactional id.
func init() {
	register(handler{key: 10, min: 0, max: 6, serve: serveFindCoordinator})
}

func serveFindCoordinator(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	return rc.srv.groups.findCoordinator(req), nil
}

func (c *groupCoordinator) findCoordinator(req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	node, host, port := c.coordinatorAddr()
	for _, key := range keys {
		sc := kmsg.NewFindCoordinatorResponseCoordinator()
		sc.Key = key
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			sc.ErrorCode = kerr.InvalidRequest.Code
			sc.ErrorMessage = kmsg.StringPtr("unsupported coordinator type")
			sc.NodeID, sc.Port = -1, -1
		case req.CoordinatorType == 0 && key == "" && req.Version >= 4:
			sc.ErrorCode = kerr.InvalidRequest.Code
			sc.NodeID, sc.Port = -1, -1
		default:
			sc.NodeID, sc.Host, sc.Port = node, host, port
		}
		resp.Coordinators = append(resp.Coordinators, sc)
	}
	if req.Version < 4 {
		sc := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = sc.ErrorCode, sc.ErrorMessage, sc.NodeID, sc.Host, sc.Port
		resp.Coordinators = nil
	}
	return resp
}
