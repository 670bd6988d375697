package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A verified chunk reads back as it was verified, from the partial file
// and, with Options.Serve, from the complete file after it is named; a
// chunk not verified is not here, and without Serve a named file's chunks
// are no longer served. Bytes changed on disk are refused.
func TestReadVerified(t *testing.T) {
	for _, serve := range []bool{false, true} {
		dir := t.TempDir()
		s := newSent("f.bin", 3*chunk+5, 1)
		in := openSet(t, dir, Options{Sender: sender(1), Serve: serve, NoTmpFiles: true}, s.e)
		f := in.Files()[0]
		resume(t, in, f)
		buf := make([]byte, chunk)
		if err := f.ReadVerified(0, buf); !errors.Is(err, ErrNotHere) {
			t.Fatalf("an unwritten chunk read back: %v", err)
		}
		put(t, f, s, 1)
		if err := f.ReadVerified(1, buf); err != nil || !bytes.Equal(buf, s.piece(1)) {
			t.Fatalf("a verified chunk read back wrong: %v", err)
		}
		if err := f.ReadVerified(1, buf[:10]); !errors.Is(err, ErrNotHere) {
			t.Errorf("a read of the wrong length: %v", err)
		}
		if f.Has(0) || !f.Has(1) {
			t.Errorf("Has: 0 %v, 1 %v", f.Has(0), f.Has(1))
		}
		if miss, open := f.Missing(); !open || len(miss) != 3 {
			t.Errorf("Missing: %v %v, want 3 chunks", miss, open)
		}
		receive(t, f, s)
		name := finish(t, in, f)
		err := f.ReadVerified(2, buf)
		switch {
		case serve && (err != nil || !bytes.Equal(buf, s.piece(2))):
			t.Fatalf("serving: chunk 2 of the named file: %v", err)
		case !serve && !errors.Is(err, ErrNotServed):
			t.Fatalf("not serving: chunk 2 of the named file: %v, want ErrNotServed", err)
		}
		if serve { // the bytes under the name change: refused, not served
			p := filepath.Join(dir, name)
			b, _ := os.ReadFile(p)
			b[2*chunk] ^= 1
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := f.ReadVerified(2, buf); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("a chunk changed on disk read back: %v", err)
			}
		}
	}
}
