//go:build unix

package discovery

import (
	"net"
	"syscall"
)

// readBuffer returns the receive buffer size the kernel reports for c (on
// Linux twice what was granted for data, the rest being its bookkeeping).
func readBuffer(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		n    int
		gerr error
	)
	if err := rc.Control(func(fd uintptr) {
		n, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n, gerr
}
