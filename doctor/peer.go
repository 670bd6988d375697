package doctor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/discovery"
)

// Timings of the two-sided test.
const (
	peerMDNSWait  = 3 * time.Second         // for the peer's advertisement
	probeWait     = 2500 * time.Millisecond // for an echo
	probeInterval = 250 * time.Millisecond
	gatewayWait   = time.Second // for the gateway's ARP answer
)

// unicast is the outcome of the probes.
type unicast int

const (
	unicastSilent  unicast = iota // no answer at all
	unicastOK                     // an echo came back
	unicastRefused                // ICMP port unreachable: nothing listens
)

// peerTarget is the --peer argument: an address (with or without port),
// or a name or device ID prefix to look up by mDNS.
type peerTarget struct {
	addr netip.Addr
	port int
	name string
}

func parsePeer(s string, port int) peerTarget {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return peerTarget{addr: ap.Addr().Unmap(), port: int(ap.Port())}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return peerTarget{addr: a.Unmap(), port: port}
	}
	return peerTarget{name: s, port: port}
}

// matches reports whether an mDNS peer is the target.
func (t peerTarget) matches(p discovery.Peer) bool {
	if t.addr.IsValid() {
		for _, a := range p.Addrs {
			if a.WithZone("") == t.addr.WithZone("") {
				return true
			}
		}
		return false
	}
	return strings.EqualFold(p.Name, t.name) || strings.EqualFold(p.Instance, t.name) ||
		(len(t.name) >= 4 && p.ID.HasPrefix(t.name))
}

// peerChecks runs the two-sided test against a computer that runs `ferry
// doctor --listen`: whether its advertisement arrives by multicast, whether
// a UDP probe to ferry's port comes back, and if not, whether the peer
// answers at the link level (ARP) while the gateway does.
func peerChecks(ctx context.Context, opts Options, ifs []iface) []Check {
	t := parsePeer(opts.Peer, opts.Port)
	var (
		found   discovery.Peer
		seen    bool
		mdnsErr error
	)
	var g errgroup.Group
	g.Go(func() error {
		fctx, cancel := context.WithTimeout(ctx, peerMDNSWait)
		defer cancel()
		p, err := discovery.Find(fctx, discovery.Options{Logger: opts.Logger}, t.matches)
		if err == nil {
			found, seen = p, true
		} else if !errors.Is(err, discovery.ErrNotFound) {
			mdnsErr = err
		}
		return nil
	})
	if !t.addr.IsValid() {
		g.Wait() // a name: its address comes from mDNS
		if !seen {
			why := "not seen by mDNS within 3 s"
			if mdnsErr != nil {
				why = "cannot browse: " + mdnsErr.Error()
			}
			return []Check{failf("peer", "run ferry doctor --listen on it, then give its address: ferry doctor --peer 192.168.1.20 (ip addr on it shows it)",
				"%q %s: multicast does not reach here, or it is not running ferry doctor --listen", t.name, why)}
		}
		for _, a := range found.Addrs {
			if a.Is4() || !t.addr.IsValid() {
				t.addr = a
			}
		}
		if found.Flags["doctor"] == "1" && found.Port > 0 {
			t.port = found.Port
		}
		if !t.addr.IsValid() {
			return []Check{failf("peer", "", "%q advertises no address", t.name)}
		}
	}
	var out []Check
	rc, onLink, dev := routeCheck(t.addr, ifs)
	out = append(out, rc)
	if opts.Root && onLink {
		forgetNeighbour(ctx, t.addr, dev)
	}

	ap := netip.AddrPortFrom(t.addr, uint16(t.port))
	var (
		u        unicast
		probeErr error
		viaQUIC  unicast
	)
	// The first of the two that gets an answer ends the other.
	pctx, answered := context.WithCancel(ctx)
	defer answered()
	g.Go(func() error {
		if u, probeErr = probePeer(pctx, ap); u == unicastOK {
			answered()
		}
		return nil
	})
	g.Go(func() error {
		if viaQUIC = quicProbe(pctx, ap); viaQUIC == unicastOK {
			answered()
		}
		return nil
	})
	g.Wait()
	receiver := ""
	if u != unicastOK && viaQUIC == unicastOK {
		// No doctor --listen there, but a receiver answered the QUIC
		// handshake: unicast works all the same.
		u, probeErr, receiver = unicastOK, nil, " (a ferry receiver answered the QUIC handshake)"
	}
	target := net.JoinHostPort(t.addr.String(), strconv.Itoa(t.port))
	mdns := "its mDNS advertisement arrived"
	if !seen {
		mdns = "its mDNS advertisement did not arrive within 3 s"
	}
	switch {
	case probeErr != nil:
		out = append(out, warnf("peer", "", "cannot probe %s: %v", target, probeErr))
	case u == unicastOK && seen:
		out = append(out, okf("peer", "%s: multicast (mDNS) and unicast UDP both work%s", target, receiver))
	case u == unicastOK:
		out = append(out, failf("peer", fmt.Sprintf("on the Wi-Fi access point or router, allow multicast between clients (mDNS forwarding, \"multicast enhancement\" off, IGMP snooping with a querier); meanwhile send by address: ferry send --to %s FILE", target),
			"%s: multicast is blocked but unicast works: the probe came back%s, %s", target, receiver, mdns))
	case u == unicastRefused || viaQUIC == unicastRefused:
		out = append(out, failf("peer", "run ferry doctor --listen on the other computer (and stop ferry receive there while testing)",
			"%s: nothing listens on UDP %d there (port unreachable); %s", target, t.port, mdns))
	case rc.Status == Fail:
		out = append(out, failf("peer", rc.Fix, "%s: no answer to the UDP probe, which the kernel sent %s", target, strings.TrimPrefix(rc.Detail, "the kernel sends traffic for "+t.addr.String()+" ")))
	default:
		out = append(out, silentPeer(ctx, t, target, onLink, opts.Root))
	}
	return out
}

