//go:build linux

package discovery

// A harness for tests that watch a browser on the wire: the browser runs in
// this test process, whose namespace (a private one, see TestMain) is
// plugged into a LAN of namespaces; a scripted peer in another namespace of
// that LAN sees every packet the browser sends and answers as a test
// decides, with miekg/dns.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/testnet"
)

// wireLAN is a switch with this process's namespace and a peer's plugged in.
type wireLAN struct {
	*lan
	ifname string // this namespace's interface on the LAN
	addr4  netip.Addr
	peer   *wirePeer
}

// newWireLAN builds a LAN "tag" where this namespace has ifname with
// 10.231.N.1/24 (if v4) and fd31::N:1/64, and a peer namespace has
// 10.231.N.2/24 and fd31::N:2/64; n is a number unique to the test.
func newWireLAN(t *testing.T, tag string, n int, v4 bool) *wireLAN {
	t.Helper()
	testnet.Require(t) // this process's own namespace must be a private one
	l := newLAN(t, tag)
	l.addSwitch("sw")
	l.addHost("peer")
	peerAddrs := []string{fmt.Sprintf("fd31::%d:2/64", n)}
	ourAddrs := []string{fmt.Sprintf("fd31::%d:1/64", n)}
	if v4 {
		peerAddrs = append(peerAddrs, fmt.Sprintf("10.231.%d.2/24", n))
		ourAddrs = append(ourAddrs, fmt.Sprintf("10.231.%d.1/24", n))
	}
	l.connect("peer", "sw", "eth0", peerAddrs...)
	w := &wireLAN{lan: l, ifname: fmt.Sprintf("wq%d", n)}
	if v4 {
		w.addr4 = netip.MustParseAddr(fmt.Sprintf("10.231.%d.1", n))
	}
	w.plugSelf(ourAddrs...)
	w.peer = listenIn(t, l.host("peer"), "eth0")
	// Until the kernel sees a veth's carrier (its link watch may take a
	// second on a busy machine), what is sent through it is dropped.
	for _, dev := range [][2]string{{"", w.ifname}, {l.ns("sw"), "s" + w.ifname}, {l.ns("peer"), "eth0"}} {
		waitOperUp(t, dev[0], dev[1])
	}
	return w
}

// waitOperUp polls the kernel until the interface in namespace ns ("" for
// this process's) is operationally up.
func waitOperUp(t *testing.T, ns, ifname string) {
	t.Helper()
	args := []string{"-j", "link", "show", "dev", ifname}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.CommandContext(t.Context(), "ip", args...).Output()
		var links []struct {
			OperState string `json:"operstate"`
		}
		if err == nil && json.Unmarshal(out, &links) == nil && len(links) == 1 && links[0].OperState == "UP" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %q is not up after 10 s: %s %v", ifname, ns, out, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel, not waiting for a peer
	}
}

// plugSelf plugs this namespace into the switch through w.ifname.
func (w *wireLAN) plugSelf(addrs ...string) {
	t := w.t
	t.Helper()
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	port := "s" + w.ifname
	if err := netlab.IP(ctx, "link", "add", w.ifname, "type", "veth", "peer", "name", port, "netns", w.ns("sw")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlab.IP(context.Background(), "link", "del", w.ifname) })
	w.ip("-n", w.ns("sw"), "link", "set", port, "master", "br0", "up")
	for _, a := range addrs {
		args := []string{"addr", "add", a, "dev", w.ifname}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		w.ip(args...)
	}
	w.ip("link", "set", w.ifname, "multicast", "on", "up")
}

// browse starts a browser on the LAN in this process; it ends with the test.
func (w *wireLAN) browse(opts Options) *Browser {
	w.t.Helper()
	opts.Interfaces = []string{w.ifname}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(w.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := Browse(w.t.Context(), opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		if err := b.Close(); err != nil {
			w.t.Errorf("browser: %v", err)
		}
	})
	return b
}

// wirePeer is a scripted mDNS peer: two sockets on port 5353 in another
// namespace, joined to the group on its interface.
type wirePeer struct {
	t     *testing.T
	c4    *ipv4.PacketConn
	c6    *ipv6.PacketConn
	ifi   *net.Interface
	msgs  chan wireMsg
	start time.Time
}

