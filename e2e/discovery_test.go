package e2e

// End-to-end tests of discovery (mDNS/DNS-SD): the real ferry binary
// advertising and browsing with real multicast across the namespace LAN's
// bridge. Every receiver gets its own device name (namespaces share the host
// name). Timings are printed as "FIGURE name=value" lines.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/testnet"
)

// named is a receiver started by startNamed.
type named struct {
	h    *host
	name string
	id   string // full device ID, from `ferry id --json` of its home
	dir  string
	port int
	p    *proc
}

// startNamed gives host h the device name, creates its identity, and starts
// `ferry receive --port 0 --accept ACCEPT --json --name NAME` into a fresh
// folder; it returns once the receiver is listening.
func startNamed(t *testing.T, h *host, name, accept string, extra ...string) *named {
	t.Helper()
	h.name = name
	id := h.identity()
	dir := t.TempDir()
	p, port := h.receive(dir, 0, accept, extra...)
	if ev := p.mustEvent("listening"); ev.str("id") != id || ev.str("name") != name {
		t.Fatalf("%s: listening event %v, want id %s and name %s", p.label, ev, id, name)
	}
	return &named{h: h, name: name, id: id, dir: dir, port: port, p: p}
}

// restart starts the same receiver again (same home, name and folder) after
// it ended, and returns the time its listening event arrived.
func (r *named) restart(t *testing.T, accept string, extra ...string) time.Time {
	t.Helper()
	r.p, r.port = r.h.receive(r.dir, 0, accept, extra...)
	return r.p.when("listening")
}

// short is the short form of a device ID: its first two groups.
func short(id string) string {
	if len(id) < 9 {
		return id
	}
	return id[:9]
}

// netPrefix is the shortest ID prefix --to looks up on the network: 13
// characters, "ABCD-EFGH-IJKL-M".
func netPrefix(id string) string {
	if len(id) < 16 {
		return id
	}
	return id[:16]
}

// peerLine is one line of `ferry peers --json` (with --watch, an event).
type peerLine struct {
	event    string
	name     string
	id       string
	instance string
	addrs    []string
	port     int
	paired   bool
	hasAll   bool // name, id, addrs, port and paired are all there, with the right types
}

func asPeer(e event) peerLine {
	pl := peerLine{event: e.str("event"), name: e.str("name"), id: e.str("id"), instance: e.str("instance"), port: int(e.num("port"))}
	addrs, okA := e["addrs"].([]any)
	for _, a := range addrs {
		s, _ := a.(string)
		pl.addrs = append(pl.addrs, s)
	}
	paired, okP := e["paired"].(bool)
	pl.paired = paired
	_, okN := e["name"].(string)
	pl.hasAll = okN && pl.id != "" && okA && pl.port > 0 && okP
	return pl
}

// peersOf returns the peer lines (events without an "event" field) of a
// finished `ferry peers --json`.
func peersOf(p *proc) []peerLine {
	var out []peerLine
	for _, e := range p.snapshot() {
		if e.name() == "" {
			out = append(out, asPeer(e))
		}
	}
	return out
}

// checkPeer checks a listed peer against the receiver it must be: name, full
// ID, port, paired, and exactly the addresses want (order aside).
func checkPeer(t *testing.T, where string, got peerLine, r *named, paired bool, want ...string) {
	t.Helper()
	if !got.hasAll {
		t.Errorf("%s: %s's line lacks one of name, id, addrs, port, paired: %+v", where, r.name, got)
	}
	if got.name != r.name || got.id != r.id {
		t.Errorf("%s: listed as %q %s, want %q %s", where, got.name, got.id, r.name, r.id)
	}
	if got.port != r.port {
		t.Errorf("%s: %s listed with port %d, its listening event says %d", where, r.name, got.port, r.port)
	}
	if got.paired != paired {
		t.Errorf("%s: %s listed with paired=%v, want %v", where, r.name, got.paired, paired)
	}
	var w []string
	for _, a := range want {
		if a != "" {
			w = append(w, a)
		}
	}
	g := slices.Clone(got.addrs)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: %s listed with addresses %q, want exactly %q", where, r.name, got.addrs, w)
	}
}

