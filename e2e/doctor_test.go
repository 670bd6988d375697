package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/testnet"
)

// doctorLAN is a LAN of three hosts for ferry doctor: h1 runs the checks,
// h2 runs ferry doctor --listen, h3 is the gateway of both.
func doctorLAN(t *testing.T) (l *lan, listener *proc) {
	t.Helper()
	l = newLANOpts(t, 3, lanOpts{family: "fdoc"})
	for _, i := range []int{1, 2} {
		if err := l.h(i).nh.IP(t.Context(), "route", "add", "default", "via", l.h(3).v4); err != nil {
			testnet.CannotRun(t, "%v", err)
		}
	}
	listener = l.h(2).start(nil, "doctor", "--listen")
	listener.waitEvent("listening", 10*time.Second)
	return l, listener
}

// doctorRun runs ferry doctor --json on h with args and returns its check
// events, after checking the time limit and the summary.
func doctorRun(t *testing.T, h *host, args ...string) []event {
	t.Helper()
	limit := 4 * time.Second
	if strings.Contains(strings.Join(args, " "), "--peer") {
		limit = 8 * time.Second
	}
	p := h.run(limit+5*time.Second, nil, append([]string{"doctor"}, args...)...)
	t.Logf("FIGURE doctor_ms=%d (%s)", p.duration().Milliseconds(), strings.Join(args, " "))
	if d := p.duration(); d > limit+500*time.Millisecond { // the process start and the namespace entry are not the doctor's
		t.Errorf("ferry doctor %s took %v, more than %v", strings.Join(args, " "), d, limit)
	}
	checks := p.all("check")
	sum := p.mustEvent("summary")
	fails := 0
	for _, c := range checks {
		if c.str("status") == "FAIL" {
			fails++
		}
		if st := c.str("status"); st != "OK" && c.str("fix") == "" && !strings.Contains(c.str("detail"), "cannot") {
			t.Errorf("a %s line without a fix: %v", st, c)
		}
	}
	if sum.num("fail") != int64(fails) || int(sum.num("ok")+sum.num("warn")+sum.num("fail")) != len(checks) {
		t.Errorf("summary %v does not add up over %d checks", sum, len(checks))
	}
	if want := map[bool]int{true: 1, false: 0}[fails > 0]; p.exitCode() != want {
		t.Errorf("exit code %d with %d FAIL lines, want %d", p.exitCode(), fails, want)
	}
	return checks
}

// findCheck returns the first check of area with status, whose detail
// contains every one of subs.
func findCheck(checks []event, area, status string, subs ...string) (event, bool) {
	for _, c := range checks {
		if c.str("check") != area || c.str("status") != status {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(c.str("detail"), s)
		}
		if ok {
			return c, true
		}
	}
	return nil, false
}

func mustCheck(t *testing.T, checks []event, area, status string, subs ...string) event {
	t.Helper()
	c, ok := findCheck(checks, area, status, subs...)
	if !ok {
		var lines []string
		for _, c := range checks {
			lines = append(lines, fmt.Sprintf("%s %s: %s", c.str("status"), c.str("check"), c.str("detail")))
		}
		t.Fatalf("no %s %s line mentioning %q; the checks:\n%s", status, area, subs, strings.Join(lines, "\n"))
	}
	return c
}

func noFail(t *testing.T, checks []event) {
	t.Helper()
	for _, c := range checks {
		if c.str("status") == "FAIL" {
			t.Errorf("FAIL on a clean LAN: %s: %s", c.str("check"), c.str("detail"))
		}
	}
}

// nft runs nft in h's namespace with a ruleset read from standard input.
func nftOn(t *testing.T, h *host, ruleset string) {
	t.Helper()
	cmd := h.command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		testnet.CannotRun(t, "nft -f on %s: %v: %s", h.ns, err, out)
	}
}

