package mqtt

// Security: the Authenticator, Authorizer and Limiter that `strata serve`
// plugs into the seams (auth.go), backed by meta's security shard.
//
// Authentication (Authenticate, for a CONNECT without an authentication
// method), in this order:
//  1. A verified client certificate on a TLS listener, when
//     SecurityOptions.CertificatePrincipal is set: the principal is the
//     certificate subject's CN (Mosquitto's use_identity_as_username); a
//     user name and password in the CONNECT are not checked.
//  2. A password: the user must exist in meta and the password must match
//     its SCRAM credential (SCRAM-SHA-256, else SCRAM-SHA-512: PBKDF2 of
//     the password with the stored salt, compared in constant time). An
//     unknown user costs the same derivation. Failure: CONNACK 0x86 (5.0)
//     / 4 (3.x). A password without a user name is 0x86 too.
//  3. Neither: anonymous (principal ""), if SecurityOptions.Anonymous
//     allows it for the client's address, else CONNACK 0x87 / 5. A user
//     name without a password counts as anonymous.
//
// Enhanced authentication (5.0, StartAuth): methods SCRAM-SHA-256 and
// SCRAM-SHA-512, the exchange of internal/scram (shared with Kafka's
// SASL): CONNECT carries client-first, AUTH 0x18 server-first, AUTH 0x18
// client-final, CONNACK server-final. A wrong password is CONNACK 0x86,
// a malformed message 0x87.
//
// Authorization: acl.go. Rate limits: limit.go.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/internal/scram"
	"strata/meta"
)

// AnonymousPolicy says which clients may connect without credentials.
type AnonymousPolicy int

const (
	// AnonymousLoopback: clients on 127.0.0.0/8 and ::1 (the embedded
	// default: a local broker needs no setup).
	AnonymousLoopback AnonymousPolicy = iota
	// AnonymousAllow: every client.
	AnonymousAllow
	// AnonymousDeny: no client.
	AnonymousDeny
)

// ParseAnonymousPolicy parses "loopback", "true" or "false".
func ParseAnonymousPolicy(s string) (AnonymousPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "loopback":
		return AnonymousLoopback, nil
	case "true", "allow", "yes":
		return AnonymousAllow, nil
	case "false", "deny", "no":
		return AnonymousDeny, nil
	}
	return 0, fmt.Errorf("mqtt: anonymous policy %q: want loopback, true or false", s)
}

// Defaults of SecurityOptions.
const (
	DefaultACLRefresh  = 2 * time.Second
	DefaultAuthTimeout = 10 * time.Second
)