// listPeers runs `ferry peers --json` on h (with extra flags) and returns
// its lines by device ID; it fails the test unless it exits 0.
func listPeers(t *testing.T, h *host, extra ...string) map[string]peerLine {
	t.Helper()
	p := h.run(20*time.Second, nil, append([]string{"peers"}, extra...)...)
	if p.exitCode() != exitOK {
		t.Fatalf("%s exited %d: %v %s", p.label, p.exitCode(), p.last("error"), tail(p.stderr.String()))
	}
	out := map[string]peerLine{}
	for _, pl := range peersOf(p) {
		if _, dup := out[pl.id]; dup {
			t.Errorf("%s listed %s twice", p.label, pl.id)
		}
		out[pl.id] = pl
	}
	return out
}

func writeNote(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// delivered fails the test unless the receiver's folder holds the file with
// this content.
func delivered(t *testing.T, r *named, name, text string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		t.Fatalf("%s did not get %s: %v (folder: %q)", r.name, name, err, listDir(t, r.dir))
	}
	if string(b) != text {
		t.Fatalf("%s got %s with %q, want %q", r.name, name, b, text)
	}
}

// untouched fails the test if anything reached the receiver: a file in its
// folder or a session.
func untouched(t *testing.T, r *named) {
	t.Helper()
	if got := listDir(t, r.dir); len(got) > 0 {
		t.Errorf("%s's folder holds %q, want nothing", r.name, got)
	}
	if s := r.p.all("session"); len(s) > 0 {
		t.Errorf("%s had sessions %v, want none", r.name, s)
	}
}

// TestPeersListsReceivers: three receivers on three hosts are all listed by
// `ferry peers --json` on a fourth, each with its name, full ID, its own LAN
// addresses, its port and paired=false. Then `ferry peers --watch` is
// started 10 times to measure how long the three take to show up.
func TestPeersListsReceivers(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 4)
	var rxs []*named
	for i, name := range []string{"alpha", "beta", "gamma"} {
		rxs = append(rxs, startNamed(t, l.h(i+1), name, "all"))
	}
	br := l.h(4)
	br.name = "browser"

	got := listPeers(t, br)
	if len(got) != 3 {
		t.Errorf("ferry peers listed %d peers, want 3: %+v", len(got), got)
	}
	for _, r := range rxs {
		pl, ok := got[r.id]
		if !ok {
			t.Errorf("%s (%s) is not listed", r.name, r.id)
			continue
		}
		checkPeer(t, "ferry peers", pl, r, false, r.h.v4, r.h.v6)
	}

	// How long until all three are listed: process start to the third "up".
	var took []time.Duration
	for range 10 {
		w := br.start(nil, "peers", "--watch")
		seen := map[string]bool{}
		_, _, at := w.waitMatch(0, "an up line for each of the 3 receivers", 10*time.Second, func(e event) bool {
			if e.str("event") == "up" {
				seen[e.str("id")] = true
			}
			return len(seen) == 3
		})
		took = append(took, at.Sub(w.begun))
		w.signal(syscall.SIGTERM)
		w.wait(10 * time.Second)
		for _, e := range w.snapshot() {
			if pl := asPeer(e); pl.event != "up" || !pl.hasAll {
				t.Errorf("ferry peers --watch printed %v, want only complete up lines here", e)
			}
		}
	}
	slices.Sort(took)
	t.Logf("all 3 receivers listed by `ferry peers --watch` after (sorted) %v", took)
	t.Logf("FIGURE peers_watch_all3_median_ms=%d", median(took).Milliseconds())
	t.Logf("FIGURE peers_watch_all3_max_ms=%d", took[len(took)-1].Milliseconds())
}

// TestSendToOnlyReceiver: `ferry send FILE` with exactly one receiver on the
// LAN finds it, delivers, and says which receiver it chose.
func TestSendToOnlyReceiver(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	r := startNamed(t, l.h(1), "alpha", "all")
	tx := l.h(2)
	tx.name = "sender"

	f := writeNote(t, "only.txt", "to whoever is there\n")
	s := tx.run(30*time.Second, nil, "send", f)
	sendOK(t, s)
	delivered(t, r, "only.txt", "to whoever is there\n")
	if acc := s.mustEvent("accepted"); acc.str("name") != "alpha" || acc.str("id") != r.id {
		t.Errorf("accepted event %v, want alpha %s", acc, r.id)
	}
	r.p.sessionsDone(1, 10*time.Second)

	// In text mode the sender names the receiver it found.
	f2 := writeNote(t, "again.txt", "and again\n")
	s2 := tx.startPlain(nil, "send", f2)
	if code := s2.wait(30 * time.Second); code != exitOK {
		t.Fatalf("%s exited %d: %q %s", s2.label, code, s2.lines(), s2.stderr.String())
	}
	delivered(t, r, "again.txt", "and again\n")
	want := fmt.Sprintf("sending to alpha (%s)", short(r.id))
	if !slices.ContainsFunc(s2.lines(), func(l string) bool { return strings.Contains(l, want) }) {
		t.Errorf("%s printed %q, want a line with %q", s2.label, s2.lines(), want)
	}
}

