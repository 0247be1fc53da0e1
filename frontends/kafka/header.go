package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing errors. Each closes the connection that sent the frame, with
// the reason logged; none is a protocol error a response could carry.
var (
	errFrameTooLarge = errors.New("kafka: frame larger than the maximum")
	errFrameTooSmall = errors.New("kafka: frame too small for a request header")
	errBadHeader     = errors.New("kafka: malformed request header")
	errUnknownKey    = errors.New("kafka: unknown api key")
)

// minHeaderBytes is the smallest request header: api key, api version,
// correlation id and a client id length.
const minHeaderBytes = 2 + 2 + 4 + 2

// requestHeader is a decoded request header (v0 to v2).
//
//	v1: | api_key int16 | api_version int16 | correlation_id int32 | client_id nullable string (int16 length) |
//	v2: the same, then tagged fields (uvarint count, then per tag: uvarint tag, uvarint size, bytes).
//
// A request uses v2 exactly when its body is flexible (kmsg's IsFlexible);
// the client id keeps its int16 length even then.
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
	// flexible: the header had tagged fields and the response header
	// gets a tag byte (except ApiVersions, whose response header is v0).
	flexible bool
	// known: kmsg has a request type for key at version.
	known bool
}

// checkFrameSize validates a frame's 4-byte size prefix before anything
// is allocated for it.
func checkFrameSize(size int32, maxBytes int32) error {
	switch {
	case size < minHeaderBytes:
		return fmt.Errorf("%w: %d bytes", errFrameTooSmall, size)
	case size > maxBytes:
		return fmt.Errorf("%w: %d bytes, the maximum is %d (socket.request.max.bytes)", errFrameTooLarge, size, maxBytes)
	}
	return nil
}

// parseHeader decodes a request header from frame (the bytes after the
// size prefix) and returns the body after it. For an unknown key, or a
// version kmsg does not know, it returns the header with known=false and
// the correlation id set, and the body is not split off: the tagged
// fields (if any) cannot be told from the body.
func parseHeader(frame []byte) (requestHeader, []byte, error) {
	var h requestHeader
	if len(frame) < minHeaderBytes {
		return h, nil, errFrameTooSmall
	}
	h.key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	r := kbin.Reader{Src: frame[8:]}
	if cid := r.NullableString(); cid != nil {
		h.clientID = *cid
	}
	if !r.Ok() {
		return h, nil, fmt.Errorf("%w: client id", errBadHeader)
	}
	req := kmsg.RequestForKey(h.key)
	if req == nil {
		return h, nil, nil
	}
	req.SetVersion(h.version)
	h.flexible = req.IsFlexible()
	// ApiVersions of a version newer than kmsg knows still has a v2
	// header (KIP-511: brokers read it as the newest they know).
	if h.key == 18 && h.version > req.MaxVersion() {
		h.flexible = true
	}
	if h.version < 0 || h.version > req.MaxVersion() {
		return h, nil, nil
	}
	h.known = true
	if h.flexible {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return h, nil, fmt.Errorf("%w: tagged fields", errBadHeader)
		}
	}
	return h, r.Src, nil
}

// decodeRequest decodes a known request body.
func decodeRequest(h requestHeader, body []byte) (kmsg.Request, error) {
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("kafka: malformed %s v%d body: %w", kmsg.NameForKey(h.key), h.version, err)
	}
	return req, nil
}

// appendResponseHeader appends the size placeholder and response header
// for resp: the correlation id, and for flexible responses other than
// ApiVersions an empty tagged-field section (response header v1).
func appendResponseHeader(dst []byte, corr int32, resp kmsg.Response) []byte {
	dst = append(dst, 0, 0, 0, 0)
	// A bare SASL token (after SaslHandshake v0) has no header (sasl.go).
	if _, raw := resp.(*saslRawToken); raw {
		return dst
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != 18 {
		dst = append(dst, 0)
	}
	return dst
}
