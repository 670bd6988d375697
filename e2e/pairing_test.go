package e2e

// End-to-end tests of pairing (PIN and QR code), the trust store, trusted
// auto-accept and the refusal of a device that claims a paired device's
// name with another key.

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/testnet"
)

var pinRe = regexp.MustCompile(`^[0-9]{6}$`)

// showPairing starts `ferry pair ARGS...` on h and returns it with its
// pairing event, after checking the event's fields.
func showPairing(t *testing.T, h *host, id string, args ...string) (*proc, event) {
	t.Helper()
	p := h.start(nil, append([]string{"pair"}, args...)...)
	ev := p.waitEvent("pairing", 15*time.Second)
	if !pinRe.MatchString(ev.str("pin")) {
		t.Errorf("pairing event %v: pin is not 6 digits", ev)
	}
	if ev.str("code") == "" || ev.num("port") <= 0 || ev.str("id") != id || ev.str("name") != h.name {
		t.Errorf("pairing event %v, want a code, a port, id %s and name %s", ev, id, h.name)
	}
	if exp, err := time.Parse(time.RFC3339, ev.str("expires")); err != nil || time.Until(exp) <= 0 {
		t.Errorf("pairing event %v: expires is not a future RFC 3339 time (%v)", ev, err)
	}
	return p, ev
}

// device is a host with its identity made.
type device struct {
	*host
	id string
}

func newDevice(t *testing.T, h *host, name string) *device {
	t.Helper()
	h.name = name
	return &device{host: h, id: h.identity()}
}

// checkPaired checks that a pairing process exited 0 and printed a paired
// event naming the other device.
func checkPaired(t *testing.T, p *proc, other *device, via string) {
	t.Helper()
	if code := p.wait(30 * time.Second); code != exitOK {
		t.Fatalf("%s exited %d, want 0: %v %s", p.label, code, p.last("error"), tail(p.stderr.String()))
	}
	ev := p.mustEvent("paired")
	if ev.str("name") != other.name || ev.str("id") != other.id {
		t.Errorf("%s: paired event %v, want name %s id %s", p.label, ev, other.name, other.id)
	}
	if via != "" && ev.str("via") != via {
		t.Errorf("%s: paired event %v, want via %s", p.label, ev, via)
	}
}

// pairPIN pairs a (which shows the PIN) and b (which types it, finding a by
// discovery) and checks both sides.
func pairPIN(t *testing.T, a, b *device) {
	t.Helper()
	show, ev := showPairing(t, a.host, a.id)
	join := b.start(nil, "pair", ev.str("pin"))
	checkPaired(t, join, a, "pin")
	checkPaired(t, show, b, "pin")
}

// trustList returns `ferry trust list --json` of the device by ID.
func trustList(t *testing.T, d *device) map[string]event {
	t.Helper()
	p := d.run(30*time.Second, nil, "trust", "list")
	if p.exitCode() != exitOK {
		t.Fatalf("%s exited %d: %s", p.label, p.exitCode(), p.stderr.String())
	}
	out := map[string]event{}
	for _, e := range p.snapshot() {
		out[e.str("id")] = e
	}
	return out
}

