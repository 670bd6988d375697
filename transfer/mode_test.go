package transfer

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// modeCases are source modes and what the receiver gives the copy: the
// owner-only bits when the source grants nothing to group or others,
// 0644 or 0755 otherwise.
var modeCases = []struct {
	name    string
	mode    os.FileMode
	private bool
	exec    bool
	want    os.FileMode
}{
	{"private.txt", 0o600, true, false, 0o600},
	{"owner-read-only.txt", 0o400, true, false, 0o600},
	{"shared.txt", 0o644, false, false, 0o644},
	{"group.txt", 0o640, false, false, 0o644},
	{"private.sh", 0o700, true, true, 0o700},
	{"shared.sh", 0o755, false, true, 0o755},
	{"group.sh", 0o750, false, true, 0o755},
}

// writeModes writes one file per case into dir/tree, with its mode.
func writeModes(t *testing.T, dir string) {
	t.Helper()
	for _, tc := range modeCases {
		p := filepath.Join(dir, "tree", tc.name)
		writeFile(t, dir, "tree/"+tc.name, 100)
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestManifestPrivate(t *testing.T) {
	src := t.TempDir()
	writeModes(t, src)
	got, err := buildManifest([]string{filepath.Join(src, "tree")}, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	byPath := make(map[string]wire.Entry)
	for _, s := range got {
		byPath[s.Path] = s.Entry
	}
	for _, tc := range modeCases {
		e, ok := byPath["tree/"+tc.name]
		if !ok {
			t.Fatalf("%s is not in the manifest", tc.name)
		}
		if e.Private != tc.private || e.Exec != tc.exec {
			t.Errorf("%s (mode %v): Private %v, Exec %v; want %v, %v", tc.name, tc.mode, e.Private, e.Exec, tc.private, tc.exec)
		}
	}
	if e := byPath["tree"]; e.Private {
		t.Error("a folder entry is marked private")
	}
}

// A copy is no more readable than its source: owner-only stays owner-only.
func TestReceivedModes(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	writeModes(t, src)
	s.mustSend(t, r, []string{filepath.Join(src, "tree")})
	for _, tc := range modeCases {
		fi, err := os.Stat(filepath.Join(r.Dir(), "tree", tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("%s (source mode %v) arrived with mode %v, want %v", tc.name, tc.mode, fi.Mode().Perm(), tc.want)
		}
	}
}
