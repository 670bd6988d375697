package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// TestCheckHostile walks testdata/hostile: each file is the entries of
// one offer, as JSON. Check accepts those of good_*.json, and refuses
// those of fail_unsafe_*, fail_collision_* and fail_protocol_*.json with
// an error of that class (safepath.ErrUnsafePath, ErrPathCollision,
// wire.ErrProtocol).
func TestCheckHostile(t *testing.T) {
	files, err := filepath.Glob("testdata/hostile/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no offers in testdata/hostile: %v", err)
	}
	for _, file := range files {
		base := strings.TrimSuffix(filepath.Base(file), ".json")
		var want error
		switch {
		case strings.HasPrefix(base, "good_"):
		case strings.HasPrefix(base, "fail_unsafe_"):
			want = safepath.ErrUnsafePath
		case strings.HasPrefix(base, "fail_collision_"):
			want = safepath.ErrPathCollision
		case strings.HasPrefix(base, "fail_protocol_"):
			want = wire.ErrProtocol
		default:
			t.Fatalf("%s: the name says no expectation", base)
		}
		t.Run(base, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var entries []wire.Entry
			if err := dec.Decode(&entries); err != nil {
				t.Fatal(err)
			}
			_, err = Check(entries)
			switch {
			case want == nil && err != nil:
				t.Fatalf("Check: %v", err)
			case want != nil && !errors.Is(err, want):
				t.Fatalf("Check: %v, want %v", err, want)
			}
		})
	}
}

// A symlink planted at a folder of the set inside the receiving folder is
// not followed: creating the folder or a file in it fails as unsafe, and
// nothing is written where it points.
func TestSymlinkedFolder(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	x := newSent("sub/x.bin", 2*chunk, 40)
	y := newSent("sub/y.txt", 10, 41)
	deep := newSent("a/b/c.bin", 2*chunk, 42)
	in := openSet(t, dir, Options{Sender: sender(1)}, wire.Entry{Path: "sub", Dir: true}, x.e, y.e, deep.e)
	if err := os.Symlink(elsewhere, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "a", "b")); err != nil {
		t.Fatal(err)
	}

	if err := in.MakeFolders(); !errors.Is(err, safepath.ErrUnsafePath) {
		t.Errorf("MakeFolders: %v, want an unsafe path", err)
	}
	for i, s := range []sent{x, y, deep} {
		f := in.Files()[i+1]
		resume(t, in, f)
		if _, err := f.Begin(0, s.e.ChunkLen(0)); !errors.Is(err, safepath.ErrUnsafePath) {
			t.Errorf("Begin in %s: %v, want an unsafe path", s.e.Path, err)
		}
	}
	if got, _ := os.ReadDir(elsewhere); len(got) != 0 {
		t.Errorf("written through the symlink: %v", got)
	}
}

// A folder of the set swapped for a symlink while its files are received
// does not lead the files out of the receiving folder.
func TestFolderSwappedForSymlink(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	x := newSent("sub/x.bin", 2*chunk, 43)
	z := newSent("sub/z.bin", 2*chunk, 44)
	in := openSet(t, dir, Options{Sender: sender(1)}, x.e, z.e)
	fx, fz := in.Files()[0], in.Files()[1]
	put(t, fx, x, 0)
	if err := os.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	put(t, fx, x, 1)
	end(t, fx, x)
	// The folder stays open: the file goes into it, under its new name.
	name := finish(t, in, fx)
	t.Logf("the file begun before the swap: named %q", name)
	checkFile(t, dir, "moved/x.bin", x, 0o644)

	// A file begun after the swap goes into the open folder too, or fails.
	if _, err := putErr(fz, 0, z.piece(0)); err == nil {
		put(t, fz, z, 1)
		end(t, fz, z)
		t.Logf("a file begun after the swap: named %q", finish(t, in, fz))
		checkFile(t, dir, "moved/z.bin", z, 0o644)
	} else {
		t.Logf("a file begun after the swap: %v", err)
	}
	if got, _ := os.ReadDir(elsewhere); len(got) != 0 {
		t.Errorf("written through the symlink: %v", got)
	}
}
