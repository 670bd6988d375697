package zeroconf

// What a server answers (RFC 6763 §12, RFC 6762 §6.2), apart from when and
// where: the records of one registered service instance on one interface.
//
// This file is part of ferry's fork; see FORK.md.

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ServerOptions configures RegisterProxyWithOptions.
type ServerOptions struct {
	// SharedTTL is the TTL of the shared records: the PTR records that list
	// the instance under its service type and each subtype, and the one
	// that lists the service type under _services._dns-sd._udp (RFC 6762
	// §10 recommends 75 minutes). Zero means 3200 s, as upstream.
	SharedTTL time.Duration

	// UniqueTTL is the TTL of the unique records: the instance's SRV and
	// TXT records and the host's A and AAAA records (RFC 6762 §10
	// recommends 120 s). Zero means upstream's TTLs: 3200 s for SRV and
	// TXT, 120 s for A and AAAA.
	UniqueTTL time.Duration
}

// Default TTLs, in seconds, when ServerOptions leaves them zero.
const (
	defaultTTL     = 3200
	defaultAddrTTL = 120
)

// ttlSeconds converts a TTL option to whole seconds (at least 1), or def
// for zero.
func ttlSeconds(d time.Duration, def uint32) (uint32, error) {
	switch {
	case d == 0:
		return def, nil
	case d < time.Second || d > (1<<31-1)*time.Second:
		return 0, fmt.Errorf("TTL %v out of range (1 s to 2^31-1 s)", d)
	}
	return uint32(d / time.Second), nil
}

// names are the DNS names of a registered instance, in the presentation
// format miekg/dns unpacks to (non-ASCII bytes as \DDD), so that they
// compare equal, ignoring ASCII case, with names taken from the wire.
type names struct {
	typeEnum string   // _services._dns-sd._udp.<domain>
	service  string   // <service>.<domain>
	subtypes []string // <subtype>._sub.<service>.<domain>
	instance string   // <instance>.<service>.<domain>
	host     string   // the SRV target
}

func newNames(e *ServiceEntry) (names, error) {
	var n names
	var err error
	canon := func(s string) string {
		if err != nil {
			return ""
		}
		var c string
		c, err = canonicalName(s)
		return c
	}
	n.typeEnum = canon(e.ServiceTypeName())
	n.service = canon(e.ServiceName())
	n.instance = canon(e.ServiceInstanceName())
	n.host = canon(e.HostName)
	for _, st := range e.Subtypes {
		n.subtypes = append(n.subtypes, canon(st))
	}
	return n, err
}

// canonicalName packs s and unpacks it again.
func canonicalName(s string) (string, error) {
	buf := make([]byte, 256)
	off, err := dns.PackDomainName(dns.Fqdn(s), buf, 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", s, err)
	}
	c, _, err := dns.UnpackDomainName(buf[:off], 0)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", s, err)
	}
	return c, nil
}

// canonicalText does for TXT strings what canonicalName does for names.
func canonicalText(text []string) ([]string, error) {
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: text}
	buf := make([]byte, dns.Len(rr)+64)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("TXT %q: %w", text, err)
	}
	out, _, err := dns.UnpackRR(buf[:off], 0)
	if err != nil {
		return nil, fmt.Errorf("TXT %q: %w", text, err)
	}
	return out.(*dns.TXT).Txt, nil
}

// serviceData is the part of a registration that SetText and TTL change.
// A Server holds it in an atomic pointer and replaces it whole.
type serviceData struct {
	text      []string
	sharedTTL uint32 // PTR
	infoTTL   uint32 // SRV, TXT
	addrTTL   uint32 // A, AAAA
}

// recordSet is everything a server says on one interface at one moment.
type recordSet struct {
	names
	port   uint16
	data   *serviceData
	v4, v6 []net.IP
}

func (r *recordSet) ptr(name, target string) dns.RR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: r.data.sharedTTL}, Ptr: target}
}

func (r *recordSet) srv() dns.RR {
	return &dns.SRV{Hdr: dns.RR_Header{Name: r.instance, Rrtype: dns.TypeSRV, Class: dns.ClassINET | qClassCacheFlush, Ttl: r.data.infoTTL},
		Port: r.port, Target: r.host}
}