// wireMsg is a packet the peer received.
type wireMsg struct {
	at      time.Time
	src     netip.AddrPort
	v6      bool
	unicast bool
	size    int
	msg     *dns.Msg
}

func (m wireMsg) String() string {
	var qs []string
	for _, q := range m.msg.Question {
		qu := ""
		if q.Qclass&unicastBit != 0 {
			qu = " QU"
		}
		qs = append(qs, fmt.Sprintf("%s %s%s", q.Name, dns.TypeToString[q.Qtype], qu))
	}
	return fmt.Sprintf("{%s from %v v6=%v tc=%v q=%v an=%d}", m.at.Format("15:04:05.000"), m.src, m.v6, m.msg.Truncated, qs, len(m.msg.Answer))
}

// listenIn opens the peer's sockets on ifname of host h (netlab's Host.Do
// enters its namespace for that).
func listenIn(t *testing.T, h *netlab.Host, ifname string) *wirePeer {
	t.Helper()
	p := &wirePeer{t: t, msgs: make(chan wireMsg, 4096), start: time.Now()}
	err := h.Do(func() error {
		var err error
		if p.ifi, err = net.InterfaceByName(ifname); err != nil {
			return err
		}
		c4, err := net.ListenUDP("udp4", &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: mdnsPort})
		if err != nil {
			return err
		}
		p.c4 = ipv4.NewPacketConn(c4)
		c6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: mdnsPort})
		if err != nil {
			return err
		}
		p.c6 = ipv6.NewPacketConn(c6)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	check(p.c4.JoinGroup(p.ifi, &net.UDPAddr{IP: mdnsGroup4.AsSlice()}))
	check(p.c4.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true))
	check(p.c4.SetMulticastInterface(p.ifi))
	check(p.c4.SetMulticastTTL(255))
	check(p.c4.SetMulticastLoopback(false))
	check(p.c6.JoinGroup(p.ifi, &net.UDPAddr{IP: mdnsGroup6.AsSlice()}))
	check(p.c6.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true))
	check(p.c6.SetMulticastInterface(p.ifi))
	check(p.c6.SetMulticastHopLimit(255))
	check(p.c6.SetMulticastLoopback(false))

	var wg sync.WaitGroup
	read := func(v6 bool) {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			var (
				n       int
				src     net.Addr
				ifIndex int
				dst     net.IP
				err     error
			)
			if v6 {
				var cm *ipv6.ControlMessage
				n, cm, src, err = p.c6.ReadFrom(buf)
				if cm != nil {
					ifIndex, dst = cm.IfIndex, cm.Dst
				}
			} else {
				var cm *ipv4.ControlMessage
				n, cm, src, err = p.c4.ReadFrom(buf)
				if cm != nil {
					ifIndex, dst = cm.IfIndex, cm.Dst
				}
			}
			if err != nil {
				return
			}
			at := time.Now()
			m := new(dns.Msg)
			if ifIndex != p.ifi.Index || m.Unpack(buf[:n]) != nil {
				continue
			}
			ua := src.(*net.UDPAddr)
			select {
			case p.msgs <- wireMsg{at: at, src: ua.AddrPort(), v6: v6, unicast: !dst.IsMulticast(), size: n, msg: m}:
			default:
				t.Errorf("wire peer: more than %d packets unread", cap(p.msgs))
			}
		}
	}
	wg.Add(2)
	go read(false)
	go read(true)
	t.Cleanup(func() {
		p.c4.Close()
		p.c6.Close()
		wg.Wait()
	})
	return p
}

// next returns the next packet that satisfies match (nil: any), or fails
// the test after timeout; it skips the others.
func (p *wirePeer) next(timeout time.Duration, what string, match func(wireMsg) bool) wireMsg {
	p.t.Helper()
	m, ok := p.poll(timeout, match)
	if !ok {
		p.t.Fatalf("wire: no %s within %v", what, timeout)
	}
	return m
}

