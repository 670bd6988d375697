package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ferryHere runs the ferry binary in this process's own namespace (no
// network needed) with FERRY_HOME set, and returns it ended.
func ferryHere(t *testing.T, home string, args ...string) *proc {
	t.Helper()
	env := append(os.Environ(), "FERRY_HOME="+home)
	p := startProc(t, "ferry "+strings.Join(args, " "), exec.Command(ferryBin, args...), env, nil)
	p.wait(30 * time.Second)
	return p
}

var deviceIDRe = regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$`)

// TestIdentity: `ferry id --json` prints the name and the device ID; the ID
// is stable per home, several homes are several devices, --home beats
// FERRY_HOME, and the identity files are private.
func TestIdentity(t *testing.T) {
	t.Parallel()
	homeA := filepath.Join(t.TempDir(), "a", "ferry") // ferry creates them
	homeB := filepath.Join(t.TempDir(), "b", "ferry")

	id := func(home string, args ...string) (name, id string) {
		t.Helper()
		p := ferryHere(t, home, args...)
		if p.exitCode() != exitOK {
			t.Fatalf("%s exited %d: %s", p.label, p.exitCode(), p.stderr.String())
		}
		if len(p.events) != 1 {
			t.Fatalf("%s printed %d JSON lines, want 1", p.label, len(p.events))
		}
		ev := p.events[0]
		if len(ev) != 2 {
			t.Errorf("%s printed %v, want exactly the fields name and id", p.label, ev)
		}
		name, id = ev.str("name"), ev.str("id")
		if !deviceIDRe.MatchString(id) {
			t.Errorf("%s: id %q does not look like a device ID", p.label, id)
		}
		return name, id
	}

	nameA, idA := id(homeA, "id", "--json", "--name", "alice") // global flags after the verb
	if nameA != "alice" {
		t.Errorf("name %q, want alice", nameA)
	}
	if _, again := id(homeA, "--json", "--name", "alice", "id"); again != idA { // and before it
		t.Errorf("the same home gave two IDs: %s and %s", idA, again)
	}
	_, idB := id(homeB, "id", "--json", "--name", "bob")
	if idB == idA {
		t.Errorf("two homes are the same device %s", idA)
	}
	if _, viaFlag := id(homeA, "--home", homeB, "id", "--json", "--name", "bob"); viaFlag != idB {
		t.Errorf("--home %s gave %s, want %s (the flag beats FERRY_HOME)", homeB, viaFlag, idB)
	}

	// Text: the name and the ID on two lines.
	p := startProc(t, "ferry id (text)", exec.Command(ferryBin, "id", "--name", "alice"), append(os.Environ(), "FERRY_HOME="+homeA), nil)
	p.wait(30 * time.Second)
	if p.exitCode() != exitOK {
		t.Fatalf("ferry id exited %d: %s", p.exitCode(), p.stderr.String())
	}
	if len(p.bad) != 2 || p.bad[0] != "alice" || p.bad[1] != idA {
		t.Errorf("ferry id printed %q, want [alice %s]", p.bad, idA)
	}
	p.bad = nil // not JSON on purpose

	for _, home := range []string{homeA, homeB} {
		fi, err := os.Stat(home)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("home %s has mode %v, want 0700", home, fi.Mode().Perm())
		}
		n := 0
		filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			n++
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
			}
			return nil
		})
		if n == 0 {
			t.Errorf("no identity files in %s", home)
		}
	}
}

// TestIdentityFirstUseRace: several ferry processes starting at once on a
// fresh home (a receiver and a sender started together, say) must agree on
// one device and leave a home that loads.
func TestIdentityFirstUseRace(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		home := filepath.Join(t.TempDir(), "ferry")
		env := append(os.Environ(), "FERRY_HOME="+home)
		var ps []*proc
		for i := range 6 {
			ps = append(ps, startProc(t, fmt.Sprintf("round %d: ferry id #%d", round, i),
				exec.Command(ferryBin, "id", "--json", "--name", "racer"), env, nil))
		}
		ids := map[string]int{}
		for _, p := range ps {
			if code := p.wait(30 * time.Second); code != exitOK {
				t.Errorf("%s exited %d: %v", p.label, code, p.last("error"))
				continue
			}
			ids[p.mustEvent("").str("id")]++
		}
		after := ferryHere(t, home, "id", "--json")
		if after.exitCode() != exitOK {
			t.Fatalf("round %d: after the race the home does not load: exit %d: %v", round, after.exitCode(), after.last("error"))
		}
		final := after.mustEvent("").str("id")
		if len(ids) > 1 || (len(ids) == 1 && ids[final] == 0) {
			t.Errorf("round %d: concurrent first uses saw IDs %v; the home now says %s", round, ids, final)
		}
		if t.Failed() {
			return
		}
	}
}
