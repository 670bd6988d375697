package discovery

// A private LAN of network namespaces for end-to-end tests, and the helper
// processes that run this package inside them: the test binary re-executes
// itself in a namespace (ip netns exec NS /proc/self/exe -test.run=^TestHelperProcess$)
// with FDSC_ROLE saying what to do, and reports on stdout, one JSON object a
// line. The LAN is a netlab.LAN (via internal/testnet): namespaces are
// named fdsc-<pid>-<tag>-<host>; addresses are from 10.231.0.0/16 and
// fd31::/64 only.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/syncbuf"
	"github.com/ferry-lan/ferry/internal/testnet"
)

type lan struct {
	t        *testing.T
	nl       *netlab.LAN
	hosts    map[string]*netlab.Host
	switches map[string]*netlab.Switch
}

// newLAN returns an empty LAN whose namespaces are named
// fdsc-<pid>-<tag>-<host>; they and their processes go away when the test
// ends. Namespaces left by earlier runs that died are removed first.
func newLAN(t *testing.T, tag string) *lan {
	t.Helper()
	return &lan{t: t, nl: testnet.NewLAN(t, "fdsc", tag),
		hosts: make(map[string]*netlab.Host), switches: make(map[string]*netlab.Switch)}
}

func (l *lan) ns(host string) string { return l.nl.Prefix() + host }

// ip runs ip(8) with args, failing the test on error.
func (l *lan) ip(args ...string) {
	l.t.Helper()
	if err := netlab.IP(l.t.Context(), args...); err != nil {
		l.t.Fatal(err)
	}
}

// sh runs a command inside host's namespace.
func (l *lan) sh(host string, args ...string) string {
	l.t.Helper()
	out, err := l.host(host).Run(l.t.Context(), args[0], args[1:]...)
	if err != nil {
		l.t.Fatal(err)
	}
	return string(out)
}

func (l *lan) host(name string) *netlab.Host {
	l.t.Helper()
	if sw, ok := l.switches[name]; ok {
		return &sw.Host
	}
	h, ok := l.hosts[name]
	if !ok {
		l.t.Fatalf("no host %s on the LAN", name)
	}
	return h
}

// addSwitch makes a namespace with a bridge that floods multicast.
func (l *lan) addSwitch(name string) {
	l.t.Helper()
	sw, err := l.nl.AddSwitch(l.t.Context(), name)
	if err != nil {
		l.t.Fatal(err)
	}
	l.switches[name] = sw
}

// addHost makes a host namespace with lo up and IPv6 duplicate address
// detection off, so that addresses are usable at once.
func (l *lan) addHost(name string) {
	l.t.Helper()
	h, err := l.nl.AddHost(l.t.Context(), name)
	if err != nil {
		l.t.Fatal(err)
	}
	l.hosts[name] = h
	l.sh(name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
}

// connect plugs host into sw through an interface named ifname with addrs
// ("10.231.1.1/24", "fd31::1/64").
func (l *lan) connect(host, sw, ifname string, addrs ...string) {
	l.t.Helper()
	if _, err := l.switches[sw].Plug(l.t.Context(), l.host(host), ifname, addrs...); err != nil {
		l.t.Fatal(err)
	}
}

// linkLocal returns the IPv6 link-local address of host's ifname.
func (l *lan) linkLocal(host, ifname string) netip.Addr {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.t.Context(), 5*time.Second)
	defer cancel()
	a, err := l.host(host).LinkLocal(ctx, ifname)
	if err != nil {
		l.t.Fatal(err)
	}
	return a
}

// helperMsg is one line of a helper's report.
type helperMsg struct {
	Ev         string  `json:"ev"`             // ready, up, changed, down, flags, peers, check, closed, error
	T          float64 `json:"t_ms,omitempty"` // ms since the helper started its operation
	Instance   string  `json:"instance,omitempty"`
	Peer       *Peer   `json:"peer,omitempty"`
	Peers      []Peer  `json:"peers,omitempty"`
	Err        string  `json:"err,omitempty"`
	AdvErr     string  `json:"adv_err,omitempty"`
	BrowseErr  string  `json:"browse_err,omitempty"`
	Before     int     `json:"goroutines_before,omitempty"`
	After      int     `json:"goroutines_after,omitempty"`
	ReceivedAt time.Time
}