// checkTrusts fails the test unless d's trust store lists other (name and
// ID), paired via via.
func checkTrusts(t *testing.T, d, other *device, via string) {
	t.Helper()
	tl := trustList(t, d)
	e, ok := tl[other.id]
	if !ok {
		t.Errorf("%s's trust list %v lacks %s (%s)", d.name, tl, other.name, other.id)
		return
	}
	if e.str("name") != other.name || e.str("via") != via {
		t.Errorf("%s's trust list entry %v, want name %s via %s", d.name, e, other.name, via)
	}
	if at, err := time.Parse(time.RFC3339, e.str("paired_at")); err != nil || time.Since(at) > 5*time.Minute {
		t.Errorf("%s's trust list entry %v: paired_at is not a recent RFC 3339 time (%v)", d.name, e, err)
	}
	fi, err := os.Stat(filepath.Join(d.home, "peers.json"))
	if err != nil {
		t.Errorf("%s has no peers.json: %v", d.name, err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s's peers.json has mode %v, want 0600", d.name, fi.Mode().Perm())
	}
}

// trustsNobody fails the test if d's trust store lists anyone.
func trustsNobody(t *testing.T, d *device) {
	t.Helper()
	if tl := trustList(t, d); len(tl) > 0 {
		t.Errorf("%s trusts %v, want nobody", d.name, tl)
	}
}

// TestPairByPIN: one device shows a PIN, the other types it; both print the
// paired event, exit 0, and list each other in their trust stores.
func TestPairByPIN(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, b := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta")
	pairPIN(t, a, b)
	checkTrusts(t, a, b, "pin")
	checkTrusts(t, b, a, "pin")
}

// TestPairByCode: the other device uses the code text from the pairing
// event (no discovery needed); the --qr-png image decodes to the page's URL,
// which carries that text and is the event's code.
func TestPairByCode(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, b := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta")
	png := filepath.Join(t.TempDir(), "qr.png")
	show, ev := showPairing(t, a.host, a.id, "--qr-png", png)
	code := ev.str("text")
	join := b.start(nil, "pair", code)
	checkPaired(t, join, a, "qr")
	checkPaired(t, show, b, "qr")
	checkTrusts(t, a, b, "qr")
	checkTrusts(t, b, a, "qr")

	if _, err := exec.LookPath("zbarimg"); err != nil {
		testnet.CannotRun(t, "zbarimg is missing (Debian package zbar-tools): %v", err)
	}
	out, err := exec.Command("zbarimg", "--raw", "-q", png).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", png, err)
	}
	// The QR code opens the page for phones; its URL carries the code.
	want := ev.str("url")
	if want == "" || !strings.HasSuffix(want, "&c="+url.QueryEscape(code)) || !strings.Contains(want, "/pair#k=") {
		t.Fatalf("pairing event's url %q does not carry the code %q", want, code)
	}
	if got := strings.TrimRight(string(out), "\n"); got != want {
		t.Errorf("the QR PNG decodes to %q, want the page's URL %q", got, want)
	}
	if got := ev.str("code"); got != want {
		t.Errorf("the pairing event's code is %q, want what the QR code holds, %q", got, want)
	}
}

// TestPairByURL: `ferry pair URL` with the URL of the QR code (the page
// for phones) pairs as the code text does, and the page is served while
// the window is open (without a terminal to ask on, it refuses browsers'
// offers).
func TestPairByURL(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, b := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta")
	show, ev := showPairing(t, a.host, a.id)
	u := ev.str("url")
	if !strings.HasPrefix(u, "http://") {
		t.Fatalf("no page URL in %v", ev)
	}
	page := b.host.command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", strings.Replace(u[:strings.Index(u, "#")], "[", "\\[", 1))
	if out, err := page.Output(); err != nil || string(out) != "200" {
		t.Errorf("GET the page: %s %v", out, err)
	}
	join := b.start(nil, "pair", u)
	checkPaired(t, join, a, "qr")
	checkPaired(t, show, b, "qr")
}

// TestPairWrongPINs: three wrong PINs (by discovery, by name, by address)
// close the window: the showing side exits non-zero after the third and the
// right PIN is refused afterwards. Nobody is stored.
func TestPairWrongPINs(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, c := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "gamma")
	show, ev := showPairing(t, a.host, a.id)
	pin, port := ev.str("pin"), int(ev.num("port"))
	wrong := func(k int) string {
		b := []byte(pin)
		b[5] = '0' + (b[5]-'0'+byte(k))%10
		return string(b)
	}
	for k, to := range [][]string{nil, {"--to", "alpha"}, {"--to", a.addr(port)}} {
		p := c.run(30*time.Second, nil, append([]string{"pair", wrong(k + 1)}, to...)...)
		if p.exitCode() == exitOK {
			t.Fatalf("%s: a wrong PIN paired", p.label)
		}
		if msg := errorText(p); !strings.Contains(strings.ToLower(msg), "wrong") {
			t.Errorf("%s said %q, want it to say the PIN was wrong", p.label, msg)
		}
		if k < 2 {
			if f := show.waitEvents("attempt_failed", k+1, 10*time.Second)[k]; f.num("remaining") != int64(2-k) {
				t.Errorf("attempt_failed event %v, want remaining %d", f, 2-k)
			}
		}
	}
	third := time.Now()
	code := show.wait(10 * time.Second)
	if code == exitOK {
		t.Errorf("the showing side exited 0 after 3 wrong PINs")
	}
	if msg := errorText(show); !strings.Contains(msg, "3 failed attempts") {
		t.Errorf("the showing side said %q, want it to say the window closed after 3 failed attempts", msg)
	}
	t.Logf("showing side exited %d, %v after the third wrong PIN returned", code, time.Since(third).Round(time.Millisecond))

	for _, to := range [][]string{{"--to", a.addr(port), "--timeout", "2s"}, nil} {
		p := c.run(30*time.Second, nil, append([]string{"pair", pin}, to...)...)
		if p.exitCode() == exitOK {
			t.Errorf("%s: the right PIN paired after the window closed", p.label)
		}
		t.Logf("%s: exit %d: %q", p.label, p.exitCode(), strings.TrimSpace(errorText(p)))
	}
	trustsNobody(t, a)
	trustsNobody(t, c)
}

