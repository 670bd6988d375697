package doctor

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
)

// mdnsWindow is how long the multicast check listens for answers.
const mdnsWindow = 1500 * time.Millisecond

var (
	mdnsGroup4 = netip.MustParseAddr("224.0.0.251")
	mdnsGroup6 = netip.MustParseAddr("ff02::fb")
)

// multicastChecks advertises a throwaway ferry service and, on each usable
// interface, asks by multicast (a one-shot query, RFC 6762 §6.7, whose
// answers come back by unicast) for ferry's service type and for the list
// of every service type. This computer must see its own advertisement, and
// the other devices that answer are counted: none on a network with
// neighbours suggests multicast is filtered. Other mDNS software on 5353 is
// named.
func multicastChecks(ctx context.Context, ifs []iface, log *slog.Logger) []Check {
	var id identity.DeviceID
	rand.Read(id[:])
	svc := discovery.Service{Name: "ferry-doctor", ID: id, Port: 9, Flags: map[string]string{"doctor": "self"}}
	ad, err := discovery.Advertise(ctx, svc, discovery.Options{Logger: log})
	if err != nil {
		return []Check{failf("multicast", "see the interface lines above", "cannot advertise by mDNS: %v", err)}
	}
	defer ad.Close()
	own := ownAddrs(ifs)

	var (
		mu  sync.Mutex
		out []Check
		g   errgroup.Group
	)
	for _, i := range ifs {
		if !i.usable() {
			continue
		}
		g.Go(func() error {
			c := queryLink(ctx, i, id.Short(), own)
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
	if owners := udpOwners(5353); len(owners) > 0 {
		out = append(out, okf("multicast", "other mDNS software on UDP 5353: %s (ferry shares the port with it)", strings.Join(owners, ", ")))
	}
	return out
}

func ownAddrs(ifs []iface) map[netip.Addr]bool {
	own := make(map[netip.Addr]bool)
	for _, i := range ifs {
		for _, p := range i.prefixes {
			own[p.Addr().WithZone("")] = true
		}
	}
	return own
}

// A linkResult is what the queries on one interface brought back.
type linkResult struct {
	self    bool                // our own advertisement answered
	others  map[netip.Addr]bool // other devices that answered
	ferries map[netip.Addr]bool // of them, ferry receivers
}

// classifyResponse reads one datagram that came back to the query socket:
// whether it is an mDNS response, whether it lists the instance whose
// label ends with short (the throwaway advertisement), and whether it
// lists any ferry instance.
func classifyResponse(b []byte, short string) (response, self, ferry bool) {
	var m dns.Msg
	if m.Unpack(b) != nil || !m.Response {
		return false, false, false
	}
	for _, rr := range append(m.Answer, m.Extra...) {
		ptr, ok := rr.(*dns.PTR)
		if !ok {
			continue
		}
		name := strings.ToLower(ptr.Ptr)
		if strings.HasSuffix(name, "._ferry._udp.local.") {
			ferry = true
			if strings.Contains(name, strings.ToLower(short)+"._ferry._udp.local.") {
				self = true
			}
		}
	}
	return true, self, ferry
}

func queryLink(ctx context.Context, i iface, short string, own map[netip.Addr]bool) Check {
	res, err := queryOn(ctx, i, short, own)
	if err != nil {
		return warnf("multicast", "", "%s: cannot query by mDNS: %v", i.Name, err)
	}
	ll := linkAddrs(ctx, i.Name)
	neigh := neighbours(ll)
	others, ferries := devices(res.others, ll), devices(res.ferries, ll)
	switch {
	case !res.self:
		return failf("multicast", "sudo ip link set "+i.Name+" multicast on; check the local firewall lets UDP 5353 in (see below)",
			"%s: this computer did not see its own mDNS advertisement: multicast is off on this interface, or the local firewall drops mDNS (see the firewall lines)", i.Name)
	case others == 0 && neigh > 0:
		return warnf("multicast", "on the Wi-Fi access point or router, enable multicast/mDNS forwarding (turn off \"multicast to unicast\" filtering, IGMP snooping without a querier, or \"client isolation\"); run ferry doctor --listen on another computer and ferry doctor --peer ADDRESS here to be sure",
			"%s: multicast works here, but none of the %d devices known on this network answered mDNS: multicast may be filtered", i.Name, neigh)
	case others == 0:
		return okf("multicast", "%s: this computer sees its own mDNS advertisement; no other device answered (none known on this network)", i.Name)
	}
	return okf("multicast", "%s: mDNS works: this computer sees itself, and %d other device(s) answered (%d ferry)", i.Name, others, ferries)
}

// queryOn sends one-shot queries on the interface at 0, 0.4 and 1 s and
// collects the answers for mdnsWindow.
func queryOn(ctx context.Context, i iface, short string, own map[netip.Addr]bool) (linkResult, error) {
	res := linkResult{others: map[netip.Addr]bool{}, ferries: map[netip.Addr]bool{}}
	var (
		conn *net.UDPConn
		dst  *net.UDPAddr
		err  error
	)
	if a := i.v4(); a.IsValid() {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.AsSlice()})
		if err != nil {
			return res, err
		}
		p := ipv4.NewPacketConn(conn)
		p.SetMulticastInterface(&i.Interface)
		p.SetMulticastLoopback(true)
		p.SetMulticastTTL(255)
		dst = &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: 5353}
	} else {
		conn, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6zero, Zone: i.Name})
		if err != nil {
			return res, err
		}
		p := ipv6.NewPacketConn(conn)
		p.SetMulticastInterface(&i.Interface)
		p.SetMulticastLoopback(true)
		p.SetMulticastHopLimit(255)
		dst = &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: 5353, Zone: i.Name}
	}
	defer conn.Close()
	q := new(dns.Msg)
	q.Id = dns.Id()
	q.Question = []dns.Question{
		{Name: "_ferry._udp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET},
		{Name: "_services._dns-sd._udp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET},
	}
	pkt, err := q.Pack()
	if err != nil {
		return res, err
	}
	deadline := time.Now().Add(mdnsWindow)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var g errgroup.Group
	sendCtx, stop := context.WithCancel(ctx)
	defer func() { stop(); g.Wait() }()
	g.Go(func() error {
		for _, at := range []time.Duration{0, 400 * time.Millisecond, time.Second} {
			select {
			case <-sendCtx.Done():
				return nil
			case <-time.After(at):
			}
			conn.WriteToUDP(pkt, dst)
		}
		return nil
	})
	conn.SetReadDeadline(deadline)
	buf := make([]byte, 9000)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		ok, self, ferry := classifyResponse(buf[:n], short)
		if !ok {
			continue
		}
		src := from.Addr().Unmap().WithZone("")
		if self {
			res.self = true
		}
		if !own[src] {
			res.others[src] = true
			if ferry {
				res.ferries[src] = true
			}
		}
	}
	return res, nil
}

// neighbours counts the devices the interface's neighbour table knows
// (by link-layer address, both IP families): the devices this computer
// talked to lately.
func neighbours(ll map[netip.Addr]string) int {
	seen := make(map[string]bool)
	for _, mac := range ll {
		if mac != "" && mac != "00:00:00:00:00:00" {
			seen[mac] = true
		}
	}
	return len(seen)
}
