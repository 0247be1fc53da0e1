package kafka

// SaslAuthenticate: v0-2
//
// Carries the SASL exchange after SaslHandshake v1 (KIP-152): one request
// for PLAIN, two for SCRAM (client-first, client-final). On success the
// connection's principal becomes "User:<name>". A failure is
// SASL_AUTHENTICATION_FAILED with a message (no detail that tells a
// wrong password from an unknown user), written after the
// failed-authentication delay, and then the connection closes.
//
// Version notes: v1 session_lifetime_ms (KIP-368): SecurityOptions.
// SessionLifetime on the final response (0 = no re-authentication); v2
// flexible.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 36, min: 0, max: 2, serve: handleSaslAuthenticate})
}

func handleSaslAuthenticate(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	st := &rc.conn.sasl
	if st.mech == "" || st.raw || (st.saslDone && !st.reauth) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake v1 before it, or after authentication"
		resp.ErrorMessage = &msg
		st.failed = errors.New("kafka: " + msg)
		return resp, nil
	}
	out, done, err := rc.srv.saslStep(rc, req.SASLAuthBytes)
	if err != nil {
		rc.conn.authFailed(rc, err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", st.mech)
		if errors.Is(err, errSASLMalformed) {
			msg = fmt.Sprintf("Authentication failed: malformed %s message", st.mech)
		}
		resp.ErrorMessage = &msg
		return resp, nil
	}
	resp.SASLAuthBytes = out
	if resp.SASLAuthBytes == nil {
		resp.SASLAuthBytes = []byte{}
	}
	if done {
		resp.SessionLifetimeMillis = rc.srv.opts.Security.SessionLifetime.Milliseconds()
	}
	return resp, nil
}