// silentPeer tells apart why a probe got no answer at all.
func silentPeer(ctx context.Context, t peerTarget, target string, onLink, root bool) Check {
	state := neighbourState(ctx, t.addr)
	gw, gwIf := gateway4()
	gwState := ""
	if gw.IsValid() && gw != t.addr {
		if root {
			forgetNeighbour(ctx, gw, gwIf)
		}
		gwState = pokeNeighbour(ctx, gw)
	}
	fixB := fmt.Sprintf("on the other computer: sudo ferry doctor shows the rule; e.g. sudo ufw allow %d/udp, or sudo firewall-cmd --permanent --add-port=%d/udp --add-service=mdns && sudo firewall-cmd --reload, or sudo nft insert rule inet filter input udp dport { 5353, %d } accept", t.port, t.port, t.port)
	switch {
	case state == neighReachable:
		return failf("peer", fixB,
			"%s: the other computer answers on the link (its neighbour entry is REACHABLE) but no UDP comes back: its firewall drops UDP %d", target, t.port)
	case state == neighIncomplete && gwState == neighReachable:
		return failf("peer", "turn off client isolation (\"AP isolation\", \"wireless isolation\", \"guest network\") on the access point, or join a network without it",
			"%s: client isolation: neither multicast nor unicast reaches the other computer (its neighbour entry stays INCOMPLETE) while the gateway %s on %s answers", target, gw, gwIf)
	case state == neighIncomplete:
		return failf("peer", "check that the other computer is on and on this network (ip addr there); if it is, the access point probably isolates clients",
			"%s: the other computer does not answer on the link at all (neighbour entry INCOMPLETE, no gateway to compare with)", target)
	case !onLink:
		return failf("peer", fixB+"; or the router between the networks drops it",
			"%s: no answer from the other computer, which is not on this computer's network", target)
	}
	if state == neighStale && !root {
		fixB += " (as root, ferry doctor --peer also tells whether the access point isolates clients)"
	}
	return failf("peer", fixB, "%s: no answer to the UDP probe: the other computer's firewall (or the network) drops UDP %d", target, t.port)
}

// pokeNeighbour makes the kernel resolve a (a datagram to the discard
// port) and returns its neighbour state once it answers, or after
// gatewayWait.
func pokeNeighbour(ctx context.Context, a netip.Addr) string {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
	if err != nil {
		return ""
	}
	defer c.Close()
	c.Write([]byte{0})
	deadline := time.Now().Add(gatewayWait)
	tick := time.NewTicker(50 * time.Millisecond) // polling the kernel's table
	defer tick.Stop()
	for {
		if s := neighbourState(ctx, a); s == neighReachable || time.Now().After(deadline) {
			return s
		}
		select {
		case <-ctx.Done():
			return neighbourState(ctx, a)
		case <-tick.C:
		}
	}
}

// routeCheck says which interface the kernel would send to a on, whether
// a is on that interface's network, and fails if it is a VPN.
func routeCheck(a netip.Addr, ifs []iface) (c Check, onLink bool, dev string) {
	c, onLink, dev = routeCheck1(a, ifs)
	return
}

func routeCheck1(a netip.Addr, ifs []iface) (Check, bool, string) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
	if err != nil {
		return failf("route", "ip route get "+a.String(), "no route to %s: %v", a, err), false, ""
	}
	local := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	c.Close()
	for _, i := range ifs {
		for _, p := range i.prefixes {
			if p.Addr().WithZone("") != local.WithZone("") {
				continue
			}
			onLink := i.contains(a)
			switch {
			case i.kind == KindVPN:
				return failf("route", "let the VPN client allow LAN access (or disconnect it while sending); ip route get "+a.String()+" shows the route",
					"the kernel sends traffic for %s through %s, a VPN, not the LAN (a full tunnel or a kill switch)", a, i.Name), onLink, i.Name
			case !onLink:
				return warnf("route", "mDNS does not cross routers: send by address (ferry send --to "+a.String()+")",
					"%s is not on %s's network (%s): traffic goes through a router", a, i.Name, p.Masked()), false, i.Name
			}
			return okf("route", "the kernel reaches %s through %s, on the same network", a, i.Name), true, i.Name
		}
	}
	return okf("route", "the kernel reaches %s from %s", a, local), false, ""
}

// probePeer sends probes to ap every probeInterval until an echo with the
// token comes back, the peer refuses, or probeWait passes.
func probePeer(ctx context.Context, ap netip.AddrPort) (unicast, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return unicastSilent, err
	}
	defer c.Close()
	p := probe{kind: kindProbe}
	rand.Read(p.token[:])
	pkt := p.encode()
	deadline := time.Now().Add(probeWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, 512)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := c.Write(pkt); err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			return unicastRefused, nil
		}
		next := time.Now().Add(probeInterval)
		if next.After(deadline) {
			next = deadline
		}
		c.SetReadDeadline(next)
		for {
			n, err := c.Read(buf)
			if errors.Is(err, syscall.ECONNREFUSED) {
				return unicastRefused, nil
			}
			if err != nil {
				break // timeout: send again
			}
			if e, err := decodeProbe(buf[:n]); err == nil && e.kind == kindEcho && e.token == p.token {
				return unicastOK, nil
			}
		}
	}
	return unicastSilent, nil
}