// TestDoctorFaults injects each fault ferry doctor must name on a
// namespace LAN, and checks that a clean LAN gives no FAIL.
func TestDoctorFaults(t *testing.T) {
	needNft(t)
	l, _ := doctorLAN(t)
	h1, h2 := l.h(1), l.h(2)
	peer := h2.v4

	t.Run("clean", func(t *testing.T) {
		checks := doctorRun(t, h1)
		noFail(t, checks)
		mustCheck(t, checks, "multicast", "OK", "eth0", "sees itself", "1 other device")
		mustCheck(t, checks, "firewall", "OK")
		checks = doctorRun(t, h1, "--peer", peer)
		noFail(t, checks)
		mustCheck(t, checks, "peer", "OK", "multicast (mDNS) and unicast UDP both work")
		mustCheck(t, checks, "route", "OK", "through eth0, on the same network")
		// By name, found by mDNS.
		checks = doctorRun(t, h1, "--peer", h2.name)
		mustCheck(t, checks, "peer", "OK", peer)
	})

	t.Run("client-isolation", func(t *testing.T) {
		for _, port := range []string{h1.port, h2.port} {
			if _, err := l.sw.Run(t.Context(), "bridge", "link", "set", "dev", port, "isolated", "on"); err != nil {
				testnet.CannotRun(t, "%v", err)
			}
			t.Cleanup(func() { l.sw.Run(context.Background(), "bridge", "link", "set", "dev", port, "isolated", "off") })
		}
		checks := doctorRun(t, h1, "--peer", peer)
		mustCheck(t, checks, "peer", "FAIL", "client isolation", "INCOMPLETE", l.h(3).v4)
	})

	t.Run("mdns-macs-dropped", func(t *testing.T) {
		nftOn(t, &host{nh: &l.sw.Host, ns: l.sw.NS(), lan: l}, `table bridge fdoc {
	chain forward {
		type filter hook forward priority 0;
		ether daddr { 01:00:5e:00:00:fb, 33:33:00:00:00:fb } drop
	}
}`)
		t.Cleanup(func() { l.sw.Run(context.Background(), "nft", "delete", "table", "bridge", "fdoc") })
		learnNeighbour(t, h1, l.h(3).v4) // a device known on the LAN, as a router always is
		checks := doctorRun(t, h1, "--peer", peer)
		mustCheck(t, checks, "multicast", "WARN", "eth0", "multicast may be filtered")
		c := mustCheck(t, checks, "peer", "FAIL", "multicast is blocked but unicast works")
		if !strings.Contains(c.str("fix"), "ferry send --to "+peer) {
			t.Errorf("the fix does not give the way round: %q", c.str("fix"))
		}
	})

	t.Run("peer-input-drop", func(t *testing.T) {
		nftOn(t, h2, `table inet fdoc {
	chain input {
		type filter hook input priority 0; policy drop;
		tcp dport 22 accept
	}
}`)
		t.Cleanup(func() { h2.nh.Run(context.Background(), "nft", "delete", "table", "inet", "fdoc") })
		checks := doctorRun(t, h1, "--peer", peer)
		mustCheck(t, checks, "peer", "FAIL", "firewall drops UDP 47100", "REACHABLE")
		// On the peer itself, the ruleset names the chain.
		checks = doctorRun(t, h2)
		c := mustCheck(t, checks, "firewall", "FAIL", "47100", "inet fdoc input", "policy drop")
		if !strings.Contains(c.str("fix"), "nft insert rule inet fdoc input udp dport") {
			t.Errorf("the fix is not the nft command: %q", c.str("fix"))
		}
		mustCheck(t, checks, "firewall", "FAIL", "5353")
	})

	t.Run("tun-default-route", func(t *testing.T) {
		ctx := context.Background()
		for _, args := range [][]string{
			{"tuntap", "add", "tun0", "mode", "tun"},
			{"addr", "add", "10.239.0.1/24", "dev", "tun0"},
			{"link", "set", "tun0", "up"},
			{"route", "replace", "default", "dev", "tun0"},
		} {
			if err := h1.nh.IP(ctx, args...); err != nil {
				testnet.CannotRun(t, "%v", err)
			}
		}
		t.Cleanup(func() {
			h1.nh.IP(ctx, "link", "del", "tun0")
			h1.nh.IP(ctx, "route", "replace", "default", "via", l.h(3).v4)
		})
		checks := doctorRun(t, h1, "--peer", peer)
		mustCheck(t, checks, "route", "WARN", "default route goes through tun0, a VPN")
		mustCheck(t, checks, "interface", "WARN", "tun0 (VPN)")
		mustCheck(t, checks, "peer", "OK") // the LAN is still on-link
		// A full tunnel that takes the LAN too (a kill switch).
		if err := h1.nh.IP(ctx, "route", "add", peer+"/32", "dev", "tun0"); err != nil {
			testnet.CannotRun(t, "%v", err)
		}
		checks = doctorRun(t, h1, "--peer", peer)
		mustCheck(t, checks, "route", "FAIL", "through tun0, a VPN")
	})
}

// TestDoctorPeerReceiver runs ferry doctor --peer against a computer that
// runs ferry receive, not doctor --listen: the QUIC handshake shows that
// unicast works, and nothing is received.
func TestDoctorPeerReceiver(t *testing.T) {
	l := newLANOpts(t, 2, lanOpts{family: "fdoc"})
	h1, h2 := l.h(1), l.h(2)
	rx := h2.start(nil, "receive", "--accept", "all", "--dir", t.TempDir())
	rx.waitEvent("listening", 10*time.Second)
	checks := doctorRun(t, h1, "--peer", h2.v4)
	noFail(t, checks)
	mustCheck(t, checks, "peer", "OK", "a ferry receiver answered the QUIC handshake")
	if n := len(rx.all("session")); n != 0 {
		t.Errorf("the receiver saw %d sessions", n)
	}
}

// learnNeighbour makes h resolve addr (a datagram to its discard port) and
// waits until h's neighbour entry for it is REACHABLE.
func learnNeighbour(t *testing.T, h *host, addr string) {
	t.Helper()
	err := h.nh.Do(func() error {
		c, err := net.Dial("udp", net.JoinHostPort(addr, "9"))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte{0})
		return err
	})
	if err != nil {
		t.Fatalf("poke %s from %s: %v", addr, h.ns, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := h.command("ip", "neigh", "show", "to", addr).Output()
		if strings.Contains(string(out), "REACHABLE") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not learn %s: %s", h.ns, addr, out)
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel's table
	}
}

// TestDoctorIPv6Only checks the multicast check's IPv6 path (ff02::fb) and
// the two-sided test by IPv6 address on a LAN without IPv4.
func TestDoctorIPv6Only(t *testing.T) {
	l := newLANOpts(t, 2, lanOpts{family: "fdoc", v6Only: true})
	h1, h2 := l.h(1), l.h(2)
	listener := h2.start(nil, "doctor", "--listen")
	listener.waitEvent("listening", 10*time.Second)
	checks := doctorRun(t, h1, "--peer", h2.v6)
	noFail(t, checks)
	mustCheck(t, checks, "multicast", "OK", "eth0", "sees itself", "1 other device")
	mustCheck(t, checks, "peer", "OK", "["+h2.v6+"]:47100", "both work")
}
