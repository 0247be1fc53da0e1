package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

// DeleteGroups: v0-2.
//
//   - v2: flexible versions
//
// Only a group without members is deleted (else NON_EMPTY_GROUP), with
// its committed offsets.
func init() {
	register(handler{key: 42, min: 0, max: 2, serve: serveDeleteGroups})
}

func serveDeleteGroups(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	return rc.srv.groups.deleteGroups(kreq.(*kmsg.DeleteGroupsRequest)), nil
}

func (c *groupCoordinator) deleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	ready := c.ready()
	if ready {
		c.adoptStored(req.Groups)
	}
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	for _, name := range req.Groups {
		sg := kmsg.NewDeleteGroupsResponseGroup()
		sg.Group = name
		sg.ErrorCode = c.deleteGroup(ready, name)
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}

// deleteGroup deletes one group; storeMu held.
func (c *groupCoordinator) deleteGroup(ready bool, name string) int16 {
	if !ready {
		return kerr.CoordinatorLoadInProgress.Code
	}
	if name == "" {
		return kerr.InvalidGroupID.Code
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return kerr.CoordinatorNotAvailable.Code
	}
	g := c.mu.groups[name]
	switch {
	case g == nil || g.state == groupDead:
		c.mu.Unlock()
		return kerr.GroupIDNotFound.Code
	case !g.isEmpty() || g.state != groupEmpty && g.typ == groupTypeClassic:
		c.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	}
	g.stopTimers()
	g.state = groupDead
	delete(c.mu.groups, name)
	delete(c.mu.dirty, name)
	c.mu.Unlock()
	delete(c.written, name)

	// The stored metadata may lag (written behind): store it empty first,
	// as meta refuses to delete a group it thinks has members.
	ctx, cancel := c.storeCtx()
	defer cancel()
	err := c.store.PutGroup(ctx, meta.GroupMetadata{Group: name, State: "Empty"}, nil)
	if err == nil {
		err = c.store.DeleteGroup(ctx, name)
	}
	if err != nil && !meta.RejectedWith(err, meta.RejectNotFound) {
		c.log.Warn("kafka: deleting group", "group", name, "err", err)
		return storeErrCode(err)
	}
	return 0
}