// TestSendPicksReceiver: with three receivers, --to NAME and --to a device-ID
// prefix each reach the right one and no other; without --to, not on a
// terminal, send exits 2 and lists them.
func TestSendPicksReceiver(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 4)
	alpha := startNamed(t, l.h(1), "alpha", "all")
	beta := startNamed(t, l.h(2), "beta", "all")
	gamma := startNamed(t, l.h(3), "gamma", "all")
	tx := l.h(4)
	tx.name = "sender"

	// Which one: none of the three may have anything yet.
	s := tx.run(30*time.Second, nil, "send", writeNote(t, "none.txt", "nobody\n"))
	if code := s.exitCode(); code != exitUsage {
		t.Errorf("send with 3 receivers and no --to exited %d, want 2", code)
	}
	msg := errorText(s) // with --json, an error event
	for _, r := range []*named{alpha, beta, gamma} {
		if !strings.Contains(msg, r.name) || !strings.Contains(msg, short(r.id)) {
			t.Errorf("send without --to: the message does not list %s (%s): %q", r.name, short(r.id), msg)
		}
	}
	for _, r := range []*named{alpha, beta, gamma} {
		untouched(t, r)
	}

	s = tx.run(30*time.Second, nil, "send", "--to", "beta", writeNote(t, "b.txt", "for beta\n"))
	sendOK(t, s)
	delivered(t, beta, "b.txt", "for beta\n")
	if acc := s.mustEvent("accepted"); acc.str("id") != beta.id {
		t.Errorf("--to beta: accepted by %v, want %s", acc, beta.id)
	}
	beta.p.sessionsDone(1, 10*time.Second)

	// A short prefix could be ground by anyone on the LAN: refused there.
	s = tx.run(30*time.Second, nil, "send", "--to", short(gamma.id), writeNote(t, "g.txt", "for gamma\n"))
	if s.exitCode() != exitUsage || !strings.Contains(errorText(s), "at least 13 characters") {
		t.Errorf("--to %s: exit %d, %q; want a usage error asking for 13 characters", short(gamma.id), s.exitCode(), errorText(s))
	}
	s = tx.run(30*time.Second, nil, "send", "--to", netPrefix(gamma.id), writeNote(t, "g.txt", "for gamma\n"))
	sendOK(t, s)
	delivered(t, gamma, "g.txt", "for gamma\n")
	gamma.p.sessionsDone(1, 10*time.Second)

	untouched(t, alpha)
	if got := listDir(t, beta.dir); !slices.Equal(got, []string{"b.txt"}) {
		t.Errorf("beta's folder holds %q, want only b.txt", got)
	}
	if got := listDir(t, gamma.dir); !slices.Equal(got, []string{"g.txt"}) {
		t.Errorf("gamma's folder holds %q, want only g.txt", got)
	}
}

