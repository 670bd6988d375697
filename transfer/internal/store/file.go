package store

import (
	"encoding/base32"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// File is the receiving side of one file entry: a small state machine over
// its chunk table (see the package doc for its states and locks).
type File struct {
	in     *Incoming
	idx    int
	parent string // folder of the final path, relative to the root ("." for top level)
	base   string // final base name as offered
	part   string // partial file, relative to the root
	j      journal

	opening sync.Mutex // held while the partial file is made (File.open)
	f       *os.File   // the partial file, once open (set under opening)
	served  *os.File   // the complete file, kept open to serve from (under opening; see keepServing)
	tmp     bool       // f is an unnamed file (O_TMPFILE), linked under its final name when done

	mu         sync.Mutex
	e          wire.Entry // Size is set by End for a streamed entry
	state      []chunkState
	hashes     [][wire.HashLen]byte
	lens       []int64 // chunk lengths of a streamed entry
	nHave      int64
	haveLen    int64       // bytes verified
	existing   []byte      // file hash of an identical-looking file under the final name
	kept       os.FileInfo // the partial file Resume kept chunks of, to reopen
	skip       bool        // the sender agreed it is identical: nothing to receive
	end        *fileEnd
	finalizing bool // every chunk and the end are in: being prepared and named
	done       bool // named
}

type chunkState uint8

const (
	missing chunkState = iota
	writing            // begun, not yet committed
	verified
)

// fileEnd is what the sender says of a whole file.
type fileEnd struct {
	size int64
	hash []byte
}

// PartialPath is where the partial copy of the file at p from sender is
// kept until it is complete, relative to the folder: a hidden name beside
// the final one. Its journal has the same name ending in ".journal".
func PartialPath(sender identity.DeviceID, p string) string {
	return path.Join(path.Dir(p), ".ferry-"+partialKey(sender, p)+".part")
}

func partialKey(sender identity.DeviceID, p string) string {
	h := blake3.New()
	h.Write([]byte("ferry partial v1\x00"))
	h.Write(sender[:])
	h.Write([]byte(p))
	sum := h.Sum(nil)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

func (in *Incoming) newFile(idx int, e wire.Entry) *File {
	parent, base := path.Split(e.Path)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		parent = "."
	}
	in.perDir[parent]++
	f := &File{
		in:     in,
		idx:    idx,
		e:      e,
		parent: parent,
		base:   base,
		part:   PartialPath(in.opt.Sender, e.Path),
	}
	if e.Stream || e.Chunks() > 1 {
		f.j.path = strings.TrimSuffix(f.part, ".part") + ".journal"
	}
	n := e.Chunks()
	if e.Stream {
		n = 0 // grows as chunks arrive
		f.lens = []int64{}
	}
	f.state = make([]chunkState, n)
	f.hashes = make([][wire.HashLen]byte, n)
	return f
}

// Index is the file's entry index in the set.
func (f *File) Index() int { return f.idx }

// Path is the file's path as offered.
func (f *File) Path() string { return f.e.Path }

// Key names the file's partial copy; one writer at a time may hold it.
func (f *File) Key() string { return f.part }

// FinalPath is the path the file gets if its name is free, relative to
// the folder.
func (f *File) FinalPath() string { return path.Join(f.parent, f.base) }

// Kept is what Resume found of a file.
type Kept struct {
	Chunks []int64              // verified chunks kept from an earlier attempt, in order
	Hashes [][wire.HashLen]byte // their hashes
	Bytes  int64                // their bytes
	// Existing is the file hash of a file under the final name that
	// looks identical (size and time): the sender may skip it.
	Existing []byte
}

// Kept returns what Resume found (before any chunk comes).
func (f *File) Kept() Kept {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := Kept{Bytes: f.haveLen, Existing: f.existing}
	if f.nHave == 0 {
		return k
	}
	for i, s := range f.state {
		if s == verified {
			k.Chunks = append(k.Chunks, int64(i))
			k.Hashes = append(k.Hashes, f.hashes[i])
		}
	}
	return k
}

// Restart drops the kept chunks: the source no longer matches them.
func (f *File) Restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.state)
	clear(f.hashes)
	f.nHave, f.haveLen = 0, 0
	f.kept = nil
}

// Skip marks a file the sender need not send: the one under its final
// name is identical (see Kept.Existing).
func (f *File) Skip() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.existing == nil || f.skip {
		return wire.Errorf("plan skips entry %d", f.idx)
	}
	f.skip = true
	f.end = &fileEnd{size: f.e.Size, hash: f.existing}
	return nil
}

// Skipped reports whether the file was skipped.
func (f *File) Skipped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.skip
}

// Result is the file's size and hash, once it is complete or skipped.
func (f *File) Result() (size int64, hash []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.end == nil {
		return 0, nil
	}
	return f.end.size, f.end.hash
}

// grow makes room in the table of a streamed entry for n chunks.
func (f *File) grow(n int64) {
	for int64(len(f.state)) < n {
		f.state = append(f.state, missing)
		f.hashes = append(f.hashes, [wire.HashLen]byte{})
		f.lens = append(f.lens, 0)
	}
}

// End records the sender's word on the whole file: its size (which fixes
// the chunk count of a streamed entry) and its file hash, checked by
// Prepare. ready is as for Commit.
func (f *File) End(size int64, hash []byte) (ready bool, err error) {
	if len(hash) != wire.HashLen {
		return false, wire.Errorf("file hash of %d bytes", len(hash))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.skip:
		return false, wire.Errorf("end of %q, which the plan skips", f.e.Path)
	case f.end != nil:
		return false, wire.Errorf("second end of %q", f.e.Path)
	}
	if f.e.Stream {
		if err := f.streamEnd(size); err != nil {
			return false, err
		}
	} else if size != f.e.Size {
		return false, wire.Errorf("%q ends at %d bytes, offered as %d", f.e.Path, size, f.e.Size)
	}
	f.end = &fileEnd{size: size, hash: hash}
	return f.becameReady(), nil
}

// streamEnd fixes the chunk count of a streamed entry once its size is
// known. Called with f.mu held.
func (f *File) streamEnd(size int64) error {
	if size < 0 || size > f.e.Chunk*wire.MaxChunksPerFile {
		return wire.Errorf("streamed %q ends at size %d", f.e.Path, size)
	}
	n := (size + f.e.Chunk - 1) / f.e.Chunk
	if int64(len(f.state)) > n {
		return wire.Errorf("streamed %q has chunks beyond its end", f.e.Path)
	}
	f.grow(n)
	f.e.Size = size
	for i := range n {
		if f.state[i] != missing && f.lens[i] != f.e.ChunkLen(i) {
			return wire.Errorf("streamed %q: chunk %d has %d bytes, want %d", f.e.Path, i, f.lens[i], f.e.ChunkLen(i))
		}
	}
	return nil
}

// becameReady reports, once, that every chunk is verified and the end is
// in, and moves the file on to finalizing. Called with f.mu held.
func (f *File) becameReady() bool {
	if f.end == nil || f.done || f.finalizing || f.skip || f.nHave != int64(len(f.state)) {
		return false
	}
	f.finalizing = true
	return true
}

func (f *File) closeFiles() {
	f.opening.Lock()
	defer f.opening.Unlock()
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	f.j.close()
}

// Size is the file's size: -1 for a streamed entry until its end.
func (f *File) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e.Size
}

// Verified is the bytes verified so far.
func (f *File) Verified() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.haveLen
}
