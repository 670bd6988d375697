package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// interrupted leaves under dir what a killed session of opt.Sender
// leaves of s: the chunks done committed (journaled), and chunk half
// begun and partly written.
func interrupted(t *testing.T, dir string, opt Options, s sent, done []int64, half int64) {
	t.Helper()
	in := openSet(t, dir, opt, s.e)
	f := in.Files()[0]
	resume(t, in, f)
	for _, i := range done {
		put(t, f, s, i)
	}
	c, err := f.Begin(half, s.e.ChunkLen(half))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(s.piece(half)[:100]); err != nil {
		t.Fatal(err)
	}
	in.Close()
}

// A session that ends half-way leaves its verified chunks for the next
// one of the same sender: Resume keeps exactly the journaled chunks whose
// bytes still match, and the rest completes the file.
func TestResumeKeepsVerifiedChunks(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Sender: sender(1)}
	s := newSent("big.bin", 6*chunk+1000, 10)
	interrupted(t, dir, opt, s, []int64{0, 2, 3, 6}, 4)

	// Chunk 3 changes on disk in between.
	part, journal := partialOf(dir, opt.Sender, s.e.Path)
	pf, err := os.OpenFile(part, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.WriteAt([]byte("garbage"), 3*chunk+10); err != nil {
		t.Fatal(err)
	}
	pf.Close()

	// Another sender offering the same path finds nothing of it, and
	// leaves it be.
	other := openSet(t, dir, Options{Sender: sender(2)}, s.e)
	if k := resume(t, other, other.Files()[0]); k.Chunks != nil || k.Bytes != 0 {
		t.Errorf("another sender kept %v", k.Chunks)
	}
	other.Close()
	for _, p := range []string{part, journal} {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("another sender's set removed %s: %v", filepath.Base(p), err)
		}
	}

	in := openSet(t, dir, opt, s.e)
	f := in.Files()[0]
	k := resume(t, in, f)
	want := []int64{0, 2, 6}
	if !slices.Equal(k.Chunks, want) {
		t.Fatalf("kept chunks %v, want %v", k.Chunks, want)
	}
	for j, i := range want {
		if k.Hashes[j] != hashOf(s.piece(i)) {
			t.Errorf("chunk %d kept with hash %x", i, k.Hashes[j][:4])
		}
	}
	if wantBytes := 2*chunk + int64(1000); k.Bytes != wantBytes || f.Verified() != wantBytes {
		t.Errorf("kept %d bytes (verified %d), want %d", k.Bytes, f.Verified(), wantBytes)
	}
	if _, err := f.Begin(0, chunk); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("Begin of a kept chunk: %v, want a protocol error", err)
	}
	for _, i := range []int64{1, 3, 4, 5} {
		put(t, f, s, i)
	}
	if !end(t, f, s) {
		t.Fatal("not ready with every chunk in")
	}
	delivered(t, in, f, s)
}

// A session that verified every chunk but ended before naming the file
// leaves a file that needs only its end.
func TestResumeComplete(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Sender: sender(1)}
	s := newSent("whole.bin", 3*chunk, 11)
	interrupted(t, dir, opt, s, []int64{0, 1}, 2)
	in := openSet(t, dir, opt, s.e)
	f := in.Files()[0]
	resume(t, in, f)
	put(t, f, s, 2)
	in.Close()

	in = openSet(t, dir, opt, s.e)
	f = in.Files()[0]
	if k := resume(t, in, f); !slices.Equal(k.Chunks, []int64{0, 1, 2}) || k.Bytes != 3*chunk {
		t.Fatalf("kept %v, %d bytes", k.Chunks, k.Bytes)
	}
	if !end(t, f, s) {
		t.Fatal("the end alone did not make a complete file ready")
	}
	delivered(t, in, f, s)
}

// A partial file of another version of the file (the offer's time or
// chunk size differ) is not resumed, and is replaced.
func TestResumeOtherVersion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*wire.Entry)
	}{
		{"mtime", func(e *wire.Entry) { e.MTime++ }},
		{"chunk-size", func(e *wire.Entry) { e.Chunk *= 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opt := Options{Sender: sender(1)}
			old := newSent("v.bin", 4*chunk, 12)
			interrupted(t, dir, opt, old, []int64{0, 1, 2}, 3)
			s := newSent("v.bin", 4*chunk, 13)
			tc.change(&s.e)
			in := openSet(t, dir, opt, s.e)
			f := in.Files()[0]
			if k := resume(t, in, f); k.Chunks != nil || k.Bytes != 0 {
				t.Fatalf("kept %v of another version", k.Chunks)
			}
			receive(t, f, s)
			delivered(t, in, f, s)
		})
	}
}

// A partial file or journal that ferry could not have made (others may
// write it, it has another name, another user owns it) is not trusted:
// nothing is kept, both names go (the file behind a second name is not
// touched), and the file is received again whole.
func TestResumeUntrusted(t *testing.T) {
	for _, tc := range []struct {
		name string
		root bool
		mess func(part, journal, elsewhere string) error
	}{
		{"partial-writable-by-all", false, func(part, _, _ string) error { return os.Chmod(part, 0o666) }},
		{"journal-writable-by-group", false, func(_, journal, _ string) error { return os.Chmod(journal, 0o620) }},
		{"partial-hard-link", false, func(part, _, elsewhere string) error { return os.Link(part, elsewhere) }},
		{"journal-hard-link", false, func(_, journal, elsewhere string) error { return os.Link(journal, elsewhere) }},
		{"partial-other-owner", true, func(part, _, _ string) error { return os.Chown(part, 65534, 65534) }},
		{"journal-other-owner", true, func(_, journal, _ string) error { return os.Chown(journal, 65534, 65534) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			dir := t.TempDir()
			opt := Options{Sender: sender(1)}
			s := newSent("u.bin", 3*chunk+7, 14)
			interrupted(t, dir, opt, s, []int64{0, 1}, 2)
			part, journal := partialOf(dir, opt.Sender, s.e.Path)
			elsewhere := filepath.Join(dir, "second-name")
			if err := tc.mess(part, journal, elsewhere); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(elsewhere)

			in := openSet(t, dir, opt, s.e)
			f := in.Files()[0]
			if k := resume(t, in, f); k.Chunks != nil || k.Bytes != 0 {
				t.Errorf("kept %v from a file that is not ferry's", k.Chunks)
			}
			for _, p := range []string{part, journal} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s not removed: %v", filepath.Base(p), err)
				}
			}
			receive(t, f, s)
			delivered(t, in, f, s)
			if after, _ := os.ReadFile(elsewhere); !bytes.Equal(before, after) {
				t.Errorf("the file behind a second name changed")
			}
		})
	}
}

