package discovery

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const mdnsPort = 5353

// Receive buffers: a browser asks for wantRcvbuf on each socket, so that
// the answers of a few hundred receivers to one query (they come within
// 20–120 ms of each other) wait in the kernel rather than being dropped, and
// warns if it got less than minRcvbuf.
const (
	wantRcvbuf = 4 << 20
	minRcvbuf  = 1 << 20
)

var (
	mdnsGroup4    = netip.MustParseAddr("224.0.0.251")
	mdnsGroup6    = netip.MustParseAddr("ff02::fb")
	ipv4Broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// sockets are a browser's two mDNS sockets, bound to port 5353 beside any
// other responder (SO_REUSEADDR), joined to the group on each link.
type sockets struct {
	v4     *ipv4.PacketConn
	v6     *ipv6.PacketConn
	rcvbuf int // the smaller receive buffer the kernel reports; -1 if unknown
}

// openSockets opens the sockets with receive buffers of rcvbuf bytes if
// the OS grants them, and warns once if it grants less than minRcvbuf.
func openSockets(log *slog.Logger, rcvbuf int) (*sockets, error) {
	var (
		s       sockets
		errs    []error
		granted = -1 // the smaller buffer granted; -1 if unknown
	)
	note := func(c *net.UDPConn) {
		if err := c.SetReadBuffer(rcvbuf); err != nil {
			log.Debug("set the mDNS receive buffer", "err", err)
		}
		if n, err := readBuffer(c); err == nil && (granted < 0 || n < granted) {
			granted = n
		}
	}
	// A multicast address makes the net package bind the wildcard address
	// with SO_REUSEADDR, so other mDNS sockets on the host keep working.
	if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: mdnsPort}); err != nil {
		errs = append(errs, fmt.Errorf("listen on udp4 port %d: %w", mdnsPort, err))
	} else {
		note(c)
		p := ipv4.NewPacketConn(c)
		if err := p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
			log.Debug("no interface information for IPv4 packets", "err", err)
		}
		_ = p.SetMulticastTTL(255) // RFC 6762 §11
		_ = p.SetMulticastLoopback(true)
		s.v4 = p
	}
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: mdnsPort}); err != nil {
		errs = append(errs, fmt.Errorf("listen on udp6 port %d: %w", mdnsPort, err))
	} else {
		note(c)
		p := ipv6.NewPacketConn(c)
		if err := p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true); err != nil {
			log.Debug("no interface information for IPv6 packets", "err", err)
		}
		_ = p.SetMulticastHopLimit(255)
		_ = p.SetMulticastLoopback(true)
		s.v6 = p
	}
	if s.v4 == nil && s.v6 == nil {
		return nil, fmt.Errorf("open mDNS sockets: %w", errors.Join(errs...))
	}
	if len(errs) > 0 {
		log.Debug("mDNS over one IP version only", "err", errors.Join(errs...))
	}
	s.rcvbuf = granted
	if granted >= 0 && granted < minRcvbuf {
		log.Warn(fmt.Sprintf("the OS granted the mDNS socket a receive buffer of only %d KiB; on a LAN with many receivers some answers may be lost. To raise the limit: sudo sysctl -w net.core.rmem_max=%d",
			granted>>10, wantRcvbuf), "asked", rcvbuf, "granted", granted)
	} else {
		log.Debug("mDNS receive buffer", "granted", granted)
	}
	return &s, nil
}

func (s *sockets) close() {
	if s.v4 != nil {
		s.v4.Close()
	}
	if s.v6 != nil {
		s.v6.Close()
	}
}

// send multicasts b on ifi over IPv4, or IPv6 if v6.
func (s *sockets) send(ifi *net.Interface, v6 bool, b []byte) error {
	if v6 {
		if s.v6 == nil {
			return errors.New("no IPv6 socket")
		}
		if err := s.v6.SetMulticastInterface(ifi); err != nil {
			return err
		}
		_, err := s.v6.WriteTo(b, nil, &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: mdnsPort})
		return err
	}
	if s.v4 == nil {
		return errors.New("no IPv4 socket")
	}
	if err := s.v4.SetMulticastInterface(ifi); err != nil {
		return err
	}
	_, err := s.v4.WriteTo(b, nil, &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: mdnsPort})
	return err
}

// packet is a response, or another host's query, as a reader hands it to
// the watcher.
type packet struct {
	ifIndex int // 0 if the platform does not say
	at      time.Time
	src     netip.AddrPort
	unicast bool      // sent to this host's address rather than the group
	resp    *response // a response; or
	query   *query    // a query about ferry
	digest  uint64    // of a query's bytes, to tell this browser's own
}

// readPackets hands the packets that arrive through from to out until
// ctx is done; family names the socket in errors.
func readPackets(ctx context.Context, out chan<- packet, family string, from readFrom) error {
	buf := make([]byte, 65536)
	for {
		n, ifIndex, dst, src, err := from(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read mDNS over %s: %w", family, err)
		}
		if !deliver(ctx, out, buf[:n], ifIndex, dst, src) {
			return nil
		}
	}
}

// readFrom reads one packet into b, with the index of the interface it
// came in on (0 if the platform does not say) and its destination (invalid
// if the platform does not say).
type readFrom func(b []byte) (n, ifIndex int, dst netip.Addr, src net.Addr, err error)

func (s *sockets) from4(b []byte) (int, int, netip.Addr, net.Addr, error) {
	n, cm, src, err := s.v4.ReadFrom(b)
	if cm == nil {
		return n, 0, netip.Addr{}, src, err
	}
	dst, _ := netip.AddrFromSlice(cm.Dst)
	return n, cm.IfIndex, dst.Unmap(), src, err
}

func (s *sockets) from6(b []byte) (int, int, netip.Addr, net.Addr, error) {
	n, cm, src, err := s.v6.ReadFrom(b)
	if cm == nil {
		return n, 0, netip.Addr{}, src, err
	}
	dst, _ := netip.AddrFromSlice(cm.Dst)
	return n, cm.IfIndex, dst, src, err
}

// deliver decodes a packet and passes it on if it says anything of
// interest. It reports false when ctx is done.
func deliver(ctx context.Context, out chan<- packet, b []byte, ifIndex int, dst netip.Addr, src net.Addr) bool {
	ua, ok := src.(*net.UDPAddr)
	if !ok || ua.Port != mdnsPort {
		return true // RFC 6762 §6, §7.3: responses, and queries that matter, come from port 5353
	}
	msg, err := decode(b)
	if err != nil {
		return true
	}
	p := packet{ifIndex: ifIndex, at: time.Now(), src: ua.AddrPort(), unicast: dst.IsValid() && !dst.IsMulticast()}
	if msg.Response {
		r, err := responseOf(msg)
		if err != nil || len(r.instances) == 0 && len(r.addrs) == 0 {
			return true
		}
		p.resp = &r
	} else {
		q, err := queryOf(msg)
		// A packet without questions may carry more known answers of a
		// truncated query (§7.2).
		if err != nil || len(q.questions) == 0 && len(q.knownPTR) == 0 || p.unicast {
			return true
		}
		p.query, p.digest = &q, digest(b)
	}
	select {
	case out <- p:
		return true
	case <-ctx.Done():
		return false
	}
}

// digest identifies a packet this browser sent when it comes back to it.
func digest(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}
