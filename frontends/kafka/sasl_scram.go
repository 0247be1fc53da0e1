package kafka

// SASL errors, and PLAIN's parser. The SCRAM exchange itself is
// internal/scram's (shared with the MQTT frontend's enhanced
// authentication); saslStep maps its errors onto these.

import (
	"errors"
	"fmt"
	"strings"

	"strata/internal/scram"
)

// SASL errors. errSASLMalformed is a message that does not parse;
// errSASLCredentials a well-formed exchange with a wrong user or
// password. Both fail the authentication (SASL_AUTHENTICATION_FAILED).
var (
	errSASLMalformed   = errors.New("kafka: malformed SASL message")
	errSASLCredentials = errors.New("kafka: invalid username or password")
)

// scramError maps an error of internal/scram onto the SASL errors (both
// stay matchable with errors.Is).
func scramError(err error) error {
	switch {
	case errors.Is(err, scram.ErrMalformed):
		return fmt.Errorf("%w: %w", errSASLMalformed, err)
	case errors.Is(err, scram.ErrCredentials):
		return fmt.Errorf("%w: %w", errSASLCredentials, err)
	}
	return err
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