// SecurityOptions configure NewSecurity.
type SecurityOptions struct {
	// Users is meta's security client: users (SCRAM credentials) and the
	// MQTT ACL rules. nil = no users and no rules (anonymous and
	// certificate clients only).
	Users *meta.Security
	// Anonymous: who may connect without credentials.
	Anonymous AnonymousPolicy
	// CertificatePrincipal: a verified client certificate authenticates
	// the client as its subject CN.
	CertificatePrincipal bool
	// ACLDeny makes "no rule matched" a deny; false (EMQX's default) an
	// allow.
	ACLDeny bool
	// ACLRefresh is how often the rules are re-read from meta (Refresh
	// applies a change at once); 0 = DefaultACLRefresh.
	ACLRefresh time.Duration
	// ConnectRate is the connections per second allowed from one source
	// address, ConnectBurst the bucket size (0 = the rate, at least 1);
	// 0 = unlimited.
	ConnectRate  float64
	ConnectBurst int
	// PublishRate is the PUBLISH packets per second allowed from one
	// client id, PublishBurst the bucket size; 0 = unlimited.
	PublishRate  float64
	PublishBurst int
	// AuthTimeout bounds the meta reads of one authentication; 0 =
	// DefaultAuthTimeout.
	AuthTimeout time.Duration
	// Logger; nil = slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields.
func (o *SecurityOptions) EnsureDefaults() {
	if o.ACLRefresh == 0 {
		o.ACLRefresh = DefaultACLRefresh
	}
	if o.AuthTimeout == 0 {
		o.AuthTimeout = DefaultAuthTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate checks the options.
func (o SecurityOptions) Validate() error {
	switch {
	case o.Anonymous < AnonymousLoopback || o.Anonymous > AnonymousDeny:
		return fmt.Errorf("mqtt: SecurityOptions.Anonymous %d is unknown", o.Anonymous)
	case o.ACLRefresh < 0 || o.AuthTimeout < 0:
		return errors.New("mqtt: SecurityOptions.ACLRefresh and AuthTimeout must not be negative")
	case o.ConnectRate < 0 || o.PublishRate < 0 || o.ConnectBurst < 0 || o.PublishBurst < 0:
		return errors.New("mqtt: SecurityOptions rates and bursts must not be negative")
	}
	return nil
}

// Security implements Authenticator, Authorizer and Limiter; pass it as
// all three in Options. Close it after the Server.
type Security struct {
	opts   SecurityOptions
	log    *slog.Logger
	secret []byte // seeds unknown users' fake credentials

	acl      aclHolder
	connects *rateLimiter // by source address; nil = unlimited
	publishs *rateLimiter // by client id; nil = unlimited

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	stats struct {
		badPassword, anonymous, scram atomic.Int64
		denied                        [ActionReceive + 1]atomic.Int64 // by Action
		connects, publishes           atomic.Int64
	}
}

// SecurityStats counts refusals since NewSecurity.
type SecurityStats struct {
	// BadPassword: wrong or unknown user, or a password without a user
	// name; Anonymous: refused anonymous clients; SCRAM: failed
	// enhanced authentications.
	BadPassword, Anonymous, SCRAM int64
	// Denied by the ACL rules, per action.
	DeniedPublish, DeniedSubscribe, DeniedRetain, DeniedReceive int64
	// Refused by the rate limits.
	ConnectsLimited, PublishesLimited int64
}

// Stats returns the refusal counters.
func (s *Security) Stats() SecurityStats {
	return SecurityStats{
		BadPassword: s.stats.badPassword.Load(), Anonymous: s.stats.anonymous.Load(), SCRAM: s.stats.scram.Load(),
		DeniedPublish: s.stats.denied[ActionPublish].Load(), DeniedSubscribe: s.stats.denied[ActionSubscribe].Load(),
		DeniedRetain: s.stats.denied[ActionRetain].Load(), DeniedReceive: s.stats.denied[ActionReceive].Load(),
		ConnectsLimited: s.stats.connects.Load(), PublishesLimited: s.stats.publishes.Load(),
	}
}

var (
	_ Authenticator = (*Security)(nil)
	_ Authorizer    = (*Security)(nil)
	_ Limiter       = (*Security)(nil)
)

// NewSecurity loads the ACL rules (an error if meta cannot be read) and
// starts the goroutine that refreshes them and sweeps idle rate buckets.
func NewSecurity(opts SecurityOptions) (*Security, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Security{opts: opts, log: opts.Logger, secret: make([]byte, 32), stop: make(chan struct{})}
	rand.Read(s.secret)
	s.acl.deny = opts.ACLDeny
	s.acl.set(nil, nil)
	if opts.ConnectRate > 0 {
		s.connects = newRateLimiter(opts.ConnectRate, opts.ConnectBurst)
	}
	if opts.PublishRate > 0 {
		s.publishs = newRateLimiter(opts.PublishRate, opts.PublishBurst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.AuthTimeout)
	defer cancel()
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

// Close stops the refresh goroutine.
func (s *Security) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

func (s *Security) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.ACLRefresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.AuthTimeout)
			err := s.Refresh(ctx)
			cancel()
			switch {
			case err != nil && !failing:
				s.log.Warn("mqtt: reading the ACL rules from meta; keeping the last ones", "err", err)
			case err == nil && failing:
				s.log.Info("mqtt: ACL rules read again")
			}
			failing = err != nil
			s.connects.sweep(now)
			s.publishs.sweep(now)
		}
	}
}

// Refresh re-reads the MQTT ACL rules and the mqtt_topic ACL bindings
// from meta now.
func (s *Security) Refresh(ctx context.Context) error {
	if s.opts.Users == nil {
		return nil
	}
	rules, err := s.opts.Users.ListMQTTRules(ctx)
	if err != nil {
		return fmt.Errorf("mqtt: ACL rules: %w", err)
	}
	acls, err := s.opts.Users.DescribeACLs(ctx, meta.ACLFilter{ResourceType: meta.ResourceMQTTTopic})
	if err != nil {
		return fmt.Errorf("mqtt: mqtt_topic ACLs: %w", err)
	}
	s.acl.set(rules, acls)
	return nil
}

// Authenticate implements Authenticator (see the file comment).
func (s *Security) Authenticate(ctx context.Context, req *ConnectRequest) (string, error) {
	if s.opts.CertificatePrincipal {
		if cn := certCommonName(req.Client.TLSState); cn != "" {
			return cn, nil
		}
	}
	if req.PasswordFlag {
		if !req.UsernameFlag || req.Username == "" {
			s.stats.badPassword.Add(1)
			return "", BadUserNameOrPassword
		}
		ctx, cancel := context.WithTimeout(ctx, s.opts.AuthTimeout)
		defer cancel()
		ok, err := s.checkPassword(ctx, req.Username, string(req.Password))
		if err != nil {
			s.log.Warn("mqtt: looking a user up", "user", req.Username, "err", err)
			return "", ServerUnavailable
		}
		if !ok {
			s.stats.badPassword.Add(1)
			return "", BadUserNameOrPassword
		}
		return req.Username, nil
	}
	if s.anonymousOK(req.Client.Remote) {
		return "", nil
	}
	s.stats.anonymous.Add(1)
	return "", NotAuthorized
}

// checkPassword verifies password against the user's SCRAM-SHA-256 (else
// SCRAM-SHA-512) credential. An unknown user costs the same derivation.
func (s *Security) checkPassword(ctx context.Context, name, password string) (bool, error) {
	var cred meta.ScramCredential
	mech, known := meta.MechScramSHA256, false
	if s.opts.Users != nil {
		u, ok, err := s.opts.Users.GetUser(ctx, name)
		if err != nil {
			return false, err
		}
		if ok {
			for _, m := range []string{meta.MechScramSHA256, meta.MechScramSHA512} {
				if c, has := u.Credentials[m]; has {
					cred, mech, known = c, m, true
					break
				}
			}
		}
	}
	if !known {
		cred = meta.ScramCredential{Salt: s.secret[:16], Iterations: meta.DefaultScramIterations, StoredKey: make([]byte, 32)}
	}
	return cred.VerifyPassword(mech, password) && known, nil
}

// anonymousOK applies the anonymous policy to a client address.
func (s *Security) anonymousOK(remote net.Addr) bool {
	switch s.opts.Anonymous {
	case AnonymousAllow:
		return true
	case AnonymousDeny:
		return false
	}
	ip, ok := addrIP(remote)
	return ok && ip.IsLoopback()
}

// certCommonName is the subject CN of a verified client certificate, or "".
func certCommonName(state any) string {
	cs, ok := state.(*tls.ConnectionState)
	if !ok || cs == nil || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

// addrIP is a client address's IP (IPv4-mapped addresses unmapped).
func addrIP(a net.Addr) (netip.Addr, bool) {
	switch v := a.(type) {
	case nil:
		return netip.Addr{}, false
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		return ip.Unmap(), ok
	}
	host := a.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	return ip.Unmap(), err == nil
}

// StartAuth implements Authenticator: SCRAM-SHA-256 and SCRAM-SHA-512.
func (s *Security) StartAuth(_ context.Context, req *ConnectRequest) (AuthExchange, error) {
	if s.opts.Users == nil || (req.AuthMethod != scram.SHA256 && req.AuthMethod != scram.SHA512) {
		return nil, BadAuthenticationMethod
	}
	srv, err := scram.NewServer(req.AuthMethod, nil, s.secret)
	if err != nil {
		return nil, BadAuthenticationMethod
	}
	srv.FakeIterations = meta.DefaultScramIterations
	return &scramExchange{sec: s, srv: srv, mech: req.AuthMethod}, nil
}

// scramExchange adapts a scram.Server to AuthExchange.
type scramExchange struct {
	sec  *Security
	srv  *scram.Server
	mech string
}

// Step implements AuthExchange.
func (e *scramExchange) Step(ctx context.Context, in []byte) ([]byte, bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.sec.opts.AuthTimeout)
	defer cancel()
	e.srv.Lookup = func(name string) (scram.Credential, bool, error) {
		u, ok, err := e.sec.opts.Users.GetUser(ctx, name)
		if err != nil || !ok {
			return scram.Credential{}, false, err
		}
		c, ok := u.Credentials[e.mech]
		return scram.Credential(c), ok, nil
	}
	out, done, err := e.srv.Step(in)
	if err != nil {
		e.sec.stats.scram.Add(1)
	}
	switch {
	case errors.Is(err, scram.ErrCredentials):
		return nil, false, "", fmt.Errorf("%w: %w", BadUserNameOrPassword, err)
	case errors.Is(err, scram.ErrMalformed):
		return nil, false, "", fmt.Errorf("%w: %w", NotAuthorized, err)
	case err != nil:
		e.sec.log.Warn("mqtt: SCRAM user lookup", "err", err)
		return nil, false, "", fmt.Errorf("%w: %w", ServerUnavailable, err)
	}
	if done {
		return out, true, e.srv.User(), nil
	}
	return out, false, "", nil
}
