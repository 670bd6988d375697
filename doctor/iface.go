package doctor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Kind is what an interface is, as far as ferry cares.
type Kind int

const (
	KindLAN      Kind = iota // Ethernet or Wi-Fi: where peers are
	KindVPN                  // tun, WireGuard, PPP, Tailscale, …
	KindBridge               // a container or VM bridge (docker0, virbr0, …)
	KindLoopback             // lo
)

func (k Kind) String() string {
	switch k {
	case KindVPN:
		return "VPN"
	case KindBridge:
		return "container/VM bridge"
	case KindLoopback:
		return "loopback"
	}
	return "LAN"
}

// iface is a network interface with what the checks need to know of it.
type iface struct {
	net.Interface
	kind     Kind
	prefixes []netip.Prefix // unicast addresses with their networks
}

func (i iface) up() bool        { return i.Flags&net.FlagUp != 0 }
func (i iface) multicast() bool { return i.Flags&net.FlagMulticast != 0 }

// v4 is the interface's first IPv4 address, or the zero Addr.
func (i iface) v4() netip.Addr {
	for _, p := range i.prefixes {
		if p.Addr().Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// linkLocalOnly reports whether every address is link-local (169.254/16,
// fe80::/10): the interface got no address from a DHCP server or router.
func (i iface) linkLocalOnly() bool {
	if len(i.prefixes) == 0 {
		return false
	}
	for _, p := range i.prefixes {
		if !p.Addr().IsLinkLocalUnicast() {
			return false
		}
	}
	return true
}

// usable reports whether ferry's mDNS uses the interface (as discovery
// chooses them: up, multicast, not loopback, with an address).
func (i iface) usable() bool {
	return i.up() && i.multicast() && i.kind != KindLoopback && len(i.prefixes) > 0
}

// contains reports whether a is on one of the interface's networks.
func (i iface) contains(a netip.Addr) bool {
	for _, p := range i.prefixes {
		if p.Masked().Contains(a.WithZone("")) {
			return true
		}
	}
	return false
}

func readInterfaces() []iface {
	all, err := net.Interfaces()
	if err != nil {
		return nil
	}
	out := make([]iface, 0, len(all))
	for _, ni := range all {
		ifc := iface{Interface: ni, kind: classify(ni)}
		addrs, _ := ni.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ip = ip.Unmap()
			if ip.IsLoopback() && ni.Flags&net.FlagLoopback == 0 {
				continue
			}
			ifc.prefixes = append(ifc.prefixes, netip.PrefixFrom(ip, ones))
		}
		out = append(out, ifc)
	}
	return out
}

// ARPHRD_* link types of /sys/class/net/NAME/type that carry no Ethernet.
const (
	arphrdPPP  = 512
	arphrdNone = 65534 // tun, WireGuard
)

// classify tells VPNs and virtual bridges from LAN interfaces by the
// kernel's link type and, failing that, by the names their software uses.
func classify(ni net.Interface) Kind {
	if ni.Flags&net.FlagLoopback != 0 {
		return KindLoopback
	}
	sys := "/sys/class/net/" + ni.Name
	if t, err := os.ReadFile(sys + "/type"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(t))); err == nil && (n == arphrdNone || n == arphrdPPP) {
			return KindVPN
		}
	}
	if _, err := os.Stat(sys + "/tun_flags"); err == nil {
		return KindVPN // tun or tap
	}
	for _, p := range []string{"tun", "tap", "wg", "tailscale", "zt", "ppp", "nordlynx", "proton", "utun", "ipsec", "vpn"} {
		if strings.HasPrefix(ni.Name, p) {
			return KindVPN
		}
	}
	for _, p := range []string{"docker", "br-", "virbr", "cni", "lxcbr", "lxdbr", "incusbr", "podman", "vmnet", "vboxnet", "veth"} {
		if strings.HasPrefix(ni.Name, p) {
			return KindBridge
		}
	}
	return KindLAN
}

// interfaceChecks is one line per interface that is up (loopback aside).
func interfaceChecks(ifs []iface) []Check {
	var out []Check
	lan := 0
	for _, i := range ifs {
		if i.kind == KindLoopback || !i.up() {
			continue
		}
		addrs := make([]string, len(i.prefixes))
		for k, p := range i.prefixes {
			addrs[k] = p.String()
		}
		what := fmt.Sprintf("%s (%s): %s", i.Name, i.kind, strings.Join(addrs, ", "))
		if len(addrs) == 0 {
			what = fmt.Sprintf("%s (%s): no IP address", i.Name, i.kind)
		}
		switch {
		case len(i.prefixes) == 0:
			if i.kind == KindLAN {
				out = append(out, warnf("interface", "connect to the network, or check DHCP: ip addr show "+i.Name, "%s; ferry cannot use it", what))
			}
		case !i.multicast():
			out = append(out, warnf("interface", "sudo ip link set "+i.Name+" multicast on", "%s has multicast off: no discovery on it", what))
		case i.kind == KindVPN:
			out = append(out, warnf("interface", "peers on a VPN are not found by mDNS; send to them with ferry send --to ADDRESS",
				"%s: a VPN; mDNS rarely crosses it", what))
		case i.kind == KindBridge:
			out = append(out, okf("interface", "%s: ferry also advertises here, harmless", what))
		case i.linkLocalOnly():
			out = append(out, warnf("interface", "check that the router's DHCP server answers (journalctl -u NetworkManager), or that the other computer also has only 169.254/fe80 addresses",
				"%s has link-local addresses only: no DHCP lease?", what))
			lan++
		default:
			out = append(out, okf("interface", "%s", what))
			lan++
		}
	}
	if lan == 0 {
		out = append(out, failf("interface", "connect to a network (Wi-Fi or Ethernet): ip addr; nmcli device status",
			"no LAN interface that is up, multicast-capable and has an address"))
	}
	return out
}

