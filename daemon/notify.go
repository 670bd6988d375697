package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Notify sends state (e.g. "READY=1\nSTATUS=receiving") to the service
// manager over the datagram socket named in $NOTIFY_SOCKET (sd_notify(3)):
// a path, or an abstract socket name starting with "@". Without the
// variable it does nothing and returns false. The protocol is one
// unixgram datagram of newline-separated KEY=VALUE lines, which is why ferry
// writes it itself rather than import github.com/coreos/go-systemd for it.
func Notify(socket, state string) (bool, error) {
	if socket == "" {
		return false, nil
	}
	if socket[0] != '/' && socket[0] != '@' {
		return false, fmt.Errorf("sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract name", socket)
	}
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if socket[0] == '@' {
		addr.Name = "\x00" + socket[1:] // Go spells an abstract name with a leading NUL or "@"; both mean the same
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	return true, nil
}

// NotifySocket is $NOTIFY_SOCKET, read once by the caller.
func NotifySocket() string { return os.Getenv("NOTIFY_SOCKET") }

// Status is the STATUS= line of a notification: one line of printable text.
func Status(s string) string {
	return "STATUS=" + strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
