package discovery

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
)

// advertise starts an advertiser helper on host and waits until it is up.
func (l *lan) advertise(host, name string, port int, env ...string) (*proc, identity.DeviceID) {
	l.t.Helper()
	id := testID(name)
	env = append([]string{"FDSC_NAME=" + name, "FDSC_ID=" + id.String(), fmt.Sprintf("FDSC_PORT=%d", port)}, env...)
	p := l.start(host, "advertise", env...)
	p.next(10*time.Second, "ready", func(m helperMsg) bool { return m.Ev == "ready" })
	return p, id
}

// browse starts a browser helper on host and waits until it runs.
func (l *lan) browse(host string, env ...string) *proc {
	l.t.Helper()
	p := l.start(host, "browse", env...)
	p.next(10*time.Second, "ready", func(m helperMsg) bool { return m.Ev == "ready" })
	return p
}

// waitPeers follows a browser's events until the peers with the wanted IDs
// have exactly the wanted addresses; it returns the peers.
func waitPeers(t *testing.T, b *proc, timeout time.Duration, want map[identity.DeviceID][]netip.Addr) {
	t.Helper()
	done := func() bool {
		for id, addrs := range want {
			if p, ok := b.peers[id]; !ok || !slices.Equal(p.Addrs, addrs) {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(timeout)
	for !done() {
		if _, ok := b.poll(time.Until(deadline), func(m helperMsg) bool { return m.Peer != nil }); !ok {
			t.Fatalf("%s: peers not as wanted within %v\nhave: %v\nwant: %v\nstderr:\n%s", b.name, timeout, b.peers, want, tail(b.stderr.String()))
		}
	}
}

func addrList(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestLAN runs three receivers and a fourth host on one LAN: all listed, how
// fast; List and Find; flag and address changes; departures, how fast.
func TestLAN(t *testing.T) {
	l := newLAN(t, "lan")
	l.addSwitch("sw")
	for i := 1; i <= 4; i++ {
		h := fmt.Sprintf("h%d", i)
		l.addHost(h)
		l.connect(h, "sw", "eth0", fmt.Sprintf("10.231.1.%d/24", i), fmt.Sprintf("fd31::%d/64", i))
	}
	names := map[int]string{1: "alpha", 2: "beta", 3: "gamma"}
	advs := make(map[int]*proc)
	ids := make(map[int]identity.DeviceID)
	want := make(map[identity.DeviceID][]netip.Addr)
	startAdv := func(i int) {
		env := []string{}
		if i == 2 {
			env = append(env, "FDSC_FLAGS=pair=1")
		}
		advs[i], ids[i] = l.advertise(fmt.Sprintf("h%d", i), names[i], 40000+i, env...)
		want[ids[i]] = addrList(fmt.Sprintf("10.231.1.%d", i), fmt.Sprintf("fd31::%d", i))
	}
	for i := 1; i <= 3; i++ {
		startAdv(i)
	}

	t.Run("all three listed", func(t *testing.T) {
		var times []time.Duration
		for range 10 {
			b := l.browse("h4")
			seen := make(map[identity.DeviceID]Peer)
			var last float64
			for len(seen) < 3 {
				m := b.next(5*time.Second, "three peers up", func(m helperMsg) bool { return m.Ev == "up" })
				seen[m.Peer.ID], last = *m.Peer, m.T
			}
			times = append(times, time.Duration(last*float64(time.Millisecond)))
			for i := 1; i <= 3; i++ {
				p, ok := seen[ids[i]]
				if !ok || p.Name != names[i] || p.Port != 40000+i || p.Version != Version ||
					!slices.Equal(p.Addrs, want[ids[i]]) || p.Instance != names[i]+" "+ids[i].Short() {
					t.Errorf("peer %d = %+v, want %s port %d addrs %v", i, p, names[i], 40000+i, want[ids[i]])
				}
				if wantFlags := map[string]string(nil); i == 2 {
					if !maps.Equal(p.Flags, map[string]string{"pair": "1"}) {
						t.Errorf("beta flags = %v", p.Flags)
					}
				} else if !maps.Equal(p.Flags, wantFlags) {
					t.Errorf("%s flags = %v", names[i], p.Flags)
				}
			}
			b.finish()
		}
		t.Logf("Browse start → all 3 peers up, 10 runs: median %v (min %v, max %v): %v",
			median(times), slices.Min(times), slices.Max(times), times)
	})

	t.Run("List and Find", func(t *testing.T) {
		p := l.start("h4", "list", "FDSC_TIMEOUT=1s")
		m := p.next(5*time.Second, "peers", func(m helperMsg) bool { return m.Ev == "peers" })
		var got []string
		for _, peer := range m.Peers {
			got = append(got, peer.Name)
		}
		if m.Err != "" || !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
			t.Errorf("List = %v, %q; want alpha, beta, gamma", got, m.Err)
		}
		p.checkClosed()

		p = l.start("h4", "find", "FDSC_TIMEOUT=5s", "FDSC_WANT="+ids[2].String())
		m = p.next(10*time.Second, "peers", func(m helperMsg) bool { return m.Ev == "peers" })
		if m.Err != "" || len(m.Peers) != 1 || m.Peers[0].ID != ids[2] {
			t.Errorf("Find = %+v, %q; want beta", m.Peers, m.Err)
		}
		t.Logf("Find(beta) returned after %.1f ms", m.T)
		p.checkClosed()

		p = l.start("h4", "find", "FDSC_TIMEOUT=1s", "FDSC_WANT="+testID("nobody").String())
		m = p.next(10*time.Second, "peers", func(m helperMsg) bool { return m.Ev == "peers" })
		if !strings.Contains(m.Err, ErrNotFound.Error()) {
			t.Errorf("Find(nobody) error = %q, want ErrNotFound", m.Err)
		}
		p.checkClosed()
	})

	t.Run("changes and departures", func(t *testing.T) {
		b := l.browse("h4")
		waitPeers(t, b, 5*time.Second, want)

		// New flags re-register the service: a change, not a departure.
		fmt.Fprintln(advs[1].stdin, "flags pair=1")
		advs[1].next(5*time.Second, "flags set", func(m helperMsg) bool { return m.Ev == "flags" })
		m := b.next(5*time.Second, "alpha changed", peerEvent("changed", ids[1].String()))
		if m.Peer.Flags["pair"] != "1" || !slices.Equal(m.Peer.Addrs, want[ids[1]]) {
			t.Errorf("after SetFlags: %+v", m.Peer)
		}
		if m, ok := b.poll(2*time.Second, peerEvent("down", ids[1].String())); ok {
			t.Errorf("alpha reported down while it re-registered: %+v", m)
		}

		// A new address is announced.
		t0 := time.Now()
		l.ip("-n", l.ns("h3"), "addr", "add", "10.231.1.103/24", "dev", "eth0")
		want[ids[3]] = addrList("10.231.1.3", "10.231.1.103", "fd31::3")
		waitPeers(t, b, 10*time.Second, want)
		t.Logf("new address of gamma seen after %v", time.Since(t0).Round(time.Millisecond))

		// Clean stops, five times.
		var clean []time.Duration
		for range 5 {
			t0 := time.Now()
			advs[1].signal(syscall.SIGTERM)
			m := b.next(5*time.Second, "alpha down", peerEvent("down", ids[1].String()))
			clean = append(clean, m.ReceivedAt.Sub(t0))
			advs[1].checkClosed()
			startAdv(1)
			waitPeers(t, b, 5*time.Second, want)
		}
		if slices.Max(clean) > 2*time.Second {
			t.Errorf("clean stop seen after %v, want ≤ 2 s", clean)
		}
		t.Logf("SIGTERM → down, 5 runs: median %v, max %v: %v", median(clean), slices.Max(clean), clean)

		// SIGKILL, three times.
		var killed []time.Duration
		for range 3 {
			t0 := time.Now()
			advs[3].signal(syscall.SIGKILL)
			m := b.next(20*time.Second, "gamma down", peerEvent("down", ids[3].String()))
			killed = append(killed, m.ReceivedAt.Sub(t0))
			advs[3].waitExit(-1)
			startAdv(3)
			want[ids[3]] = addrList("10.231.1.3", "10.231.1.103", "fd31::3")
			waitPeers(t, b, 5*time.Second, want)
		}
		if slices.Max(killed) > 15*time.Second {
			t.Errorf("killed receiver seen down after %v, want ≤ 15 s", killed)
		}
		t.Logf("SIGKILL → down, 3 runs: median %v, max %v: %v", median(killed), slices.Max(killed), killed)
		b.finish()
	})

	for _, p := range advs {
		p.finish()
	}
}

// TestTwoLANs has hosts on two LANs, one of them IPv4 plus link-local IPv6
// only, and two hosts on both: each host lists what it can reach, with the
// addresses of the link it is seen on.
func TestTwoLANs(t *testing.T) {
	l := newLAN(t, "two")
	l.addSwitch("swa")
	l.addSwitch("swb")
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		l.addHost(h)
	}
	l.connect("h1", "swa", "eth0", "10.231.1.1/24", "fd31::1/64")
	l.connect("h2", "swb", "eth0", "10.231.2.2/24")
	l.connect("h3", "swa", "eth0", "10.231.1.3/24", "fd31::3/64")
	l.connect("h3", "swb", "eth1", "10.231.2.3/24")
	l.connect("h4", "swa", "eth0", "10.231.1.4/24", "fd31::4/64")
	l.connect("h4", "swb", "eth1", "10.231.2.4/24")
	ll2 := l.linkLocal("h2", "eth0")
	ll4 := l.linkLocal("h4", "eth1")

	a1, id1 := l.advertise("h1", "a1", 40001)
	b2, id2 := l.advertise("h2", "b2", 40002)
	m4, id4 := l.advertise("h4", "m4", 40004) // on both LANs

	// On both LANs: everyone, with the addresses of each link, zoned.
	onBoth := l.browse("h3")
	waitPeers(t, onBoth, 5*time.Second, map[identity.DeviceID][]netip.Addr{
		id1: addrList("10.231.1.1", "fd31::1"),
		id2: {netip.MustParseAddr("10.231.2.2"), ll2.WithZone("eth1")},
		id4: {netip.MustParseAddr("10.231.1.4"), netip.MustParseAddr("10.231.2.4"), netip.MustParseAddr("fd31::4"), ll4.WithZone("eth1")},
	})

	for _, p := range onBoth.peers {
		t.Logf("on both LANs: %s %v port %d", p.Name, p.Addrs, p.Port)
	}

	// Restricted to eth1 while the other browser keeps eth0 joined: LAN B only.
	onlyB := l.browse("h3", "FDSC_IFACES=eth1")
	waitPeers(t, onlyB, 5*time.Second, map[identity.DeviceID][]netip.Addr{
		id2: {netip.MustParseAddr("10.231.2.2"), ll2.WithZone("eth1")},
		id4: {netip.MustParseAddr("10.231.2.4"), ll4.WithZone("eth1")},
	})

	// On one LAN: the multi-homed advertiser shows only that LAN's addresses.
	onA := l.browse("h1")
	waitPeers(t, onA, 5*time.Second, map[identity.DeviceID][]netip.Addr{
		id1: addrList("10.231.1.1", "fd31::1"), // its own host
		id4: addrList("10.231.1.4", "fd31::4"),
	})
	onB := l.browse("h2")
	waitPeers(t, onB, 5*time.Second, map[identity.DeviceID][]netip.Addr{
		id2: {netip.MustParseAddr("10.231.2.2"), ll2.WithZone("eth0")},
		id4: {netip.MustParseAddr("10.231.2.4"), ll4.WithZone("eth0")},
	})

	for _, b := range []*proc{onBoth, onlyB, onA, onB} {
		b.finish()
	}
	for _, b := range []*proc{onlyB, onA, onB} {
		for _, m := range b.seen {
			if m.Peer == nil {
				continue
			}
			for _, a := range m.Peer.Addrs {
				if b == onA && (a.Is4() && a.As4()[2] == 2 || a.IsLinkLocalUnicast()) ||
					b != onA && (a.Is4() && a.As4()[2] == 1 || a.Is6() && !a.IsLinkLocalUnicast()) {
					t.Errorf("%s saw an address of the other LAN: %+v", b.name, m.Peer)
				}
			}
			if b == onA && m.Peer.ID == id2 || b != onA && m.Peer.ID == id1 {
				t.Errorf("%s saw a peer of the other LAN: %+v", b.name, m.Peer)
			}
		}
	}
	for _, a := range []*proc{a1, b2, m4} {
		a.finish()
	}
}

// TestSingleFamily runs a LAN without IPv4 and a LAN without IPv6.
func TestSingleFamily(t *testing.T) {
	l := newLAN(t, "fam")
	l.addSwitch("sw6")
	l.addSwitch("sw4")
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		l.addHost(h)
	}
	l.connect("h1", "sw6", "eth0", "fd31::1/64")
	l.connect("h2", "sw6", "eth0", "fd31::2/64")
	for _, h := range []string{"h3", "h4"} {
		l.sh(h, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	l.connect("h3", "sw4", "eth0", "10.231.4.3/24")
	l.connect("h4", "sw4", "eth0", "10.231.4.4/24")

	t.Run("IPv6 only", func(t *testing.T) {
		a, id := l.advertise("h1", "six", 40001)
		b := l.browse("h2")
		waitPeers(t, b, 5*time.Second, map[identity.DeviceID][]netip.Addr{id: addrList("fd31::1")})
		t0 := time.Now()
		a.signal(syscall.SIGTERM)
		m := b.next(5*time.Second, "down", peerEvent("down", id.String()))
		t.Logf("IPv6-only clean stop seen after %v", m.ReceivedAt.Sub(t0).Round(time.Millisecond))
		a.checkClosed()
		b.finish()
	})
	t.Run("IPv4 only", func(t *testing.T) {
		a, id := l.advertise("h3", "four", 40003)
		b := l.browse("h4")
		waitPeers(t, b, 5*time.Second, map[identity.DeviceID][]netip.Addr{id: addrList("10.231.4.3")})
		t0 := time.Now()
		a.signal(syscall.SIGTERM)
		m := b.next(5*time.Second, "down", peerEvent("down", id.String()))
		t.Logf("IPv4-only clean stop seen after %v", m.ReceivedAt.Sub(t0).Round(time.Millisecond))
		a.checkClosed()
		b.finish()
	})
}

// TestInterfaceProblems: each unusable interface is named in a clear error,
// at once, by both Advertise and Browse.
func TestInterfaceProblems(t *testing.T) {
	l := newLAN(t, "ifs")
	l.addHost("h1")
	pair := func(host, name string) {
		l.ip("-n", l.ns(host), "link", "add", name, "type", "veth", "peer", "name", name+"p")
		l.ip("-n", l.ns(host), "link", "set", name+"p", "up")
	}
	pair("h1", "good0")
	l.ip("-n", l.ns("h1"), "addr", "add", "10.231.9.1/24", "dev", "good0")
	l.ip("-n", l.ns("h1"), "link", "set", "good0", "up")
	pair("h1", "mcoff")
	l.ip("-n", l.ns("h1"), "addr", "add", "10.231.9.2/24", "dev", "mcoff")
	l.ip("-n", l.ns("h1"), "link", "set", "mcoff", "multicast", "off", "up")
	pair("h1", "down0")
	l.ip("-n", l.ns("h1"), "addr", "add", "10.231.9.3/24", "dev", "down0")
	pair("h1", "noaddr")
	l.sh("h1", "sysctl", "-qw", "net.ipv6.conf.noaddr.disable_ipv6=1")
	l.ip("-n", l.ns("h1"), "link", "set", "noaddr", "up")

	l.addHost("h2") // nothing usable but an interface with multicast off
	pair("h2", "mcoff")
	l.ip("-n", l.ns("h2"), "addr", "add", "10.231.9.4/24", "dev", "mcoff")
	l.ip("-n", l.ns("h2"), "link", "set", "mcoff", "multicast", "off", "up")
	l.ip("-n", l.ns("h2"), "link", "set", "mcoffp", "multicast", "off")

	tests := []struct {
		host, ifaces, want string
	}{
		{"h1", "mcoff", "interface mcoff has multicast off"},
		{"h1", "down0", "interface down0 is down"},
		{"h1", "noaddr", "interface noaddr has no IP address"},
		{"h1", "lo", "interface lo is a loopback interface"},
		{"h1", "nope0", "interface nope0 does not exist"},
		{"h1", "good0,mcoff", "interface mcoff has multicast off"},
		{"h1", "good0", ""},
		{"h2", "", ErrNoInterface.Error()},
	}
	for _, tt := range tests {
		p := l.start(tt.host, "check", "FDSC_IFACES="+tt.ifaces)
		m := p.next(10*time.Second, "check report", func(m helperMsg) bool { return m.Ev == "check" })
		for what, got := range map[string]string{"Advertise": m.AdvErr, "Browse": m.BrowseErr} {
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("%s with %q on %s: error %q, want %q", what, tt.ifaces, tt.host, got, tt.want)
			}
		}
		if m.T > 3000 {
			t.Errorf("%q on %s: took %.0f ms", tt.ifaces, tt.host, m.T)
		}
		t0 := time.Now()
		p.checkClosed()
		t.Logf("%-12q on %s: %q after %.1f ms; closed in %v", tt.ifaces, tt.host, m.AdvErr, m.T, time.Since(t0).Round(time.Millisecond))
	}
}

// TestInteropPython checks the advertisement against an independent DNS-SD
// implementation, python-zeroconf, both ways. CI installs python3-zeroconf;
// elsewhere the test installs it if it can.
func TestInteropPython(t *testing.T) {
	l := newLAN(t, "py")
	needPythonZeroconf(t)
	l.addSwitch("sw")
	for i := 1; i <= 2; i++ {
		h := fmt.Sprintf("h%d", i)
		l.addHost(h)
		l.connect(h, "sw", "eth0", fmt.Sprintf("10.231.5.%d/24", i), fmt.Sprintf("fd31::5:%d/64", i))
	}

	t.Run("python browses ferry", func(t *testing.T) {
		a, id := l.advertise("h1", "Zoë's box", 40001, "FDSC_FLAGS=pair=1")
		out := l.sh("h2", "timeout", "30", "/usr/bin/python3", "-c", pyBrowse, "10.231.5.2", id.String())
		svc := Service{Name: "Zoë's box", ID: id}
		var seen []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var got struct {
				Name   string            `json:"name"`
				Port   int               `json:"port"`
				Server string            `json:"server"`
				Props  map[string]string `json:"props"`
				Addrs  []string          `json:"addrs"`
			}
			if json.Unmarshal([]byte(line), &got) != nil {
				continue
			}
			seen = append(seen, line)
			if got.Props["id"] != id.String() {
				continue
			}
			wantProps := map[string]string{"v": "1", "id": id.String(), "name": "Zoë's box", "pair": "1"}
			if got.Name != svc.Instance()+"._ferry._udp.local." || got.Port != 40001 ||
				got.Server != svc.hostLabel()+".local." || !maps.Equal(got.Props, wantProps) ||
				!slices.Contains(got.Addrs, "10.231.5.1") {
				t.Errorf("python-zeroconf saw %+v\nwant instance %q, port 40001, server %q, TXT %v, address 10.231.5.1",
					got, svc.Instance(), svc.hostLabel()+".local.", wantProps)
			}
			a.finish()
			return
		}
		t.Fatalf("python-zeroconf did not see the advertisement; it saw %q", seen)
	})

	t.Run("ferry browses python", func(t *testing.T) {
		id := testID("py")
		b := l.browse("h2")
		py := startPython(t, l, "h1", pyAdvertise, "10.231.5.1", id.String(), "py "+id.Short())
		py.line(t, 20*time.Second, "registered")
		m := b.next(10*time.Second, "python's service up", peerEvent("up", id.String()))
		if m.Peer.Name != "py" || m.Peer.Port != 45000 || !slices.Equal(m.Peer.Addrs, addrList("10.231.5.1")) || m.Peer.Version != 1 {
			t.Errorf("python's service seen as %+v", m.Peer)
		}
		t0 := time.Now()
		py.stdin.Close() // unregisters: a goodbye from another implementation
		m = b.next(5*time.Second, "python's service down", peerEvent("down", id.String()))
		if d := m.ReceivedAt.Sub(t0); d > 2*time.Second {
			t.Errorf("python-zeroconf's goodbye seen after %v", d)
		} else {
			t.Logf("python-zeroconf's goodbye seen after %v", d.Round(time.Millisecond))
		}
		py.line(t, 10*time.Second, "unregistered")
		b.finish()
	})
}

const pyBrowse = `
import json, sys, time
from zeroconf import Zeroconf, ServiceBrowser
ip, want = sys.argv[1], sys.argv[2].encode()
zc = Zeroconf(interfaces=[ip])
found = {}
class L:
    def add_service(self, z, t, n):
        info = z.get_service_info(t, n, 3000)
        if info: found[n] = info
    def update_service(self, z, t, n): self.add_service(z, t, n)
    def remove_service(self, z, t, n): pass
ServiceBrowser(zc, "_ferry._udp.local.", L())
end = time.time() + 10
while time.time() < end and not any(i.properties.get(b"id") == want for i in list(found.values())):
    time.sleep(0.05)
for n, i in list(found.items()):
    props = {k.decode(): (v.decode() if v is not None else None) for k, v in i.properties.items()}
    print(json.dumps({"name": n, "port": i.port, "server": i.server, "props": props, "addrs": i.parsed_addresses()}))
zc.close()
`

const pyAdvertise = `
import socket, sys
from zeroconf import Zeroconf, ServiceInfo
ip, ident, inst = sys.argv[1:4]
info = ServiceInfo("_ferry._udp.local.", inst + "._ferry._udp.local.", port=45000,
                   properties={"v": "1", "id": ident, "name": "py"}, server="py-test.local.",
                   addresses=[socket.inet_aton(ip)])
zc = Zeroconf(interfaces=[ip])
zc.register_service(info)
print("registered", flush=True)
sys.stdin.read()
zc.unregister_service(info)
zc.close()
print("unregistered", flush=True)
`

// pyProc is a python script run in a namespace, reporting in plain lines.
type pyProc struct {
	stdin io.WriteCloser
	lines chan string
}

func startPython(t *testing.T, l *lan, host, script string, args ...string) *pyProc {
	t.Helper()
	p := &pyProc{lines: make(chan string, 16)}
	cmd := l.host(host).Command("/usr/bin/python3", append([]string{"-c", script}, args...)...)
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // owned by the test: ends with python's stdout
		defer close(done)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range p.lines {
		}
		<-done
		_ = cmd.Wait()
	})
	return p
}

func (p *pyProc) line(t *testing.T, timeout time.Duration, want string) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("python ended before printing %q", want)
			}
			if line == want {
				return
			}
		case <-timer.C:
			t.Fatalf("python did not print %q within %v", want, timeout)
		}
	}
}

// needPythonZeroconf makes sure /usr/bin/python3 can import zeroconf,
// installing python3-zeroconf if it can; CI installs it beforehand.
func needPythonZeroconf(t *testing.T) {
	t.Helper()
	have := func() bool { return exec.Command("/usr/bin/python3", "-c", "import zeroconf").Run() == nil }
	if have() {
		return
	}
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "python3-zeroconf")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.Run()
	}
	if _, err := exec.LookPath("apt-get"); err == nil {
		if install() != nil {
			_ = exec.Command("apt-get", "update").Run()
			_ = install()
		}
	}
	if have() {
		return
	}
	const why = "python3-zeroconf is missing and could not be installed"
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
