package store

import (
	"fmt"
	"io/fs"
	"os"
)

// renameCheckThenReplace is the fallback where the OS has no atomic
// no-replace rename: a narrow race with a local process is accepted there.
// The check looks inside the open folder dir, as the rename does, so a
// symlink swapped into the folder's path cannot send it elsewhere.
func renameCheckThenReplace(dir *os.File, old, new string) error {
	taken, err := existsIn(dir, new)
	if err != nil {
		return fmt.Errorf("rename %s: %w", new, err)
	}
	if taken {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
	}
	return renameReplace(dir, old, new)
}
