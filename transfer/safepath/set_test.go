package safepath

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestManifests walks testdata/manifests. Each file is one transfer: lines
// `file "name"` or `dir "name"` with Go-quoted names, '#' comments. In
// good_*.txt every entry is accepted. In fail_unsafe_*.txt and
// fail_collision_*.txt every entry but the last is accepted and the last is
// refused with ErrUnsafePath or ErrPathCollision.
func TestManifests(t *testing.T) {
	files, err := filepath.Glob("testdata/manifests/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	for _, file := range files {
		base := filepath.Base(file)
		var want error
		switch {
		case strings.HasPrefix(base, "good_"):
		case strings.HasPrefix(base, "fail_unsafe_"):
			want = ErrUnsafePath
		case strings.HasPrefix(base, "fail_collision_"):
			want = ErrPathCollision
		default:
			t.Fatalf("%s: name must start with good_, fail_unsafe_ or fail_collision_", base)
		}
		t.Run(strings.TrimSuffix(base, ".txt"), func(t *testing.T) {
			entries := readManifest(t, file)
			s := NewSet()
			for i, e := range entries {
				err := s.Add(e.name, e.dir)
				if want == nil || i < len(entries)-1 {
					if err != nil {
						t.Fatalf("Add(%q, %v) = %v, want nil", e.name, e.dir, err)
					}
					continue
				}
				if !errors.Is(err, want) {
					t.Fatalf("Add(%q, %v) = %v, want %v", e.name, e.dir, err, want)
				}
				assertPrintable(t, err.Error())
				t.Log(err)
			}
		})
	}
}

type manifestEntry struct {
	name string
	dir  bool
}