// TestPeersWatchDepartures: `ferry peers --watch --json` reports a receiver
// that arrives ("up"), one stopped with SIGTERM ("down" within 2 s) and one
// killed with SIGKILL ("down" within 15 s), three times each, while a steady
// receiver stays listed throughout.
func TestPeersWatchDepartures(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 3)
	steady := startNamed(t, l.h(2), "beta", "all")
	w := l.h(3)
	w.name = "watcher"
	watch := w.start(nil, "peers", "--watch")
	isUp := func(id string) func(event) bool {
		return func(e event) bool { return e.str("event") == "up" && e.str("id") == id }
	}
	isDown := func(id string) func(event) bool {
		return func(e event) bool { return e.str("event") == "down" && e.str("id") == id }
	}
	watch.waitMatch(0, "beta up", 10*time.Second, isUp(steady.id))

	var arrive, stop, kill []time.Duration
	var alpha *named
	for round := range 6 {
		from := watch.count()
		var listening time.Time
		if alpha == nil {
			alpha = startNamed(t, l.h(1), "alpha", "all")
			listening = alpha.p.when("listening")
		} else {
			listening = alpha.restart(t, "all")
		}
		_, _, at := watch.waitMatch(from, fmt.Sprintf("alpha up (round %d)", round+1), 10*time.Second, isUp(alpha.id))
		arrive = append(arrive, at.Sub(listening))

		from = watch.count()
		sig, limit := syscall.SIGTERM, 2*time.Second
		if round >= 3 {
			sig, limit = syscall.SIGKILL, 15*time.Second
		}
		t0 := time.Now()
		alpha.p.signal(sig)
		if code := alpha.p.wait(10 * time.Second); sig == syscall.SIGTERM && code != exitOK {
			t.Errorf("receiver stopped with SIGTERM exited %d, want 0", code)
		}
		_, _, at = watch.waitMatch(from, fmt.Sprintf("alpha down after %v", sig), 30*time.Second, isDown(alpha.id))
		d := at.Sub(t0)
		if d > limit {
			t.Errorf("after %v alpha went down in %v, want within %v", sig, d.Round(time.Millisecond), limit)
		}
		if sig == syscall.SIGTERM {
			stop = append(stop, d)
		} else {
			kill = append(kill, d)
		}
	}
	for _, e := range watch.snapshot() {
		pl := asPeer(e)
		if pl.id == steady.id && pl.event != "up" {
			t.Errorf("the steady receiver beta got %v", e)
		}
		if !pl.hasAll || (pl.event != "up" && pl.event != "down" && pl.event != "changed") {
			t.Errorf("--watch line %v lacks a field or has an unknown event", e)
		}
	}
	if n := len(watch.all("up")); n != 7 {
		t.Errorf("--watch printed %d up lines, want 7 (beta once, alpha 6 times)", n)
	}
	t.Logf("arrivals (listening → up) %v; SIGTERM → down %v; SIGKILL → down %v", arrive, stop, kill)
	t.Logf("FIGURE watch_arrival_median_ms=%d", median(arrive).Milliseconds())
	t.Logf("FIGURE watch_sigterm_down_median_ms=%d", median(stop).Milliseconds())
	t.Logf("FIGURE watch_sigkill_down_median_ms=%d", median(kill).Milliseconds())
}

// TestPeersTwoLANs: a host with one interface on each of two LANs lists the
// receivers of both, each with its own LAN's addresses only; hosts of each
// LAN see the two-homed host's receiver with that LAN's addresses only; and
// send by name reaches a receiver across the second interface.
func TestPeersTwoLANs(t *testing.T) {
	t.Parallel()
	la, lb := newLAN(t, 2), newLAN(t, 2)
	dual := la.h(1)
	bv4, bv6 := lb.attach(dual, "eth1")

	alpha := startNamed(t, la.h(2), "alpha", "all")
	beta := startNamed(t, lb.h(2), "beta", "all")
	both := startNamed(t, dual, "both", "all")

	got := listPeers(t, dual)
	if len(got) != 2 {
		t.Errorf("the two-homed host listed %d peers, want 2 (alpha and beta): %+v", len(got), got)
	}
	for _, c := range []struct {
		r      *named
		v4, v6 string
	}{{alpha, alpha.h.v4, alpha.h.v6}, {beta, beta.h.v4, beta.h.v6}} {
		if pl, ok := got[c.r.id]; !ok {
			t.Errorf("the two-homed host does not list %s", c.r.name)
		} else {
			checkPeer(t, "two-homed host", pl, c.r, false, c.v4, c.v6)
		}
	}

	for _, c := range []struct {
		from   *named
		v4, v6 string
	}{{alpha, dual.v4, dual.v6}, {beta, bv4, bv6}} {
		got := listPeers(t, c.from.h)
		if len(got) != 1 {
			t.Errorf("%s's host listed %d peers, want 1 (both): %+v", c.from.name, len(got), got)
		}
		if pl, ok := got[both.id]; !ok {
			t.Errorf("%s's host does not list the two-homed receiver", c.from.name)
		} else {
			checkPeer(t, c.from.name+"'s host", pl, both, false, c.v4, c.v6)
		}
	}

	s := dual.run(30*time.Second, nil, "send", "--to", "beta", writeNote(t, "b.txt", "across eth1\n"))
	sendOK(t, s)
	delivered(t, beta, "b.txt", "across eth1\n")
	untouched(t, alpha)
}

