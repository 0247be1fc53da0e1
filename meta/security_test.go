package meta

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func TestSecurityDataDriven(t *testing.T) {
	runMachineDataDriven(t, "testdata/security", newSecurityMachine)
}

// TestScramRFC7677 checks the derivation against RFC 7677's SCRAM-SHA-256
// example (user "user", password "pencil").
func TestScramRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	cred, err := NewScramCredential(MechScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// The example's ServerSignature = HMAC(ServerKey, AuthMessage).
	auth := "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	mac := hmac.New(sha256.New, cred.ServerKey)
	mac.Write([]byte(auth))
	if got := base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server signature %s", got)
	}
	if !cred.VerifyPassword(MechScramSHA256, "pencil") || cred.VerifyPassword(MechScramSHA256, "pencil2") {
		t.Fatal("VerifyPassword")
	}
	if _, err := ScramCredentialFromSaltedPassword(MechScramSHA512, make([]byte, 32), salt, 4096); err == nil {
		t.Fatal("a 32-byte salted password accepted for SHA-512")
	}
}

func TestSecurityClient(t *testing.T) {
	ctx := context.Background()
	c := NewSecurity(newMemProposer())
	if created, err := c.SetPassword(ctx, "alice", "s3cret", nil, 1); !created || err != nil {
		t.Fatalf("SetPassword = %v, %v", created, err)
	}
	u, ok, err := c.GetUser(ctx, "alice")
	if !ok || err != nil || len(u.Credentials) != 2 {
		t.Fatalf("GetUser = %+v %v %v", u, ok, err)
	}
	if a, b := u.Credentials[MechScramSHA256].Salt, u.Credentials[MechScramSHA512].Salt; string(a) == string(b) {
		t.Fatal("both mechanisms got the same salt")
	}
	for pw, want := range map[string]bool{"s3cret": true, "S3cret": false, "": false} {
		if got, err := c.Authenticate(ctx, "alice", pw); got != want || err != nil {
			t.Fatalf("Authenticate(%q) = %v, %v", pw, got, err)
		}
	}
	if ok, err := c.Authenticate(ctx, "nobody", "x"); ok || err != nil {
		t.Fatalf("Authenticate of an unknown user = %v, %v", ok, err)
	}
	// Kafka's AlterUserScramCredentials hands over a salted password.
	salt := NewScramSalt()
	cred, err := NewScramCredential(MechScramSHA256, "pw", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if created, err := c.SetCredential(ctx, "bob", MechScramSHA256, cred, 2); !created || err != nil {
		t.Fatalf("SetCredential = %v, %v", created, err)
	}
	if ok, _ := c.Authenticate(ctx, "bob", "pw"); !ok {
		t.Fatal("bob cannot log in")
	}
	users, err := c.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[1].Mechanisms[0].Iterations != 4096 {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
	if err := c.DeleteCredential(ctx, "bob", MechScramSHA256); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.GetUser(ctx, "bob"); ok {
		t.Fatal("bob outlived his last credential")
	}
	if err := c.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, "alice"); !RejectedWith(err, RejectNotFound) {
		t.Fatalf("second DeleteUser: %v", err)
	}
	if _, err := c.SetPassword(ctx, "x", "pw", []string{"MD5"}, 1); err == nil {
		t.Fatal("unknown mechanism accepted")
	}

	acl := ACLBinding{ResourceType: ResourceTopic, ResourceName: "t", PatternType: PatternLiteral, Principal: "User:alice", Host: "*", Operation: "read", Permission: PermissionAllow}
	if n, err := c.CreateACLs(ctx, []ACLBinding{acl, acl}); n != 1 || err != nil {
		t.Fatalf("CreateACLs = %d, %v", n, err)
	}
	got, err := c.DescribeACLs(ctx, ACLFilter{ResourceName: "t", PatternType: PatternMatch})
	if err != nil || len(got) != 1 || got[0] != acl {
		t.Fatalf("DescribeACLs = %+v, %v", got, err)
	}
	del, err := c.DeleteACLs(ctx, []ACLFilter{{Principal: "User:alice"}})
	if err != nil || len(del) != 1 || len(del[0]) != 1 {
		t.Fatalf("DeleteACLs = %+v, %v", del, err)
	}
}

func TestAuthorize(t *testing.T) {
	acls := []ACLBinding{
		{ResourceTopic, "orders", PatternLiteral, "User:alice", "*", "read", PermissionAllow},
		{ResourceTopic, "ord", PatternPrefixed, "User:bob", "*", "write", PermissionAllow},
		{ResourceTopic, "*", PatternLiteral, "User:*", "10.0.0.9", "all", PermissionDeny},
		{ResourceGroup, "g", PatternLiteral, "User:*", "*", "read", PermissionAllow},
		{ResourceTopic, "cfg", PatternLiteral, "User:carol", "*", "alter_configs", PermissionAllow},
		{ResourceMQTTTopic, "sensors/+/temp", PatternMQTTFilter, "User:dev", "*", "publish", PermissionAllow},
		{ResourceMQTTTopic, "sensors/secret/#", PatternMQTTFilter, "User:dev", "*", "all", PermissionDeny},
	}
	for _, tc := range []struct {
		r              AuthzRequest
		allowed, match bool
	}{
		{AuthzRequest{"User:alice", "1.2.3.4", ResourceTopic, "orders", "read"}, true, true},
		{AuthzRequest{"User:alice", "1.2.3.4", ResourceTopic, "orders", "describe"}, true, true}, // implied by read
		{AuthzRequest{"User:alice", "1.2.3.4", ResourceTopic, "orders", "write"}, false, true},
		{AuthzRequest{"User:alice", "10.0.0.9", ResourceTopic, "orders", "read"}, false, true}, // deny wins
		{AuthzRequest{"User:bob", "1.2.3.4", ResourceTopic, "orders-eu", "write"}, true, true},
		{AuthzRequest{"User:bob", "1.2.3.4", ResourceTopic, "x", "write"}, false, true}, // only the "*" deny names it
		{AuthzRequest{"User:zed", "1.2.3.4", ResourceGroup, "g", "read"}, true, true},
		{AuthzRequest{"User:zed", "1.2.3.4", ResourceGroup, "h", "read"}, false, false},
		{AuthzRequest{"User:carol", "1.2.3.4", ResourceTopic, "cfg", "describe_configs"}, true, true},
		{AuthzRequest{"User:dev", "1.2.3.4", ResourceMQTTTopic, "sensors/k1/temp", "publish"}, true, true},
		{AuthzRequest{"User:dev", "1.2.3.4", ResourceMQTTTopic, "sensors/k1/temp", "subscribe"}, false, true},
		{AuthzRequest{"User:dev", "1.2.3.4", ResourceMQTTTopic, "sensors/secret/temp", "publish"}, false, true},
	} {
		allowed, match := Authorize(acls, tc.r)
		if allowed != tc.allowed || match != tc.match {
			t.Errorf("Authorize(%+v) = %v, %v; want %v, %v", tc.r, allowed, match, tc.allowed, tc.match)
		}
	}
}
