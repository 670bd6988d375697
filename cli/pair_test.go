package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestQRFileIsPrivate: the QR code holds the one-time pairing secret, so
// its file is the owner's only, whether it is new or replaces another.
func TestQRFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	fresh, old := filepath.Join(dir, "new.png"), filepath.Join(dir, "old.png")
	if err := os.WriteFile(old, []byte("an older, readable file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	secret := []byte("PNG of the pairing code")
	for _, path := range []string{fresh, old} {
		if err := writeSecretFile(path, secret); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode(); mode != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(path), mode)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("%s holds %q, %v; want %q", filepath.Base(path), got, err, secret)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 2 {
		t.Errorf("the folder holds %d entries (%v), want the 2 files only", len(entries), err)
	}
}
