package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// renameCheckThenReplace is the fallback where the OS has no atomic
// no-replace rename: a narrow race with a local process is accepted there.
func renameCheckThenReplace(dir *os.File, old, new string) error {
	full := dir.Name() + string(os.PathSeparator) + new
	if _, err := os.Lstat(full); err == nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rename %s: %w", new, err)
	}
	return renameReplace(dir, old, new)
}
