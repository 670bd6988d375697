//go:build !unix

package store

import (
	"fmt"
	"io/fs"
)

// checkOwn returns an error wrapping errNotOurs unless fi is a regular
// file. Owners and link counts are not checked here.
func checkOwn(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file (mode %v)", errNotOurs, fi.Mode())
	}
	return nil
}

// unlinked reports whether fi, of an open folder, says the folder was
// removed; not known here.
func unlinked(fs.FileInfo) bool { return false }
