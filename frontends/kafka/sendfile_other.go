//go:build !linux

package kafka

import (
	"errors"
	"net"
)

// sendfile is Linux only; elsewhere the caller copies.
func sendfile(*net.TCPConn, uintptr, int64, int64) (int64, error) {
	return 0, errors.New("kafka: sendfile not supported")
}