// TestPairExpiry: a window opened with --timeout 2s closes after about 2 s
// with a clear message; the PIN and the code fail afterwards.
func TestPairExpiry(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, b := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta")
	show, ev := showPairing(t, a.host, a.id, "--timeout", "2s")
	opened := show.when("pairing")
	code := show.wait(15 * time.Second)
	took := time.Since(opened)
	if code == exitOK {
		t.Errorf("%s exited 0 after expiring", show.label)
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Errorf("%s ended %v after its pairing event, want about 2 s", show.label, took.Round(time.Millisecond))
	}
	if msg := errorText(show); !strings.Contains(msg, "expired") {
		t.Errorf("%s said %q, want it to say the window expired", show.label, msg)
	}
	t.Logf("FIGURE pair_timeout_2s_ended_after_ms=%d", took.Milliseconds())

	for _, args := range [][]string{
		{"pair", ev.str("pin"), "--to", a.addr(int(ev.num("port"))), "--timeout", "2s"},
		{"pair", ev.str("pin")},
		{"pair", ev.str("code"), "--timeout", "2s"},
	} {
		p := b.run(30*time.Second, nil, args...)
		if p.exitCode() == exitOK {
			t.Errorf("%s paired after the window expired", p.label)
		}
		t.Logf("%s: exit %d after %v: %q", p.label, p.exitCode(), p.duration().Round(time.Millisecond), strings.TrimSpace(errorText(p)))
	}
	trustsNobody(t, a)
	trustsNobody(t, b)
}

// TestPairedAutoAccept: after pairing, `ferry receive --accept trusted`
// accepts the paired sender without asking and refuses an unpaired one
// (exit 3, nothing written); `ferry peers` marks the paired receiver.
func TestPairedAutoAccept(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 3)
	a, b, c := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta"), newDevice(t, l.h(3), "gamma")
	pairPIN(t, a, b)

	in := t.TempDir()
	recv, port := a.receive(in, 0, "trusted")
	alpha := &named{h: a.host, name: a.name, id: a.id, dir: in, port: port, p: recv}

	s := b.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "paired.txt", "from beta\n"))
	sendOK(t, s)
	recv.sessionsDone(1, 10*time.Second)
	delivered(t, alpha, "paired.txt", "from beta\n")

	s = c.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "stranger.txt", "from gamma\n"))
	if code := s.exitCode(); code != exitDeclined {
		t.Errorf("unpaired sender exited %d, want 3: %v", code, s.last("error"))
	}
	if msg := errorText(s); !strings.Contains(strings.ToLower(msg), "declined") && !strings.Contains(strings.ToLower(msg), "refused") {
		t.Errorf("unpaired sender said %q, want it to say it was refused", msg)
	}
	d := recv.waitEvent("declined", 10*time.Second)
	if d.str("id") != c.id || d.str("reason") == "" {
		t.Errorf("declined event %v, want gamma's id %s and a reason", d, c.id)
	}
	if _, err := os.Stat(filepath.Join(in, "stranger.txt")); err == nil {
		t.Errorf("the unpaired sender's file was written")
	}
	if got := listDir(t, in); len(got) != 1 {
		t.Errorf("the receiving folder holds %q, want only paired.txt", got)
	}

	// By name: the paired device's pinned key.
	s = b.run(30*time.Second, nil, "send", "--to", "alpha", writeNote(t, "byname.txt", "by name\n"))
	sendOK(t, s)
	delivered(t, alpha, "byname.txt", "by name\n")

	for _, v := range []struct {
		from   *device
		paired bool
	}{{b, true}, {c, false}} {
		got := listPeers(t, v.from.host)
		pl, ok := got[a.id]
		if !ok {
			t.Errorf("%s's ferry peers does not list alpha: %+v", v.from.name, got)
			continue
		}
		checkPeer(t, v.from.name+"'s ferry peers", pl, alpha, v.paired, a.v4, a.v6)
	}
}

