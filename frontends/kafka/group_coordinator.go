package kafka

// groupCoordinator runs consumer groups (classic and KIP-848) for a
// Server. This is the seam's placeholder: the consumer-group work fills it.
type groupCoordinator struct {
	srv *Server
}

func newGroupCoordinator(s *Server) *groupCoordinator { return &groupCoordinator{srv: s} }

// close stops the coordinator's timers and goroutines.
func (g *groupCoordinator) close() {}
