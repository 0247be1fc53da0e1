package scram

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"hash"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"
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

// derive computes a credential the way meta.NewScramCredential does
// (RFC 5802: SaltedPassword = PBKDF2, StoredKey = H(HMAC(SP, "Client
// Key")), ServerKey = HMAC(SP, "Server Key")).
func derive(t testing.TB, mech, password string, salt []byte, iterations int) Credential {
	t.Helper()
	h, size := sha256.New, sha256.Size
	if mech == SHA512 {
		h, size = sha512.New, sha512.Size
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, size)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	var stored hash.Hash = h()
	stored.Write(mac(salted, "Client Key"))
	return Credential{Salt: salt, Iterations: iterations, StoredKey: stored.Sum(nil), ServerKey: mac(salted, "Server Key")}
}

func rfcServer(t testing.TB) *Server {
	salt, _ := base64.StdEncoding.DecodeString(rfc7677.salt)
	cred := derive(t, SHA256, rfc7677.password, salt, rfc7677.iterations)
	s, err := NewServer(SHA256, func(name string) (Credential, bool, error) {
		return cred, name == rfc7677.user, nil
	}, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	s.Nonce = func() string { return rfc7677.serverNonce }
	return s
}

// TestRFC7677 replays RFC 7677's exchange byte for byte.
func TestRFC7677(t *testing.T) {
	s := rfcServer(t)
	out, done, err := s.Step([]byte(rfc7677.clientFirst))
	if err != nil || done || string(out) != rfc7677.serverFirst {
		t.Fatalf("server-first %q %v %v", out, done, err)
	}
	out, done, err = s.Step([]byte(rfc7677.clientFinal))
	if err != nil || !done || string(out) != rfc7677.server {
		t.Fatalf("server-final %q %v %v", out, done, err)
	}
	if s.User() != rfc7677.user {
		t.Fatalf("user %q", s.User())
	}
	if _, _, err := s.Step([]byte(rfc7677.clientFinal)); err == nil {
		t.Fatal("a third step succeeded")
	}
}

// TestRejects: a wrong proof, an unknown user, a changed nonce or gs2
// header, and malformed messages all fail.
func TestRejects(t *testing.T) {
	cases := []struct {
		name, first, final string
		want               error
	}{
		{"wrong proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", ErrCredentials},
		{"unknown user", "n,,n=other,r=rOprNGfwEbeRWgbNEkqO", "", ErrCredentials},
		{"nonce", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", ErrMalformed},
		{"gs2 echo", rfc7677.clientFirst, "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", ErrMalformed},
		{"authzid", "n,a=admin,n=user,r=abc", "", ErrCredentials},
		{"channel binding", "p=tls-unique,,n=user,r=abc", "", ErrMalformed},
		{"mandatory ext", "n,,m=x,n=user,r=abc", "", ErrMalformed},
		{"token auth", "n,,n=user,r=abc,tokenauth=true", "", ErrMalformed},
		{"bad name", "n,,n=us=er,r=abc", "", ErrMalformed},
		{"no proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", ErrMalformed},
		{"short proof", rfc7677.clientFirst, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := rfcServer(t)
			_, _, err := s.Step([]byte(c.first))
			if err == nil && c.final != "" {
				_, _, err = s.Step([]byte(c.final))
			} else if err == nil {
				// unknown user: any proof fails
				_, _, err = s.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO" + rfc7677.serverNonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestUnknownUserSalt: an unknown user's salt is stable across tries and
// its iteration count is FakeIterations.
func TestUnknownUserSalt(t *testing.T) {
	first := func() string {
		s, _ := NewServer(SHA256, func(string) (Credential, bool, error) { return Credential{}, false, nil }, []byte("k"))
		s.FakeIterations = 4321
		out, _, err := s.Step([]byte("n,,n=ghost,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := first(), first()
	if a[len(a)-30:] != b[len(b)-30:] || a[len(a)-7:] != ",i=4321" {
		t.Fatalf("server-first for an unknown user: %q then %q", a, b)
	}
}

// TestWithFranzClient runs franz-go's SCRAM client against the server for
// both mechanisms, with a user name that needs escaping.
func TestWithFranzClient(t *testing.T) {
	for _, mech := range []string{SHA256, SHA512} {
		cred := derive(t, mech, "pw,=", []byte("0123456789abcdef"), 4096)
		s, _ := NewServer(mech, func(name string) (Credential, bool, error) { return cred, name == "a,b=c", nil }, []byte("k"))
		a := scram.Auth{User: "a,b=c", Pass: "pw,="}
		m := a.AsSha256Mechanism()
		if mech == SHA512 {
			m = a.AsSha512Mechanism()
		}
		sess, msg, err := m.Authenticate(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for {
			out, done, err := s.Step(msg)
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
		if s.User() != "a,b=c" {
			t.Fatalf("user %q", s.User())
		}
	}
}

// FuzzClientFirst: parsing never panics, and what parses round-trips
// through the server's first step.
func FuzzClientFirst(f *testing.F) {
	for _, s := range []string{rfc7677.clientFirst, "y,,n=a=2Cb,r=x", "n,a=user,n=user,r=abc,ext=1", "p=x,,n=u,r=n", "n,,", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		m, err := ParseClientFirst(msg)
		if err != nil {
			return
		}
		if m.User == "" || !ValidNonce(m.Nonce) || m.GS2Header+m.Bare != msg {
			t.Fatalf("parsed %q into %+v", msg, m)
		}
		s := rfcServer(t)
		out, _, err := s.Step([]byte(msg))
		if err == nil && string(out[:2+len(m.Nonce)]) != "r="+m.Nonce {
			t.Fatalf("server-first %q does not start with the client nonce", out)
		}
	})
}

// FuzzClientFinal: after a valid client-first, no client-final other than
// a correct one authenticates, and none panics.
func FuzzClientFinal(f *testing.F) {
	f.Add(rfc7677.clientFinal)
	f.Add("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	f.Add("c=,r=,p=")
	f.Add(",p=")
	f.Fuzz(func(t *testing.T, msg string) {
		s := rfcServer(t)
		if _, _, err := s.Step([]byte(rfc7677.clientFirst)); err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step([]byte(msg))
		if err == nil && (!done || len(out) == 0) {
			t.Fatalf("accepted %q without finishing", msg)
		}
		if err == nil && msg != rfc7677.clientFinal {
			// The only accepted final carries RFC 7677's proof over the
			// same AuthMessage.
			t.Fatalf("accepted a client-final other than the RFC's: %q", msg)
		}
	})
}