// A route is a kernel route as /proc/net/route and ipv6_route list it.
type route struct {
	iface   string
	dst     netip.Prefix
	gateway netip.Addr // invalid when on-link
}

// readRoutes reads the main routing table of both families.
func readRoutes() []route {
	var out []route
	if f, err := os.Open("/proc/net/route"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			if r, ok := parseRoute4(sc.Text()); ok {
				out = append(out, r)
			}
		}
	}
	if f, err := os.Open("/proc/net/ipv6_route"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if r, ok := parseRoute6(sc.Text()); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

// parseRoute4 reads a line of /proc/net/route: Iface Destination Gateway
// Flags RefCnt Use Metric Mask …, addresses in host byte order hex.
func parseRoute4(line string) (route, bool) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return route{}, false
	}
	addr := func(s string) (netip.Addr, bool) {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 4 {
			return netip.Addr{}, false
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b))
		return netip.AddrFrom4(a), true
	}
	dst, ok1 := addr(f[1])
	gw, ok2 := addr(f[2])
	mask, ok3 := addr(f[7])
	if !ok1 || !ok2 || !ok3 {
		return route{}, false
	}
	m := mask.As4()
	ones := 0
	for _, b := range m {
		for b&0x80 != 0 {
			ones++
			b <<= 1
		}
	}
	r := route{iface: f[0], dst: netip.PrefixFrom(dst, ones)}
	if !gw.IsUnspecified() {
		r.gateway = gw
	}
	return r, true
}

// parseRoute6 reads a line of /proc/net/ipv6_route: dst dstlen src srclen
// nexthop metric refcnt use flags iface.
func parseRoute6(line string) (route, bool) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return route{}, false
	}
	addr := func(s string) (netip.Addr, bool) {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 16 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16([16]byte(b)), true
	}
	dst, ok1 := addr(f[0])
	bits, err := strconv.ParseUint(f[1], 16, 8)
	gw, ok2 := addr(f[4])
	if !ok1 || !ok2 || err != nil || bits > 128 || f[9] == "lo" {
		return route{}, false
	}
	r := route{iface: f[9], dst: netip.PrefixFrom(dst, int(bits))}
	if !gw.IsUnspecified() {
		r.gateway = gw
	}
	return r, true
}

// defaultRouteChecks names the interface the default route of each family
// takes, and warns when it is a VPN: a full tunnel (or a kill switch)
// often takes the LAN with it.
func defaultRouteChecks(ifs []iface) []Check {
	kinds := make(map[string]Kind, len(ifs))
	for _, i := range ifs {
		kinds[i.Name] = i.kind
	}
	var out []Check
	seen := make(map[string]bool)
	for _, r := range readRoutes() {
		if r.dst.Bits() != 0 || seen[r.iface] {
			continue
		}
		seen[r.iface] = true
		fam := "IPv4"
		if r.dst.Addr().Is6() {
			fam = "IPv6"
		}
		via := ""
		if r.gateway.IsValid() {
			via = " via " + r.gateway.String()
		}
		if kinds[r.iface] == KindVPN {
			out = append(out, warnf("route", "let the VPN client allow LAN access (e.g. \"Allow LAN\" / \"local network sharing\"; WireGuard: leave your LAN's network out of AllowedIPs); see ip route",
				"the %s default route goes through %s, a VPN%s: traffic to other computers may leave through the tunnel", fam, r.iface, via))
			continue
		}
		out = append(out, okf("route", "%s default route through %s%s", fam, r.iface, via))
	}
	if len(out) == 0 {
		out = append(out, okf("route", "no default route (a LAN without a router is fine)"))
	}
	return out
}

// gateway4 is the IPv4 default gateway and its interface, if any.
func gateway4() (netip.Addr, string) {
	for _, r := range readRoutes() {
		if r.dst.Bits() == 0 && r.dst.Addr().Is4() && r.gateway.IsValid() {
			return r.gateway, r.iface
		}
	}
	return netip.Addr{}, ""
}
