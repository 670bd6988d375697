//go:build !linux

package store

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

func renameNoReplace(dir *os.File, old, new string) error {
	return renameCheckThenReplace(dir, old, new)
}

func renameReplace(dir *os.File, old, new string) error {
	return os.Rename(dir.Name()+string(os.PathSeparator)+old, dir.Name()+string(os.PathSeparator)+new)
}

func syncFS(dir *os.File) error { return errors.ErrUnsupported }

func freeSpace(path string) (int64, bool) { return 0, false }

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// openIn goes through the root here: without openat, a path from the
// folder's name could be redirected by a symlink.
func openIn(root *os.Root, _ *os.File, rel string, flag int, perm os.FileMode) (*os.File, error) {
	return root.OpenFile(rel, flag, perm)
}

// removeIn removes the name rel inside root, if it is there.
func removeIn(root *os.Root, _ *os.File, rel string) { root.Remove(rel) }

// existsIn reports whether name is taken inside dir.
func existsIn(dir *os.File, name string) (bool, error) {
	_, err := os.Lstat(dir.Name() + string(os.PathSeparator) + name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func fdLimit() int { return 0 }

func tmpLinkable() bool { return false }

func openTmp(dir *os.File, perm os.FileMode) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkFile(f, dir *os.File, name string) error { return errors.ErrUnsupported }

func setTimes(f *os.File, t time.Time) error { return errors.ErrUnsupported }

func writeBehind(f *os.File, off, n int64) {}
