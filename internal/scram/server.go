package scram

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Mechanism names (as SASL and MQTT's Authentication Method spell them).
const (
	SHA256 = "SCRAM-SHA-256"
	SHA512 = "SCRAM-SHA-512"
)

// DefaultFakeIterations is the iteration count an unknown user is
// challenged with when Server.FakeIterations is 0 (meta's default).
const DefaultFakeIterations = 8192

// Errors. ErrMalformed is a message that does not parse or breaks the
// protocol; ErrCredentials a well-formed exchange with a wrong user or
// password. Both fail the authentication.
var (
	ErrMalformed   = errors.New("scram: malformed message")
	ErrCredentials = errors.New("scram: invalid username or password")
)

// Credential is what the server keeps of a password for one mechanism
// (the same fields as meta.ScramCredential, which converts to it).
type Credential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Lookup returns the credential of user for the exchange's mechanism; ok
// is false when there is none.
type Lookup func(user string) (cred Credential, ok bool, err error)

// Server is one SCRAM exchange, server side: Step is called with the
// client-first message, then with the client-final message. Not safe for
// concurrent use.
type Server struct {
	// Lookup is called once, by the first Step. It may be replaced
	// between steps (a caller that binds it to a per-step context).
	Lookup Lookup
	// FakeIterations is the iteration count of an unknown user's made-up
	// credential: set it to what real users get, so it does not stand
	// out. 0 = DefaultFakeIterations.
	FakeIterations int
	// Nonce makes the server's half of the nonce; nil = rand.Text (tests
	// fix it to replay RFC 7677's example).
	Nonce func() string

	mech   string
	hash   func() hash.Hash
	size   int
	secret []byte

	state           int // 0 = want client-first, 1 = want client-final, 2 = done
	gs2Header       string
	user            string
	clientFirstBare string
	serverFirst     string
	nonce           string // client nonce + server nonce
	cred            Credential
	known           bool
}

// NewServer starts an exchange for mech (SHA256 or SHA512). secret makes
// an unknown user's fake credential stable (keep one per process).
func NewServer(mech string, lookup Lookup, secret []byte) (*Server, error) {
	s := &Server{Lookup: lookup, mech: mech, secret: secret}
	switch mech {
	case SHA256:
		s.hash, s.size = sha256.New, sha256.Size
	case SHA512:
		s.hash, s.size = sha512.New, sha512.Size
	default:
		return nil, fmt.Errorf("scram: %q is not a SCRAM mechanism", mech)
	}
	return s, nil
}

// User is the user name of the client-first message ("" before it). After
// a successful final Step it is the authenticated name.
func (s *Server) User() string { return s.user }

// Step consumes one client message and returns the server's reply; done
// is true after the client-final message was verified.
func (s *Server) Step(in []byte) (out []byte, done bool, err error) {
	switch s.state {
	case 0:
		s.state = 2 // a failed client-first ends the exchange too
		out, err = s.clientFirst(string(in))
		if err != nil {
			return nil, false, err
		}
		s.state = 1
		return out, false, nil
	case 1:
		s.state = 2 // one try: a failed client-final ends the exchange
		out, err = s.clientFinal(string(in))
		if err != nil {
			return nil, false, err
		}
		return out, true, nil
	}
	return nil, false, fmt.Errorf("%w: the SCRAM exchange is over", ErrMalformed)
}

// ClientFirst is a parsed client-first message.
type ClientFirst struct {
	GS2Header string // "n,," or "y,,", with "a=..." inside when given
	AuthzID   string
	User      string // decoded saslname
	Nonce     string
	Bare      string // client-first-bare, verbatim
}

// ParseClientFirst parses a client-first message. Channel binding ("p=")
// and mandatory extensions ("m=") are refused; the delegation-token
// extension (tokenauth=true) is refused.
func ParseClientFirst(msg string) (ClientFirst, error) {
	var m ClientFirst
	bad := func(why string) (ClientFirst, error) {
		return ClientFirst{}, fmt.Errorf("%w: client-first: %s", ErrMalformed, why)
	}
	if len(msg) < 2 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',' {
		if strings.HasPrefix(msg, "p=") {
			return bad("channel binding is not supported")
		}
		return bad("want gs2 flag n or y")
	}
	rest := msg[2:]
	i := strings.IndexByte(rest, ',')
	if i < 0 {
		return bad("no end of the gs2 header")
	}
	if az := rest[:i]; az != "" {
		if !strings.HasPrefix(az, "a=") {
			return bad("bad authzid")
		}
		name, ok := decodeSaslName(az[2:])
		if !ok || name == "" {
			return bad("bad authzid")
		}
		m.AuthzID = name
	}
	m.GS2Header = msg[:2+i+1]
	m.Bare = rest[i+1:]
	attrs := strings.Split(m.Bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		if len(attrs) > 0 && strings.HasPrefix(attrs[0], "m=") {
			return bad("mandatory extensions are not supported")
		}
		return bad("want n=user,r=nonce")
	}
	name, ok := decodeSaslName(attrs[0][2:])
	if !ok || name == "" {
		return bad("bad username")
	}
	m.User = name
	m.Nonce = attrs[1][2:]
	if !ValidNonce(m.Nonce) {
		return bad("bad nonce")
	}
	for _, ext := range attrs[2:] {
		k, v, ok := strings.Cut(ext, "=")
		if !ok || k == "" {
			return bad("bad extension")
		}
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			return bad("delegation tokens are not supported")
		}
	}
	return m, nil
}

