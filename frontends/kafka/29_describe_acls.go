package kafka

// DescribeAcls: v1-3
//
// Lists the ACL bindings a filter selects (meta.ACLFilter semantics:
// ANY, MATCH, LITERAL, PREFIXED patterns), grouped by resource. Needs
// DESCRIBE on the cluster. v0 (literal-only, no pattern type) is not
// served, as in Kafka 4.
//
// Version notes: v1 pattern types (KIP-290); v2 flexible; v3 user
// resources (KIP-554).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 29, min: 1, max: 3, serve: handleDescribeAcls})
}

func handleDescribeAcls(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !rc.srv.authorize(rc, aclDescribe, "") {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	f, err := aclFilterToMeta(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = securityError(err)
		return resp, nil
	}
	sec := rc.srv.users()
	if sec == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		return resp, nil
	}
	ctx, cancel := securityContext(rc)
	defer cancel()
	var found []meta.ACLBinding
	for _, kf := range kafkaFilters(f) {
		bs, err := sec.DescribeACLs(ctx, kf)
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = securityError(err)
			return resp, nil
		}
		found = append(found, bs...)
	}
	// found is sorted by resource type, name and pattern within each
	// filter's answer: group neighbours.
	for _, b := range found {
		w, ok := aclToWire(b)
		if !ok {
			continue
		}
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != w.rt || resp.Resources[n-1].ResourceName != b.ResourceName ||
			resp.Resources[n-1].ResourcePatternType != w.pt {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = w.rt, b.ResourceName, w.pt
			resp.Resources = append(resp.Resources, r)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, w.op, w.perm
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, a)
	}
	return resp, nil
}
