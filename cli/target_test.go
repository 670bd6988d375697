package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
)

// TestToShortIDPrefix: a short ID prefix names only a paired device; on the
// network anyone can make a key whose ID starts with it.
func TestToShortIDPrefix(t *testing.T) {
	real := discovery.Peer{Name: "desk", ID: identity.DeviceID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}}
	forged := real
	forged.Name, forged.ID[3] = "evil", 0xbb // the first 24 bits are the same: 4 characters
	full := strings.ReplaceAll(real.ID.String(), "-", "")
	short, long := full[:4], full[:13]
	if !forged.ID.HasPrefix(short) || forged.ID.HasPrefix(full[:8]) {
		t.Fatalf("forged ID %s should share %s but not %s", forged.ID, short, full[:8])
	}
	self := identity.DeviceID{0xff}
	empty, paired := trustStores(t, real.ID)

	for _, tc := range []struct {
		what               string
		to                 string
		trust              *identity.TrustStore
		matchReal, matchFo bool
		tooShort           bool
	}{
		{"short prefix, on the network", short, empty, false, false, true},
		{"short prefix with a dash", full[:4] + "-" + full[4:8], empty, false, false, true},
		{"13 characters", long, empty, true, false, false},
		{"short prefix of a paired device", short, paired, true, false, false},
		{"a name", "desk", empty, true, false, false},
	} {
		q := newTargetQuery(tc.to, tc.trust, self)
		if got := q.match(real); got != tc.matchReal {
			t.Errorf("%s: --to %s matches the real device: %v, want %v", tc.what, tc.to, got, tc.matchReal)
		}
		if got := q.match(forged); got != tc.matchFo {
			t.Errorf("%s: --to %s matches the forged device: %v, want %v", tc.what, tc.to, got, tc.matchFo)
		}
		err := q.tooShort()
		if (err != nil) != tc.tooShort {
			t.Errorf("%s: tooShort() = %v, want an error: %v", tc.what, err, tc.tooShort)
		}
		if err != nil && (exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "at least 13 characters to be looked up on the network (or name a paired device)")) {
			t.Errorf("%s: tooShort() = %v (exit %d)", tc.what, err, exitCode(err))
		}
	}
}

// trustStores returns an empty trust store, and one where "desk" is paired
// with id.
func trustStores(t *testing.T, id identity.DeviceID) (empty, paired *identity.TrustStore) {
	t.Helper()
	empty, err := identity.OpenTrustStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	paired, err = identity.OpenTrustStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := paired.Add(identity.Peer{Name: "desk", ID: id, Via: "pin"}); err != nil {
		t.Fatal(err)
	}
	return empty, paired
}

// TestToNotFound: an --to that names no receiver says which names answered,
// and the one it most likely misspells.
func TestToNotFound(t *testing.T) {
	self := identity.DeviceID{0xff}
	empty, err := identity.OpenTrustStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := newTargetQuery("laptop-ana", empty, self)
	for i, name := range []string{"laptop-anna", "desk-bob", "laptop-anna", "me"} {
		id := identity.DeviceID{byte(i + 1)}
		if name == "me" {
			id = self
		}
		if q.match(discovery.Peer{Name: name, ID: id}) {
			t.Fatalf("--to laptop-ana matches %s", name)
		}
	}
	err = q.notFound(5 * time.Second)
	want := `no receiver named "laptop-ana" found on the network within 5s; seen: laptop-anna, desk-bob; did you mean laptop-anna?`
	if !strings.HasSuffix(err.Error(), want) || exitCode(err) != ExitUnreachable {
		t.Errorf("notFound = %v (exit %d), want …%s (exit %d)", err, exitCode(err), want, ExitUnreachable)
	}

	q = newTargetQuery("laptop-ana", empty, self)
	if err := q.notFound(time.Second); !strings.Contains(err.Error(), "no receiver answered at all") {
		t.Errorf("notFound with nothing seen = %v", err)
	}
}

// TestToLookup: whom discovery asks for, for each form of --to.
func TestToLookup(t *testing.T) {
	self := identity.DeviceID{0xff}
	desk := identity.DeviceID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}
	empty, paired := trustStores(t, desk)
	full := desk.String()
	for _, tc := range []struct {
		to    string
		trust *identity.TrustStore
		want  discovery.Lookup
	}{
		{"", empty, discovery.Lookup{}},
		{"laptop-1890", empty, discovery.ByName("laptop-1890")},
		{"Desk", empty, discovery.ByName("Desk")},
		{full[:16], empty, discovery.ByName(full[:16]).Or(discovery.ByID(full[:16]))},
		{full[:4], empty, discovery.ByName(full[:4])}, // too short for the network: by name, then everyone
		{full[:4], paired, discovery.ByName(full[:4]).Or(discovery.ByID(full))},
		{"desk", paired, discovery.ByName("desk").Or(discovery.ByID(full))},
		{"desk " + desk.Short(), empty, discovery.ByName("desk " + desk.Short()).Or(discovery.ByID(desk.Short()))},
	} {
		q := newTargetQuery(tc.to, tc.trust, self)
		if got := q.lookup(); got.String() != tc.want.String() {
			t.Errorf("--to %q: lookup %v, want %v", tc.to, got, tc.want)
		}
	}
}
