package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/logstore"
	"strata/meta"
)

// Defaults of Options.
const (
	DefaultMaxConnections    = 1 << 20
	DefaultMaxPacketSize     = 1 << 20 // 1 MiB, Kafka's message.max.bytes order
	DefaultReceiveMaximum    = 1024
	DefaultMaxInflight       = 64
	DefaultTopicAliasMaximum = 64
	DefaultMaxQueuedMessages = 1000
	DefaultOutboundQueue     = 1024
	DefaultConnectTimeout    = 10 * time.Second
	DefaultSysInterval       = 10 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultWebSocketPath     = "/mqtt"
	DefaultResponsePrefix    = "response/"
	// Version is reported on $SYS/broker/version.
	Version = "strata-mqtt 0.1"
)

// Options configure a Server.
type Options struct {
	// Store and Node are the log and the meta node, for the seams that
	// route to topics and keep sessions; both may be nil (the broker core
	// needs neither).
	Store *logstore.Store
	Node  *meta.Node
	// Logger; nil = slog.Default().
	Logger *slog.Logger

	// TLSConfig serves ListenTLS and ListenWebSocketTLS (certificates,
	// client certificate policy). nil = those listeners refuse to start.
	TLSConfig *tls.Config
	// WebSocketPath is the HTTP path of the WebSocket listeners.
	WebSocketPath string

	// MaxConnections bounds connected clients; a CONNECT over it gets
	// CONNACK QuotaExceeded (5.0) / Server unavailable (3.x).
	MaxConnections int
	// MaxPacketSize caps an inbound packet (told to 5.0 clients in
	// CONNACK); a larger one is refused before its body is allocated
	// (5.0: DISCONNECT PacketTooLarge) and the connection closed.
	MaxPacketSize uint32
	// ReceiveMaximum is the server's receive maximum: QoS 2 publishes a
	// client may have unreleased (QoS 1 is acknowledged as it is read).
	// Exceeding it is DISCONNECT ReceiveMaximumExceeded.
	ReceiveMaximum uint16
	// MaxInflight caps the outbound in-flight window per client (the
	// window is min(MaxInflight, the client's receive maximum)).
	MaxInflight uint16
	// TopicAliasMaximum is the number of topic aliases a 5.0 client may
	// use towards the server (told in CONNACK); 0 = none.
	TopicAliasMaximum uint16
	// MaxQueuedMessages bounds the QoS 1/2 messages a session holds
	// beyond its in-flight window (while the client is slow or offline).
	// Full policy: drop the oldest, counted in $SYS and Stats.
	MaxQueuedMessages int
	// OutboundQueue bounds the QoS 0 messages waiting in a connection's
	// write queue. Full policy: drop the new message, counted.
	OutboundQueue int
	// ServerKeepAlive, when set, is the most keep alive a client may use:
	// a 5.0 client asking for more (or for none) is told this value in
	// CONNACK, and it is the one enforced. 3.x clients keep their own.
	ServerKeepAlive uint16
	// MaxSessionExpiry caps a session's expiry interval (seconds); 0 = no
	// cap. 3.x persistent sessions (clean session 0) get this cap too.
	MaxSessionExpiry uint32
	// ConnectTimeout bounds the wait for CONNECT after accepting.
	ConnectTimeout time.Duration
	// RefuseSubscribe lists topic filters whose subscription is refused
	// with 0x80 (--mqtt-refuse-subscribe). Exact filter match; a
	// $share/<group>/ prefix is looked through.
	RefuseSubscribe []string
	// SysInterval is how often $SYS/ statistics are published; < 0
	// disables them.
	SysInterval time.Duration
	// ResponsePrefix is the response information given to a 5.0 client
	// that requests it: prefix + client id.
	ResponsePrefix string
	// ShutdownTimeout bounds Close's wait for connections to flush.
	ShutdownTimeout time.Duration
	// WriteTimeout bounds one flush of a connection's queued packets: a
	// client that takes no bytes for this long is disconnected (so its
	// write goroutine cannot be held forever by a full socket).
	WriteTimeout time.Duration

	// Seams (auth.go, router.go, store.go); nil = the defaults.
	Authenticator Authenticator // AllowAll
	Authorizer    Authorizer    // AllowAll
	Limiter       Limiter       // AllowAll
	Router        Router        // NopRouter
	Sessions      SessionStore  // MemorySessionStore
	Retained      RetainedStore // MemoryRetainedStore
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WebSocketPath == "" {
		o.WebSocketPath = DefaultWebSocketPath
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = DefaultMaxPacketSize
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = DefaultReceiveMaximum
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.MaxQueuedMessages == 0 {
		o.MaxQueuedMessages = DefaultMaxQueuedMessages
	}
	if o.OutboundQueue == 0 {
		o.OutboundQueue = DefaultOutboundQueue
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.SysInterval == 0 {
		o.SysInterval = DefaultSysInterval
	}
	if o.ResponsePrefix == "" {
		o.ResponsePrefix = DefaultResponsePrefix
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Authenticator == nil {
		o.Authenticator = AllowAll{}
	}
	if o.Authorizer == nil {
		o.Authorizer = AllowAll{}
	}
	if o.Limiter == nil {
		o.Limiter = AllowAll{}
	}
	if o.Router == nil {
		o.Router = NopRouter{}
	}
	if o.Sessions == nil {
		o.Sessions = NewMemorySessionStore()
	}
	if o.Retained == nil {
		o.Retained = NewMemoryRetainedStore()
	}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.MaxConnections < 1:
		return fmt.Errorf("mqtt: Options.MaxConnections %d is below 1", o.MaxConnections)
	case o.MaxPacketSize < 64 || o.MaxPacketSize > MaxVarint+5:
		return fmt.Errorf("mqtt: Options.MaxPacketSize %d is outside [64, %d]", o.MaxPacketSize, MaxVarint+5)
	case o.MaxQueuedMessages < 1 || o.OutboundQueue < 1:
		return errors.New("mqtt: Options.MaxQueuedMessages and OutboundQueue must be at least 1")
	case o.ConnectTimeout < 0 || o.ShutdownTimeout < 0 || o.WriteTimeout < 0:
		return errors.New("mqtt: Options.ConnectTimeout, ShutdownTimeout and WriteTimeout must not be negative")
	case !strings.HasPrefix(o.WebSocketPath, "/"):
		return fmt.Errorf("mqtt: Options.WebSocketPath %q does not start with /", o.WebSocketPath)
	}
	for _, f := range o.RefuseSubscribe {
		if err := validTopicFilter(f); err != nil {
			if _, _, err2 := parseShare(f); err2 != nil {
				return fmt.Errorf("mqtt: Options.RefuseSubscribe %q: %w", f, err)
			}
		}
	}
	return nil
}

// ErrServerClosed is returned by the Listen and Serve methods after Close.
var ErrServerClosed = errors.New("mqtt: server closed")

// Server is the MQTT broker.
//
// Lifecycle: NewServer, then Listen / ListenTLS / ListenWebSocket /
// ListenWebSocketTLS (or Serve on a listener of one's own), then Close,
// which stops accepting, sends 5.0 clients DISCONNECT Server shutting
// down, flushes what each connection owes, stores every session and
// waits for every goroutine.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	ctx    context.Context
	cancel context.CancelFunc

	tree     *topicTree
	retained *retainedSet
	stats    stats
	started  time.Time
	refuse   map[string]bool
	// checkReceive: the Authorizer is not AllowAll, so the writer asks it
	// (ActionReceive) before each delivery.
	checkReceive bool

	// wg counts accept loops, connection goroutines, timers' work and
	// the $SYS loop.
	wg sync.WaitGroup

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[io.Closer]struct{}
		conns     map[*conn]struct{}
		sessions  map[string]*session
		nextID    uint64 // assigned client ids
	}
}

