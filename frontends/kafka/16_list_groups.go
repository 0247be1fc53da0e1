package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups: v0-5.
//
//   - v3: flexible versions
//   - v4: StatesFilter (KIP-518), matched case-insensitively
//   - v5: TypesFilter and GroupType, "classic" or "consumer" (KIP-848)
func init() {
	register(handler{key: 16, min: 0, max: 5, serve: serveListGroups})
}

func serveListGroups(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	c := rc.srv.groups
	if c.ready() {
		c.adoptAllStored()
	}
	return c.locked(req, func() kmsg.Response { return c.listGroups(req) }), nil
}

func (c *groupCoordinator) listGroups(req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, name := range sortedKeys(c.mu.groups) {
		g := c.mu.groups[name]
		if !match(req.StatesFilter, g.state.String()) || !match(req.TypesFilter, g.typ) {
			continue
		}
		sg := kmsg.NewListGroupsResponseGroup()
		sg.Group, sg.ProtocolType, sg.GroupState, sg.GroupType = name, g.protocolType, g.state.String(), g.typ
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}
