//go:build !linux

package transfer

import (
	"errors"
	"os"
	"syscall"
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
