package kafka

// Authentication: who a connection is.
//
// A connection's principal is, in order: the SASL user once SaslAuthenticate
// (or the raw v0 exchange) succeeded ("User:alice"); else, on the TLS
// listener with a verified client certificate, its subject CN
// ("User:<CN>"); else "User:ANONYMOUS" when SecurityOptions.Anonymous lets
// this connection in. A connection that is none of these must
// authenticate: until it does, it may send only ApiVersions, SaslHandshake
// and SaslAuthenticate, and any other request closes it with the reason
// logged (what Kafka does on a SASL listener).
//
// Credentials live in meta's security shard (users with SCRAM
// credentials). PLAIN is checked against the same credential (meta
// recomputes the stored key from the offered password); SCRAM runs the
// exchange of internal/scram (shared with the MQTT frontend). A failed authentication is answered with
// SASL_AUTHENTICATION_FAILED after SecurityOptions.FailedAuthDelay, and the
// connection is closed once that response is written.
//
// Re-authentication (KIP-368) is off unless SecurityOptions.SessionLifetime
// is set (Kafka's connections.max.reauth.ms): then SaslAuthenticate tells
// the client the session's lifetime, the client runs SaslHandshake v1 and
// SaslAuthenticate again on the same connection before it ends (same
// mechanism, same principal, or the connection closes), and a request
// after the session expired closes the connection. Without it a second
// SaslHandshake after success is ILLEGAL_SASL_STATE.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"strata/internal/scram"
	"strata/meta"
)

// SASL mechanism names.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = meta.MechScramSHA256
	MechScramSHA512 = meta.MechScramSHA512
)

// DefaultSASLMechanisms are enabled when SecurityOptions.SASLMechanisms is
// nil.
var DefaultSASLMechanisms = []string{MechPlain, MechScramSHA256, MechScramSHA512}

// AnonymousPolicy says which connections may use the broker without
// authenticating.
type AnonymousPolicy string

const (
	// AnonymousLoopback (the zero value): connections from a loopback
	// address (127.0.0.0/8, ::1) need not authenticate; others must.
	// This is the embedded default: a broker on 127.0.0.1 just works.
	AnonymousLoopback AnonymousPolicy = ""
	// AnonymousAllow: every connection may skip authentication.
	AnonymousAllow AnonymousPolicy = "allow"
	// AnonymousDeny: every connection must authenticate (SASL, or a
	// verified client certificate on the TLS listener).
	AnonymousDeny AnonymousPolicy = "deny"
)

// ParseAnonymousPolicy parses a flag value: loopback, true/allow,
// false/deny.
func ParseAnonymousPolicy(s string) (AnonymousPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "loopback", "":
		return AnonymousLoopback, nil
	case "true", "allow", "all", "yes":
		return AnonymousAllow, nil
	case "false", "deny", "none", "no":
		return AnonymousDeny, nil
	}
	return "", fmt.Errorf("kafka: anonymous policy %q: want loopback, true or false", s)
}

// Defaults of SecurityOptions.
const (
	DefaultACLCacheTTL     = time.Second
	DefaultFailedAuthDelay = 100 * time.Millisecond // Kafka's connection.failed.authentication.delay.ms
)

// SecurityOptions configure authentication, the TLS listener and ACLs
// (Options.Security). The zero value: all three SASL mechanisms offered,
// anonymous access from loopback only, no TLS, ACLs enforced once any
// exist.
type SecurityOptions struct {
	// SASLMechanisms offered in SaslHandshake; nil = DefaultSASLMechanisms,
	// empty non-nil = SASL off (every handshake is refused).
	SASLMechanisms []string
	// Anonymous says who may skip authentication.
	Anonymous AnonymousPolicy
	// TLS is the server config of ListenTLS (certificates; ClientAuth and
	// ClientCAs for client certificates). Nil: ListenTLS fails.
	TLS *tls.Config
	// TLSAdvertisedAddr is the host:port Metadata gives clients of the
	// TLS listener; empty = that listener's address (a wildcard host
	// becomes the plain listener's advertised host).
	TLSAdvertisedAddr string

	// SuperUsers are principals ("User:admin") that every ACL check
	// allows (Kafka's super.users).
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is Kafka's allow.everyone.if.no.acl.found
	// once ACLs exist: a resource that no ACL names is open to everyone
	// (true) or to super users only (false, the default, as Kafka's).
	// While no Kafka ACL exists at all, everything is allowed regardless.
	AllowEveryoneIfNoACLFound bool
	// ACLCacheTTL is how stale the ACL snapshot may get (ACLs changed
	// through this broker's CreateAcls/DeleteAcls apply at once; those
	// changed elsewhere within the TTL). 0 = DefaultACLCacheTTL.
	ACLCacheTTL time.Duration
	// FailedAuthDelay delays the response to a failed authentication
	// (slows password guessing). 0 = DefaultFailedAuthDelay; negative =
	// none.
	FailedAuthDelay time.Duration
	// SessionLifetime is how long a SASL login lasts before the client
	// must re-authenticate on the connection (KIP-368; Kafka's
	// connections.max.reauth.ms). 0 = forever, no re-authentication.
	SessionLifetime time.Duration
}

