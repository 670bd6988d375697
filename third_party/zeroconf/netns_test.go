package zeroconf

// The tests send mDNS, so they run in private network namespaces (ferry's
// rule: nothing a test starts sends a packet off this machine). TestMain
// runs the test binary again inside a namespace of its own, "zcf-<pid>",
// whose lo has multicast on and which holds a veth pair (zc0, zc1) for the
// upstream tests that register on every interface. Tests of the responder
// add peers: each a namespace "zcf-<pid>-<name>" joined to the test's
// namespace by a veth pair, with a querier socket opened inside it.
//
// This file is part of ferry's fork; see FORK.md.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// nsEnv names the namespace the test binary runs in.
const nsEnv = "ZEROCONF_TESTNS"

func TestMain(m *testing.M) {
	if code, done := isolate(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// canNetns reports why this process cannot make namespaces, or nil.
func canNetns() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("iproute2's ip is missing: %w", err)
	}
	return nil
}

// isolate runs the test binary again in a private namespace when it can,
// and reports its exit code; done is false when the tests are to run in
// this process (inside the namespace, or without root).
func isolate() (code int, done bool) {
	if os.Getenv(nsEnv) != "" || canNetns() != nil {
		return 0, false
	}
	sweep()
	ns := "zcf-" + strconv.Itoa(os.Getpid())
	defer removeNS(ns)
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "multicast", "on", "up"},
		{"netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"},
		{"-n", ns, "link", "add", "zc0", "type", "veth", "peer", "name", "zc1"},
		{"-n", ns, "addr", "add", "10.231.250.1/24", "dev", "zc0"},
		{"-n", ns, "addr", "add", "10.231.250.2/24", "dev", "zc1"},
		{"-n", ns, "link", "set", "zc0", "multicast", "on", "up"},
		{"-n", ns, "link", "set", "zc1", "multicast", "on", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			fmt.Fprintf(os.Stderr, "zeroconf tests: %v\n", err)
			return 1, true
		}
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), nsEnv+"="+ns)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "zeroconf tests: %v\n", err)
	return 1, true
}

// sweep removes the namespaces "zcf-<pid>…" of test processes that are gone.
func sweep() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "zcf-") {
			continue
		}
		digits, _, _ := strings.Cut(strings.TrimPrefix(f[0], "zcf-"), "-")
		pid, err := strconv.Atoi(digits)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + digits); err == nil {
			continue // alive
		}
		removeNS(f[0])
	}
}

// removeNS kills what runs in ns and deletes it.
func removeNS(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
	_ = ipCmd("netns", "del", ns)
}

func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// requireNetns skips t unless the tests run in their private namespace;
// under CI=true it fails instead (a CI that passes by skipping proves
// nothing).
func requireNetns(t testing.TB) {
	t.Helper()
	if os.Getenv(nsEnv) != "" {
		return
	}
	msg := "needs a private network namespace (run as root), so that no mDNS leaves this machine"
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, and the test cannot run: %s", msg)
	}
	t.Skip(msg)
}

// A peer is a namespace joined to the test's by a veth pair: the test's
// end is Local (addresses 10.231.<net>.1, fd31:<net>::1), the peer's is
// eth0 (.2 and ::2).
type peer struct {
	ns    string
	Local string // the interface in the test's namespace
	net   int
}

