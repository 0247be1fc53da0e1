package kafka

// DescribeUserScramCredentials: v0
//
// Lists users' SCRAM mechanisms and iteration counts (never salts or
// keys) from meta (KIP-554). Null users = every user. Needs DESCRIBE on
// the cluster. A user named twice is DUPLICATE_RESOURCE; an unknown one
// RESOURCE_NOT_FOUND.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/meta"
)

func init() {
	register(handler{key: 50, min: 0, max: 0, serve: handleDescribeUserScramCredentials})
}

// scramMechanismCodes are KIP-554's mechanism numbers.
var scramMechanismCodes = map[string]int8{meta.MechScramSHA256: 1, meta.MechScramSHA512: 2}

func scramMechanismName(code int8) (string, bool) {
	for name, c := range scramMechanismCodes {
		if c == code {
			return name, true
		}
	}
	return "", false
}

func handleDescribeUserScramCredentials(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !rc.srv.authorize(rc, aclDescribe, "") {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	sec := rc.srv.users()
	if sec == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		return resp, nil
	}
	ctx, cancel := securityContext(rc)
	defer cancel()
	users, err := sec.ListUsers(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = securityError(err)
		return resp, nil
	}
	byName := make(map[string]meta.UserInfo, len(users))
	for _, u := range users {
		byName[u.Name] = u
	}
	result := func(name string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = name
		u, ok := byName[name]
		if !ok {
			r.ErrorCode = kerr.ResourceNotFound.Code
			msg := "attempt to describe a user credential that does not exist: " + name
			r.ErrorMessage = &msg
			return r
		}
		for _, m := range u.Mechanisms {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = scramMechanismCodes[m.Mechanism], int32(m.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		return r
	}
	if req.Users == nil {
		for _, u := range users {
			resp.Results = append(resp.Results, result(u.Name))
		}
		return resp, nil
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	seen := map[string]bool{}
	for _, u := range req.Users {
		if seen[u.Name] {
			continue
		}
		seen[u.Name] = true
		if count[u.Name] > 1 {
			r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User, r.ErrorCode = u.Name, kerr.DuplicateResource.Code
			resp.Results = append(resp.Results, r)
			continue
		}
		resp.Results = append(resp.Results, result(u.Name))
	}
	return resp, nil
}
