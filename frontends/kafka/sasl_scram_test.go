package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"

	"strata/meta"
)

// rfc7677 is the SCRAM-SHA-256 example of RFC 7677 section 3.
var rfc7677 = struct {
	user, password, salt                          string
	iterations                                    int
	serverNonce                                   string
	clientFirst, serverFirst, clientFinal, server string
}{
	user: "user", password: "pencil", salt: "W22ZaJ0SNY7soEsUEjb6gQ==", iterations: 4096,
	serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	server:      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
}

// rfcCredential is the RFC 7677 user's credential, derived once.
var rfcCredential = sync.OnceValues(func() (meta.ScramCredential, error) {
	salt, _ := base64.StdEncoding.DecodeString(rfc7677.salt)
	return meta.NewScramCredential(meta.MechScramSHA256, rfc7677.password, salt, rfc7677.iterations)
})

func rfcServer(t testing.TB) *scramServer {
	cred, err := rfcCredential()
	if err != nil {
		t.Fatal(err)
	}
	s, err := newScramServer(meta.MechScramSHA256, func(name string) (meta.ScramCredential, bool, error) {
		return cred, name == rfc7677.user, nil
	}, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	s.serverNonce = func() string { return rfc7677.serverNonce }
	return s
}

// TestScramRFC7677 replays RFC 7677's exchange byte for byte.
func TestScramRFC7677(t *testing.T) {
	s := rfcServer(t)
	out, done, err := s.step([]byte(rfc7677.clientFirst))
	if err != nil || done || string(out) != rfc7677.serverFirst {
		t.Fatalf("server-first %q %v %v", out, done, err)
	}
	out, done, err = s.step([]byte(rfc7677.clientFinal))
	if err != nil || !done || string(out) != rfc7677.server {
		t.Fatalf("server-final %q %v %v", out, done, err)
	}
	if _, _, err := s.step([]byte(rfc7677.clientFinal)); err == nil {
		t.Fatal("a third step succeeded")
	}
}

// TestScramRejects: a wrong proof, an unknown user, a changed nonce or
// gs2 header, and malformed messages all fail.
func TestScramRejects(t *testing.T) {
	cases := []struct {
		name, first, final string
		want               error
	}{
		{"wrong proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", errSASLCredentials},
		{"unknown user", "n,,n=other,r=rOprNGfwEbeRWgbNEkqO", "", errSASLCredentials},
		{"nonce", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", errSASLMalformed},
		{"gs2 echo", rfc7677.clientFirst, "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", errSASLMalformed},
		{"authzid", "n,a=admin,n=user,r=abc", "", errSASLCredentials},
		{"channel binding", "p=tls-unique,,n=user,r=abc", "", errSASLMalformed},
		{"mandatory ext", "n,,m=x,n=user,r=abc", "", errSASLMalformed},
		{"token auth", "n,,n=user,r=abc,tokenauth=true", "", errSASLMalformed},
		{"bad name", "n,,n=us=er,r=abc", "", errSASLMalformed},
		{"no proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", errSASLMalformed},
		{"short proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", errSASLMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := rfcServer(t)
			_, _, err := s.step([]byte(c.first))
			if err == nil && c.final != "" {
				_, _, err = s.step([]byte(c.final))
			} else if err == nil {
				// unknown user: any proof fails
				_, _, err = s.step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO" + rfc7677.serverNonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestScramWithFranzClient runs franz-go's SCRAM client against the
// server for both mechanisms, with a user name that needs escaping.
func TestScramWithFranzClient(t *testing.T) {
	for _, mech := range []string{meta.MechScramSHA256, meta.MechScramSHA512} {
		cred, err := meta.NewScramCredential(mech, "pw,=", meta.NewScramSalt(), meta.MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := newScramServer(mech, func(name string) (meta.ScramCredential, bool, error) { return cred, name == "a,b=c", nil }, []byte("k"))
		a := scram.Auth{User: "a,b=c", Pass: "pw,="}
		m := a.AsSha256Mechanism()
		if mech == meta.MechScramSHA512 {
			m = a.AsSha512Mechanism()
		}
		sess, msg, err := m.Authenticate(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for {
			out, done, err := s.step(msg)
			if err != nil {
				t.Fatalf("%s: %v", mech, err)
			}
			cdone, next, err := sess.Challenge(out)
			if err != nil {
				t.Fatalf("%s: client: %v", mech, err)
			}
			if done != cdone {
				t.Fatalf("%s: server done %v, client done %v", mech, done, cdone)
			}
			if done {
				break
			}
			msg = next
		}
		if s.user != "a,b=c" {
			t.Fatalf("user %q", s.user)
		}
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

// FuzzScramClientFirst: parsing never panics, and what parses round-trips
// through the server's first step.
func FuzzScramClientFirst(f *testing.F) {
	for _, s := range []string{rfc7677.clientFirst, "y,,n=a=2Cb,r=x", "n,a=user,n=user,r=abc,ext=1", "p=x,,n=u,r=n", "n,,", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		m, err := parseClientFirst(msg)
		if err != nil {
			return
		}
		if m.user == "" || !validNonce(m.nonce) || m.gs2Header+m.bare != msg {
			t.Fatalf("parsed %q into %+v", msg, m)
		}
		s := rfcServer(t)
		out, _, err := s.step([]byte(msg))
		if err == nil && string(out[:2+len(m.nonce)]) != "r="+m.nonce {
			t.Fatalf("server-first %q does not start with the client nonce", out)
		}
	})
}

// FuzzScramClientFinal: after a valid client-first, no client-final other
// than a correct one authenticates, and none panics.
func FuzzScramClientFinal(f *testing.F) {
	f.Add(rfc7677.clientFinal)
	f.Add("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	f.Add("c=,r=,p=")
	f.Add(",p=")
	f.Fuzz(func(t *testing.T, msg string) {
		s := rfcServer(t)
		if _, _, err := s.step([]byte(rfc7677.clientFirst)); err != nil {
			t.Fatal(err)
		}
		out, done, err := s.step([]byte(msg))
		if err == nil && (!done || len(out) == 0) {
			t.Fatalf("accepted %q without finishing", msg)
		}
		if err == nil {
			// The only accepted finals carry RFC 7677's proof over
			// the same AuthMessage.
			if msg != rfc7677.clientFinal {
				t.Fatalf("accepted a client-final other than the RFC's: %q", msg)
			}
		}
	})
}
