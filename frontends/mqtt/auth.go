package mqtt

import (
	"context"
	"net"
)

// This file holds the security seams. The defaults allow everything; the
// security work (users with salted hashes in meta, client certificates,
// ACLs with %u/%c substitution, rate limits, SCRAM-SHA-256 over AUTH)
// plugs its implementations into Options.Authenticator,
// Options.Authorizer and Options.Limiter.

// ClientInfo describes a connected (or connecting) client to the
// security seams and the Router.
type ClientInfo struct {
	ClientID string
	Username string
	// Principal is what the Authenticator decided the client is (e.g. the
	// user name, or the certificate subject); "" = anonymous.
	Principal string
	Version   byte // 3, 4 or 5
	Remote    net.Addr
	// Listener names the listener: "tcp", "tls", "ws" or "wss".
	Listener string
	// TLS is set on TLS and WSS listeners.
	TLS bool
	// PeerCertificates' subjects can be read from the tls.ConnectionState
	// by an Authenticator that needs them (TLSState below).
	TLSState any // *tls.ConnectionState on TLS listeners, else nil
}

// ConnectRequest is what an Authenticator sees of a CONNECT.
type ConnectRequest struct {
	Client       ClientInfo
	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
	// AuthMethod and AuthData are the 5.0 enhanced authentication
	// properties; AuthMethod "" = plain CONNECT authentication.
	AuthMethod string
	AuthData   []byte
	// Props is the whole CONNECT property set (user properties etc.).
	Props *Properties
}

// Authenticator decides whether a client may connect.
//
// Authenticate is called once per CONNECT without an authentication
// method. It returns the principal, or a ReasonCode error:
// BadUserNameOrPassword, NotAuthorized, Banned, ServerUnavailable... The
// broker maps it to the 3.x return code (connackV3) for older clients.
//
// StartAuth is called for a 5.0 CONNECT that names an authentication
// method (enhanced authentication, e.g. SCRAM-SHA-256). It returns an
// AuthExchange for the method, or BadAuthenticationMethod.
type Authenticator interface {
	Authenticate(ctx context.Context, req *ConnectRequest) (principal string, err error)
	StartAuth(ctx context.Context, req *ConnectRequest) (AuthExchange, error)
}

// AuthExchange is one enhanced authentication conversation (5.0 AUTH
// packets). The broker calls Step with the client's authentication data
// (first from CONNECT, then from each AUTH with reason 0x18); Step
// returns the data for the server's next packet. done=false sends AUTH
// 0x18 (continue) with out and waits for the client's answer;
// done=true sends CONNACK Success with out as its authentication data
// and principal as the client's principal. An error ends the
// conversation with its ReasonCode (CONNACK, or DISCONNECT during
// re-authentication).
type AuthExchange interface {
	Step(ctx context.Context, in []byte) (out []byte, done bool, principal string, err error)
}

// Action is what a client asks the Authorizer for.
type Action byte

const (
	// ActionPublish: publish to a topic name.
	ActionPublish Action = iota + 1
	// ActionSubscribe: subscribe to a topic filter (the filter without
	// its $share/<group>/ prefix; Group in AuthzRequest holds it).
	ActionSubscribe
	// ActionRetain: publish with the retain flag (asked after
	// ActionPublish allowed the publish).
	ActionRetain
	// ActionReceive: a message on topic is about to be written to the
	// client (asked by the connection's writer just before the PUBLISH
	// is encoded, so an ACL change takes effect on existing
	// subscriptions and queued messages; a refused message is dropped,
	// and a QoS 1/2 one completed, as if delivered).
	ActionReceive
)

// AuthzRequest is one authorization question.
type AuthzRequest struct {
	Client *ClientInfo
	Action Action
	// Topic is the topic name (publish, retain, receive) or the filter
	// (subscribe).
	Topic string
	// Group is the share name of a $share subscription, else "".
	Group string
	QoS   byte
}

// Authorizer decides each publish, subscribe and delivery. It is called
// on the connection's read goroutine (publish, subscribe) or its write
// goroutine (receive), so it must be cheap and must not block: cache
// rules, do not call meta per packet. With the default AllowAll the
// receive check is skipped altogether.
type Authorizer interface {
	Authorize(req *AuthzRequest) bool
}

// Limiter is the rate limit seam: AllowConnect is asked before CONNACK
// (false = CONNACK ConnectionRateExceeded / server unavailable),
// AllowPublish for every inbound PUBLISH (false = 5.0: DISCONNECT
// MessageRateTooHigh; 3.x: the connection is closed).
type Limiter interface {
	AllowConnect(c *ClientInfo) bool
	AllowPublish(c *ClientInfo, topic string, size int) bool
}

// AllowAll is the default Authenticator, Authorizer and Limiter: every
// client connects (principal = its user name), may do anything, at any
// rate. Enhanced authentication is refused with BadAuthenticationMethod.
type AllowAll struct{}

// Authenticate allows every client.
func (AllowAll) Authenticate(_ context.Context, req *ConnectRequest) (string, error) {
	return req.Username, nil
}

// StartAuth refuses every method.
func (AllowAll) StartAuth(context.Context, *ConnectRequest) (AuthExchange, error) {
	return nil, BadAuthenticationMethod
}

// Authorize allows everything.
func (AllowAll) Authorize(*AuthzRequest) bool { return true }

// AllowConnect allows every connection.
func (AllowAll) AllowConnect(*ClientInfo) bool { return true }

// AllowPublish allows every publish.
func (AllowAll) AllowPublish(*ClientInfo, string, int) bool { return true }
