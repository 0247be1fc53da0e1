package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/internal/acceptloop"
	"strata/logstore"
	"strata/meta"
)

// Defaults of Options.
const (
	DefaultMaxFrameBytes    = 100 << 20 // Kafka's socket.request.max.bytes
	DefaultMaxMessageBytes  = 1048588   // Kafka's message.max.bytes
	DefaultPartitions       = 1         // Kafka's num.partitions
	DefaultResponseQueue    = 64
	DefaultMaxFetchSessions = 1000 // Kafka's max.incremental.fetch.session.cache.slots
	DefaultMaxFetchWait     = 30 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultIdleTimeout      = 10 * time.Minute // Kafka's connections.max.idle.ms
	DefaultClusterID        = "strata"
	defaultBrokerID         = 1
)

// Options configure a Server.
type Options struct {
	// Store holds the topics; Node is the meta node (groups, users, ACLs,
	// cluster membership live there). Node may be nil in tools that run
	// without meta; the broker id is then BrokerID (default 1).
	Store *logstore.Store
	Node  *meta.Node
	// Logger; nil = slog.Default().
	Logger *slog.Logger

	// DataDir is the store's data directory, reported by DescribeLogDirs
	// (as <DataDir>/topics) and the log.dirs broker config.
	DataDir string

	// BrokerID is this broker's node id in Metadata; 0 = the meta node's
	// id (or 1 without a meta node).
	BrokerID int32
	// ClusterID is reported in Metadata and DescribeCluster.
	ClusterID string
	// AdvertisedAddr is the host:port clients are told to connect to;
	// empty = the listener's address (a wildcard host becomes the
	// machine's host name).
	AdvertisedAddr string

	// AutoCreateTopics creates a topic that Metadata asks for and that
	// does not exist (Kafka's auto.create.topics.enable); nil = true.
	AutoCreateTopics *bool
	// DefaultPartitions is the partition count of an auto-created topic,
	// and of CreateTopics with num_partitions -1 (Kafka's num.partitions).
	DefaultPartitions int32

	// MaxFrameBytes caps a request frame; a larger size prefix closes the
	// connection before anything is allocated (socket.request.max.bytes).
	MaxFrameBytes int32
	// MaxMessageBytes caps one produced record batch (message.max.bytes).
	MaxMessageBytes int32
	// ResponseQueue bounds the responses a connection holds that are not
	// written yet. Full policy: block the connection's reader, so that a
	// client that does not read its responses stops being read.
	ResponseQueue int
	// MaxFetchSessions bounds incremental fetch sessions (KIP-227). Full
	// policy: evict the least recently used session.
	MaxFetchSessions int
	// MaxFetchWait caps a fetch's max_wait_ms.
	MaxFetchWait time.Duration
	// ShutdownTimeout bounds how long Close waits for connections to
	// finish their in-flight requests before it closes them.
	ShutdownTimeout time.Duration
	// IdleTimeout closes a connection that sends no request for this
	// long (Kafka's connections.max.idle.ms); a connection waiting on its
	// own request (a long poll) is not idle.
	IdleTimeout time.Duration
	// Registerer, if set, receives the frontend's metrics (strata_kafka_*).
	Registerer prometheus.Registerer

	// Security: SASL, the TLS listener and ACLs (sasl.go, tls.go,
	// authz.go). The zero value allows anonymous access from loopback
	// only, and enforces ACLs once any exist.
	Security SecurityOptions

	// OnAppend, if set, is called after each successful Produce append
	// with the partition's record batches as stored: the seam of the
	// unified pipeline's Kafka -> MQTT delivery (cmd/strata wires it to
	// mqtt.TopicRouter.Appended). It runs on the produce path before the
	// response, so it must not block: the callee queues (bounded, with a
	// named full policy). batches are never reused by this package; the
	// callee may keep them but must not change them.
	OnAppend func(topic string, partition int32, batches []byte)
}

// logDir is the one log directory DescribeLogDirs reports.
func (s *Server) logDir() string {
	if s.opts.DataDir == "" {
		return logstore.TopicsDirName
	}
	return filepath.Join(s.opts.DataDir, logstore.TopicsDirName)
}

