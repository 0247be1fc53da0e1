package acceptloop

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Run accepts connections on ln and hands each to handle until ln is
// closed. It returns closedErr when closed() reports the owner was shut
// down, else the listener's closing error.
func Run(ln net.Listener, log *slog.Logger, name string, closed func() bool, closedErr error, handle func(net.Conn)) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err == nil {
			backoff = 0
			handle(nc)
			continue
		}
		if closed() {
			return closedErr
		}
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		log.Warn(name+": accept failed; retrying", "err", err, "retry_in", backoff)
		time.Sleep(backoff)
	}
}
