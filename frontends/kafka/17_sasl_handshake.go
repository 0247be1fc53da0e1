package kafka

// SaslHandshake: v0-1
//
// Chooses the SASL mechanism of the connection (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512; SecurityOptions.SASLMechanisms) and lists the enabled
// ones. v0: the exchange that follows is bare SASL tokens on the wire
// (a 4-byte length, then the token, both ways; see conn.rawSASL). v1: it
// is SaslAuthenticate requests (KIP-152).
//
// An unknown or disabled mechanism is UNSUPPORTED_SASL_MECHANISM, and a
// second handshake ILLEGAL_SASL_STATE; both close the connection after
// the response, as Kafka does. The exception is re-authentication
// (KIP-368, SecurityOptions.SessionLifetime): after success, a v1
// handshake with the same mechanism starts a new exchange.

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 17, min: 0, max: 1, serve: handleSaslHandshake})
}

func handleSaslHandshake(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	mechs := rc.srv.opts.Security.mechanisms()
	resp.SupportedMechanisms = slices.Clone(mechs)
	st := &rc.conn.sasl
	reauth := st.saslDone && !st.reauth && rc.srv.opts.Security.SessionLifetime > 0 && req.Version >= 1
	switch {
	case reauth && req.Mechanism != st.mech:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		st.failed = fmt.Errorf("kafka: re-authentication with %q, the session used %q (KIP-368 keeps the mechanism)", req.Mechanism, st.mech)
	case reauth:
		st.reauth = true
	case st.mech != "" || st.saslDone:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		st.failed = fmt.Errorf("kafka: SaslHandshake again (mechanism %q chosen already)", st.mech)
	case !slices.Contains(mechs, req.Mechanism):
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		st.failed = fmt.Errorf("kafka: SASL mechanism %q is not enabled (enabled: %v)", req.Mechanism, mechs)
	default:
		st.mech = req.Mechanism
		st.raw = req.Version == 0
	}
	return resp, nil
}
