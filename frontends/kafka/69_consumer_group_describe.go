package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe: v0-1 (KIP-848).
//
//   - v1: MemberType per member (1: a consumer-protocol member)
//
// A group that is not a KIP-848 group answers GROUP_ID_NOT_FOUND.
func init() {
	register(handler{key: 69, min: 0, max: 1, serve: serveConsumerGroupDescribe})
}

func serveConsumerGroupDescribe(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	return rc.srv.groups.describeConsumerGroups(kreq.(*kmsg.ConsumerGroupDescribeRequest)), nil
}

func (c *groupCoordinator) describeConsumerGroups(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	ready := c.ready()
	if ready {
		c.adoptStored(req.Groups)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range req.Groups {
		sg := kmsg.NewConsumerGroupDescribeResponseGroup()
		sg.Group = name
		if req.IncludeAuthorizedOperations {
			sg.AuthorizedOperations = groupOps
		}
		g := c.mu.groups[name]
		switch {
		case !ready:
			sg.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		case c.mu.closed:
			sg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case g == nil || g.typ != groupTypeConsumer:
			sg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found."
			if g != nil {
				msg = "Group " + name + " is not a consumer group."
			}
			sg.ErrorMessage = kmsg.StringPtr(msg)
		default:
			cg := g.cg
			sg.State = g.state.String()
			sg.Epoch, sg.AssignmentEpoch = cg.epoch, cg.assignmentEpoch
			sg.AssignorName = cg.assignor
			if sg.AssignorName == "" {
				sg.AssignorName = "uniform"
			}
			for _, id := range sortedKeys(cg.members) {
				m := cg.members[id]
				sm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				sm.MemberID, sm.ClientID, sm.ClientHost = m.id, m.clientID, m.clientHost
				if m.instanceID != "" {
					sm.InstanceID = kmsg.StringPtr(m.instanceID)
				}
				if m.rackID != "" {
					sm.RackID = kmsg.StringPtr(m.rackID)
				}
				if m.regexSrc != "" {
					sm.SubscribedTopicRegex = kmsg.StringPtr(m.regexSrc)
				}
				sm.MemberEpoch = m.epoch
				sm.SubscribedTopics = m.topics
				if sm.SubscribedTopics == nil {
					sm.SubscribedTopics = []string{}
				}
				sm.MemberType = 1
				sm.Assignment = kmsgAssignment(m.assigned)
				sm.TargetAssignment = kmsgAssignment(m.target)
				sg.Members = append(sg.Members, sm)
			}
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}