// Bool returns a pointer to b, for Options.AutoCreateTopics.
func Bool(b bool) *bool { return &b }

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BrokerID == 0 {
		o.BrokerID = defaultBrokerID
		if o.Node != nil {
			o.BrokerID = int32(o.Node.ID())
		}
	}
	if o.ClusterID == "" {
		o.ClusterID = DefaultClusterID
	}
	if o.AutoCreateTopics == nil {
		o.AutoCreateTopics = Bool(true)
	}
	if o.DefaultPartitions == 0 {
		o.DefaultPartitions = DefaultPartitions
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.ResponseQueue == 0 {
		o.ResponseQueue = DefaultResponseQueue
	}
	if o.MaxFetchSessions == 0 {
		o.MaxFetchSessions = DefaultMaxFetchSessions
	}
	if o.MaxFetchWait == 0 {
		o.MaxFetchWait = DefaultMaxFetchWait
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Store == nil:
		return errors.New("kafka: Options.Store is nil")
	case o.BrokerID < 0:
		return fmt.Errorf("kafka: Options.BrokerID %d is negative", o.BrokerID)
	case o.DefaultPartitions < 1 || o.DefaultPartitions > logstore.MaxTopicPartitions:
		return fmt.Errorf("kafka: Options.DefaultPartitions %d is outside [1, %d]", o.DefaultPartitions, logstore.MaxTopicPartitions)
	case o.MaxFrameBytes < 64:
		return fmt.Errorf("kafka: Options.MaxFrameBytes %d is below 64", o.MaxFrameBytes)
	case o.MaxMessageBytes < 64:
		return fmt.Errorf("kafka: Options.MaxMessageBytes %d is below 64", o.MaxMessageBytes)
	case o.ResponseQueue < 1:
		return fmt.Errorf("kafka: Options.ResponseQueue %d is below 1", o.ResponseQueue)
	case o.MaxFetchSessions < 0:
		return fmt.Errorf("kafka: Options.MaxFetchSessions %d is negative", o.MaxFetchSessions)
	case o.MaxFetchWait < 0 || o.ShutdownTimeout < 0 || o.IdleTimeout < 0:
		return errors.New("kafka: Options.MaxFetchWait, ShutdownTimeout and IdleTimeout must not be negative")
	}
	if err := o.Security.validate(); err != nil {
		return err
	}
	if o.AdvertisedAddr != "" {
		if _, _, err := splitHostPort(o.AdvertisedAddr); err != nil {
			return fmt.Errorf("kafka: Options.AdvertisedAddr: %w", err)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	return host, int32(p), nil
}

// Server is the Kafka broker frontend.
//
// Lifecycle: NewServer, then Listen (or Serve on a listener of one's own),
// then Close, which stops accepting, lets every connection finish the
// request it is serving and write what it owes, and waits for every
// connection goroutine (up to ShutdownTimeout, then the sockets are
// closed under them).
type Server struct {
	opts   Options
	log    *slog.Logger
	store  *logstore.Store
	groups *groupCoordinator
	// Idempotent producers and transactions (producer_state.go, txn.go).
	producers *producerStates
	txns      *txnCoordinator

	// ctx is cancelled by Close: long polls wake, handlers stop waiting.
	ctx    context.Context
	cancel context.CancelFunc

	notify   *notifier
	sessions *fetchSessions
	topicIDs *topicIDCache
	metrics  *serverMetrics
	// sec holds authentication and ACL state (sasl.go, authz.go).
	sec *security

	// conns counts the goroutines of every connection and accept loop.
	wg sync.WaitGroup

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[net.Listener]struct{}
		conns     map[*conn]struct{}
		host      string // advertised host and port, set by the first Serve
		port      int32
	}
}

// NewServer builds a Server; it does not listen yet.
func NewServer(opts Options) (*Server, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, store: opts.Store}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.notify = newNotifier()
	s.sessions = newFetchSessions(opts.MaxFetchSessions)
	s.topicIDs = newTopicIDCache(opts.Store)
	s.metrics = newServerMetrics(s)
	if err := s.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("kafka: register metrics: %w", err)
	}
	s.sec = newSecurity(s)
	s.mu.listeners = make(map[net.Listener]struct{})
	s.mu.conns = make(map[*conn]struct{})
	if opts.AdvertisedAddr != "" {
		s.mu.host, s.mu.port, _ = splitHostPort(opts.AdvertisedAddr)
	}
	s.groups = newGroupCoordinator(s)
	s.producers = newProducerStates()
	s.txns = newTxnCoordinator(s)
	return s, nil
}

// ErrServerClosed is returned by Listen and Serve after Close.
var ErrServerClosed = errors.New("kafka: server closed")

// Listen opens a TCP listener on addr and serves it in the background. It
// returns the listener's address (with the port chosen when addr asked
// for port 0).
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kafka: listen %s: %w", addr, err)
	}
	if err := s.track(ln); err != nil {
		ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.serve(ln); err != nil && !errors.Is(err, ErrServerClosed) {
			s.log.Error("kafka: listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return ln.Addr(), nil
}

// Serve accepts connections on ln until Close (which returns
// ErrServerClosed) or an accept error.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.track(ln); err != nil {
		ln.Close()
		return err
	}
	return s.serve(ln)
}

func (s *Server) track(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrServerClosed
	}
	s.mu.listeners[ln] = struct{}{}
	if s.mu.host == "" {
		if host, port, err := splitHostPort(ln.Addr().String()); err == nil {
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				// A wildcard bind: advertise the machine's name, as Kafka
				// does without advertised.listeners.
				host = "127.0.0.1"
				if h, err := os.Hostname(); err == nil && h != "" {
					host = h
				}
			}
			s.mu.host, s.mu.port = host, port
		}
	}
	return nil
}

func (s *Server) serve(ln net.Listener) error {
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	s.log.Info("kafka: listening", "addr", ln.Addr().String())
	return acceptloop.Run(ln, s.log, "kafka", s.isClosed, ErrServerClosed, func(nc net.Conn) { s.startConn(nc) })
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// advertised returns the host and port of this broker in Metadata.
func (s *Server) advertised() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.host, s.mu.port
}

// Close stops accepting, wakes long polls, lets each connection finish the
// request in hand and flush its responses, and waits for every connection
// goroutine; after ShutdownTimeout the remaining sockets are closed.
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
	s.mu.Unlock()

	s.cancel()
	for _, c := range conns {
		c.stopReading()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opts.ShutdownTimeout):
		s.log.Warn("kafka: connections still busy at the shutdown timeout; closing them", "timeout", s.opts.ShutdownTimeout)
		for _, c := range conns {
			c.nc.Close()
		}
		<-done
	}
	s.txns.close()
	s.groups.close()
	s.metrics.unregister(s.opts.Registerer)
	return nil
}