// decodeSaslName undoes RFC 5802's escaping: "=2C" is ',', "=3D" is '=';
// any other '=' or a raw ',' is malformed.
func decodeSaslName(s string) (string, bool) {
	if strings.IndexByte(s, ',') >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// ValidNonce reports whether n is a legal nonce: printable ASCII except
// ',' (RFC 5802), not empty.
func ValidNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

func (s *Server) clientFirst(msg string) ([]byte, error) {
	m, err := ParseClientFirst(msg)
	if err != nil {
		return nil, err
	}
	if m.AuthzID != "" && m.AuthzID != m.User {
		return nil, fmt.Errorf("%w: authzid %q is not the username", ErrCredentials, m.AuthzID)
	}
	s.gs2Header, s.user, s.clientFirstBare = m.GS2Header, m.User, m.Bare
	var cred Credential
	var ok bool
	if s.Lookup != nil {
		if cred, ok, err = s.Lookup(m.User); err != nil {
			return nil, err
		}
	}
	s.cred, s.known = cred, ok
	if !ok || len(cred.StoredKey) != s.size || len(cred.ServerKey) != s.size {
		s.cred, s.known = s.fakeCredential(m.User), false
	}
	sn := rand.Text
	if s.Nonce != nil {
		sn = s.Nonce
	}
	s.nonce = m.Nonce + sn()
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverFirst), nil
}

// fakeCredential is what an unknown user is challenged with: a salt that
// is the same on every try (derived from the user name and the secret)
// and keys that match no password.
func (s *Server) fakeCredential(user string) Credential {
	mac := hmac.New(s.hash, s.secret)
	mac.Write([]byte(s.mech + "\x00" + user))
	sum := mac.Sum(nil)
	stored := make([]byte, s.size)
	rand.Read(stored)
	it := s.FakeIterations
	if it <= 0 {
		it = DefaultFakeIterations
	}
	return Credential{Salt: sum[:16], Iterations: it, StoredKey: stored, ServerKey: stored}
}

// ClientFinal is a parsed client-final message.
type ClientFinal struct {
	ChannelBinding []byte // decoded c=
	Nonce          string
	WithoutProof   string
	Proof          []byte
}

// ParseClientFinal parses a client-final message: c=, r=, optional
// extensions, and p= last.
func ParseClientFinal(msg string) (ClientFinal, error) {
	var m ClientFinal
	bad := func(why string) (ClientFinal, error) {
		return ClientFinal{}, fmt.Errorf("%w: client-final: %s", ErrMalformed, why)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return bad("no proof")
	}
	m.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return bad("bad proof")
	}
	m.Proof = proof
	attrs := strings.Split(m.WithoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return bad("want c=...,r=...")
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil {
		return bad("bad channel binding")
	}
	m.ChannelBinding = cb
	m.Nonce = attrs[1][2:]
	for _, ext := range attrs[2:] {
		if k, _, ok := strings.Cut(ext, "="); !ok || k == "" {
			return bad("bad extension")
		}
	}
	return m, nil
}

func (s *Server) clientFinal(msg string) ([]byte, error) {
	m, err := ParseClientFinal(msg)
	if err != nil {
		return nil, err
	}
	if string(m.ChannelBinding) != s.gs2Header {
		return nil, fmt.Errorf("%w: client-final: channel binding does not echo the gs2 header", ErrMalformed)
	}
	// Invariant 5: the echo must end with the server-first nonce.
	if n := len(s.nonce); len(m.Nonce) < n || subtle.ConstantTimeCompare([]byte(m.Nonce[len(m.Nonce)-n:]), []byte(s.nonce)) != 1 {
		return nil, fmt.Errorf("%w: client-final: nonce mismatch", ErrMalformed)
	}
	if len(m.Proof) != s.size {
		return nil, fmt.Errorf("%w: client-final: proof is %d bytes, want %d", ErrMalformed, len(m.Proof), s.size)
	}
	authMessage := []byte(s.clientFirstBare + "," + s.serverFirst + "," + m.WithoutProof)
	mac := hmac.New(s.hash, s.cred.StoredKey)
	mac.Write(authMessage)
	clientKey := mac.Sum(nil)
	for i := range clientKey {
		clientKey[i] ^= m.Proof[i]
	}
	h := s.hash()
	h.Write(clientKey)
	// hmac.Equal is constant-time; known is checked after, so an unknown
	// user costs the same as a wrong password.
	if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) || !s.known {
		return nil, ErrCredentials
	}
	mac = hmac.New(s.hash, s.cred.ServerKey)
	mac.Write(authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))), nil
}
