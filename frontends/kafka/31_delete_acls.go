package kafka

// DeleteAcls: v1-3
//
// Deletes the ACL bindings each filter selects (Kafka's filter semantics:
// a binding that several filters select is reported under each) and
// returns them per filter. Needs ALTER on the cluster. A filter of
// resource type ANY never deletes meta's mqtt_topic bindings. The
// broker's ACL snapshot is refreshed before the response.
//
// Version notes: v1 pattern types; v2 flexible; v3 user resources.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 31, min: 1, max: 3, serve: handleDeleteAcls})
}

func handleDeleteAcls(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	fail := func(i int, code int16, msg *string) {
		resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
	}
	failErr := func(i int, err error) { code, msg := securityError(err); fail(i, code, msg) }
	if !rc.srv.authorize(rc, aclAlter, "") {
		for i := range resp.Results {
			fail(i, kerr.ClusterAuthorizationFailed.Code, nil)
		}
		return resp, nil
	}
	sec := rc.srv.users()
	// Every Kafka filter becomes one or more meta filters; owner maps
	// them back.
	var filters []meta.ACLFilter
	var owner []int
	for i, f := range req.Filters {
		mf, err := aclFilterToMeta(f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host, f.Operation, f.PermissionType)
		switch {
		case sec == nil:
			fail(i, kerr.SecurityDisabled.Code, nil)
			continue
		case err != nil:
			failErr(i, err)
			continue
		}
		for _, kf := range kafkaFilters(mf) {
			filters, owner = append(filters, kf), append(owner, i)
		}
	}
	if len(filters) == 0 {
		return resp, nil
	}
	ctx, cancel := securityContext(rc)
	defer cancel()
	deleted, err := sec.DeleteACLs(ctx, filters)
	if err != nil {
		for _, i := range owner {
			failErr(i, err)
		}
		return resp, nil
	}
	n := 0
	for j, bs := range deleted {
		i := owner[j]
		for _, b := range bs {
			w, ok := aclToWire(b)
			if !ok {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = w.rt, b.ResourceName, w.pt
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, w.op, w.perm
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			n++
		}
	}
	rc.srv.sec.acls.invalidate(ctx)
	rc.srv.log.Info("kafka: ACLs deleted", "principal", rc.conn.principal, "count", n)
	return resp, nil
}
