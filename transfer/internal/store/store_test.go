package store

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// A set of several kinds of file is received as a receiver does: chunks
// of one file out of order from several goroutines at once, and every
// file ends under its offered name with its bytes, permissions and time,
// with no partial file or journal left.
func TestReceiveSet(t *testing.T) {
	t.Run("unnamed-tmp", func(t *testing.T) { receiveSet(t, Options{Sender: sender(1)}) })
	t.Run("named-partials", func(t *testing.T) { receiveSet(t, Options{Sender: sender(1), NoTmpFiles: true}) })
}

func receiveSet(t *testing.T, opt Options) {
	dir := t.TempDir()
	empty := newSent("empty.txt", 0, 1)
	one := newSent("one.bin", 1000, 2)
	one.e.Private = true
	multi := newSent("multi.bin", 7*chunk+123, 3)
	multi.e.Exec = true
	deep := newSent("sub/deep.txt", chunk+1, 4)
	sents := []sent{empty, one, multi, deep}
	folders := []wire.Entry{
		{Path: "sub", Dir: true, MTime: mtime - 1},
		{Path: "sub/inner", Dir: true, MTime: mtime - 2},
	}
	entries := append(slices.Clone(folders), empty.e, one.e, multi.e, deep.e)
	in := openSet(t, dir, opt, entries...)
	if err := in.MakeFolders(); err != nil {
		t.Fatal(err)
	}
	files := in.Files()[len(folders):]
	for _, f := range files {
		if k := resume(t, in, f); k.Chunks != nil || k.Bytes != 0 || k.Existing != nil {
			t.Fatalf("%s: kept %+v in an empty folder", f.Path(), k)
		}
	}

	// How many times each file became ready: once.
	readies := make([]int, len(sents))
	checkUnnamed(t, in, files[1], one, opt.NoTmpFiles)
	// The multi-chunk file's end comes first, then its chunks.
	if end(t, files[2], multi) {
		readies[2]++
	}
	readies[2] += putShuffled(t, files[2], multi, 4)
	for _, i := range []int{0, 1, 3} {
		for j := range sents[i].e.Chunks() {
			if i != 1 && put(t, files[i], sents[i], j) { // one.bin has its chunk
				readies[i]++
			}
		}
		if end(t, files[i], sents[i]) {
			readies[i]++
		}
	}
	for i, n := range readies {
		if n != 1 {
			t.Fatalf("%s became ready %d times", sents[i].e.Path, n)
		}
		if got := files[i].Verified(); got != int64(len(sents[i].data)) {
			t.Errorf("%s: %d bytes verified, want %d", sents[i].e.Path, got, len(sents[i].data))
		}
	}

	for _, f := range files {
		if err := in.Prepare(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Flush(files); err != nil { // syncfs, for the lot
		t.Fatal(err)
	}
	for i, f := range files {
		name, err := in.Name(f)
		if err != nil {
			t.Fatal(err)
		}
		if name != sents[i].e.Path {
			t.Errorf("%s named %q", sents[i].e.Path, name)
		}
		if size, hash := f.Result(); size != int64(len(sents[i].data)) || string(hash) != string(sents[i].hash()) {
			t.Errorf("%s: result %d bytes %x", name, size, hash)
		}
	}
	in.SetFolderTimes()

	checkFile(t, dir, "empty.txt", empty, 0o644)
	checkFile(t, dir, "one.bin", one, 0o600)
	checkFile(t, dir, "multi.bin", multi, 0o755)
	checkFile(t, dir, "sub/deep.txt", deep, 0o644)
	for _, e := range folders {
		fi, err := os.Lstat(filepath.Join(dir, e.Path))
		if err != nil || !fi.IsDir() || fi.ModTime().UnixNano() != e.MTime {
			t.Errorf("folder %s: %v %v", e.Path, fi, err)
		}
	}
	if got := ferryFiles(t, dir); len(got) != 0 {
		t.Errorf("left after naming: %v", got)
	}
}

// checkUnnamed writes the one chunk of s into f and checks that it went
// to an unnamed file (O_TMPFILE) unless noTmp, or the file system has
// none.
func checkUnnamed(t *testing.T, in *Incoming, f *File, s sent, noTmp bool) {
	t.Helper()
	c, err := f.Begin(0, int64(len(s.data)))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case noTmp && f.tmp:
		t.Error("an unnamed partial file with NoTmpFiles")
	case !noTmp && !f.tmp && !in.noTmp:
		t.Error("a named partial file where unnamed ones work")
	case !f.tmp:
		t.Log("no unnamed files on this file system")
	}
	if got := ferryFiles(t, in.dir); f.tmp && len(got) != 0 {
		t.Errorf("an unnamed partial file has a name: %v", got)
	}
	if err := c.Write(s.data); err != nil {
		t.Fatal(err)
	}
	if ready, err := c.Commit(hashOf(s.data)); err != nil || ready {
		t.Fatalf("commit before the end: ready %v, %v", ready, err)
	}
}

// putShuffled puts every chunk of s into f in a shuffled order from
// workers goroutines at once, and returns how many commits found the
// file ready.
func putShuffled(t *testing.T, f *File, s sent, workers int) (readies int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int64)
	for range workers {
		wg.Go(func() {
			for i := range next {
				ready, err := putErr(f, i, s.piece(i))
				if err != nil {
					t.Errorf("chunk %d: %v", i, err)
				}
				if ready {
					mu.Lock()
					readies++
					mu.Unlock()
				}
			}
		})
	}
	for _, i := range rand.New(rand.NewPCG(7, 7)).Perm(int(s.e.Chunks())) {
		next <- int64(i)
	}
	close(next)
	wg.Wait()
	return readies
}