// stats are the broker's counters ($SYS, Stats).
type stats struct {
	connected      atomic.Int64
	received       atomic.Int64 // PUBLISH packets received
	sent           atomic.Int64 // PUBLISH packets sent
	bytesIn        atomic.Int64
	bytesOut       atomic.Int64
	droppedQoS0    atomic.Int64 // outbound queue full
	droppedQueue   atomic.Int64 // session queue full: oldest dropped
	droppedOffline atomic.Int64 // QoS 0 for an offline session
	droppedOther   atomic.Int64 // expired, too large for the client, refused by the router
	malformed      atomic.Int64
	routeErrors    atomic.Int64
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Connected       int64
	Sessions        int64
	Subscriptions   int64
	Retained        int64
	Received        int64
	Sent            int64
	BytesIn         int64
	BytesOut        int64
	DroppedQoS0     int64 // QoS 0 dropped because a connection's queue was full
	DroppedQueued   int64 // oldest QoS 1/2 dropped because a session's queue was full
	DroppedOffline  int64 // QoS 0 not kept for offline sessions
	DroppedOther    int64 // expired or too large for the receiver
	MalformedClosed int64 // connections closed for a malformed packet
	RouteErrors     int64
}

// NewServer builds a Server and loads the stored sessions and retained
// messages; it does not listen yet.
func NewServer(opts Options) (*Server, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, now: time.Now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.tree = newTopicTree()
	s.retained = newRetainedSet()
	s.started = s.now()
	s.refuse = make(map[string]bool)
	_, allowAll := opts.Authorizer.(AllowAll)
	s.checkReceive = !allowAll
	for _, f := range opts.RefuseSubscribe {
		s.refuse[f] = true
	}
	s.mu.listeners = make(map[io.Closer]struct{})
	s.mu.conns = make(map[*conn]struct{})
	s.mu.sessions = make(map[string]*session)
	if err := s.load(); err != nil {
		return nil, err
	}
	if opts.SysInterval > 0 {
		s.wg.Add(1)
		go s.sysLoop()
	}
	return s, nil
}

