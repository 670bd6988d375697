//go:build unix

package store

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwn returns an error wrapping errNotOurs unless fi, a partial file
// or journal found at one of ferry's names, is one ferry could have made:
// a regular file with one name, owned by the receiving user and writable
// by nobody else. ferry creates them exclusively, mode 0600; anyone else
// who can write the folder could plant a file there (and keep it open to
// read or change it), or give one of ferry's a second name.
func checkOwn(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file (mode %v)", errNotOurs, fi.Mode())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return fmt.Errorf("%w: no owner known", errNotOurs)
	case st.Nlink != 1:
		return fmt.Errorf("%w: %d names", errNotOurs, st.Nlink)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%w: owned by user %d", errNotOurs, st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%w: writable by others (mode %v)", errNotOurs, fi.Mode().Perm())
	}
	return nil
}

// unlinked reports whether fi, of an open folder, says the folder was
// removed: no name links to it any more.
func unlinked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
