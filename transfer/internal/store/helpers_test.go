package store

import (
	"testing"

	"github.com/zeebo/blake3"

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
