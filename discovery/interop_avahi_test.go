package discovery

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// avahiBrowse runs avahi-daemon with a D-Bus system bus of its own in a
// private mount namespace inside the host (so that it meets no other
// daemon), then `avahi-browse -rtp` for each service type, and prints what
// it printed.
const avahiBrowse = `
set -e
mkdir -p /run/dbus /run/avahi-daemon
mount -t tmpfs tmpfs /run/dbus
mount -t tmpfs tmpfs /run/avahi-daemon
dbus-daemon --system --fork
avahi-daemon -D --no-rlimits
trap 'avahi-daemon -k; kill $(cat /run/dbus/pid)' EXIT
for t in "$@"; do
	echo "browse $t"
	timeout 15 avahi-browse -rtp "$t"
done
`

// TestInteropAvahi: avahi-browse, an independent DNS-SD implementation, sees
// the advertisement and resolves it, under the service type and under the
// pairing and device-ID subtypes, over IPv4 and IPv6. CI installs
// avahi-utils (which brings avahi-daemon and dbus-daemon).
func TestInteropAvahi(t *testing.T) {
	l := newLAN(t, "avahi")
	for _, cmd := range []string{"avahi-daemon", "avahi-browse", "dbus-daemon", "unshare"} {
		if _, err := exec.LookPath(cmd); err != nil {
			const why = "avahi-daemon, avahi-browse, dbus-daemon and unshare are needed"
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s: %v", why, err)
			}
			t.Skipf("%s: %v", why, err)
		}
	}
	l.addSwitch("sw")
	for i := 1; i <= 2; i++ {
		h := fmt.Sprintf("h%d", i)
		l.addHost(h)
		l.connect(h, "sw", "eth0", fmt.Sprintf("10.231.6.%d/24", i), fmt.Sprintf("fd31::6:%d/64", i))
	}
	a, id := l.advertise("h1", "Zoë's desk", 40001, "FDSC_FLAGS=pair=1")
	svc := Service{Name: "Zoë's desk", ID: id}
	types := []string{"_ferry._udp", pairSubtype + "._sub._ferry._udp", idSubtype(id) + "._sub._ferry._udp"}

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	out, err := l.host("h2").Run(ctx, "unshare", append([]string{"-m", "sh", "-c", avahiBrowse, "sh"}, types...)...)
	if err != nil {
		t.Fatalf("avahi-browse: %v\n%s", err, out)
	}
	// Per browse, the protocols over which avahi resolved our instance. A
	// resolved line is =;iface;proto;instance;type;domain;host;address;port;TXT
	resolved := make(map[string]map[string]bool)
	var browse string
	for _, line := range strings.Split(string(out), "\n") {
		if typ, ok := strings.CutPrefix(line, "browse "); ok {
			browse = typ
			resolved[browse] = make(map[string]bool)
			continue
		}
		f := strings.Split(line, ";")
		if len(f) < 10 || f[0] != "=" || browse == "" {
			continue
		}
		if f[6] == svc.hostLabel()+".local" && f[8] == "40001" && strings.Contains(f[9], `"id=`+id.String()+`"`) &&
			strings.Contains(f[9], `"pair=1"`) && strings.Contains(f[9], `"name=Zo\195\171's desk"`) &&
			(f[7] == "10.231.6.1" || f[7] == "fd31::6:1") {
			resolved[browse][f[2]] = true
		}
	}
	for _, typ := range types {
		if !resolved[typ]["IPv4"] || !resolved[typ]["IPv6"] {
			t.Errorf("avahi-browse %s resolved the advertisement over %v, want IPv4 and IPv6", typ, resolved[typ])
		}
	}
	if t.Failed() {
		t.Logf("avahi-browse printed:\n%s", out)
	}
	a.finish()
}
