// Package golden reads ferry's golden vectors: the exact bytes of the
// formats that must not change between versions (hashes, frames, journal
// records, device IDs, verification codes), computed outside ferry's Go code
// by the gen.py beside them and checked in under each package's
// testdata/golden/.
//
// As in age's testkit, each vector is a file whose name says what it
// expects, and one test walks the folder. A file is lines of "key: value";
// lines that start with # are comments and blank lines are ignored. A key
// may repeat: Hex joins its lines (spaces inside a hex value are ignored,
// so a value can show its fields), All returns them in order. A test that
// leaves a key unread fails, so no expectation in a file goes unchecked.
package golden

import (
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// File is one vector file.
type File struct {
	t    testing.TB
	name string
	vals map[string][]string
	read map[string]bool
}

// Run runs check for each *.txt file in dir, as a subtest named after the
// file. check is chosen by the longest key of checks that prefixes the
// file's name; a file that none prefixes fails, and so does a check that no
// file uses (a vector renamed or removed by mistake).
func Run(t *testing.T, dir string, checks map[string]func(*testing.T, *File)) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no vectors in %s", dir)
	}
	used := make(map[string]bool)
	for _, path := range names {
		base := filepath.Base(path)
		kind := ""
		for k := range checks {
			if strings.HasPrefix(base, k) && len(k) > len(kind) {
				kind = k
			}
		}
		if kind == "" {
			t.Errorf("%s: no test reads vectors named like it", base)
			continue
		}
		used[kind] = true
		t.Run(strings.TrimSuffix(base, ".txt"), func(t *testing.T) {
			f := Load(t, path)
			checks[kind](t, f)
			f.done()
		})
	}
	for _, k := range slices.Sorted(maps.Keys(checks)) {
		if !used[k] {
			t.Errorf("no vector file in %s starts with %q", dir, k)
		}
	}
}

// Load reads a vector file.
func Load(t testing.TB, path string) *File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &File{t: t, name: filepath.Base(path), vals: make(map[string][]string), read: make(map[string]bool)}
	for n, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			k, ok = strings.CutSuffix(line, ":") // an empty value
		}
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			t.Fatalf("%s:%d: not a \"key: value\" line: %q", f.name, n+1, line)
		}
		f.vals[k] = append(f.vals[k], v)
	}
	return f
}

// Name returns the file's name, without its folder.
func (f *File) Name() string { return f.name }

// Has reports whether the file gives key.
func (f *File) Has(key string) bool { return len(f.vals[key]) > 0 }

// All returns every value of key, in order (none if it is absent).
func (f *File) All(key string) []string {
	f.read[key] = true
	return f.vals[key]
}

// String returns the value of key, which must be given exactly once.
func (f *File) String(key string) string {
	f.t.Helper()
	v := f.All(key)
	if len(v) != 1 {
		f.t.Fatalf("%s: %q given %d times, want once", f.name, key, len(v))
	}
	return v[0]
}

// Int returns the value of key as a decimal integer.
func (f *File) Int(key string) int64 {
	f.t.Helper()
	n, err := strconv.ParseInt(f.String(key), 10, 64)
	if err != nil {
		f.t.Fatalf("%s: %s: %v", f.name, key, err)
	}
	return n
}

// Hex returns the bytes of key: its lines joined, spaces ignored. An absent
// key is no bytes.
func (f *File) Hex(key string) []byte {
	f.t.Helper()
	return f.decode(key, strings.Join(f.All(key), ""))
}

// HexList returns each line of key as bytes.
func (f *File) HexList(key string) [][]byte {
	f.t.Helper()
	var out [][]byte
	for _, v := range f.All(key) {
		out = append(out, f.decode(key, v))
	}
	return out
}

// Hash returns the value of key as one 32-byte hash.
func (f *File) Hash(key string) [32]byte {
	f.t.Helper()
	return f.hash32(key, f.decode(key, f.String(key)))
}

// Hashes returns each line of key as a 32-byte hash.
func (f *File) Hashes(key string) [][32]byte {
	f.t.Helper()
	var out [][32]byte
	for _, b := range f.HexList(key) {
		out = append(out, f.hash32(key, b))
	}
	return out
}

// Indexed returns each line of key, "<index> <hex hash>", as an index and a
// 32-byte hash.
func (f *File) Indexed(key string) ([]int64, [][32]byte) {
	f.t.Helper()
	var idx []int64
	var hs [][32]byte
	for _, v := range f.All(key) {
		i, h, ok := strings.Cut(v, " ")
		n, err := strconv.ParseInt(i, 10, 64)
		if !ok || err != nil {
			f.t.Fatalf("%s: %s: %q is not \"<index> <hash>\"", f.name, key, v)
		}
		idx = append(idx, n)
		hs = append(hs, f.hash32(key, f.decode(key, h)))
	}
	return idx, hs
}

func (f *File) decode(key, v string) []byte {
	f.t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(v, " ", ""))
	if err != nil {
		f.t.Fatalf("%s: %s: %v", f.name, key, err)
	}
	return b
}

func (f *File) hash32(key string, b []byte) [32]byte {
	f.t.Helper()
	if len(b) != 32 {
		f.t.Fatalf("%s: %s has %d bytes, want 32", f.name, key, len(b))
	}
	return [32]byte(b)
}

// done fails the test for each key of the file that it never read.
func (f *File) done() {
	f.t.Helper()
	for _, k := range slices.Sorted(maps.Keys(f.vals)) {
		if !f.read[k] {
			f.t.Errorf("%s: %q is in the file but no test checks it", f.name, k)
		}
	}
}
