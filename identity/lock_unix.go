//go:build unix

package identity

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockHome takes an exclusive lock on home while a process creates or loads
// the identity, so that several first uses at once agree on one key.
func lockHome(home string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(home, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock home %s: %w", home, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock home %s: %w", home, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
