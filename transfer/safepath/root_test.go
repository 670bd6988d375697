package safepath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plantTree makes a receive folder with hostile things already in it, next
// to a folder outside it, and opens the receive folder as a root:
//
//	recv/real/          directory
//	recv/real/file.txt  file
//	recv/real/to-file   symlink to ../file
//	recv/file           file where a directory may be expected
//	recv/link-in        symlink to real (inside)
//	recv/link-out       symlink to ../outside
//	recv/link-abs       symlink to the absolute path of outside
//	recv/dangling       symlink to nowhere
//	outside/            directory
func plantTree(t *testing.T) (root *os.Root, recv, outside string) {
	t.Helper()
	base := t.TempDir()
	recv = filepath.Join(base, "recv")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{recv, outside, filepath.Join(recv, "real")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(recv, "real", "file.txt"), filepath.Join(recv, "file")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"real/to-file": filepath.Join("..", "file"),
		"link-in":      "real",
		"link-out":     filepath.Join("..", "outside"),
		"link-abs":     outside,
		"dangling":     "nowhere",
	} {
		if err := os.Symlink(target, filepath.Join(recv, filepath.FromSlash(link))); err != nil {
			t.Skipf("cannot create symlinks here: %v", err)
		}
	}
	root, err := os.OpenRoot(recv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root, recv, outside
}

func TestMkdirAll(t *testing.T) {
	root, recv, outside := plantTree(t)

	for _, dir := range []string{"", ".", "real", "new/a/b", "new/a/b", "real/sub", "real/sub/deeper", ".ferry-journal"} {
		if err := MkdirAll(root, dir, 0o755); err != nil {
			t.Errorf("MkdirAll(%q) = %v", dir, err)
			continue
		}
		fi, err := os.Lstat(filepath.Join(recv, filepath.FromSlash(dir)))
		if err != nil || !fi.IsDir() {
			t.Errorf("MkdirAll(%q): not a directory afterwards: %v", dir, err)
		}
	}

	for dir, component := range map[string]string{
		"link-in/x":     "link-in",
		"link-in":       "link-in",
		"link-out/x":    "link-out",
		"link-abs/x":    "link-abs",
		"dangling/x/y":  "dangling",
		"file/x":        "file",
		"file":          "file",
		"real/to-file":  "real/to-file",
		"real/file.txt": "real/file.txt",
	} {
		err := MkdirAll(root, dir, 0o755)
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("MkdirAll(%q) = %v, want ErrUnsafePath", dir, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+component+`" is a`) {
			t.Errorf("MkdirAll(%q) = %v, want it to name %q", dir, err, component)
		}
	}

	for _, dir := range []string{"../x", "/abs", "a//b", "a/./b", `a\b`, "a/", "a\x00b"} {
		if err := MkdirAll(root, dir, 0o755); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("MkdirAll(%q) = %v, want ErrUnsafePath", dir, err)
		}
	}

	// Nothing was created through a symlink.
	for _, p := range []string{filepath.Join(outside, "x"), filepath.Join(recv, "real", "x"), filepath.Join(recv, "nowhere")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists: %v", p, err)
		}
	}
}

func TestCheckDir(t *testing.T) {
	root, _, _ := plantTree(t)
	for _, dir := range []string{"", ".", "real"} {
		if err := CheckDir(root, dir); err != nil {
			t.Errorf("CheckDir(%q) = %v", dir, err)
		}
	}
	for _, dir := range []string{"missing", "real/missing", "missing/deeper"} {
		if err := CheckDir(root, dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("CheckDir(%q) = %v, want fs.ErrNotExist", dir, err)
		}
	}
	for dir, component := range map[string]string{
		"link-in":      "link-in",
		"link-in/x":    "link-in",
		"link-out":     "link-out",
		"file":         "file",
		"real/to-file": "real/to-file",
		"dangling":     "dangling",
	} {
		err := CheckDir(root, dir)
		if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), `"`+component+`" is `) {
			t.Errorf("CheckDir(%q) = %v, want ErrUnsafePath naming %q", dir, err, component)
		}
	}
	for _, dir := range []string{"../x", "/abs", "a//b", `a\b`} {
		if err := CheckDir(root, dir); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckDir(%q) = %v, want ErrUnsafePath", dir, err)
		}
	}
}

func TestCheckParents(t *testing.T) {
	root, _, _ := plantTree(t)

	for _, name := range []string{
		"real/file.txt",        // existing file: will be replaced
		"real/new.txt",         // missing file in a real directory
		"new/dir/file",         // missing directories
		"real",                 // a directory: creating a file there fails on its own
		"real/.ferry-part-1",   // the receiver's own name
		"nowhere/deeper/still", // missing from the first component
	} {
		if err := CheckParents(root, name); err != nil {
			t.Errorf("CheckParents(%q) = %v", name, err)
		}
	}

	for name, component := range map[string]string{
		"link-in/file.txt": "link-in",
		"link-in/new":      "link-in",
		"link-out/x":       "link-out",
		"link-abs/x":       "link-abs",
		"file/x":           "file",
		"real/to-file":     "real/to-file",
		"link-in":          "link-in",
		"dangling":         "dangling",
		"dangling/x":       "dangling",
	} {
		err := CheckParents(root, name)
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckParents(%q) = %v, want ErrUnsafePath", name, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+component+`" is `) {
			t.Errorf("CheckParents(%q) = %v, want it to name %q", name, err, component)
		}
		t.Log(err)
	}

	for _, name := range []string{"", ".", "../x", "/abs", "a//b", `a\b`, "a/.."} {
		if err := CheckParents(root, name); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckParents(%q) = %v, want ErrUnsafePath", name, err)
		}
	}
}
