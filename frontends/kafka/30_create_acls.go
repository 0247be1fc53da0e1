package kafka

// CreateAcls: v1-3
//
// Adds ACL bindings (LITERAL or PREFIXED; one operation and permission
// each) to meta, one result per creation. Needs ALTER on the cluster.
// The creations are proposed together; when meta refuses the batch, each
// is proposed alone so the bad one gets the error and the rest go in.
// The broker's ACL snapshot is refreshed before the response.
//
// Version notes: v1 pattern types; v2 flexible; v3 user resources.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 30, min: 1, max: 3, serve: handleCreateAcls})
}

func handleCreateAcls(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
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
	var batch []meta.ACLBinding
	var at []int
	for i, c := range req.Creations {
		b, err := aclBindingToMeta(c)
		switch {
		case sec == nil:
			fail(i, kerr.SecurityDisabled.Code, nil)
		case err != nil:
			failErr(i, err)
		default:
			batch, at = append(batch, b), append(at, i)
		}
	}
	if len(batch) == 0 {
		return resp, nil
	}
	ctx, cancel := securityContext(rc)
	defer cancel()
	if _, err := sec.CreateACLs(ctx, batch); err != nil {
		if !meta.RejectedWith(err, meta.RejectInvalid) {
			for _, i := range at {
				failErr(i, err)
			}
		} else {
			for j, b := range batch {
				if _, err := sec.CreateACLs(ctx, []meta.ACLBinding{b}); err != nil {
					failErr(at[j], err)
				}
			}
		}
	}
	rc.srv.sec.acls.invalidate(ctx)
	rc.srv.log.Info("kafka: ACLs created", "principal", rc.conn.principal, "count", len(batch))
	return resp, nil
}
