package kafka

// AlterUserScramCredentials: v0
//
// Upserts and deletes users' SCRAM credentials in meta (KIP-554). The
// client sends the salted password (never the password); meta keeps the
// stored and server keys derived from it. Needs ALTER on the cluster.
// One result per user: a user named twice for the same mechanism is
// DUPLICATE_RESOURCE, an unknown mechanism UNSUPPORTED_SASL_MECHANISM,
// iterations outside [4096, 16384] or an empty name UNACCEPTABLE_CREDENTIAL,
// deleting a credential that does not exist RESOURCE_NOT_FOUND. A user
// with any bad entry has none of its entries applied.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 51, min: 0, max: 0, serve: handleAlterUserScramCredentials})
}

func handleAlterUserScramCredentials(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type userOps struct {
		code    int16
		msg     string
		entries []scramChange
	}
	var order []string
	ops := map[string]*userOps{}
	get := func(name string) *userOps {
		u := ops[name]
		if u == nil {
			u = &userOps{}
			ops[name] = u
			order = append(order, name)
		}
		return u
	}
	add := func(name string, code int8, up *kmsg.AlterUserSCRAMCredentialsRequestUpsertion) {
		u := get(name)
		if u.code != 0 {
			return
		}
		mech, ok := scramMechanismName(code)
		switch {
		case name == "":
			u.code, u.msg = kerr.UnacceptableCredential.Code, "empty user name"
			return
		case !ok:
			u.code, u.msg = kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("unknown SCRAM mechanism %d", code)
			return
		case up != nil && (up.Iterations < meta.MinScramIterations || up.Iterations > meta.MaxScramIterations):
			u.code, u.msg = kerr.UnacceptableCredential.Code, fmt.Sprintf("iterations %d outside [%d, %d]", up.Iterations, meta.MinScramIterations, meta.MaxScramIterations)
			return
		}
		for _, e := range u.entries {
			if e.mech == mech {
				u.code, u.msg = kerr.DuplicateResource.Code, "a user's mechanism named twice in one request"
				return
			}
		}
		u.entries = append(u.entries, scramChange{mech: mech, upsert: up})
	}
	for _, d := range req.Deletions {
		add(d.Name, d.Mechanism, nil)
	}
	for i := range req.Upsertions {
		add(req.Upsertions[i].Name, req.Upsertions[i].Mechanism, &req.Upsertions[i])
	}
	allowed := rc.srv.authorize(rc, aclAlter, "")
	sec := rc.srv.users()
	ctx, cancel := securityContext(rc)
	defer cancel()
	for _, name := range order {
		u := ops[name]
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = name
		switch {
		case !allowed:
			r.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		case sec == nil:
			r.ErrorCode = kerr.SecurityDisabled.Code
		case u.code != 0:
			r.ErrorCode, r.ErrorMessage = u.code, &u.msg
		default:
			r.ErrorCode, r.ErrorMessage = applyScramChanges(ctx, sec, name, u.entries)
		}
		resp.Results = append(resp.Results, r)
	}
	if len(order) > 0 && allowed {
		rc.srv.log.Info("kafka: SCRAM credentials altered", "principal", rc.conn.principal, "users", len(order))
	}
	return resp, nil
}

// applyScramChanges applies one user's entries in order (deletions, then
// upsertions), stopping at the first failure.
func applyScramChanges(ctx context.Context, sec *meta.Security, name string, entries []scramChange) (int16, *string) {
	for _, e := range entries {
		if e.upsert == nil {
			if err := sec.DeleteCredential(ctx, name, e.mech); err != nil {
				return securityError(err)
			}
			continue
		}
		cred, err := meta.ScramCredentialFromSaltedPassword(e.mech, e.upsert.SaltedPassword, e.upsert.Salt, int(e.upsert.Iterations))
		if err == nil && len(e.upsert.Salt) == 0 {
			err = fmt.Errorf("empty salt")
		}
		if err != nil {
			msg := err.Error()
			return kerr.UnacceptableCredential.Code, &msg
		}
		if _, err := sec.SetCredential(ctx, name, e.mech, cred, time.Now().UnixMilli()); err != nil {
			return securityError(err)
		}
	}
	return 0, nil
}

// scramChange is one deletion (upsert nil) or upsertion of a user's
// credential for a mechanism.
type scramChange struct {
	mech   string
	upsert *kmsg.AlterUserSCRAMCredentialsRequestUpsertion
}
