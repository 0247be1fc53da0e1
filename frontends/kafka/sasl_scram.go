package kafka

// The server side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677),
// as Kafka speaks it (KIP-84): no channel binding, the username in the
// client-first message, an optional authzid that must equal it.
//
// Why hand-written: github.com/xdg-go/scram (the usual Go implementation)
// is not a dependency of this module, and the server side is small. Every
// comparison that involves a secret (the stored key against the one the
// proof yields, the nonce echo) is constant-time; an unknown user gets a
// made-up credential (stable per user) and fails exactly where a wrong
// password fails, so the exchange does not tell who exists.
//
//	client-first: gs2-header client-first-bare
//	  gs2-header        = ("n" | "y") "," [ "a=" saslname ] ","
//	  client-first-bare = "n=" saslname ",r=" c-nonce ["," extensions]
//	server-first: "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
//	client-final: "c=" base64(gs2-header) ",r=" c-nonce s-nonce ["," extensions] ",p=" base64(ClientProof)
//	server-final: "v=" base64(ServerSignature)
//
//	AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//	ClientSignature = HMAC(StoredKey, AuthMessage);  ClientKey = ClientProof XOR ClientSignature
//	accept iff H(ClientKey) == StoredKey;            ServerSignature = HMAC(ServerKey, AuthMessage)

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

	"strata/meta"
)

// SASL errors. errSASLMalformed is a message that does not parse;
// errSASLCredentials a well-formed exchange with a wrong user or
// password. Both fail the authentication (SASL_AUTHENTICATION_FAILED).
var (
	errSASLMalformed   = errors.New("kafka: malformed SASL message")
	errSASLCredentials = errors.New("kafka: invalid username or password")
)

// scramLookup returns the credential of user for the mechanism; ok is
// false when there is none.
type scramLookup func(user string) (cred meta.ScramCredential, ok bool, err error)

// scramServer is one SCRAM exchange, server side: step is called with
// the client-first message, then with the client-final message.
type scramServer struct {
	mech   string
	hash   func() hash.Hash
	size   int
	lookup scramLookup
	// secret makes the fake credential of an unknown user stable.
	secret []byte
	// serverNonce makes the server's half of the nonce; nil =
	// rand.Text() (tests fix it to check RFC 7677's example).
	serverNonce func() string

	state           int // 0 = want client-first, 1 = want client-final, 2 = done
	gs2Header       string
	user            string
	clientFirstBare string
	serverFirst     string
	nonce           string // client nonce + server nonce
	cred            meta.ScramCredential
	known           bool
}

func newScramServer(mech string, lookup scramLookup, secret []byte) (*scramServer, error) {
	s := &scramServer{mech: mech, lookup: lookup, secret: secret}
	switch mech {
	case meta.MechScramSHA256:
		s.hash, s.size = sha256.New, sha256.Size
	case meta.MechScramSHA512:
		s.hash, s.size = sha512.New, sha512.Size
	default:
		return nil, fmt.Errorf("kafka: %q is not a SCRAM mechanism", mech)
	}
	return s, nil
}

