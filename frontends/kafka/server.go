package kafka

import (
	"log/slog"

	"strata/logstore"
	"strata/meta"
)

// Options configure a Server.
type Options struct {
	// Store holds the topics; Node is the meta node (groups, users, ACLs,
	// cluster membership live there).
	Store *logstore.Store
	Node  *meta.Node
	// Logger; nil = slog.Default().
	Logger *slog.Logger
}

// Server is the Kafka broker frontend.
type Server struct {
	opts   Options
	log    *slog.Logger
	groups *groupCoordinator
}

// NewServer builds a Server; it does not listen yet.
func NewServer(opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.groups = newGroupCoordinator(s)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	s.groups.close()
	return nil
}
