package store

import (
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// Reading verified chunks back, for a receiver that re-serves them to the
// other receivers of a swarm: a chunk is read from the partial file (or,
// with Options.Serve, from the complete file, whose descriptor is kept
// after it is named) and hashed again before it leaves.

// maxServed is how many complete files a set keeps open to serve from;
// chunks of the others are not served once their file is named.
const maxServed = 64

// ErrNotHere: the chunk is not verified here (yet).
var ErrNotHere = errors.New("chunk not held")

// ErrNotServed: the chunk is verified here, but its file is named and was
// not kept open (see maxServed): it cannot be read back.
var ErrNotServed = errors.New("chunk no longer served")

// Has reports whether chunk idx is verified here.
func (f *File) Has(idx int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return idx >= 0 && idx < int64(len(f.state)) && f.state[idx] == verified
}

// Missing lists the chunks not yet verified nor being written, and
// whether the file is still receiving (not skipped, complete or named).
func (f *File) Missing() ([]int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.skip || f.done || f.finalizing {
		return nil, false
	}
	var out []int64
	for i, s := range f.state {
		if s == missing {
			out = append(out, int64(i))
		}
	}
	return out, true
}

// ChunkLen is the length of chunk idx (of a file of known size).
func (f *File) ChunkLen(idx int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e.ChunkLen(idx)
}

// Chunks is the number of chunks of a file of known size.
func (f *File) Chunks() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e.Chunks()
}

// ReadVerified reads verified chunk idx into buf, which must be its
// length, and checks it against the hash it was verified with. It returns
// ErrNotHere for a chunk that is not verified, ErrNotServed for one whose
// file is not readable here any more, and ErrIntegrity if the bytes on
// disk changed.
func (f *File) ReadVerified(idx int64, buf []byte) error {
	f.mu.Lock()
	if idx < 0 || idx >= int64(len(f.state)) || f.state[idx] != verified || int64(len(buf)) != f.e.ChunkLen(idx) {
		f.mu.Unlock()
		return ErrNotHere
	}
	want := f.hashes[idx]
	off := idx * f.e.Chunk
	f.mu.Unlock()
	f.opening.Lock()
	defer f.opening.Unlock()
	r := f.f
	if r == nil {
		r = f.served
	}
	if r == nil {
		return ErrNotServed
	}
	if _, err := r.ReadAt(buf, off); err != nil {
		return fmt.Errorf("read back chunk %d of %q: %w", idx, f.e.Path, err)
	}
	if blake3.Sum256(buf) != want {
		return fmt.Errorf("%w: chunk %d of %q changed on disk", ErrIntegrity, idx, f.e.Path)
	}
	return nil
}

// keepServing keeps the descriptor of a file about to be named (and
// closed) open for ReadVerified, if the set serves and has room.
func (f *File) keepServing() {
	in := f.in
	if !in.opt.Serve {
		return
	}
	in.mu.Lock()
	ok := in.served < maxServed
	if ok {
		in.served++
	}
	in.mu.Unlock()
	if !ok {
		return
	}
	f.opening.Lock()
	f.served, f.f = f.f, nil
	f.opening.Unlock()
}

// closeServed closes what keepServing kept.
func (f *File) closeServed() {
	f.opening.Lock()
	defer f.opening.Unlock()
	if f.served != nil {
		f.served.Close()
		f.served = nil
	}
}