// TestPairImpersonation: alpha and beta are paired; gamma runs a receiver
// that calls itself beta, with its own key. While beta is away, `ferry send
// --to beta` on alpha sends nothing and says the key does not match; with
// beta back, the file goes to beta only.
func TestPairImpersonation(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 3)
	a, b, c := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta"), newDevice(t, l.h(3), "impostor")
	pairPIN(t, a, b)

	fake := startNamed(t, c.host, "beta", "all") // gamma's key, beta's name
	if fake.id == b.id {
		t.Fatal("the impostor has beta's key")
	}
	s := a.run(30*time.Second, nil, "send", "--to", "beta", writeNote(t, "secret.txt", "for beta only\n"))
	if s.exitCode() == exitOK {
		t.Errorf("send --to beta exited 0 with only an impostor on the network")
	}
	msg := strings.ToLower(errorText(s))
	if !strings.Contains(msg, "impersonation") && !(strings.Contains(msg, "key") && strings.Contains(msg, "match")) {
		t.Errorf("send --to beta with an impostor said %q, want it to say the key does not match / possible impersonation", msg)
	}
	t.Logf("%s: exit %d: %q", s.label, s.exitCode(), strings.TrimSpace(errorText(s)))
	untouched(t, fake)

	// The impostor sending to alpha as "beta" is refused, with a warning.
	ain := t.TempDir()
	arecv, aport := a.receive(ain, 0, "trusted")
	s = c.run(30*time.Second, nil, "send", "--to", a.addr(aport), writeNote(t, "fake.txt", "from the impostor\n"))
	if code := s.exitCode(); code != exitDeclined {
		t.Errorf("the impostor's send to alpha exited %d, want 3", code)
	}
	if d := arecv.waitEvent("declined", 10*time.Second); !strings.Contains(d.str("warning"), "impersonation") {
		t.Errorf("alpha declined the impostor with %v, want a warning about a possible impersonation", d)
	}
	if got := listDir(t, ain); len(got) > 0 {
		t.Errorf("alpha's folder holds %q after the impostor's send", got)
	}

	// Beta comes back: the file goes to beta, never to the impostor.
	in := t.TempDir()
	recv, port := b.receive(in, 0, "trusted")
	genuine := &named{h: b.host, name: b.name, id: b.id, dir: in, port: port, p: recv}
	for k, name := range []string{"one.txt", "two.txt", "three.txt"} {
		s := a.run(30*time.Second, nil, "send", "--to", "beta", writeNote(t, name, name+"\n"))
		sendOK(t, s)
		if acc := s.mustEvent("accepted"); acc.str("id") != b.id {
			t.Errorf("send --to beta accepted by %v, want beta %s", acc, b.id)
		}
		recv.sessionsDone(k+1, 10*time.Second)
		delivered(t, genuine, name, name+"\n")
	}
	untouched(t, fake)
}

// TestTrustRemove: `ferry trust remove ID-PREFIX` forgets the paired device;
// afterwards `ferry receive --accept trusted` refuses it again, both the
// receiver that was running then and a new one.
func TestTrustRemove(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, b := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta")
	pairPIN(t, a, b)

	in := t.TempDir()
	recv, port := a.receive(in, 0, "trusted")
	sendOK(t, b.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "before.txt", "paired\n")))
	recv.sessionsDone(1, 10*time.Second)

	rm := a.run(30*time.Second, nil, "trust", "remove", short(b.id))
	if rm.exitCode() != exitOK {
		t.Fatalf("%s exited %d: %v %s", rm.label, rm.exitCode(), rm.last("error"), rm.stderr.String())
	}
	if ev := rm.mustEvent("removed"); ev.str("id") != b.id {
		t.Errorf("removed event %v, want beta %s", ev, b.id)
	}
	if tl := trustList(t, a); len(tl) != 0 {
		t.Errorf("alpha still trusts %v after trust remove", tl)
	}

	// The receiver that was running when beta was removed.
	s := b.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "running.txt", "removed\n"))
	if code := s.exitCode(); code != exitDeclined {
		t.Errorf("after trust remove, the running `receive --accept trusted` let the removed device send: exit %d, want 3", code)
	}
	recv.killAndWait()

	// A new receiver.
	recv, port = a.receive(in, 0, "trusted")
	s = b.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "after.txt", "removed\n"))
	if code := s.exitCode(); code != exitDeclined {
		t.Errorf("after trust remove, a new `receive --accept trusted` let the removed device send: exit %d, want 3", code)
	}
	recv.waitEvent("declined", 10*time.Second)
	if _, err := os.Stat(filepath.Join(in, "after.txt")); err == nil {
		t.Errorf("the removed device's file was written by the new receiver")
	}
}

// TestPairWhileReceiving: a device paired while `ferry receive --accept
// trusted` runs is accepted by that receiver without a restart.
func TestPairWhileReceiving(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	a, b := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta")
	in := t.TempDir()
	recv, port := a.receive(in, 0, "trusted")
	pairPIN(t, a, b)
	s := b.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "new.txt", "just paired\n"))
	if code := s.exitCode(); code != exitOK {
		t.Errorf("a device paired while the receiver ran was refused by it: exit %d, %v; receiver: %v",
			code, s.last("error"), recv.last("declined"))
	}
}