// proc is a running helper.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	msgs   chan helperMsg // closed when stdout ends
	stderr *syncbuf.Buffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
	seen   []helperMsg
	peers  map[identity.DeviceID]Peer // a browser's view, from the events consumed
}

// start runs a helper with role in host's namespace; env is KEY=VALUE pairs.
func (l *lan) start(host, role string, env ...string) *proc {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := l.host(host).Command(exe, "-test.run=^TestHelperProcess$", "-test.timeout=3m")
	// The race detector waits a second at exit for late reports; the helpers
	// report before they exit.
	cmd.Env = append(os.Environ(), "FDSC_ROLE="+role, "GORACE=atexit_sleep_ms=50 "+os.Getenv("GORACE"))
	cmd.Env = append(cmd.Env, env...)
	p := &proc{t: l.t, name: host + "/" + role, cmd: cmd, msgs: make(chan helperMsg, 256),
		stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", p.name, err)
	}
	go func() { // owned by p: ends with the process's stdout; Cleanup waits for it
		defer close(p.msgs)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m helperMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				continue // test framework output such as "PASS"
			}
			m.ReceivedAt = time.Now()
			p.msgs <- m
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	l.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range p.msgs {
		}
		<-p.exited
	})
	return p
}

// next returns the next message that satisfies match, failing the test after
// timeout. Messages that do not match are kept in p.seen.
func (p *proc) next(timeout time.Duration, what string, match func(helperMsg) bool) helperMsg {
	p.t.Helper()
	m, ok := p.poll(timeout, match)
	if !ok {
		p.t.Fatalf("%s: no %s within %v\nmessages: %+v\nstderr:\n%s", p.name, what, timeout, p.seen, tail(p.stderr.String()))
	}
	return m
}

// poll is next without failing.
func (p *proc) poll(timeout time.Duration, match func(helperMsg) bool) (helperMsg, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return helperMsg{}, false
			}
			p.seen = append(p.seen, m)
			if m.Peer != nil {
				if p.peers == nil {
					p.peers = make(map[identity.DeviceID]Peer)
				}
				if m.Ev == "down" {
					delete(p.peers, m.Peer.ID)
				} else {
					p.peers[m.Peer.ID] = *m.Peer
				}
			}
			if m.Ev == "error" {
				p.t.Errorf("%s: %s", p.name, m.Err)
			}
			if match(m) {
				return m, true
			}
		case <-timer.C:
			return helperMsg{}, false
		}
	}
}

// signal sends sig to the helper.
func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// finish asks the helper to stop (closes its stdin), and checks that it shut
// down cleanly: exit status 0, no data race, no goroutine left behind.
func (p *proc) finish() {
	p.t.Helper()
	p.stdin.Close()
	p.checkClosed()
}

// checkClosed waits for a helper that was asked to stop.
func (p *proc) checkClosed() {
	p.t.Helper()
	m := p.next(15*time.Second, "closed report", func(m helperMsg) bool { return m.Ev == "closed" })
	if m.After > 0 {
		p.t.Errorf("%s: %d goroutines of the package left after Close (%d before)\n%s", p.name, m.After, m.Before, tail(p.stderr.String()))
	}
	p.waitExit(0)
}

func (p *proc) waitExit(want int) {
	p.t.Helper()
	for range p.msgs {
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s did not exit", p.name)
	}
	code := 0
	if p.err != nil {
		code = -1
		if ee, ok := p.err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	if code != want || strings.Contains(p.stderr.String(), "DATA RACE") {
		p.t.Errorf("%s exited with %d (%v), want %d\n%s", p.name, code, p.err, want, tail(p.stderr.String()))
	}
}

func tail(s string) string {
	const n = 6000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// peerEvent matches an event of type ev about the device id.
func peerEvent(ev string, id string) func(helperMsg) bool {
	return func(m helperMsg) bool { return m.Ev == ev && m.Peer != nil && m.Peer.ID.String() == id }
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
