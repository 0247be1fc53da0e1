package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups: v0-6.
//
//   - v3: IncludeAuthorizedOperations
//   - v4: InstanceID per member
//   - v5: flexible versions
//   - v6: GROUP_ID_NOT_FOUND (and an ErrorMessage) for an unknown group or
//     a KIP-848 group (KIP-1043); before v6 such a group is described Dead
//
// Members carry their metadata and assignment only when the group is
// Stable, as in Kafka.
func init() {
	register(handler{key: 15, min: 0, max: 6, serve: serveDescribeGroups})
}

func serveDescribeGroups(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	return rc.srv.groups.describeGroups(kreq.(*kmsg.DescribeGroupsRequest)), nil
}

// groupOps is the AuthorizedOperations bit field of a group: READ (3),
// DELETE (6), DESCRIBE (8).
const groupOps = 1<<3 | 1<<6 | 1<<8

func (c *groupCoordinator) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	ready := c.ready()
	if ready {
		c.adoptStored(req.Groups)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range req.Groups {
		sg := kmsg.NewDescribeGroupsResponseGroup()
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
		case g == nil || g.typ != groupTypeClassic:
			sg.State = groupDead.String()
			if req.Version >= 6 {
				sg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "Group " + name + " not found."
				if g != nil {
					msg = "Group " + name + " is not a classic group."
				}
				sg.ErrorMessage = kmsg.StringPtr(msg)
			}
		default:
			sg.State = g.state.String()
			sg.ProtocolType = g.protocolType
			stable := g.state == groupStable
			if stable {
				sg.Protocol = g.protocol
			}
			for _, id := range sortedKeys(g.members) {
				m := g.members[id]
				sm := kmsg.NewDescribeGroupsResponseGroupMember()
				sm.MemberID, sm.InstanceID, sm.ClientID, sm.ClientHost = m.id, m.instancePtr(), m.clientID, m.clientHost
				if stable {
					sm.ProtocolMetadata = m.protocolMetadata(g.protocol)
					sm.MemberAssignment = g.assignmentOrEmpty(m.assignment)
				}
				sg.Members = append(sg.Members, sm)
			}
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}