// TestIPv6OnlyLAN: hosts whose LAN interface has no IPv4 address list each
// other and send by name; once with 127.0.0.1 left on lo (an ordinary
// IPv6-only network), once with no IPv4 address at all.
func TestIPv6OnlyLAN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts lanOpts
	}{
		{"lo-keeps-127.0.0.1", lanOpts{v6Only: true}},
		{"no-ipv4-at-all", lanOpts{v6Only: true, noLoop4: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testIPv6Only(t, c.opts)
		})
	}
}

func testIPv6Only(t *testing.T, opts lanOpts) {
	l := newLANOpts(t, 3, opts)
	for _, h := range l.hosts {
		out, err := h.command("ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("host %d's eth0 should have no IPv4 address: %v %s", h.i, err, out)
		}
		if opts.noLoop4 {
			if out, err := h.command("ip", "-4", "-o", "addr", "show").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
				t.Fatalf("host %d should have no IPv4 address: %v %s", h.i, err, out)
			}
		}
	}
	alpha := startNamed(t, l.h(1), "alpha", "all")
	beta := startNamed(t, l.h(2), "beta", "all")
	tx := l.h(3)
	tx.name = "sender"

	got := listPeers(t, tx)
	if len(got) != 2 {
		t.Errorf("listed %d peers, want 2: %+v", len(got), got)
	}
	for _, r := range []*named{alpha, beta} {
		if pl, ok := got[r.id]; !ok {
			t.Errorf("%s is not listed on the IPv6-only LAN", r.name)
		} else {
			checkPeer(t, "IPv6-only LAN", pl, r, false, r.h.v6)
		}
	}
	s := tx.run(30*time.Second, nil, "send", "--to", "beta", writeNote(t, "v6.txt", "over IPv6 only\n"))
	sendOK(t, s)
	delivered(t, beta, "v6.txt", "over IPv6 only\n")
	untouched(t, alpha)
}

// errorText is what a failed ferry said: its error event and standard error.
func errorText(p *proc) string {
	var b strings.Builder
	for _, e := range p.all("error") {
		b.WriteString(e.str("message"))
		b.WriteString("\n")
	}
	b.WriteString(p.stderr.String())
	return b.String()
}

// TestDiscoveryInterfaceProblems: an unknown --iface fails clearly; on a host
// whose only interface has multicast off, ferry peers (with and without
// --watch) says what is wrong and exits non-zero, send without an address
// too, and ferry receive warns but still receives by address.
func TestDiscoveryInterfaceProblems(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	good, mute := l.h(1), l.h(2)
	good.name, mute.name = "good", "mute"

	p := good.run(15*time.Second, nil, "receive", "--port", "0", "--accept", "all", "--dir", t.TempDir(), "--iface", "nosuch0")
	if p.exitCode() == exitOK {
		t.Errorf("%s exited 0", p.label)
	}
	if msg := errorText(p); !strings.Contains(msg, "nosuch0") || !strings.Contains(msg, "does not exist") {
		t.Errorf("%s said %q, want it to name nosuch0 and say it does not exist", p.label, msg)
	}

	mute.multicastOff()
	for _, args := range [][]string{{"peers"}, {"peers", "--watch"}, {"peers", "--iface", "eth0"}, {"send", writeNote(t, "x.txt", "x\n")}} {
		p := mute.run(15*time.Second, nil, args...)
		msg := errorText(p)
		if p.exitCode() == exitOK {
			t.Errorf("%s (multicast off) exited 0, printed %v", p.label, p.snapshot())
		}
		if !strings.Contains(msg, "multicast") {
			t.Errorf("%s (multicast off) said %q, want it to say multicast is the problem", p.label, msg)
		}
		if args[len(args)-1] == "eth0" && !strings.Contains(msg, "eth0") {
			t.Errorf("%s said %q, want it to name eth0", p.label, msg)
		}
		t.Logf("%s: exit %d after %v: %q", p.label, p.exitCode(), p.duration().Round(time.Millisecond), strings.TrimSpace(msg))
	}

	in := t.TempDir()
	recv, port := mute.receive(in, 0, "all")
	warn := recv.waitEvent("warning", 10*time.Second)
	if !strings.Contains(warn.str("message"), "multicast") {
		t.Errorf("receiver with multicast off warned %q, want it to say multicast is the problem", warn.str("message"))
	}
	f := writeNote(t, "byaddr.txt", "by address\n")
	sendOK(t, good.run(30*time.Second, nil, "send", "--to", mute.addr(port), f))
	recv.sessionsDone(1, 10*time.Second)
	if b, err := os.ReadFile(filepath.Join(in, "byaddr.txt")); err != nil || string(b) != "by address\n" {
		t.Errorf("the receiver with multicast off did not get the file: %v %q", err, b)
	}
}