// mechanisms returns the enabled mechanisms.
func (o SecurityOptions) mechanisms() []string {
	if o.SASLMechanisms == nil {
		return DefaultSASLMechanisms
	}
	return o.SASLMechanisms
}

func (o SecurityOptions) validate() error {
	for _, m := range o.SASLMechanisms {
		if !slices.Contains(DefaultSASLMechanisms, m) {
			return fmt.Errorf("kafka: Options.Security.SASLMechanisms: %q is not one of %s", m, strings.Join(DefaultSASLMechanisms, ", "))
		}
	}
	switch o.Anonymous {
	case AnonymousLoopback, AnonymousAllow, AnonymousDeny:
	default:
		return fmt.Errorf("kafka: Options.Security.Anonymous %q: want \"\", allow or deny", o.Anonymous)
	}
	for _, p := range o.SuperUsers {
		if i := strings.IndexByte(p, ':'); i <= 0 || i == len(p)-1 {
			return fmt.Errorf("kafka: Options.Security.SuperUsers: %q is not Type:name (User:admin)", p)
		}
	}
	if o.TLSAdvertisedAddr != "" {
		if _, _, err := splitHostPort(o.TLSAdvertisedAddr); err != nil {
			return fmt.Errorf("kafka: Options.Security.TLSAdvertisedAddr: %w", err)
		}
	}
	if o.ACLCacheTTL < 0 || o.SessionLifetime < 0 {
		return errors.New("kafka: Options.Security.ACLCacheTTL and SessionLifetime must not be negative")
	}
	return nil
}

// saslState is a connection's authentication state, in connInfo. Only the
// connection's read goroutine touches it (handlers run there).
type saslState struct {
	started bool
	// mustAuth: this connection may not go on anonymously.
	mustAuth bool
	// authenticated by SASL or a client certificate.
	authenticated bool
	// tls: the connection came in on the TLS listener.
	tls bool
	// mech is the mechanism SaslHandshake chose; "" before it.
	mech string
	// raw: SaslHandshake v0 chose mech, so the next frames are bare SASL
	// tokens (a 4-byte length, then the token; no request header).
	raw bool
	// saslDone: a SASL exchange succeeded on this connection.
	saslDone bool
	// reauth: a re-authentication (KIP-368) is under way; expires is
	// when the session ends (zero: never).
	reauth  bool
	expires time.Time
	scram   *scram.Server
	// failed is set when authentication failed: the connection closes
	// once the response that says so is written.
	failed error
}

// startSecurity sets the state up at the connection's first frame (a TLS
// handshake is complete by then): client certificate principal, and
// whether the connection may stay anonymous.
func (c *conn) startSecurity() {
	st := &c.info.sasl
	st.started = true
	if tc, ok := c.nc.(*tls.Conn); ok {
		st.tls = true
		if p := certPrincipal(tc.ConnectionState()); p != "" {
			c.info.principal, st.authenticated = p, true
			c.log.Debug("kafka: client certificate", "principal", p)
		}
	}
	st.mustAuth = !st.authenticated && !c.srv.anonymousOK(c.nc.RemoteAddr())
}