var peerSeq struct {
	sync.Mutex
	n int
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	requireNetns(t)
	peerSeq.Lock()
	peerSeq.n++
	n := peerSeq.n
	peerSeq.Unlock()
	p := &peer{ns: fmt.Sprintf("zcf-%d-p%d", os.Getpid(), n), Local: fmt.Sprintf("zp%d", n), net: n}
	t.Cleanup(func() { removeNS(p.ns) })
	v4 := func(host int) string { return fmt.Sprintf("10.231.%d.%d/24", n, host) }
	v6 := func(host int) string { return fmt.Sprintf("fd31:%d::%d/64", n, host) }
	for _, args := range [][]string{
		{"netns", "add", p.ns},
		{"-n", p.ns, "link", "set", "lo", "up"},
		{"netns", "exec", p.ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"},
		{"link", "add", p.Local, "type", "veth", "peer", "name", "eth0", "netns", p.ns},
		{"addr", "add", v4(1), "dev", p.Local},
		{"addr", "add", v6(1), "dev", p.Local, "nodad"},
		{"link", "set", p.Local, "multicast", "on", "up"},
		{"-n", p.ns, "addr", "add", v4(2), "dev", "eth0"},
		{"-n", p.ns, "addr", "add", v6(2), "dev", "eth0", "nodad"},
		{"-n", p.ns, "link", "set", "eth0", "multicast", "on", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// iface is the peer's interface in the test's namespace.
func (p *peer) iface(t *testing.T) net.Interface {
	t.Helper()
	ifi, err := net.InterfaceByName(p.Local)
	if err != nil {
		t.Fatal(err)
	}
	return *ifi
}

func (p *peer) addr4(host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("10.231.%d.%d", p.net, host))
}

func (p *peer) addr6(host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd31:%d::%d", p.net, host))
}

// in runs fn on a thread in the peer's namespace: sockets fn opens stay
// there. The thread goes back to the test's namespace afterwards; if it
// cannot, it stays locked, and Go ends it with the goroutine.
func (p *peer) in(t *testing.T, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer home.Close()
		f, err := os.Open("/run/netns/" + p.ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", p.ns, err)
			return
		}
		err = fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// A received packet, as a querier saw it.
type received struct {
	msg       *dns.Msg
	fam       ipFamily
	multicast bool // sent to the group, not to the querier's address
	from      netip.AddrPort
	at        time.Time
}

// A querier is a pair of sockets in a peer's namespace, bound to port (5353
// or, for a legacy querier, any) and joined to the mDNS groups on eth0. It
// keeps every packet it receives.
type querier struct {
	t    *testing.T
	c4   *ipv4.PacketConn
	c6   *ipv6.PacketConn
	pkts chan received
	wg   sync.WaitGroup
}

func newQuerier(t *testing.T, p *peer, port int) *querier {
	t.Helper()
	q := &querier{t: t, pkts: make(chan received, 1024)}
	p.in(t, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c4, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			return err
		}
		q.c4 = ipv4.NewPacketConn(c4)
		c6, err := net.ListenPacket("udp6", fmt.Sprintf("[::]:%d", port))
		if err != nil {
			return err
		}
		q.c6 = ipv6.NewPacketConn(c6)
		return errors.Join(
			q.c4.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroupIPv4}),
			q.c4.SetMulticastInterface(ifi),
			q.c4.SetMulticastTTL(255),
			q.c4.SetMulticastLoopback(false),
			q.c4.SetControlMessage(ipv4.FlagDst, true),
			q.c6.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroupIPv6}),
			q.c6.SetMulticastInterface(ifi),
			q.c6.SetMulticastHopLimit(255),
			q.c6.SetMulticastLoopback(false),
			q.c6.SetControlMessage(ipv6.FlagDst, true),
		)
	})
	q.wg.Add(2)
	go q.read4()
	go q.read6()
	t.Cleanup(func() {
		q.c4.Close()
		q.c6.Close()
		q.wg.Wait()
	})
	return q
}

func (q *querier) read4() {
	defer q.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := q.c4.ReadFrom(buf)
		if err != nil {
			return
		}
		q.deliver(buf[:n], ipv4Family, cm != nil && cm.Dst.IsMulticast(), from)
	}
}

func (q *querier) read6() {
	defer q.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := q.c6.ReadFrom(buf)
		if err != nil {
			return
		}
		q.deliver(buf[:n], ipv6Family, cm != nil && cm.Dst.IsMulticast(), from)
	}
}

func (q *querier) deliver(pkt []byte, fam ipFamily, multicast bool, from net.Addr) {
	at := time.Now()
	m := new(dns.Msg)
	if m.Unpack(pkt) != nil || !m.Response {
		return
	}
	select {
	case q.pkts <- received{msg: m, fam: fam, multicast: multicast, from: addrPort(from), at: at}:
	default: // a test that stopped reading
	}
}

// send multicasts m over fam and returns when it was sent.
func (q *querier) send(m *dns.Msg, fam ipFamily) time.Time {
	q.t.Helper()
	buf, err := m.Pack()
	if err != nil {
		q.t.Fatal(err)
	}
	now := time.Now()
	if fam == ipv4Family {
		_, err = q.c4.WriteTo(buf, nil, ipv4Addr)
	} else {
		_, err = q.c6.WriteTo(buf, nil, ipv6Addr)
	}
	if err != nil {
		q.t.Fatal(err)
	}
	return now
}

// next returns the next packet that satisfies match within timeout; others
// are dropped.
func (q *querier) next(timeout time.Duration, match func(received) bool) (received, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case r := <-q.pkts:
			if match(r) {
				return r, true
			}
		case <-timer.C:
			return received{}, false
		}
	}
}

// drain drops what was received so far.
func (q *querier) drain() {
	for {
		select {
		case <-q.pkts:
		default:
			return
		}
	}
}

// query is a question message; qu sets the unicast-response bit.
func query(qu bool, qs ...dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.Question = qs
	if qu {
		for i := range m.Question {
			m.Question[i].Qclass |= qClassCacheFlush
		}
	}
	return m
}

func question(name string, qtype uint16) dns.Question {
	return dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
}
