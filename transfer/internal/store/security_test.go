package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// The final name goes to the file ferry wrote, even when someone who can
// write the folder moved the partial away and put another file at its name
// just before: linked by its descriptor, or, where the partial has to be
// renamed, refused as an integrity failure.
func TestPartialSwappedBeforeNaming(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overwrite bool
		noLink    bool
		wantErr   bool
	}{
		{"link", false, false, false},
		{"rename", false, true, true},
		{"overwrite", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.noLink && !tc.overwrite && !tmpLinkable() {
				t.Skip("no linking of an open file here")
			}
			dir := t.TempDir()
			data := rand.Text() + rand.Text()
			in := openSet(t, dir, Options{Overwrite: tc.overwrite}, wire.Entry{Path: "f.bin", Size: 2 * chunk, Chunk: chunk, MTime: 1})
			in.noLink = tc.noLink
			f := in.Files()[0]
			if err := f.open(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.f.WriteAt([]byte(data), 0); err != nil {
				t.Fatal(err)
			}
			part := filepath.Join(dir, filepath.FromSlash(f.part))
			if err := os.Rename(part, filepath.Join(dir, "moved")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(part, []byte("planted"), 0o600); err != nil {
				t.Fatal(err)
			}

			name, err := in.rename(f)
			got, _ := os.ReadFile(filepath.Join(dir, "f.bin"))
			switch {
			case tc.wantErr && !errors.Is(err, ErrIntegrity):
				t.Errorf("rename: %v, want an integrity failure", err)
			case !tc.wantErr && err != nil:
				t.Errorf("rename: %v", err)
			case err == nil && (name != "f.bin" || !bytes.HasPrefix(got, []byte(data))):
				t.Errorf("%q holds %d bytes, not the file written", name, len(got))
			}
		})
	}
}