// pySpoof advertises a ferry service with python-zeroconf: instance
// "NAME SHORT", TXT v=1, id=ID, name=NAME, at an IPv4 and an IPv6 address
// and a port. It prints "registered" and then waits to be killed.
//
// Both address families are given so that the answers are well formed:
// with one missing, Debian's python3-zeroconf (0.47) adds an NSEC record
// whose type bitmap is malformed (2-byte window and length fields), which
// ferry's parser skips while keeping the rest of the response
// (discovery's TestParseResponseSkipsBadRecord).
const pySpoof = `
import socket, sys, threading
from zeroconf import Zeroconf, ServiceInfo
ip, ip6, ident, name, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
info = ServiceInfo("_ferry._udp.local.", name + " " + ident[:9] + "._ferry._udp.local.", port=port,
                   properties={"v": "1", "id": ident, "name": name}, server="spoof-" + ident[:9].lower() + ".local.",
                   addresses=[socket.inet_aton(ip), socket.inet_pton(socket.AF_INET6, ip6)])
zc = Zeroconf(interfaces=[ip])
zc.register_service(info)
print("registered", flush=True)
threading.Event().wait()
`

// needPythonZeroconf skips (or fails in CI) without Debian's python3-zeroconf.
func needPythonZeroconf(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import zeroconf").Run(); err != nil {
		testnet.CannotRun(t, "/usr/bin/python3 cannot import zeroconf (Debian package python3-zeroconf): %v", err)
	}
}

// TestSpoofedAdvertisement: a host advertises beta's name and beta's device
// ID (python-zeroconf) at its own address, where its own ferry receiver with
// another key listens. Neither a device paired with beta nor an unpaired one
// gets anything delivered there: the key does not match the advertised ID.
func TestSpoofedAdvertisement(t *testing.T) {
	t.Parallel()
	needPythonZeroconf(t)
	l := newLAN(t, 4)
	a, b, d := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta"), newDevice(t, l.h(4), "delta")
	pairPIN(t, a, b)
	carrier := startNamed(t, l.h(3), "carrier", "all")

	py := startProcPlain(t, "h3: python-zeroconf spoofing beta", l.h(3).command("/usr/bin/python3", "-c", pySpoof,
		l.h(3).v4, l.h(3).v6, b.id, "beta", strconv.Itoa(carrier.port)), os.Environ(), nil, true)
	py.waitLine("registered", 20*time.Second)
	// The spoofed advertisement is what the LAN shows for beta.
	w := d.start(nil, "peers", "--watch")
	w.waitMatch(0, "the spoofed beta up", 10*time.Second, func(e event) bool {
		return e.str("event") == "up" && e.str("id") == b.id
	})
	w.killAndWait()

	for _, c := range []struct {
		from *device
		to   string
	}{{a, "beta"}, {d, "beta"}, {d, netPrefix(b.id)}} {
		s := c.from.run(30*time.Second, nil, "send", "--to", c.to, writeNote(t, "spoofed.txt", "for beta\n"))
		if s.exitCode() == exitOK {
			t.Errorf("%s (%s) exited 0: delivered to a spoofed advertisement", s.label, c.from.name)
		}
		msg := strings.ToLower(errorText(s))
		if !strings.Contains(msg, "key") && !strings.Contains(msg, "mismatch") && !strings.Contains(msg, "impersonation") {
			t.Errorf("%s (%s) said %q, want it to say the key does not match", s.label, c.from.name, msg)
		}
		t.Logf("%s (%s): exit %d: %q", s.label, c.from.name, s.exitCode(), strings.TrimSpace(errorText(s)))
	}
	untouched(t, carrier)
}
