package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The receiving folder removed, or replaced by another, during the set:
// StillThere says so, Flush fails before any file is named, a new file
// cannot begin in a removed one, and nothing goes into a folder made again at its path.
func TestTargetGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone func(dir string) error
	}{
		{"removed", os.RemoveAll},
		{"replaced", func(dir string) error {
			if err := os.Rename(dir, dir+".old"); err != nil {
				return err
			}
			return os.Mkdir(dir, 0o755)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "recv")
			a := newSent("a.bin", 2*chunk, 80)
			b := newSent("b.bin", 2*chunk, 81)
			in := openSet(t, dir, Options{Sender: sender(1)}, a.e, b.e)
			fa, fb := in.Files()[0], in.Files()[1]
			if err := in.StillThere(); err != nil {
				t.Fatal(err)
			}
			put(t, fa, a, 0)
			put(t, fa, a, 1)
			if !end(t, fa, a) {
				t.Fatal("not ready")
			}
			if err := tc.gone(dir); err != nil {
				t.Fatal(err)
			}

			if err := in.StillThere(); !errors.Is(err, ErrTargetGone) {
				t.Errorf("StillThere: %v, want ErrTargetGone", err)
			}
			if err := in.Prepare(fa); err != nil && !errors.Is(err, ErrTargetGone) {
				t.Errorf("Prepare: %v", err)
			}
			if err := in.Flush([]*File{fa}); !errors.Is(err, ErrTargetGone) {
				t.Errorf("Flush: %v, want ErrTargetGone", err)
			}
			if err := in.Flush([]*File{fa, fb}); !errors.Is(err, ErrTargetGone) {
				t.Errorf("Flush of two: %v, want ErrTargetGone", err)
			}
			// A removed folder takes no new file; a replaced one may (the
			// set's folder is still open, under another name), but Flush
			// fails for it too.
			_, err := putErr(fb, 0, b.piece(0))
			if tc.name == "removed" && !errors.Is(err, ErrTargetGone) {
				t.Errorf("Begin: %v, want ErrTargetGone", err)
			}
			if got, _ := os.ReadDir(dir); len(got) != 0 {
				t.Errorf("written into the new folder: %v", got)
			}
		})
	}
}
