//go:build !unix

package discovery

import (
	"errors"
	"net"
)

// readBuffer cannot tell the receive buffer size here.
func readBuffer(*net.UDPConn) (int, error) { return 0, errors.ErrUnsupported }
