package store

import (
	"fmt"
	"os"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// Chunk is one chunk being written: its bytes go to the partial file as
// they come and are hashed on the way.
type Chunk struct {
	f      *File
	w      *os.File
	idx    int64
	n      int64 // its length
	off    int64
	left   int64
	hasher *blake3.Hasher
}

// Begin starts chunk idx of length bytes. A chunk out of range, of the
// wrong length, already verified or being written, or of a file that is
// skipped or complete is a protocol error; the partial file is made (or
// reopened) on the file's first chunk.
func (f *File) Begin(idx, length int64) (Chunk, error) {
	if err := f.claim(idx, length); err != nil {
		return Chunk{}, err
	}
	if err := f.open(); err != nil {
		f.abort(idx)
		return Chunk{}, f.in.storageErr(err)
	}
	return Chunk{f: f, w: f.f, idx: idx, n: length, off: idx * f.e.Chunk, left: length, hasher: f.in.hasher()}, nil
}

// claim marks chunk idx as being written.
func (f *File) claim(idx, length int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.skip:
		return wire.Errorf("chunk %d of %q, which the plan skips", idx, f.e.Path)
	case f.done || f.finalizing:
		return wire.Errorf("chunk %d of %q after its end", idx, f.e.Path)
	}
	if idx < 0 {
		return wire.Errorf("chunk %d of %q", idx, f.e.Path)
	}
	if f.e.Stream && f.end == nil {
		if idx >= wire.MaxChunksPerFile || length > f.e.Chunk || length <= 0 {
			return wire.Errorf("chunk %d of %d bytes for streamed %q", idx, length, f.e.Path)
		}
		f.grow(idx + 1)
	} else if idx >= int64(len(f.state)) || length != f.e.ChunkLen(idx) {
		return wire.Errorf("chunk %d of %d bytes for %q (%d bytes in chunks of %d)", idx, length, f.e.Path, f.e.Size, f.e.Chunk)
	}
	if f.state[idx] != missing {
		return wire.Errorf("chunk %d of %q sent twice", idx, f.e.Path)
	}
	f.state[idx] = writing
	if f.e.Stream {
		f.lens[idx] = length
	}
	return nil
}

// abort gives back a chunk that was begun and will not be committed.
func (f *File) abort(idx int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state[idx] == writing {
		f.state[idx] = missing
	}
}

// Write writes the chunk's next bytes.
func (c *Chunk) Write(p []byte) error {
	if c.hasher == nil {
		return fmt.Errorf("chunk %d of %q: write after commit or abort", c.idx, c.f.e.Path)
	}
	if int64(len(p)) > c.left {
		return wire.Errorf("chunk %d of %q is longer than announced", c.idx, c.f.e.Path)
	}
	c.hasher.Write(p)
	if _, err := c.w.WriteAt(p, c.off); err != nil {
		return c.f.in.storageErr(fmt.Errorf("write %q: %w", c.f.e.Path, err))
	}
	c.off += int64(len(p))
	c.left -= int64(len(p))
	return nil
}

// Abort gives the chunk back: it may be begun again.
func (c *Chunk) Abort() {
	c.f.abort(c.idx)
	c.done()
}

// done gives the chunk's hasher back for the next chunk.
func (c *Chunk) done() {
	if c.hasher != nil {
		c.f.in.hashers.Put(c.hasher)
		c.hasher = nil
	}
}

// Commit checks the chunk's bytes against the hash they must have and
// journals the chunk. ready reports that the file is now complete (every
// chunk verified and its end in): the caller then finishes it.
func (c *Chunk) Commit(want [wire.HashLen]byte) (ready bool, err error) {
	f := c.f
	if c.hasher == nil {
		return false, fmt.Errorf("chunk %d of %q: committed or aborted already", c.idx, f.e.Path)
	}
	if c.left != 0 {
		return false, wire.Errorf("chunk %d of %q is %d bytes short", c.idx, f.e.Path, c.left)
	}
	var sum [wire.HashLen]byte
	c.hasher.Sum(sum[:0])
	c.done()
	if sum != want {
		return false, fmt.Errorf("%w: chunk %d of %q does not match its hash", ErrIntegrity, c.idx, f.e.Path)
	}
	if !f.tmp {
		writeBehind(c.w, c.idx*f.e.Chunk, c.n)
	}
	// Journaled before it counts: once every chunk counts, the file may be
	// named and its journal removed.
	if err := f.j.append(c.idx, sum); err != nil {
		return false, f.in.storageErr(fmt.Errorf("write journal for %q: %w", f.e.Path, err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[c.idx] = verified
	f.hashes[c.idx] = sum
	f.nHave++
	f.haveLen += c.n
	return f.becameReady(), nil
}