func readManifest(t *testing.T, file string) []manifestEntry {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []manifestEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		kind, quoted, _ := strings.Cut(line, " ")
		name, err := strconv.Unquote(quoted)
		if err != nil || kind != "file" && kind != "dir" {
			t.Fatalf("%s:%d: want `file \"name\"` or `dir \"name\"`, got %q", file, n, line)
		}
		entries = append(entries, manifestEntry{name, kind == "dir"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("%s: no entries", file)
	}
	return entries
}

func TestSetOrder(t *testing.T) {
	// Each pair collides in both orders.
	pairs := []struct {
		a, b manifestEntry
	}{
		{manifestEntry{"a", false}, manifestEntry{"a/b", false}},
		{manifestEntry{"a", false}, manifestEntry{"a/b", true}},
		{manifestEntry{"a", false}, manifestEntry{"A/b/c", false}},
		{manifestEntry{"a", true}, manifestEntry{"a", false}},
		{manifestEntry{"Readme", false}, manifestEntry{"README", false}},
		{manifestEntry{"x/Readme", true}, manifestEntry{"x/README", true}},
		{manifestEntry{"d/a/x", false}, manifestEntry{"d/A/y", false}},
		{manifestEntry{"d/a/x", false}, manifestEntry{"D", true}},
		{manifestEntry{"ǅ", false}, manifestEntry{"ǆ", false}}, // titlecase digraph
		{manifestEntry{"Σ", false}, manifestEntry{"ς", false}}, // final sigma
		{manifestEntry{"ﬁle", false}, manifestEntry{"FILE", false}},
	}
	for _, p := range pairs {
		for _, order := range [][2]manifestEntry{{p.a, p.b}, {p.b, p.a}} {
			s := NewSet()
			if err := s.Add(order[0].name, order[0].dir); err != nil {
				t.Fatalf("Add(%q, %v) = %v", order[0].name, order[0].dir, err)
			}
			if err := s.Add(order[1].name, order[1].dir); !errors.Is(err, ErrPathCollision) {
				t.Errorf("after %q: Add(%q, %v) = %v, want ErrPathCollision", order[0].name, order[1].name, order[1].dir, err)
			}
		}
	}
}

func TestSetRejectLeavesUnchanged(t *testing.T) {
	s := NewSet()
	must(t, s.Add("f", false))
	// Rejected: its parent f is a file. The implied directories x and x/y of
	// an accepted name would be added with it; here nothing is.
	if err := s.Add("x/y/z", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("f/new/deep", false); !errors.Is(err, ErrPathCollision) {
		t.Fatalf("got %v", err)
	}
	must(t, s.Add("new", false)) // "new" was not implied by the rejected name
	must(t, s.Add("x/y", true))  // implied, now explicit
	if err := s.Add("x/y", true); !errors.Is(err, ErrPathCollision) {
		t.Fatalf("second explicit x/y: got %v", err)
	}
	if err := s.Add("x", false); !errors.Is(err, ErrPathCollision) {
		t.Fatalf("file x over implied dir: got %v", err)
	}
	if err := s.Add("../x", false); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("unsafe name: got %v", err)
	}
}

func TestSetZeroValue(t *testing.T) {
	var s Set
	must(t, s.Add("a/b", false))
	if err := s.Add("A", false); !errors.Is(err, ErrPathCollision) {
		t.Fatalf("got %v", err)
	}
}

func TestSetMessages(t *testing.T) {
	for _, tc := range []struct {
		first, second manifestEntry
		want          string
	}{
		{manifestEntry{"a/b", false}, manifestEntry{"a/b", false}, `duplicate name "a/b": path collision`},
		{manifestEntry{"README", false}, manifestEntry{"Readme", false}, `"README" and "Readme" differ only in case or Unicode normalization: path collision`},
		{manifestEntry{"a", false}, manifestEntry{"a/b", false}, `"a/b" is inside "a", which is a file: path collision`},
		{manifestEntry{"a/b", false}, manifestEntry{"a", false}, `file "a" is also the directory of "a/b": path collision`},
		{manifestEntry{"a", true}, manifestEntry{"a", false}, `directory "a" and file "a" have the same name: path collision`},
		{manifestEntry{"P/x", false}, manifestEntry{"p/y", false}, `directory "p" of "p/y" and directory "P" differ only in case or Unicode normalization: path collision`},
	} {
		s := NewSet()
		must(t, s.Add(tc.first.name, tc.first.dir))
		if got := s.Add(tc.second.name, tc.second.dir).Error(); got != tc.want {
			t.Errorf("%q then %q:\n got %s\nwant %s", tc.first.name, tc.second.name, got, tc.want)
		}
	}
}

// TestSetLarge adds a million names in a tree of a thousand folders; it
// shows Add is linear (it would not finish if it were quadratic).
func TestSetLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	s := NewSet()
	for i := range n {
		must(t, s.Add(fmt.Sprintf("dir %d/sub/file %d.txt", i%1000, i), false))
	}
	if err := s.Add("DIR 7/SUB/FILE 7.TXT", false); !errors.Is(err, ErrPathCollision) {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkSetAdd(b *testing.B) {
	names := make([]string, b.N)
	for i := range names {
		names[i] = fmt.Sprintf("photos %d/2024/Été/IMG_%07d.jpg", i%1000, i)
	}
	s := NewSet()
	b.ReportAllocs()
	b.ResetTimer()
	for _, name := range names {
		if err := s.Add(name, false); err != nil {
			b.Fatal(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSetCaseVariants adds every cased rune that Check accepts together with
// its uppercase, lowercase, titlecase and simple-folding variants, each pair
// in a fresh set: the second must collide. This covers the Cherokee and
// dotless-i corrections to cases.Fold.
func TestSetCaseVariants(t *testing.T) {
	checked := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.SimpleFold(r) == r && unicode.ToUpper(r) == r && unicode.ToLower(r) == r {
			continue
		}
		if Check(string(r)) != nil {
			continue
		}
		variants := []rune{unicode.ToUpper(r), unicode.ToTitle(r)}
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			variants = append(variants, o)
		}
		if r != 'İ' { // lowercases to plain i, but is not i on any case-insensitive file system
			variants = append(variants, unicode.ToLower(r))
		}
		for _, v := range variants {
			if v == r || Check(string(v)) != nil {
				continue
			}
			s := NewSet()
			must(t, s.Add(string(r), false))
			if err := s.Add(string(v), false); !errors.Is(err, ErrPathCollision) {
				t.Errorf("%q (%U) then %q (%U): %v, want ErrPathCollision", r, r, v, v, err)
			}
			checked++
		}
	}
	if checked < 2000 {
		t.Errorf("only %d pairs checked", checked)
	}
}