// load rebuilds retained messages and sessions from the stores.
func (s *Server) load() error {
	msgs, err := s.opts.Retained.All()
	if err != nil {
		return fmt.Errorf("mqtt: loading retained messages: %w", err)
	}
	for _, m := range msgs {
		s.retained.set(m)
	}
	stored, err := s.opts.Sessions.All()
	if err != nil {
		return fmt.Errorf("mqtt: loading sessions: %w", err)
	}
	now := s.now()
	for _, st := range stored {
		ss := restoreSession(s, st)
		s.mu.sessions[st.ClientID] = ss
		ss.mu.Lock()
		ss.startExpiryLocked(now)
		ss.mu.Unlock()
	}
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	nsess := len(s.mu.sessions)
	s.mu.Unlock()
	return Stats{
		Connected: s.stats.connected.Load(), Sessions: int64(nsess), Subscriptions: int64(s.tree.count()),
		Retained: int64(s.retained.count()), Received: s.stats.received.Load(), Sent: s.stats.sent.Load(),
		BytesIn: s.stats.bytesIn.Load(), BytesOut: s.stats.bytesOut.Load(),
		DroppedQoS0: s.stats.droppedQoS0.Load(), DroppedQueued: s.stats.droppedQueue.Load(),
		DroppedOffline: s.stats.droppedOffline.Load(), DroppedOther: s.stats.droppedOther.Load(),
		MalformedClosed: s.stats.malformed.Load(), RouteErrors: s.stats.routeErrors.Load(),
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// Close stops accepting, disconnects every client (5.0: DISCONNECT
// Server shutting down), lets each connection flush, stores the
// sessions and waits for every goroutine; after ShutdownTimeout the
// remaining sockets are closed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	for ln := range s.mu.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	sessions := make([]*session, 0, len(s.mu.sessions))
	for _, ss := range s.mu.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()

	s.cancel()
	for _, c := range conns {
		c.kick(ServerShuttingDown, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opts.ShutdownTimeout):
		s.log.Warn("mqtt: connections still busy at the shutdown timeout; closing them", "timeout", s.opts.ShutdownTimeout)
		for _, c := range conns {
			c.nc.Close()
		}
		<-done
	}
	for _, ss := range sessions {
		ss.stopTimers()
		ss.putStore() // what each persistent session owes now, for the next start
	}
	return nil
}
