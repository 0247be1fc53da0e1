package kafka

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// sendfile copies n bytes at pos of the file descriptor fd to tc with
// sendfile(2), waiting for the socket to drain when it is full. The file's
// own offset is not used (pos is passed explicitly), so concurrent fetches
// of one segment file do not race. It returns how many bytes it sent.
func sendfile(tc *net.TCPConn, fd uintptr, pos, n int64) (int64, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	off, sent := pos, int64(0)
	var serr error
	werr := rc.Write(func(sock uintptr) bool {
		for sent < n {
			chunk := min(n-sent, 1<<30)
			k, err := unix.Sendfile(int(sock), int(fd), &off, int(chunk))
			if k > 0 {
				sent += int64(k)
			}
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // wait until the socket is writable
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				serr = err
				return true
			case k == 0:
				serr = errShortFile
				return true
			}
		}
		return true
	})
	if serr == nil {
		serr = werr
	}
	return sent, serr
}