// step consumes one client message and returns the server's reply; done
// is true after the client-final message was verified (user is then the
// authenticated name).
func (s *scramServer) step(in []byte) (out []byte, done bool, err error) {
	switch s.state {
	case 0:
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
	return nil, false, fmt.Errorf("%w: the SCRAM exchange is over", errSASLMalformed)
}

// clientFirstMessage is a parsed client-first message.
type clientFirstMessage struct {
	gs2Header string // "n,," or "y,,", with "a=..." inside when given
	authzID   string
	user      string // decoded saslname
	nonce     string
	bare      string // client-first-bare, verbatim
}

// parseClientFirst parses a client-first message. Channel binding ("p=")
// and mandatory extensions ("m=") are refused; the delegation-token
// extension (tokenauth=true) is refused (no delegation tokens here).
func parseClientFirst(msg string) (clientFirstMessage, error) {
	var m clientFirstMessage
	bad := func(why string) (clientFirstMessage, error) {
		return clientFirstMessage{}, fmt.Errorf("%w: client-first: %s", errSASLMalformed, why)
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
		m.authzID = name
	}
	m.gs2Header = msg[:2+i+1]
	m.bare = rest[i+1:]
	attrs := strings.Split(m.bare, ",")
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
	m.user = name
	m.nonce = attrs[1][2:]
	if !validNonce(m.nonce) {
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

// validNonce: printable ASCII except ',' (RFC 5802), not empty.
func validNonce(n string) bool {
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

func (s *scramServer) clientFirst(msg string) ([]byte, error) {
	m, err := parseClientFirst(msg)
	if err != nil {
		return nil, err
	}
	if m.authzID != "" && m.authzID != m.user {
		return nil, fmt.Errorf("%w: authzid %q is not the username", errSASLCredentials, m.authzID)
	}
	s.gs2Header, s.user, s.clientFirstBare = m.gs2Header, m.user, m.bare
	cred, ok, err := s.lookup(m.user)
	if err != nil {
		return nil, err
	}
	s.cred, s.known = cred, ok
	if !ok {
		s.cred = s.fakeCredential(m.user)
	}
	sn := rand.Text
	if s.serverNonce != nil {
		sn = s.serverNonce
	}
	s.nonce = m.nonce + sn()
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverFirst), nil
}

// fakeCredential is what an unknown user is challenged with: a salt that
// is the same on every try (derived from the user name and a per-process
// secret) and keys that match no password.
func (s *scramServer) fakeCredential(user string) meta.ScramCredential {
	mac := hmac.New(s.hash, s.secret)
	mac.Write([]byte(s.mech + "\x00" + user))
	sum := mac.Sum(nil)
	stored := make([]byte, s.size)
	rand.Read(stored)
	return meta.ScramCredential{Salt: sum[:16], Iterations: meta.DefaultScramIterations, StoredKey: stored, ServerKey: stored}
}

// clientFinalMessage is a parsed client-final message.
type clientFinalMessage struct {
	channelBinding []byte // decoded c=
	nonce          string
	withoutProof   string
	proof          []byte
}

// parseClientFinal parses a client-final message: c=, r=, optional
// extensions, and p= last.
func parseClientFinal(msg string) (clientFinalMessage, error) {
	var m clientFinalMessage
	bad := func(why string) (clientFinalMessage, error) {
		return clientFinalMessage{}, fmt.Errorf("%w: client-final: %s", errSASLMalformed, why)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return bad("no proof")
	}
	m.withoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return bad("bad proof")
	}
	m.proof = proof
	attrs := strings.Split(m.withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return bad("want c=...,r=...")
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil {
		return bad("bad channel binding")
	}
	m.channelBinding = cb
	m.nonce = attrs[1][2:]
	for _, ext := range attrs[2:] {
		if k, _, ok := strings.Cut(ext, "="); !ok || k == "" {
			return bad("bad extension")
		}
	}
	return m, nil
}

func (s *scramServer) clientFinal(msg string) ([]byte, error) {
	m, err := parseClientFinal(msg)
	if err != nil {
		return nil, err
	}
	if string(m.channelBinding) != s.gs2Header {
		return nil, fmt.Errorf("%w: client-final: channel binding does not echo the gs2 header", errSASLMalformed)
	}
	// Kafka's rule, not RFC 5802's equality: the echoed nonce must end
	// with the server-first nonce. librdkafka sends the client nonce
	// again in front of it, and Kafka accepts that; the AuthMessage
	// covers the echo verbatim, so the proof still binds it.
	if n := len(s.nonce); len(m.nonce) < n || subtle.ConstantTimeCompare([]byte(m.nonce[len(m.nonce)-n:]), []byte(s.nonce)) != 1 {
		return nil, fmt.Errorf("%w: client-final: nonce mismatch", errSASLMalformed)
	}
	if len(m.proof) != s.size {
		return nil, fmt.Errorf("%w: client-final: proof is %d bytes, want %d", errSASLMalformed, len(m.proof), s.size)
	}
	authMessage := []byte(s.clientFirstBare + "," + s.serverFirst + "," + m.withoutProof)
	mac := hmac.New(s.hash, s.cred.StoredKey)
	mac.Write(authMessage)
	clientKey := mac.Sum(nil)
	for i := range clientKey {
		clientKey[i] ^= m.proof[i]
	}
	h := s.hash()
	h.Write(clientKey)
	// hmac.Equal is constant-time; known is checked after, so an unknown
	// user costs the same as a wrong password.
	if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) || !s.known {
		return nil, errSASLCredentials
	}
	mac = hmac.New(s.hash, s.cred.ServerKey)
	mac.Write(authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))), nil
}

// parsePlain parses a SASL PLAIN message (RFC 4616):
// [authzid] NUL authcid NUL passwd. The authzid must be empty or the
// authcid (Kafka's rule: no impersonation).
func parsePlain(msg []byte) (user, password string, err error) {
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN: want authzid NUL user NUL password", errSASLMalformed)
	}
	authz, user, password := parts[0], parts[1], parts[2]
	if user == "" || password == "" {
		return "", "", fmt.Errorf("%w: PLAIN: empty user or password", errSASLMalformed)
	}
	if authz != "" && authz != user {
		return "", "", fmt.Errorf("%w: PLAIN: authzid %q is not the user", errSASLCredentials, authz)
	}
	return user, password, nil
}
