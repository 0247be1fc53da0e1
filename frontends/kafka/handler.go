package kafka

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler serves one API key. Each NN_name.go file registers its handler
// from init() with the versions it serves; ApiVersions advertises exactly
// this table, and a request outside [min, max] gets UNSUPPORTED_VERSION.
type handler struct {
	key      int16
	min, max int16
	// serve answers one decoded request. A nil response means no reply is
	// written (Produce with acks=0). A non-nil error closes the connection
	// with the error logged: it is for broken framing or a broken
	// invariant, never for a protocol error, which goes in the response.
	serve func(rc *reqCtx, req kmsg.Request) (kmsg.Response, error)
}

// handlers is filled by init() functions only; read-only afterwards.
var handlers = map[int16]*handler{}

// register adds h to the table; a key registered twice is a programming error.
func register(h handler) {
	if _, dup := handlers[h.key]; dup {
		panic(fmt.Sprintf("kafka: api key %d registered twice", h.key))
	}
	if h.min > h.max {
		panic(fmt.Sprintf("kafka: api key %d: versions %d-%d", h.key, h.min, h.max))
	}
	handlers[h.key] = &h
}

// apiKeys returns the registered keys in ascending order.
func apiKeys() []int16 {
	keys := make([]int16, 0, len(handlers))
	for k := range handlers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// reqCtx is what a handler gets besides the request: the server, the
// connection's identity, and the request header.
type reqCtx struct {
	ctx  context.Context
	srv  *Server
	conn *connInfo
	// Header fields of this request.
	key           int16
	version       int16
	correlationID int32
	clientID      string
}

// connInfo is the part of a connection that handlers may read: who is on
// the other end. The connection's own goroutines own the rest.
type connInfo struct {
	remoteAddr string
	// principal is "User:<name>" once SASL succeeded, "User:ANONYMOUS"
	// when unauthenticated access is allowed.
	principal string
	// sasl is the authentication state (sasl.go); the read goroutine
	// owns it.
	sasl saslState
}