// anonymousOK applies SecurityOptions.Anonymous to a peer address.
func (s *Server) anonymousOK(addr net.Addr) bool {
	switch s.opts.Security.Anonymous {
	case AnonymousAllow:
		return true
	case AnonymousDeny:
		return false
	}
	host := addr.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// admit is the authentication gate of every request (called from
// conn.handle with the request's api key): a connection that must
// authenticate and has not may send only ApiVersions (18), SaslHandshake
// (17) and SaslAuthenticate (36); anything else closes it.
func (c *conn) admit(key int16) error {
	st := &c.info.sasl
	if !st.started {
		c.startSecurity()
	}
	if st.failed != nil {
		return st.failed
	}
	if st.saslDone && !st.expires.IsZero() && key != 17 && key != 36 && time.Now().After(st.expires) {
		return fmt.Errorf("kafka: %s (key %d) after the SASL session expired at %s without re-authentication (KIP-368)",
			kmsg.NameForKey(key), key, st.expires.Format(time.RFC3339Nano))
	}
	if !st.mustAuth || st.authenticated {
		return nil
	}
	switch key {
	case 17, 18, 36:
		return nil
	}
	return fmt.Errorf("kafka: %s (key %d) before authentication: this connection must authenticate with SASL first", kmsg.NameForKey(key), key)
}

// authFailed ends the connection after its response: sets the failure and
// waits the failed-authentication delay.
func (c *connInfo) authFailed(rc *reqCtx, err error) {
	c.sasl.failed = fmt.Errorf("kafka: SASL authentication failed (closing): %w", err)
	rc.srv.metrics.sec.authn.WithLabelValues(c.sasl.mech, "failed").Inc()
	d := rc.srv.opts.Security.FailedAuthDelay
	if d == 0 {
		d = DefaultFailedAuthDelay
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-rc.ctx.Done():
		}
	}
}

// saslStep runs one step of the connection's SASL exchange: the PLAIN
// message, or a SCRAM client message. done is true once authenticated
// (principal set).
func (s *Server) saslStep(rc *reqCtx, in []byte) (out []byte, done bool, err error) {
	st := &rc.conn.sasl
	ctx, cancel := context.WithTimeout(rc.ctx, 10*time.Second)
	defer cancel()
	var user string
	switch st.mech {
	case MechPlain:
		name, password, err := parsePlain(in)
		if err != nil {
			return nil, false, err
		}
		if err := s.checkPlain(ctx, name, password); err != nil {
			return nil, false, fmt.Errorf("user %q: %w", name, err)
		}
		user, done = name, true
	case MechScramSHA256, MechScramSHA512:
		if st.scram == nil {
			if st.scram, err = scram.NewServer(st.mech, nil, s.sec.secret); err != nil {
				return nil, false, err
			}
			st.scram.FakeIterations = meta.DefaultScramIterations
		}
		// The lookup uses this step's context (only the first step calls it).
		st.scram.Lookup = func(name string) (scram.Credential, bool, error) {
			cred, ok, err := s.scramCredential(ctx, name, st.mech)
			return scram.Credential(cred), ok, err
		}
		out, done, err = st.scram.Step(in)
		if err != nil {
			err = scramError(err)
			if u := st.scram.User(); u != "" {
				err = fmt.Errorf("user %q: %w", u, err)
			}
			return nil, false, err
		}
		user = st.scram.User()
	default:
		return nil, false, fmt.Errorf("kafka: no SASL mechanism chosen")
	}
	if done {
		principal := "User:" + user
		if st.reauth {
			// KIP-368: a re-authentication may not change who this is.
			if principal != rc.conn.principal {
				return nil, false, fmt.Errorf("%w: re-authentication as %s on a connection of %s", errSASLCredentials, principal, rc.conn.principal)
			}
			st.reauth = false
			s.sec.reauthentications.Add(1)
			s.metrics.sec.authn.WithLabelValues(st.mech, "reauth").Inc()
			s.log.Debug("kafka: re-authenticated", "remote", rc.conn.remoteAddr, "principal", principal)
		} else {
			s.log.Info("kafka: authenticated", "remote", rc.conn.remoteAddr, "principal", principal, "mechanism", st.mech)
			s.metrics.sec.authn.WithLabelValues(st.mech, "ok").Inc()
		}
		st.saslDone, st.authenticated, st.scram = true, true, nil
		rc.conn.principal = principal
		if lt := s.opts.Security.SessionLifetime; lt > 0 {
			st.expires = time.Now().Add(lt)
		}
	}
	return out, done, nil
}

