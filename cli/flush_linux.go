package cli

import "golang.org/x/sys/unix"

// flushInput discards what was typed on the terminal fd and not read yet,
// as tcflush(fd, TCIFLUSH) does.
func flushInput(fd int) error {
	return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
}
