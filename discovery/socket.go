package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const mdnsPort = 5353

var (
	mdnsGroup4    = netip.MustParseAddr("224.0.0.251")
	mdnsGroup6    = netip.MustParseAddr("ff02::fb")
	ipv4Broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// sockets are a browser's two mDNS sockets, bound to port 5353 beside any
// other responder (SO_REUSEADDR), joined to the group on each link.
type sockets struct {
	v4 *ipv4.PacketConn
	v6 *ipv6.PacketConn
}

func openSockets(log *slog.Logger) (*sockets, error) {
	var (
		s    sockets
		errs []error
	)
	// A multicast address makes the net package bind the wildcard address
	// with SO_REUSEADDR, so other mDNS sockets on the host keep working.
	if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: mdnsPort}); err != nil {
		errs = append(errs, fmt.Errorf("listen on udp4 port %d: %w", mdnsPort, err))
	} else {
		p := ipv4.NewPacketConn(c)
		if err := p.SetControlMessage(ipv4.FlagInterface, true); err != nil {
			log.Debug("no interface information for IPv4 packets", "err", err)
		}
		_ = p.SetMulticastTTL(255) // RFC 6762 §11
		_ = p.SetMulticastLoopback(true)
		s.v4 = p
	}
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: mdnsPort}); err != nil {
		errs = append(errs, fmt.Errorf("listen on udp6 port %d: %w", mdnsPort, err))
	} else {
		p := ipv6.NewPacketConn(c)
		if err := p.SetControlMessage(ipv6.FlagInterface, true); err != nil {
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

// packet is a response as a reader hands it to the watcher.
type packet struct {
	ifIndex int // 0 if the platform does not say
	at      time.Time
	resp    response
}

// readPackets hands the responses that arrive through from to out until
// ctx is done; family names the socket in errors.
func readPackets(ctx context.Context, out chan<- packet, family string, from readFrom) error {
	buf := make([]byte, 65536)
	for {
		n, ifIndex, src, err := from(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read mDNS over %s: %w", family, err)
		}
		if !deliver(ctx, out, buf[:n], ifIndex, src) {
			return nil
		}
	}
}

// readFrom reads one packet into b, with the index of the interface it
// came in on (0 if the platform does not say).
type readFrom func(b []byte) (n, ifIndex int, src net.Addr, err error)

func (s *sockets) from4(b []byte) (int, int, net.Addr, error) {
	n, cm, src, err := s.v4.ReadFrom(b)
	if cm == nil {
		return n, 0, src, err
	}
	return n, cm.IfIndex, src, err
}

func (s *sockets) from6(b []byte) (int, int, net.Addr, error) {
	n, cm, src, err := s.v6.ReadFrom(b)
	if cm == nil {
		return n, 0, src, err
	}
	return n, cm.IfIndex, src, err
}

// deliver decodes a packet and passes it on if it says anything of interest.
// It reports false when ctx is done.
func deliver(ctx context.Context, out chan<- packet, b []byte, ifIndex int, src net.Addr) bool {
	if ua, ok := src.(*net.UDPAddr); !ok || ua.Port != mdnsPort {
		return true // RFC 6762 §6: responses come from port 5353
	}
	resp, err := parseResponse(b)
	if err != nil || len(resp.instances) == 0 && len(resp.addrs) == 0 {
		return true
	}
	select {
	case out <- packet{ifIndex: ifIndex, at: time.Now(), resp: resp}:
		return true
	case <-ctx.Done():
		return false
	}
}
