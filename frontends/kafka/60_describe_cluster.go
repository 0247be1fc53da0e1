package kafka

// DescribeCluster: v0-1
//
// One broker, which is also the controller.
//
// Version notes: v1 endpoint type (1 = brokers; 2 = controllers is
// answered with this broker too).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 60, min: 0, max: 1, serve: handleDescribeCluster})
}

func handleDescribeCluster(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	s := rc.srv
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 {
		resp.EndpointType = req.EndpointType
	}
	resp.ClusterID = s.opts.ClusterID
	resp.ControllerID = s.opts.BrokerID
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	host, port := s.advertised()
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.opts.BrokerID, host, port
	resp.Brokers = append(resp.Brokers, b)
	return resp, nil
}
