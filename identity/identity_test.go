package identity

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateStable(t *testing.T) {
	home := filepath.Join(t.TempDir(), "ferry")
	a, err := LoadOrCreate(home, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(home, "b")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("second load gave another ID: %s vs %s", a.ID, b.ID)
	}
	for _, f := range []string{keyFile, certFile} {
		fi, err := os.Stat(filepath.Join(home, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o700 {
		t.Errorf("home has mode %v, want 0700", fi.Mode().Perm())
	}
}

// Several processes using a new home at once must agree on one identity.
// Goroutines stand in for processes: flock locks are per open file, so
// they exclude each other within one process too.
func TestLoadOrCreateConcurrentFirstUse(t *testing.T) {
	home := filepath.Join(t.TempDir(), "ferry")
	const n = 8
	ids := make([]DeviceID, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := LoadOrCreate(home, "x")
			errs[i] = err
			if err == nil {
				ids[i] = d.ID
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreate %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("LoadOrCreate %d gave %s, another gave %s", i, ids[i].Short(), ids[0].Short())
		}
	}
}

func TestDeviceIDText(t *testing.T) {
	d, err := LoadOrCreate(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	s := d.ID.String()
	if len(s) != 52+12 {
		t.Fatalf("ID text %q has %d characters", s, len(s))
	}
	for _, in := range []string{s, s[:4] + s[5:], "  " + s + " ", lower(s)} {
		got, err := ParseDeviceID(in)
		if err != nil || got != d.ID {
			t.Errorf("ParseDeviceID(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", s[:20], s + "A", "0000" + s[4:]} {
		if _, err := ParseDeviceID(bad); err == nil {
			t.Errorf("ParseDeviceID(%q) accepted", bad)
		}
	}
	if !d.ID.HasPrefix(lower(s[:7])) || d.ID.HasPrefix("") {
		t.Error("HasPrefix")
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func TestTrustStore(t *testing.T) {
	home := t.TempDir()
	ts, err := OpenTrustStore(home)
	if err != nil {
		t.Fatal(err)
	}
	var id DeviceID
	id[3] = 7
	if ts.Trusted(id) {
		t.Fatal("empty store trusts")
	}
	if err := ts.Add(Peer{Name: "n", ID: id, Via: "pin"}); err != nil {
		t.Fatal(err)
	}
	again, err := OpenTrustStore(home)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Trusted(id) {
		t.Fatal("trust not persisted")
	}
	if fi, _ := os.Stat(filepath.Join(home, trustFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("peers.json mode %v", fi.Mode().Perm())
	}
	if ok, err := again.Remove(id); !ok || err != nil {
		t.Fatalf("Remove: %v %v", ok, err)
	}
	if again.Trusted(id) {
		t.Fatal("still trusted after Remove")
	}
}

// A store that is open (as in a running receiver) sees what another
// process (ferry pair, ferry trust remove) writes.
func TestTrustStoreFollowsFile(t *testing.T) {
	home := t.TempDir()
	running, err := OpenTrustStore(home)
	if err != nil {
		t.Fatal(err)
	}
	other, err := OpenTrustStore(home)
	if err != nil {
		t.Fatal(err)
	}
	var id DeviceID
	id[1] = 9
	if err := other.Add(Peer{Name: "b", ID: id}); err != nil {
		t.Fatal(err)
	}
	if !running.Trusted(id) {
		t.Fatal("a pairing made by another process is not seen")
	}
	if _, err := other.Remove(id); err != nil {
		t.Fatal(err)
	}
	if running.Trusted(id) {
		t.Fatal("a removal made by another process is not seen")
	}
}

func TestName(t *testing.T) {
	home := t.TempDir()
	if name, err := LoadName(home); err != nil || name != "" {
		t.Fatalf("LoadName of a new home = %q, %v; want nothing", name, err)
	}
	for _, n := range []string{"laptop-anna", "anna's laptop"} {
		if err := SaveName(home, n); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadName(home); err != nil || got != n {
			t.Fatalf("LoadName = %q, %v; want %q", got, err, n)
		}
	}
	if fi, err := os.Stat(filepath.Join(home, nameFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("name file: %v, %v; want mode 0600", fi, err)
	}
	if err := SaveName(home, "bad\nname"); err == nil {
		t.Error("SaveName stored a name with a line break")
	}
	if err := os.WriteFile(filepath.Join(home, nameFile), []byte("a\x1b[2Jb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadName(home); !errors.Is(err, ErrBadName) {
		t.Errorf("LoadName of a name with an escape: %v, want ErrBadName", err)
	}
}