// poll is next without failing.
func (p *wirePeer) poll(timeout time.Duration, match func(wireMsg) bool) (wireMsg, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m := <-p.msgs:
			if match == nil || match(m) {
				return m, true
			}
		case <-timer.C:
			return wireMsg{}, false
		}
	}
}

// collect returns every packet that arrives within d.
func (p *wirePeer) collect(d time.Duration) []wireMsg {
	var out []wireMsg
	deadline := time.Now().Add(d)
	for {
		m, ok := p.poll(time.Until(deadline), nil)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// multicast sends m to the group over IPv4 (or IPv6 if v6).
func (p *wirePeer) multicast(m *dns.Msg, v6 bool) {
	p.t.Helper()
	b, err := m.Pack()
	if err != nil {
		p.t.Fatal(err)
	}
	if v6 {
		_, err = p.c6.WriteTo(b, nil, &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: mdnsPort})
	} else {
		_, err = p.c4.WriteTo(b, nil, &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: mdnsPort})
	}
	if err != nil {
		p.t.Fatal(err)
	}
}

// unicast sends m to to.
func (p *wirePeer) unicast(m *dns.Msg, to netip.AddrPort) {
	p.t.Helper()
	b, err := m.Pack()
	if err != nil {
		p.t.Fatal(err)
	}
	if to.Addr().Is4() {
		_, err = p.c4.WriteTo(b, nil, net.UDPAddrFromAddrPort(to))
	} else {
		_, err = p.c6.WriteTo(b, nil, net.UDPAddrFromAddrPort(to))
	}
	if err != nil {
		p.t.Fatal(err)
	}
}

// announceTo waits for the browser's first PTR query, answers it by
// unicast with the records of rs, one packet each, and waits until b
// reports the first of them up. It returns when it sent the answers.
func (w *wireLAN) announceTo(b *Browser, rs ...rec) time.Time {
	w.t.Helper()
	first := w.peer.next(3*time.Second, "the first PTR query", isQuery(dns.TypePTR))
	if !qu(first) {
		w.t.Fatalf("first query %v, want QU", first)
	}
	t0 := time.Now()
	for _, r := range rs {
		w.peer.unicast(browseAnswer(r), first.src)
	}
	waitEvent(w.t, b, time.Second, PeerUp, rs[0].svc.Name)
	return t0
}

// browseAnswer is a responder's answer to a PTR question: the PTR record,
// then SRV, TXT and addresses as additional records.
func browseAnswer(r rec) *dns.Msg {
	ptr, others := r.rrs()
	return answer([]dns.RR{ptr}, others...)
}

// answer is a response with answers and additional records.
func answer(an []dns.RR, extra ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Response, m.Authoritative, m.Compress = true, true, true
	m.Answer, m.Extra = an, extra
	return m
}

// isQuery matches a query from the browser with a question of type qtype.
func isQuery(qtype uint16) func(wireMsg) bool {
	return func(m wireMsg) bool {
		return !m.msg.Response && len(m.msg.Question) > 0 && m.msg.Question[0].Qtype == qtype
	}
}

// qu reports whether a query's first question has the unicast-response bit.
func qu(m wireMsg) bool { return len(m.msg.Question) > 0 && m.msg.Question[0].Qclass&unicastBit != 0 }

// srvAndAddrs are the records that answer an SRV question: SRV, then the A
// (and AAAA) records as additional records.
func srvAndAddrs(r rec) (srv dns.RR, addrs []dns.RR) {
	_, others := r.rrs()
	for _, rr := range others {
		switch rr.Header().Rrtype {
		case dns.TypeSRV:
			srv = rr
		case dns.TypeA, dns.TypeAAAA:
			addrs = append(addrs, rr)
		}
	}
	return srv, addrs
}

// waitEvent waits for an event of type typ about the peer named name.
func waitEvent(t *testing.T, b *Browser, timeout time.Duration, typ EventType, name string) Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				t.Fatalf("events closed before %v of %s", typ, name)
			}
			if ev.Type == typ && ev.Peer.Name == name {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event of %s within %v", typ, name, timeout)
		}
	}
}
