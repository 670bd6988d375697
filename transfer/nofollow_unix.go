//go:build unix

package transfer

import "syscall"

// oNoFollow refuses to open a symlink at the last component.
const oNoFollow = syscall.O_NOFOLLOW
