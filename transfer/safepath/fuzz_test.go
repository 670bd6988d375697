package safepath

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// FuzzCheck: Check never panics; what it accepts is local, clean, NFC and
// free of backslashes and control or format characters; what it refuses is
// refused with ErrUnsafePath in a printable message; Display never prints a
// control character and keeps to its width. Seeds: testdata/fuzz/FuzzCheck,
// one file per hostile class.
func FuzzCheck(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		err := Check(name)
		if err != nil {
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("Check(%q) = %v, not ErrUnsafePath", name, err)
			}
			assertPrintable(t, err.Error())
		} else {
			switch {
			case !filepath.IsLocal(name):
				t.Fatalf("accepted %q: not filepath.IsLocal", name)
			case path.Clean(name) != name:
				t.Fatalf("accepted %q: path.Clean gives %q", name, path.Clean(name))
			case strings.ContainsRune(name, '\\'):
				t.Fatalf("accepted %q: backslash", name)
			case !utf8.ValidString(name) || !norm.NFC.IsNormalString(name):
				t.Fatalf("accepted %q: not NFC UTF-8", name)
			case strings.ContainsRune(name, ':'):
				t.Fatalf("accepted %q: colon", name)
			}
			for _, r := range name {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Fatalf("accepted %q: contains %U", name, r)
				}
			}
		}

		for _, max := range []int{0, 1, 7, 40} {
			d := Display(name, max)
			if !utf8.ValidString(d) {
				t.Fatalf("Display(%q, %d) = %q: invalid UTF-8", name, max, d)
			}
			for _, r := range d {
				if !unicode.IsGraphic(r) {
					t.Fatalf("Display(%q, %d) = %q: contains %U", name, max, d, r)
				}
			}
			if max > 0 && utf8.RuneCountInString(d) > max {
				t.Fatalf("Display(%q, %d) = %q: longer than %d runes", name, max, d, max)
			}
			if max == 0 && err == nil && !strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsGraphic(r) }) && d != name {
				t.Fatalf("Display(%q) = %q, changed a plain accepted name", name, d)
			}
		}
	})
}

// FuzzSet adds a sequence of names to a Set. The input holds the names
// separated by NUL; a name ending in "/" is added as a directory without
// that slash. Add never panics, refuses only with one of the two sentinel
// errors, and what it accepts is pairwise distinct after folding, has no
// file as a parent, and spells each directory one way.
//
// A second Set, limited to fuzzFolders folders, answers as the first until
// it refuses a name with ErrTooManyFolders, which it does only when that
// name and those it accepted make more folders than that.
func FuzzSet(f *testing.F) {
	const maxEntries, fuzzFolders = 200, 4
	f.Fuzz(func(t *testing.T, data string) {
		s, limited := NewSet(), NewSetMaxFolders(fuzzFolders)
		var got, gotLimited []accepted
		same := true // limited has answered as s so far
		for i, e := range strings.Split(data, "\x00") {
			if i == maxEntries {
				break
			}
			dir := strings.HasSuffix(e, "/")
			name := strings.TrimSuffix(e, "/")
			err, errLimited := s.Add(name, dir), limited.Add(name, dir)
			switch {
			case errors.Is(errLimited, ErrTooManyFolders):
				if n := checkAccepted(t, "limited set and refused name", append(gotLimited, accepted{name, dir})); n <= fuzzFolders {
					t.Fatalf("limited set refused %q (%v), which makes %d folders", name, errLimited, n)
				}
				if same && err != nil {
					t.Fatalf("Add(%q, %v) = %v, but the limited set says %v", name, dir, err, errLimited)
				}
				same = false
			case same && (err == nil) != (errLimited == nil):
				t.Fatalf("Add(%q, %v) = %v, but the limited set says %v", name, dir, err, errLimited)
			case errLimited == nil:
				gotLimited = append(gotLimited, accepted{name, dir})
			}
			if err != nil {
				if !errors.Is(err, ErrUnsafePath) && !errors.Is(err, ErrPathCollision) {
					t.Fatalf("Add(%q, %v) = %v", name, dir, err)
				}
				if errors.Is(err, ErrPathCollision) && Check(name) != nil {
					t.Fatalf("Add(%q, %v) = %v, but Check refuses it", name, dir, err)
				}
				assertPrintable(t, err.Error())
				continue
			}
			if Check(name) != nil {
				t.Fatalf("Add accepted %q, which Check refuses", name)
			}
			got = append(got, accepted{name, dir})
		}
		checkAccepted(t, "set", got)
		if n := checkAccepted(t, "limited set", gotLimited); n > fuzzFolders {
			t.Fatalf("limited set accepted %d folders", n)
		}
	})
}

type accepted struct {
	name string
	dir  bool
}

// checkAccepted fails t unless the names, which set accepted, are pairwise
// distinct after folding, have no file as a parent and spell each directory
// one way. It returns how many folders they make.
func checkAccepted(t *testing.T, set string, got []accepted) int {
	t.Helper()
	fold := cases.Fold()
	key := func(name string) string { return fold.String(norm.NFC.String(name)) }
	names := make(map[string]string) // key of an added name -> name
	dirs := make(map[string]string)  // key of every directory, added or implied -> name
	files := make(map[string]string) // key of an added file -> name
	for _, a := range got {
		k := key(a.name)
		if prev, ok := names[k]; ok {
			t.Fatalf("%s: accepted %q and %q: equal after folding", set, prev, a.name)
		}
		names[k] = a.name
		if a.dir {
			dirs[k] = a.name
		} else {
			files[k] = a.name
		}
	}
	for _, a := range got {
		for i := range len(a.name) {
			if a.name[i] != '/' {
				continue
			}
			parent := a.name[:i]
			pk := key(parent)
			if f, ok := files[pk]; ok {
				t.Fatalf("%s: accepted %q inside file %q", set, a.name, f)
			}
			if d, ok := dirs[pk]; ok && d != parent {
				t.Fatalf("%s: accepted directory %q and %q (parent of %q)", set, d, parent, a.name)
			}
			dirs[pk] = parent
		}
	}
	for k, f := range files {
		if d, ok := dirs[k]; ok {
			t.Fatalf("%s: accepted file %q and directory %q", set, f, d)
		}
	}
	return len(dirs)
}

// TestFuzzCheckSeeds reads the FuzzCheck seeds as vectors: good_* must pass
// Check and fail_* must not.
func TestFuzzCheckSeeds(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzCheck/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no seeds")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		header, value, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		quoted, ok := strings.CutPrefix(value, "string(")
		quoted, ok2 := strings.CutSuffix(quoted, ")")
		name, err := strconv.Unquote(quoted)
		if header != "go test fuzz v1" || !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a one-string fuzz seed", file)
		}
		switch base := filepath.Base(file); {
		case strings.HasPrefix(base, "good_"):
			if err := Check(name); err != nil {
				t.Errorf("%s: Check = %v", base, err)
			}
		case strings.HasPrefix(base, "fail_"):
			if err := Check(name); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("%s: Check(%q) = %v, want ErrUnsafePath", base, name, err)
			}
		}
	}
}
