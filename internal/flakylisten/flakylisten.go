package flakylisten

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// Listener wraps a real listener; the first Fails calls of Accept fail
// with EMFILE (as *net.OpError, the way the net package reports it).
type Listener struct {
	net.Listener
	fails  atomic.Int64
	Failed atomic.Int64 // Accept calls that failed on purpose
}

// New wraps ln so that its next fails Accept calls fail with EMFILE.
func New(ln net.Listener, fails int) *Listener {
	l := &Listener{Listener: ln}
	l.fails.Store(int64(fails))
	return l
}

// Accept fails with EMFILE while failures remain, then accepts.
func (l *Listener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		l.Failed.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}
