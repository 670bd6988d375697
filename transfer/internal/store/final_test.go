package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// A file never takes the name of another: the new one is "name (1).ext",
// then "name (2).ext"; with Overwrite it replaces the old one.
func TestNameTaken(t *testing.T) {
	dir := t.TempDir()
	old := []byte("the file that was there")
	if err := os.WriteFile(filepath.Join(dir, "report.pdf"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"report (1).pdf", "report (2).pdf"} {
		s := newSent("report.pdf", 3*chunk/2, uint64(30+i))
		in := openSet(t, dir, Options{Sender: sender(1)}, s.e)
		f := in.Files()[0]
		if k := resume(t, in, f); k.Existing != nil {
			t.Fatalf("existing %x: another file under the name looks like this one", k.Existing)
		}
		receive(t, f, s)
		if name := finish(t, in, f); name != want {
			t.Errorf("named %q, want %q", name, want)
		}
		checkFile(t, dir, want, s, 0o644)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "report.pdf")); string(got) != string(old) {
		t.Error("the file that was there changed")
	}

	for _, opt := range []Options{{Sender: sender(1), Overwrite: true}, {Sender: sender(1), Overwrite: true, NoTmpFiles: true}} {
		s := newSent("report.pdf", 100, 32)
		in := openSet(t, dir, opt, s.e)
		f := in.Files()[0]
		resume(t, in, f)
		receive(t, f, s)
		if name := finish(t, in, f); name != "report.pdf" {
			t.Errorf("named %q with Overwrite", name)
		}
		checkFile(t, dir, "report.pdf", s, 0o644)
	}
	if got := ferryFiles(t, dir); len(got) != 0 {
		t.Errorf("left after naming: %v", got)
	}
}

// A folder or a symlink under the final name is neither followed nor
// replaced, with or without Overwrite: the file takes the next free name.
func TestNameNotAFile(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		for _, kind := range []string{"folder", "symlink", "dangling-symlink"} {
			t.Run(fmt.Sprintf("%s/overwrite=%v", kind, overwrite), func(t *testing.T) {
				dir, outside := t.TempDir(), t.TempDir()
				at := filepath.Join(dir, "thing.txt")
				target := filepath.Join(outside, "target")
				switch kind {
				case "folder":
					if err := os.Mkdir(at, 0o755); err != nil {
						t.Fatal(err)
					}
				case "symlink":
					if err := os.WriteFile(target, []byte("outside"), 0o644); err != nil {
						t.Fatal(err)
					}
					fallthrough
				case "dangling-symlink":
					if err := os.Symlink(target, at); err != nil {
						t.Fatal(err)
					}
				}
				s := newSent("thing.txt", 2*chunk, 33)
				in := openSet(t, dir, Options{Sender: sender(1), Overwrite: overwrite}, s.e)
				f := in.Files()[0]
				resume(t, in, f)
				put(t, f, s, 0)
				put(t, f, s, 1)
				end(t, f, s)
				if err := in.Prepare(f); err != nil {
					t.Fatal(err)
				}
				if err := in.Flush([]*File{f}); err != nil {
					t.Fatal(err)
				}
				name, err := in.Name(f)
				switch {
				case err != nil:
					t.Errorf("Name: %v", err)
				case name != "thing (1).txt":
					t.Errorf("named %q, want the next free name", name)
				default:
					checkFile(t, dir, name, s, 0o644)
				}

				fi, err := os.Lstat(at)
				switch {
				case err != nil:
					t.Fatalf("what was under the name: %v", err)
				case kind == "folder" && !fi.IsDir(), kind != "folder" && fi.Mode()&os.ModeSymlink == 0:
					t.Errorf("%s replaced: now %v", kind, fi.Mode())
				}
				entries, _ := os.ReadDir(outside)
				got, _ := os.ReadFile(target)
				if kind == "symlink" && (len(entries) != 1 || string(got) != "outside") || kind != "symlink" && len(entries) != 0 {
					t.Errorf("written through the symlink: %d names, %q", len(entries), got)
				}
			})
		}
	}
}

// Files of several sets that want the same name in one folder, named at
// the same time, all get a name of their own: none is lost or replaced.
func TestNameRace(t *testing.T) {
	const n = 12
	for _, tc := range []struct {
		name   string
		opt    Options
		noLink bool
	}{
		{"unnamed-tmp", Options{}, false},
		{"named-linked", Options{NoTmpFiles: true}, false},
		{"named-renamed", Options{NoTmpFiles: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ins := make([]*Incoming, n)
			files := make([]sent, n)
			for i := range n {
				files[i] = newSent("race.txt", 1000+i, uint64(i))
				opt := tc.opt
				opt.Sender = sender(byte(i))
				ins[i] = openSet(t, dir, opt, files[i].e)
				ins[i].noLink = tc.noLink
				f := ins[i].Files()[0]
				resume(t, ins[i], f)
				put(t, f, files[i], 0)
				end(t, f, files[i])
				if err := ins[i].Prepare(f); err != nil {
					t.Fatal(err)
				}
				if err := ins[i].Flush([]*File{f}); err != nil {
					t.Fatal(err)
				}
			}

			names := make([]string, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					name, err := ins[i].Name(ins[i].Files()[0])
					if err != nil {
						t.Errorf("Name: %v", err)
					}
					names[i] = name
				})
			}
			close(start)
			wg.Wait()

			want := []string{"race.txt"}
			for i := 1; i < n; i++ {
				want = append(want, fmt.Sprintf("race (%d).txt", i))
			}
			if got := slices.Sorted(slices.Values(names)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Fatalf("names %q", got)
			}
			for i, name := range names {
				checkFile(t, dir, name, files[i], 0o644)
			}
			if got := ferryFiles(t, dir); len(got) != 0 {
				t.Errorf("left after naming: %v", got)
			}
		})
	}
}
