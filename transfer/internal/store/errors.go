package store

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrIntegrity: data did not match its hash.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrDiskFull: the receiving disk is full; the verified data is kept.
	ErrDiskFull = errors.New("disk full")
	// ErrTargetGone: the receiving folder was removed during the session.
	ErrTargetGone = errors.New("receiving folder gone")
)

// errNotOurs marks a partial file or journal that ferry did not make, or
// that others could have changed (see checkOwn).
var errNotOurs = errors.New("not a file of ferry's own")

// errFolderGone marks a failure in a folder that was removed (or replaced)
// during the session.
var errFolderGone = errors.New("the folder was removed during the transfer")

// pathless is err without the local path an *os.PathError names: errors
// may be shown to the sender, who learns nothing of this file system.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// storageErr says what a failed file system operation means for the set: a
// full disk, or a receiving folder that was removed.
func (in *Incoming) storageErr(err error) error {
	if err == nil {
		return nil
	}
	if isNoSpace(err) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	if errors.Is(err, os.ErrNotExist) {
		if e := in.StillThere(); e != nil {
			return e
		}
	}
	return err
}
