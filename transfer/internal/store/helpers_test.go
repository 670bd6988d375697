package store

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// chunk is the chunk size of the tests' files: the smallest there is.
const chunk = wire.MinChunkSize

// openSet opens a set of entries under dir, closed when the test ends.
func openSet(t testing.TB, dir string, opt Options, entries ...wire.Entry) *Incoming {
	t.Helper()
	c, err := Check(entries)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Open(dir, c, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

// hashOf is the chunk hash of b.
func hashOf(b []byte) [wire.HashLen]byte { return blake3.Sum256(b) }

// mtime is the modification time of the tests' files: nanoseconds count.
const mtime = 1_600_000_000_123_456_789

// sender returns a sender's device ID that differs for each n.
func sender(n byte) identity.DeviceID { return identity.DeviceID{0: n, 31: 0xfe} }

// sent is a file as its sender has it: the entry offered and its bytes.
type sent struct {
	e    wire.Entry
	data []byte
}

// newSent returns a file of size bytes at p, in chunks of chunk, whose
// bytes depend on seed.
func newSent(p string, size int, seed uint64) sent {
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return sent{e: wire.Entry{Path: p, Size: int64(size), Chunk: chunk, MTime: mtime}, data: data}
}

// piece is chunk i of s.
func (s sent) piece(i int64) []byte {
	off := i * s.e.Chunk
	return s.data[off : off+s.e.ChunkLen(i)]
}

// hash is the file hash of s, from the chunk hashes computed here.
func (s sent) hash() []byte {
	hashes := make([][wire.HashLen]byte, s.e.Chunks())
	for i := range hashes {
		hashes[i] = hashOf(s.piece(int64(i)))
	}
	h := wire.FileHash(int64(len(s.data)), s.e.Chunk, hashes)
	return h[:]
}

// putErr writes chunk idx of f with bytes b, in two writes, and commits
// it against their hash. It may run on any goroutine.
func putErr(f *File, idx int64, b []byte) (ready bool, err error) {
	c, err := f.Begin(idx, int64(len(b)))
	if err != nil {
		return false, err
	}
	half := len(b) / 2
	if err := c.Write(b[:half]); err != nil {
		c.Abort()
		return false, err
	}
	if err := c.Write(b[half:]); err != nil {
		c.Abort()
		return false, err
	}
	return c.Commit(hashOf(b))
}

// put is putErr for chunk idx of s, failing the test on an error.
func put(t testing.TB, f *File, s sent, idx int64) bool {
	t.Helper()
	ready, err := putErr(f, idx, s.piece(idx))
	if err != nil {
		t.Fatalf("chunk %d of %s: %v", idx, s.e.Path, err)
	}
	return ready
}

// end gives f the end of s.
func end(t testing.TB, f *File, s sent) bool {
	t.Helper()
	ready, err := f.End(int64(len(s.data)), s.hash())
	if err != nil {
		t.Fatalf("end of %s: %v", s.e.Path, err)
	}
	return ready
}

// finish prepares, flushes and names a ready file and returns its name.
func finish(t testing.TB, in *Incoming, f *File) string {
	t.Helper()
	if err := in.Prepare(f); err != nil {
		t.Fatalf("prepare %s: %v", f.Path(), err)
	}
	if err := in.Flush([]*File{f}); err != nil {
		t.Fatalf("flush %s: %v", f.Path(), err)
	}
	name, err := in.Name(f)
	if err != nil {
		t.Fatalf("name %s: %v", f.Path(), err)
	}
	return name
}

// resume is Incoming.Resume, once per file (a second call would count
// the kept chunks again), and what it kept.
func resume(t testing.TB, in *Incoming, f *File) Kept {
	t.Helper()
	if err := in.Resume(f); err != nil {
		t.Fatalf("resume %s: %v", f.Path(), err)
	}
	return f.Kept()
}

// receive sends s to f, after Resume, as a sender does: every chunk that
// Resume did not keep, in order, then the end, which must leave the file
// ready.
func receive(t testing.TB, f *File, s sent) {
	t.Helper()
	kept := make(map[int64]bool)
	for _, i := range f.Kept().Chunks {
		kept[i] = true
	}
	ready := false
	for i := range s.e.Chunks() {
		if !kept[i] {
			ready = put(t, f, s, i) || ready
		}
	}
	if !end(t, f, s) && !ready {
		t.Fatalf("%s never became ready", s.e.Path)
	}
}

// checkFile checks that the file name (relative to dir) holds the bytes of
// s and has its time and the permissions perm.
func checkFile(t testing.TB, dir, name string, s sent, perm fs.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(s.data) {
		t.Errorf("%s: %d bytes, not the %d sent", name, len(got), len(s.data))
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != perm {
		t.Errorf("%s: mode %v, want a file with %v", name, fi.Mode(), perm)
	}
	if got := fi.ModTime().UnixNano(); got != s.e.MTime {
		t.Errorf("%s: mtime %d, want %d", name, got, s.e.MTime)
	}
}

// ferryFiles returns the partial files and journals below dir, relative
// to it.
func ferryFiles(t testing.TB, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".ferry-") {
			rel, _ := filepath.Rel(dir, p)
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return found
}

// partialOf is the absolute path of the partial file of p from id under
// dir; its journal has the same name ending in ".journal".
func partialOf(dir string, id identity.DeviceID, p string) (part, journal string) {
	part = filepath.Join(dir, filepath.FromSlash(PartialPath(id, p)))
	return part, strings.TrimSuffix(part, ".part") + ".journal"
}

// delivered finishes the ready file f and checks that it is under its
// offered name with the bytes and time of s, mode 0644, and that no
// partial file or journal is left in the folder.
func delivered(t testing.TB, in *Incoming, f *File, s sent) {
	t.Helper()
	if name := finish(t, in, f); name != s.e.Path {
		t.Errorf("%s named %q", s.e.Path, name)
	}
	checkFile(t, in.dir, s.e.Path, s, 0o644)
	if got := ferryFiles(t, in.dir); len(got) != 0 {
		t.Errorf("left after naming: %v", got)
	}
}
