package kafka

import (
	"encoding/binary"
	"testing"
	"time"

	"strata/meta"
)

// withACLs gives s a fixed ACL snapshot so that the request-level checks
// (authz_request.go) run for the anonymous fuzz principal: some topic,
// group and transactional-id rights, not all.
func withACLs(s *Server) {
	acl := func(rt, name, pattern, op, perm string) meta.ACLBinding {
		return meta.ACLBinding{ResourceType: rt, ResourceName: name, PatternType: pattern, Principal: "User:*", Host: "*", Operation: op, Permission: perm}
	}
	s.sec.acls.snap.Store(newACLSnapshot([]meta.ACLBinding{
		acl(meta.ResourceTopic, "t", meta.PatternLiteral, "read", meta.PermissionAllow),
		acl(meta.ResourceTopic, "x", meta.PatternPrefixed, "all", meta.PermissionAllow),
		acl(meta.ResourceTopic, "t", meta.PatternLiteral, "write", meta.PermissionDeny),
		acl(meta.ResourceGroup, "g", meta.PatternPrefixed, "read", meta.PermissionAllow),
		acl(meta.ResourceTransactionalID, "*", meta.PatternLiteral, "describe", meta.PermissionAllow),
	}, time.Now().Add(24*time.Hour)))
}

// TestAuthzSeeds runs every seed request (every key and version) through
// the ACL layer: each is answered, none panics.
func TestAuthzSeeds(t *testing.T) {
	s := fuzzServer(t)
	withACLs(s)
	for i, fr := range seedRequests() {
		if err := serveFrame(s, fr); err != nil {
			t.Fatalf("seed %d (key %d v%d): %v", i, int16(binary.BigEndian.Uint16(fr)), int16(binary.BigEndian.Uint16(fr[2:])), err)
		}
	}
}

// FuzzAuthzDispatch is FuzzDispatch with ACLs in force: the request-level
// checks split and merge requests and responses, and must never panic.
func FuzzAuthzDispatch(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s)
	}
	s := fuzzServer(f)
	withACLs(s)
	f.Fuzz(func(t *testing.T, fr []byte) {
		if tooBig(fr) {
			return
		}
		if err := serveFrame(s, fr); err != nil && containsPanic(err) {
			t.Fatal(err)
		}
	})
}
