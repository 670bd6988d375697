package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// streamed returns s offered as a streamed entry: no size until its end.
func streamed(s sent) wire.Entry {
	e := s.e
	e.Size, e.Stream = -1, true
	return e
}

// A streamed entry's chunk table grows with the chunks that come, in any
// order, and its end fixes the size; the last chunk may be short.
func TestStreamed(t *testing.T) {
	dir := t.TempDir()
	s := newSent("stdin.txt", 3*chunk+1000, 70)
	in := openSet(t, dir, Options{Sender: sender(1)}, streamed(s))
	f := in.Files()[0]
	resume(t, in, f)
	if f.Size() != -1 {
		t.Errorf("size %d before the end", f.Size())
	}
	for _, i := range []int64{2, 0, 3, 1} {
		if put(t, f, s, i) {
			t.Fatal("ready before the end")
		}
	}
	for _, c := range []struct{ idx, len int64 }{
		{0, chunk}, // twice
		{4, 0},
		{4, chunk + 1},
		{wire.MaxChunksPerFile, chunk},
	} {
		if _, err := begin(f, c.idx, c.len); !errors.Is(err, wire.ErrProtocol) {
			t.Errorf("Begin(%d, %d): %v, want a protocol error", c.idx, c.len, err)
		}
	}
	if !end(t, f, s) {
		t.Fatal("not ready at the end")
	}
	if f.Size() != int64(len(s.data)) {
		t.Errorf("size %d after the end, want %d", f.Size(), len(s.data))
	}
	if _, err := f.Begin(4, chunk); !errors.Is(err, wire.ErrProtocol) {
		t.Errorf("Begin after the end: %v", err)
	}
	delivered(t, in, f, s)
}

// Once a streamed entry's end is in, it is a file of that size: a chunk
// beyond it, or of another length than it gives the last chunk, is
// refused.
func TestStreamedEndFirst(t *testing.T) {
	dir := t.TempDir()
	s := newSent("stdin.txt", 3*chunk+1000, 71)
	in := openSet(t, dir, Options{Sender: sender(1)}, streamed(s))
	f := in.Files()[0]
	put(t, f, s, 0)
	if end(t, f, s) {
		t.Fatal("ready with chunks missing")
	}
	for _, c := range []struct{ idx, len int64 }{{4, chunk}, {4, 1}, {3, chunk}, {3, 999}} {
		if _, err := f.Begin(c.idx, c.len); !errors.Is(err, wire.ErrProtocol) {
			t.Errorf("Begin(%d, %d) after the end: %v, want a protocol error", c.idx, c.len, err)
		}
	}
	put(t, f, s, 3)
	put(t, f, s, 1)
	if !put(t, f, s, 2) {
		t.Fatal("not ready with every chunk in")
	}
	delivered(t, in, f, s)
}

// An end that contradicts the chunks of a streamed entry (chunks beyond
// it, a short chunk before the last) is a protocol error.
func TestStreamedBadEnd(t *testing.T) {
	s := newSent("stdin.txt", 3*chunk+1000, 72)
	for _, tc := range []struct {
		name   string
		chunks map[int64]int64 // index: length
		size   int64
	}{
		{"chunk-beyond", map[int64]int64{0: chunk, 4: chunk}, 3*chunk + 1000},
		{"last-too-long", map[int64]int64{0: chunk, 3: chunk}, 3*chunk + 1000},
		{"short-in-the-middle", map[int64]int64{0: 1000}, chunk + 1000},
		{"negative", nil, -1},
		{"too-big", nil, chunk*wire.MaxChunksPerFile + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := openSet(t, t.TempDir(), Options{Sender: sender(1)}, streamed(s))
			f := in.Files()[0]
			for i, n := range tc.chunks {
				b := make([]byte, n)
				if _, err := putErr(f, i, b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.End(tc.size, s.hash()); !errors.Is(err, wire.ErrProtocol) {
				t.Errorf("End(%d): %v, want a protocol error", tc.size, err)
			}
		})
	}
}

// A streamed entry with no chunks at all ends as an empty file.
func TestStreamedEmpty(t *testing.T) {
	dir := t.TempDir()
	s := newSent("stdin.txt", 0, 73)
	in := openSet(t, dir, Options{Sender: sender(1)}, streamed(s))
	f := in.Files()[0]
	if !end(t, f, s) {
		t.Fatal("an empty stream is not ready at its end")
	}
	delivered(t, in, f, s)
}

// A negative index or length of a streamed chunk is refused.
func TestStreamedNegative(t *testing.T) {
	s := newSent("stdin.txt", 3*chunk, 74)
	for _, c := range []struct{ idx, len int64 }{{-1, chunk}, {0, -5}} {
		t.Run(fmt.Sprintf("%d,%d", c.idx, c.len), func(t *testing.T) {
			in := openSet(t, t.TempDir(), Options{Sender: sender(1)}, streamed(s))
			if _, err := begin(in.Files()[0], c.idx, c.len); !errors.Is(err, wire.ErrProtocol) {
				t.Errorf("Begin(%d, %d): %v, want a protocol error", c.idx, c.len, err)
			}
		})
	}
}
