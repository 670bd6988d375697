package discovery

import (
	"fmt"

	"github.com/miekg/dns"
)

// The largest DNS message a query packet carries, so that it fits an
// Ethernet frame of 1500 bytes without fragments: less the IPv4 (20) and
// UDP (8) headers, or the IPv6 (40) and UDP headers.
const (
	maxQuery4 = 1472
	maxQuery6 = 1452
)

// packQuery packs questions and known answers into query packets of at
// most limit bytes each. Known answers go after the questions; when they do
// not fit one packet, the rest follow in packets without questions, and
// every packet but the last has the TC bit (RFC 6762 §7.2), which tells a
// responder to wait for the rest before it answers. Without known answers,
// questions that do not fit one packet are spread over several, each a
// query of its own.
func packQuery(qs []question, known []dns.RR, limit int) ([][]byte, error) {
	var (
		out [][]byte
		m   = newQueryMsg()
	)
	emit := func(tc bool) error {
		m.Truncated = tc
		b, err := m.Pack()
		if err != nil {
			return fmt.Errorf("pack mDNS query: %w", err)
		}
		out = append(out, b)
		m = newQueryMsg()
		return nil
	}
	for _, q := range qs {
		class := uint16(dns.ClassINET)
		if q.qu {
			class |= unicastBit
		}
		m.Question = append(m.Question, dns.Question{Name: q.name, Qtype: q.qtype, Qclass: class})
		if m.Len() > limit && len(m.Question) > 1 {
			last := m.Question[len(m.Question)-1]
			m.Question = m.Question[:len(m.Question)-1]
			if len(known) > 0 {
				return nil, fmt.Errorf("pack mDNS query: %d questions do not fit one packet with known answers", len(qs))
			}
			if err := emit(false); err != nil {
				return nil, err
			}
			m.Question = append(m.Question, last)
		}
	}
	for _, rr := range known {
		m.Answer = append(m.Answer, rr)
		if m.Len() > limit && len(m.Answer)+len(m.Question) > 1 {
			m.Answer = m.Answer[:len(m.Answer)-1]
			if err := emit(true); err != nil {
				return nil, err
			}
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Question) > 0 || len(m.Answer) > 0 {
		if err := emit(false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func newQueryMsg() *dns.Msg {
	m := new(dns.Msg)
	m.Id = 0 // RFC 6762 §18.1
	m.RecursionDesired = false
	m.Compress = true
	return m
}

// knownPTRRecord is a PTR record as a query lists it among its known
// answers: with the TTL it has left.
func knownPTRRecord(owner, instance string, ttl uint32) dns.RR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: instance}
}