func (r *recordSet) txt() dns.RR {
	return &dns.TXT{Hdr: dns.RR_Header{Name: r.instance, Rrtype: dns.TypeTXT, Class: dns.ClassINET | qClassCacheFlush, Ttl: r.data.infoTTL},
		Txt: r.data.text}
}

// addrs returns the host's A records (qtype A), AAAA records (AAAA), or both.
func (r *recordSet) addrs(qtype uint16) []dns.RR {
	var out []dns.RR
	hdr := dns.RR_Header{Name: r.host, Class: dns.ClassINET | qClassCacheFlush, Ttl: r.data.addrTTL}
	if qtype != dns.TypeAAAA {
		for _, ip := range r.v4 {
			h := hdr
			h.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: h, A: ip})
		}
	}
	if qtype != dns.TypeA {
		for _, ip := range r.v6 {
			h := hdr
			h.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: h, AAAA: ip})
		}
	}
	return out
}

// all is every record, for announcements and goodbyes: the PTR records of
// the service type, the subtypes and the enumeration, SRV, TXT, addresses.
func (r *recordSet) all() []dns.RR {
	out := []dns.RR{r.srv(), r.txt(), r.ptr(r.service, r.instance), r.ptr(r.typeEnum, r.service)}
	for _, st := range r.subtypes {
		out = append(out, r.ptr(st, r.instance))
	}
	return append(out, r.addrs(dns.TypeANY)...)
}

// answer composes the answer to one question (RFC 6763 §12): records for
// the answer section, records for the additional section, and whether the
// answers are unique records (answered at once) rather than shared ones
// (answered after a random delay).
func (r *recordSet) answer(q dns.Question) (answers, extra []dns.RR, unique bool) {
	switch q.Qclass &^ qClassCacheFlush {
	case dns.ClassINET, dns.ClassANY:
	default:
		return nil, nil, false
	}
	name, t := q.Name, q.Qtype
	ptr := t == dns.TypePTR || t == dns.TypeANY
	switch {
	case ptr && strings.EqualFold(name, r.typeEnum):
		return []dns.RR{r.ptr(r.typeEnum, r.service)}, nil, false
	case ptr && strings.EqualFold(name, r.service):
		return []dns.RR{r.ptr(r.service, r.instance)}, r.instanceExtra(), false
	case ptr && r.subtype(name) != "":
		return []dns.RR{r.ptr(r.subtype(name), r.instance)}, r.instanceExtra(), false
	case strings.EqualFold(name, r.instance):
		switch t {
		case dns.TypeSRV:
			return []dns.RR{r.srv()}, r.addrs(dns.TypeANY), true
		case dns.TypeTXT:
			return []dns.RR{r.txt()}, nil, true
		case dns.TypeANY:
			return []dns.RR{r.srv(), r.txt()}, r.addrs(dns.TypeANY), true
		}
	case strings.EqualFold(name, r.host):
		switch t {
		case dns.TypeA:
			return nonEmpty(r.addrs(dns.TypeA), r.addrs(dns.TypeAAAA))
		case dns.TypeAAAA:
			return nonEmpty(r.addrs(dns.TypeAAAA), r.addrs(dns.TypeA))
		case dns.TypeANY:
			return nonEmpty(r.addrs(dns.TypeANY), nil)
		}
	}
	return nil, nil, false
}

func nonEmpty(answers, extra []dns.RR) ([]dns.RR, []dns.RR, bool) {
	if len(answers) == 0 {
		return nil, nil, false
	}
	return answers, extra, true
}

// subtype returns the registered subtype name that name is, ignoring
// case, or "".
func (r *recordSet) subtype(name string) string {
	for _, st := range r.subtypes {
		if strings.EqualFold(name, st) {
			return st
		}
	}
	return ""
}

// instanceExtra is the additional section of a PTR answer: SRV, TXT and
// the addresses (RFC 6763 §12.1).
func (r *recordSet) instanceExtra() []dns.RR {
	return append([]dns.RR{r.srv(), r.txt()}, r.addrs(dns.TypeANY)...)
}