// security is the part of the Server that authentication and ACLs keep.
type security struct {
	// secret seeds the fake SCRAM credentials of unknown users.
	secret []byte
	acls   *aclCache
	// tlsHost and tlsPort are what the TLS listener advertises, set by
	// ListenTLS.
	tlsHost string
	tlsPort int32
	// reauthentications counts KIP-368 re-authentications (tests).
	reauthentications atomic.Int64
}

func newSecurity(s *Server) *security {
	secret := make([]byte, 32)
	rand.Read(secret)
	return &security{secret: secret, acls: newACLCache(s)}
}

// users returns the meta client of users and ACLs; nil without meta.
func (s *Server) users() *meta.Security {
	if s.opts.Node == nil {
		return nil
	}
	return meta.NewSecurity(s.opts.Node)
}

// scramCredential looks a user's credential up in meta.
func (s *Server) scramCredential(ctx context.Context, name, mech string) (meta.ScramCredential, bool, error) {
	sec := s.users()
	if sec == nil {
		return meta.ScramCredential{}, false, nil
	}
	u, ok, err := sec.GetUser(ctx, name)
	if err != nil || !ok {
		return meta.ScramCredential{}, false, err
	}
	cred, ok := u.Credentials[mech]
	return cred, ok, nil
}

// checkPlain verifies a PLAIN login against the user's SCRAM-SHA-512
// credential, or its SCRAM-SHA-256 one. An unknown user costs the same
// key derivation as a known one.
func (s *Server) checkPlain(ctx context.Context, name, password string) error {
	var cred meta.ScramCredential
	var mech string
	var known bool
	if sec := s.users(); sec != nil {
		u, ok, err := sec.GetUser(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			for _, m := range []string{MechScramSHA512, MechScramSHA256} {
				if c, has := u.Credentials[m]; has {
					cred, mech, known = c, m, true
					break
				}
			}
		}
	}
	if !known {
		mech = MechScramSHA512
		cred = meta.ScramCredential{Salt: s.sec.secret[:16], Iterations: meta.DefaultScramIterations, StoredKey: make([]byte, 64)}
	}
	if !cred.VerifyPassword(mech, password) || !known {
		return errSASLCredentials
	}
	return nil
}

// saslRawToken is a bare SASL token written after SaslHandshake v0: the
// 4-byte length and the bytes, no response header (appendResponseHeader
// leaves the correlation id out for it).
type saslRawToken struct{ b []byte }

func (*saslRawToken) Key() int16                   { return 36 }
func (*saslRawToken) MaxVersion() int16            { return 0 }
func (*saslRawToken) SetVersion(int16)             {}
func (*saslRawToken) GetVersion() int16            { return 0 }
func (*saslRawToken) IsFlexible() bool             { return false }
func (t *saslRawToken) AppendTo(dst []byte) []byte { return append(dst, t.b...) }
func (*saslRawToken) ReadFrom([]byte) error {
	return errors.New("kafka: a raw SASL token is written only")
}
func (*saslRawToken) RequestKind() kmsg.Request { return kmsg.NewPtrSASLAuthenticateRequest() }

// rawSASL serves one frame of the v0 exchange: the frame is a bare token.
// A failure closes the connection without a reply (Kafka's v0 behaviour:
// the client sees the connection close).
func (c *conn) rawSASL(frame []byte) error {
	rc := &reqCtx{ctx: c.ctx, srv: c.srv, conn: &c.info, key: 36}
	out, done, err := c.srv.saslStep(rc, frame)
	if err != nil {
		c.info.authFailed(rc, err)
		return c.info.sasl.failed
	}
	if done {
		c.info.sasl.raw = false
	}
	c.enqueue(response{resp: &saslRawToken{b: out}})
	return nil
}

// rawSASLSize: while bare tokens are expected, a frame may be shorter
// than a request header (a short PLAIN token), down to empty.
func (c *conn) rawSASLSize(size int32) bool {
	return c.info.sasl.raw && size >= 0 && size <= c.srv.opts.MaxFrameBytes
}

// saslFailure is checked after a response is queued: a failed exchange
// closes the connection once that response is written.
func (c *conn) saslFailure() error { return c.info.sasl.failed }
