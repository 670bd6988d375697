package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// ErrNoInterface is returned when no interface can carry mDNS: none is up,
// multicast-capable, not loopback and with an IP address.
var ErrNoInterface = errors.New("no usable network interface (need one that is up, multicast-capable, not loopback, with an IP address)")

// InterfaceError reports a named interface that cannot carry mDNS.
type InterfaceError struct {
	Name    string // the interface name as given
	Problem string // what is wrong, e.g. "has multicast off"
}

func (e *InterfaceError) Error() string { return "interface " + e.Name + " " + e.Problem }

// link is an interface mDNS can use, with its unicast addresses.
type link struct {
	iface net.Interface
	v4    []netip.Addr // IPv4 addresses
	v6    []netip.Addr // IPv6 addresses, link-local included
}

func (l link) equal(m link) bool {
	return l.iface.Index == m.iface.Index && l.iface.Name == m.iface.Name && l.iface.Flags == m.iface.Flags &&
		slices.Equal(l.v4, m.v4) && slices.Equal(l.v6, m.v6)
}

func linksEqual(a, b []link) bool { return slices.EqualFunc(a, b, link.equal) }

// usableLinks returns the interfaces to use: the named ones, each of which
// must be usable, or else every usable one. With names it still returns the
// usable ones beside the error, for callers that carry on after a change.
func usableLinks(names []string) ([]link, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	if len(names) == 0 {
		var out []link
		for _, ifi := range all {
			if l, problem := inspect(ifi); problem == "" {
				out = append(out, l)
			}
		}
		if len(out) == 0 {
			return nil, ErrNoInterface
		}
		return out, nil
	}
	var (
		out  []link
		errs []error
		seen = make(map[string]bool)
	)
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		i := slices.IndexFunc(all, func(ifi net.Interface) bool { return ifi.Name == name })
		if i < 0 {
			errs = append(errs, &InterfaceError{Name: name, Problem: "does not exist"})
			continue
		}
		l, problem := inspect(all[i])
		if problem != "" {
			errs = append(errs, &InterfaceError{Name: name, Problem: problem})
			continue
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b link) int { return a.iface.Index - b.iface.Index })
	return out, errors.Join(errs...)
}

// inspect returns the interface's link, or what makes it unusable.
func inspect(ifi net.Interface) (link, string) {
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return link{}, "is down"
	case ifi.Flags&net.FlagLoopback != 0:
		return link{}, "is a loopback interface"
	case ifi.Flags&net.FlagMulticast == 0:
		return link{}, "has multicast off"
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return link{}, "has unreadable addresses: " + err.Error()
	}
	l := link{iface: ifi}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		switch {
		case ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast():
		case ip.Is4():
			l.v4 = append(l.v4, ip)
		default:
			l.v6 = append(l.v6, ip)
		}
	}
	if len(l.v4) == 0 && len(l.v6) == 0 {
		return link{}, "has no IP address"
	}
	slices.SortFunc(l.v4, netip.Addr.Compare)
	slices.SortFunc(l.v6, netip.Addr.Compare)
	return l, ""
}

// advertised returns the addresses an advertiser on l answers with, as the
// mDNS library chooses them: every IPv4 address, and the global IPv6 ones or,
// without any, the link-local ones.
func (l link) advertised() []netip.Addr {
	out := slices.Clone(l.v4)
	var ll []netip.Addr
	for _, a := range l.v6 {
		if a.IsLinkLocalUnicast() {
			ll = append(ll, a)
		} else {
			out = append(out, a)
		}
	}
	if len(out) == len(l.v4) {
		out = append(out, ll...)
	}
	return out
}

func names(links []link) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.iface.Name
	}
	return out
}
