//go:build unix

package store

import "syscall"

// oNoFollow refuses to open a symlink at the last component.
const oNoFollow = syscall.O_NOFOLLOW

// oNonBlock keeps an open for reading from waiting on a named pipe that
// someone put where a file was expected (the opened file is checked next).
const oNonBlock = syscall.O_NONBLOCK
