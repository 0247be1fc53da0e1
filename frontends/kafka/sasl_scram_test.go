package kafka

import (
	"errors"
	"testing"

	"strata/internal/scram"
	"strata/meta"
)

// TestScramErrors: the shared SCRAM server's errors stay matchable as
// the SASL errors the handlers check (SaslAuthenticate's message).
func TestScramErrors(t *testing.T) {
	s, err := scram.NewServer(meta.MechScramSHA256, func(string) (scram.Credential, bool, error) {
		return scram.Credential{}, false, nil
	}, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Step([]byte("p=tls-unique,,n=user,r=abc")); !errors.Is(scramError(err), errSASLMalformed) {
		t.Fatalf("channel binding: %v", scramError(err))
	}
	s, _ = scram.NewServer(meta.MechScramSHA256, nil, []byte("k"))
	if _, _, err := s.Step([]byte("n,,n=ghost,r=abc")); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Step([]byte("c=biws,r=abc" + "x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if e := scramError(err); !errors.Is(e, errSASLMalformed) && !errors.Is(e, errSASLCredentials) {
		t.Fatalf("unknown user: %v", e)
	}
}

func TestParsePlain(t *testing.T) {
	for _, c := range []struct {
		in       string
		user, pw string
		ok       bool
	}{
		{"\x00alice\x00pw", "alice", "pw", true},
		{"alice\x00alice\x00pw", "alice", "pw", true},
		{"bob\x00alice\x00pw", "", "", false},
		{"\x00\x00pw", "", "", false},
		{"\x00alice\x00", "", "", false},
		{"\x00alice\x00pw\x00x", "", "", false},
		{"alice", "", "", false},
	} {
		u, p, err := parsePlain([]byte(c.in))
		if (err == nil) != c.ok || u != c.user || p != c.pw {
			t.Errorf("parsePlain(%q) = %q %q %v", c.in, u, p, err)
		}
	}
}

// FuzzParsePlain: never panics; a parsed message has a user and a
// password without NUL.
func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "a\x00a\x00b", "", "\x00\x00", "x\x00y\x00z\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		u, p, err := parsePlain(in)
		if err == nil && (u == "" || p == "") {
			t.Fatalf("accepted %q with an empty user or password", in)
		}
	})
}
