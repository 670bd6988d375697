package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// begin is File.Begin, with a panic turned into an error: a bad index
// must not take the receiver down.
func begin(f *File, idx, length int64) (c Chunk, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f.Begin(idx, length)
}

// A chunk out of range or of the wrong length is refused as a protocol
// error, and claims nothing: the file still takes its chunks.
func TestBeginRefused(t *testing.T) {
	s := newSent("m.bin", 2*chunk+10, 60)
	for _, tc := range []struct {
		name     string
		idx, len int64
	}{
		{"past-the-end", 3, chunk},
		{"far-past-the-end", 1 << 40, chunk},
		{"negative", -1, chunk},
		{"short", 0, chunk - 1},
		{"long", 0, chunk + 1},
		{"empty", 0, 0},
		{"last-too-long", 2, chunk},
		{"last-too-short", 2, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := openSet(t, t.TempDir(), Options{Sender: sender(1)}, s.e)
			f := in.Files()[0]
			_, err := begin(f, tc.idx, tc.len)
			if !errors.Is(err, wire.ErrProtocol) {
				t.Fatalf("Begin(%d, %d): %v, want a protocol error", tc.idx, tc.len, err)
			}
			for i := range s.e.Chunks() {
				put(t, f, s, i)
			}
			if !end(t, f, s) {
				t.Fatal("not ready with every chunk in")
			}
		})
	}
}

// The chunk and end state machine refuses what a misbehaving sender or
// caller does out of turn, and recovers where the protocol lets it: an
// aborted chunk may be begun again.
func TestChunkMisuse(t *testing.T) {
	dir := t.TempDir()
	s := newSent("m.bin", 2*chunk+10, 61)
	in := openSet(t, dir, Options{Sender: sender(1)}, s.e)
	f := in.Files()[0]
	protocol := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, wire.ErrProtocol) {
			t.Errorf("%s: %v, want a protocol error", what, err)
		}
	}
	p0 := s.piece(0)

	c, err := f.Begin(0, chunk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Begin(0, chunk)
	protocol("Begin of a chunk being written", err)
	protocol("Write past the length", c.Write(make([]byte, chunk+1)))
	if err := c.Write(p0[:100]); err != nil {
		t.Fatal(err)
	}
	protocol("Write past the length in pieces", c.Write(make([]byte, chunk-99)))
	_, err = c.Commit(hashOf(p0))
	protocol("Commit of a short chunk", err)
	if err := c.Write(p0[100:]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(hashOf(p0[1:])); !errors.Is(err, ErrIntegrity) {
		t.Errorf("Commit with the wrong hash: %v, want an integrity failure", err)
	}
	if f.Verified() != 0 {
		t.Errorf("%d bytes verified after a failed commit", f.Verified())
	}
	c.Abort()
	put(t, f, s, 0)
	_, err = f.Begin(0, chunk)
	protocol("Begin of a verified chunk", err)

	c, err = f.Begin(1, chunk)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(s.piece(1)[:10]); err != nil {
		t.Fatal(err)
	}
	c.Abort()
	put(t, f, s, 1) // begun again, whole

	_, err = f.End(int64(len(s.data))+1, s.hash())
	protocol("End with the wrong size", err)
	_, err = f.End(int64(len(s.data)), s.hash()[1:])
	protocol("End with a short hash", err)
	if end(t, f, s) {
		t.Fatal("ready with a chunk missing")
	}
	_, err = f.End(int64(len(s.data)), s.hash())
	protocol("second End", err)
	if !put(t, f, s, 2) {
		t.Fatal("not ready with every chunk and the end in")
	}
	for i := range s.e.Chunks() {
		_, err = f.Begin(i, s.e.ChunkLen(i))
		protocol(fmt.Sprintf("Begin of chunk %d of a complete file", i), err)
	}
	delivered(t, in, f, s)
}

// A file whose bytes do not hash to the sender's file hash fails Prepare
// as an integrity failure, and its partial data is discarded.
func TestPrepareWrongHash(t *testing.T) {
	for _, size := range []int{10, 2*chunk + 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			s := newSent("bad.bin", size, 62)
			in := openSet(t, dir, Options{Sender: sender(1)}, s.e)
			f := in.Files()[0]
			for i := range s.e.Chunks() {
				put(t, f, s, i)
			}
			wrong := newSent("bad.bin", size, 63).hash()
			if ready, err := f.End(int64(size), wrong); err != nil || !ready {
				t.Fatalf("End: ready %v, %v", ready, err)
			}
			if err := in.Prepare(f); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("Prepare: %v, want an integrity failure", err)
			}
			if got := ferryFiles(t, dir); len(got) != 0 {
				t.Errorf("partial data kept: %v", got)
			}
		})
	}
}
