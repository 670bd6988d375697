package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Resume finds what an earlier attempt left of f: a file under its final
// name that looks identical (size and time; its file hash goes in
// Kept.Existing), or a partial copy whose journaled chunks still hash to
// what the journal recorded (Kept.Chunks). Anything that does not match is
// forgotten: the file restarts. Call it before any chunk comes.
func (in *Incoming) Resume(f *File) error {
	if f.e.Stream {
		return nil
	}
	if h, ok := in.existing(f); ok {
		f.mu.Lock()
		f.existing = h
		f.mu.Unlock()
		return nil
	}
	if f.j.path == "" {
		return nil
	}
	jf, err := in.openKept(f.j.path)
	if err != nil {
		in.dropUntrusted(f, err)
		return nil // missing, unsafe or not ours: nothing to resume
	}
	h, recs, err := readJournal(bufio.NewReader(jf), f.e.Chunks())
	jf.Close()
	if err != nil || h != in.header(f) {
		return nil
	}
	pf, err := in.openKept(f.part)
	if err != nil {
		in.dropUntrusted(f, err)
		return nil
	}
	defer pf.Close()
	fi, err := pf.Stat()
	if err != nil {
		return nil
	}
	type chunk struct {
		idx  int64
		n    int64
		hash [wire.HashLen]byte
	}
	var good []chunk
	buf := make([]byte, 256<<10)
	for i := range f.e.Chunks() {
		want, ok := recs[i]
		if !ok {
			continue
		}
		hasher := blake3.New()
		n, err := io.CopyBuffer(hasher, io.NewSectionReader(pf, i*f.e.Chunk, f.e.ChunkLen(i)), buf)
		if err != nil || n != f.e.ChunkLen(i) {
			continue
		}
		var got [wire.HashLen]byte
		hasher.Sum(got[:0])
		if got == want {
			good = append(good, chunk{i, n, got})
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kept = fi
	clear(f.state) // what an earlier call found counts once
	f.nHave, f.haveLen = 0, 0
	for _, c := range good {
		f.state[c.idx] = verified
		f.hashes[c.idx] = c.hash
		f.nHave++
		f.haveLen += c.n
	}
	return nil
}

// openKept opens, for reading, a partial file or journal that an earlier
// attempt left at rel. It fails unless the file passes checkOwn, which
// the journal must too: it says where to look. The bytes are hashed again
// anyway; the checks make sure no one else can change them in between.
func (in *Incoming) openKept(rel string) (*os.File, error) {
	if err := safepath.CheckParents(in.root, rel); err != nil {
		return nil, err
	}
	f, err := in.root.OpenFile(rel, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkOwn(fi)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("partial file %s: %w", rel, err)
	}
	return f, nil
}

// dropUntrusted removes the partial file and journal of f when err says
// one of them is not ferry's: only the names go (a hard link is unlinked,
// the file it shares is not touched), and the file restarts.
func (in *Incoming) dropUntrusted(f *File, err error) {
	if errors.Is(err, errNotOurs) {
		in.root.Remove(f.part)
		f.j.remove(in.root)
	}
}

// existing hashes a file already under the entry's final name when its size
// and modification time match the offer: most likely an earlier, complete
// delivery of the same file, which the sender can then skip.
func (in *Incoming) existing(f *File) ([]byte, bool) {
	if names := in.listing(f.parent); names != nil && !names[foldName(f.base)] {
		return nil, false
	}
	final := path.Join(f.parent, f.base)
	if safepath.CheckParents(in.root, final) != nil {
		return nil, false
	}
	fi, err := in.root.Lstat(final)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.e.Size || fi.ModTime().UnixNano() != f.e.MTime {
		return nil, false
	}
	r, err := in.root.OpenFile(final, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, false
	}
	defer r.Close()
	buf := make([]byte, 256<<10)
	hashes := make([][wire.HashLen]byte, f.e.Chunks())
	for i := range hashes {
		h := blake3.New()
		n, err := io.CopyBuffer(h, io.NewSectionReader(r, int64(i)*f.e.Chunk, f.e.ChunkLen(int64(i))), buf)
		if err != nil || n != f.e.ChunkLen(int64(i)) {
			return nil, false
		}
		h.Sum(hashes[i][:0])
	}
	sum := wire.FileHash(f.e.Size, f.e.Chunk, hashes)
	return sum[:], true
}
