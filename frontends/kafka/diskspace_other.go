//go:build !linux

package kafka

// diskSpace is unknown off Linux.
func diskSpace(string) (int64, int64) { return -1, -1 }