// A file under the final name with the offer's size and time is
// reported with its file hash (Kept.Existing) and may be skipped, once;
// anything else under the name is not.
func TestResumeExisting(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mtime int64) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, time.Unix(0, mtime), time.Unix(0, mtime)); err != nil {
			t.Fatal(err)
		}
	}
	same := newSent("same.bin", 2*chunk+5, 20)
	write("same.bin", same.data, mtime)
	empty := newSent("empty.bin", 0, 21)
	write("empty.bin", nil, mtime)
	older := newSent("older.bin", 100, 22)
	write("older.bin", older.data, mtime-1)
	changed := newSent("changed.bin", 100, 23)
	onDisk := newSent("changed.bin", 100, 24)
	write("changed.bin", onDisk.data, mtime)
	absent := newSent("absent.bin", 100, 25)
	folder := newSent("folder.bin", 0, 26)
	if err := os.Mkdir(filepath.Join(dir, "folder.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := newSent("link.bin", 100, 27)
	write("target", link.data, mtime)
	if err := os.Symlink("target", filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}

	files := []sent{same, empty, older, changed, absent, folder, link}
	entries := make([]wire.Entry, len(files))
	for i, s := range files {
		entries[i] = s.e
	}
	in := openSet(t, dir, Options{Sender: sender(1)}, entries...)
	for i, f := range in.Files() {
		k := resume(t, in, f)
		var want []byte
		switch files[i].e.Path {
		case "same.bin", "empty.bin":
			want = files[i].hash()
		case "changed.bin":
			want = onDisk.hash() // what is there: the sender sees it differs
		}
		if !bytes.Equal(k.Existing, want) {
			t.Errorf("%s: existing %x, want %x", f.Path(), k.Existing, want)
		}
	}

	f := in.Files()[0]
	if err := f.Skip(); err != nil {
		t.Fatal(err)
	}
	if size, hash := f.Result(); !f.Skipped() || size != int64(len(same.data)) || !bytes.Equal(hash, same.hash()) {
		t.Errorf("skipped file: skipped %v, result %d %x", f.Skipped(), size, hash)
	}
	if err := f.Skip(); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("second Skip: %v", err)
	}
	if _, err := f.Begin(0, chunk); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("Begin of a skipped file: %v", err)
	}
	if _, err := f.End(int64(len(same.data)), same.hash()); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("End of a skipped file: %v", err)
	}
	if err := in.Files()[4].Skip(); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("Skip of a file with nothing under its name: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "same.bin")); !bytes.Equal(got, same.data) {
		t.Error("the skipped file changed")
	}
}

// With ListFrom files or more in one folder, Resume reads the folder's
// names once: a file that is there is still found, one that is not is not.
func TestResumeExistingListed(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "many"), 0o755); err != nil {
		t.Fatal(err)
	}
	var files []sent
	var entries []wire.Entry
	for i := range ListFrom + 4 {
		s := newSent(fmt.Sprintf("many/f%02d.txt", i), 10+i, uint64(i))
		files = append(files, s)
		entries = append(entries, s.e)
		if i%2 == 0 {
			p := filepath.Join(dir, filepath.FromSlash(s.e.Path))
			if err := os.WriteFile(p, s.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, time.Unix(0, mtime), time.Unix(0, mtime)); err != nil {
				t.Fatal(err)
			}
		}
	}
	in := openSet(t, dir, Options{Sender: sender(1)}, entries...)
	for i, f := range in.Files() {
		k := resume(t, in, f)
		var want []byte
		if i%2 == 0 {
			want = files[i].hash()
		}
		if !bytes.Equal(k.Existing, want) {
			t.Errorf("%s: existing %x, want %x", f.Path(), k.Existing, want)
		}
	}
	if in.listed["many"] == nil {
		t.Error("the folder's names were not read once")
	}
}

// Resume called twice finds the same: what it kept counts once, and the
// file still becomes ready when the rest comes.
func TestResumeTwice(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Sender: sender(1)}
	s := newSent("twice.bin", 3*chunk+5, 12)
	interrupted(t, dir, opt, s, []int64{0, 1}, 2)
	in := openSet(t, dir, opt, s.e)
	f := in.Files()[0]
	first := resume(t, in, f)
	second := resume(t, in, f)
	if first.Bytes != 2*chunk || second.Bytes != first.Bytes || !slices.Equal(second.Chunks, first.Chunks) {
		t.Fatalf("first %v (%d bytes), then %v (%d bytes)", first.Chunks, first.Bytes, second.Chunks, second.Bytes)
	}
	for i := range s.e.Chunks() {
		if !slices.Contains(first.Chunks, i) {
			put(t, f, s, i)
		}
	}
	if !end(t, f, s) {
		t.Fatal("not ready with every chunk in")
	}
}
