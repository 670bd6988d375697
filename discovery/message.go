package discovery

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

const (
	classMask      = 0x7fff // the class without the cache-flush or unicast-response bit (RFC 6762 §10.2, §5.4)
	cacheFlushBit  = 0x8000
	unicastBit     = 0x8000 // in a question's class: a QU question
	maxPerResponse = 64     // instances, and addresses, kept from one response
	maxSubtypes    = 8      // subtype PTRs kept per instance and response
	maxQuestions   = 64     // questions kept from one query
	maxKnown       = 512    // known answers kept from one query
)

var (
	errNotResponse = errors.New("not an mDNS response")
	errNotQuery    = errors.New("not an mDNS query")
)

// response is what one mDNS response says about ferry instances and hosts.
type response struct {
	instances []instanceRecords
	addrs     []hostAddr
}

// instanceRecords are one instance's records in a response.
type instanceRecords struct {
	label string // instance label, unescaped
	fqdn  string // its full name as decoded (presentation format), to ask for it

	hasPTR bool // a PTR record of _ferry._udp.local.
	ptrTTL uint32
	subs   []subtypePTR // PTR records of its subtypes

	hasSRV bool
	srvTTL uint32
	port   int
	target string // SRV target, lower case, presentation format; "" in a goodbye

	hasTXT bool
	txtTTL uint32
	txt    []string // empty in a goodbye
}

// subtypePTR is a PTR record "<label>._sub._ferry._udp.local." → instance.
type subtypePTR struct {
	label string // lower case
	ttl   uint32
}

// alive reports a PTR, SRV or TXT record with a TTL above zero.
func (ir *instanceRecords) alive() bool {
	return ir.hasPTR && ir.ptrTTL > 0 || ir.hasSRV && ir.srvTTL > 0 || ir.hasTXT && ir.txtTTL > 0
}

// goodbye reports a PTR or SRV record with TTL zero (RFC 6762 §10.1).
func (ir *instanceRecords) goodbye() bool {
	return ir.hasPTR && ir.ptrTTL == 0 || ir.hasSRV && ir.srvTTL == 0
}

// hostAddr is an A or AAAA record.
type hostAddr struct {
	host  string // owner name, lower case, presentation format
	addr  netip.Addr
	ttl   uint32
	flush bool // the cache-flush bit
}

// decode unpacks a DNS message. One record it cannot decode (python-zeroconf
// 0.47 writes NSEC records with an empty type bitmap) would cost the whole
// message: it keeps every record that decodes.
func decode(pkt []byte) (*dns.Msg, error) {
	var msg dns.Msg
	err := msg.Unpack(pkt)
	if err == nil {
		return &msg, nil
	}
	m, lerr := unpackLenient(pkt)
	if lerr != nil {
		return nil, err
	}
	return m, nil
}

// parseResponse decodes an mDNS packet and keeps the records about
// _ferry._udp instances and every address record; the caller decides which
// hosts matter. It accepts only responses (QR set, opcode 0).
func parseResponse(pkt []byte) (response, error) {
	msg, err := decode(pkt)
	if err != nil {
		return response{}, err
	}
	return responseOf(msg)
}

func responseOf(msg *dns.Msg) (response, error) {
	if !msg.Response || msg.Opcode != dns.OpcodeQuery {
		return response{}, errNotResponse
	}
	var r response
	byLabel := make(map[string]int) // lower-case label → index in r.instances
	get := func(fqdn string) *instanceRecords {
		label, ok := splitInstance(fqdn)
		if !ok {
			return nil
		}
		key := strings.ToLower(label)
		if i, ok := byLabel[key]; ok {
			return &r.instances[i]
		}
		if len(r.instances) >= maxPerResponse {
			return nil
		}
		byLabel[key] = len(r.instances)
		r.instances = append(r.instances, instanceRecords{label: label, fqdn: fqdn})
		return &r.instances[len(r.instances)-1]
	}
	for _, sec := range [][]dns.RR{msg.Answer, msg.Ns, msg.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Class&classMask != dns.ClassINET {
				continue
			}
			switch rr := rr.(type) {
			case *dns.PTR:
				owner, ok := ptrOwner(h.Name)
				if !ok {
					continue
				}
				ir := get(rr.Ptr)
				switch {
				case ir == nil:
				case owner == "":
					ir.hasPTR, ir.ptrTTL = true, h.Ttl
				case len(ir.subs) < maxSubtypes:
					ir.subs = append(ir.subs, subtypePTR{label: owner, ttl: h.Ttl})
				}
			case *dns.SRV:
				if ir := get(h.Name); ir != nil {
					ir.hasSRV, ir.srvTTL = true, h.Ttl
					if h.Ttl > 0 {
						ir.port, ir.target = int(rr.Port), strings.ToLower(rr.Target)
					}
				}
			case *dns.TXT:
				if ir := get(h.Name); ir != nil {
					ir.hasTXT, ir.txtTTL = true, h.Ttl
					if h.Ttl > 0 {
						ir.txt = rr.Txt
					}
				}
			case *dns.A:
				r.addAddr(h, rr.A)
			case *dns.AAAA:
				r.addAddr(h, rr.AAAA)
			}
		}
	}
	return r, nil
}

// ptrOwner tells the owner names of ferry's PTR records: "" for
// _ferry._udp.local., the subtype label (lower case) for
// "<label>._sub._ferry._udp.local.", and false for anything else.
func ptrOwner(name string) (string, bool) {
	if strings.EqualFold(name, serviceName) {
		return "", true
	}
	const suffix = "._sub." + serviceName
	if len(name) <= len(suffix) || !strings.EqualFold(name[len(name)-len(suffix):], suffix) {
		return "", false
	}
	label := strings.ToLower(name[:len(name)-len(suffix)])
	if len(label) > maxLabel || strings.ContainsAny(label, `.\`) {
		return "", false // one plain label: ferry's subtypes have no escapes
	}
	return label, true
}

func (r *response) addAddr(h *dns.RR_Header, ip []byte) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || len(r.addrs) >= maxPerResponse {
		return
	}
	r.addrs = append(r.addrs, hostAddr{
		host:  strings.ToLower(h.Name),
		addr:  a.Unmap(),
		ttl:   h.Ttl,
		flush: h.Class&cacheFlushBit != 0,
	})
}

// query is what another host's mDNS query asks about ferry, and which of
// ferry's records it lists as known answers (RFC 6762 §7.1).
type query struct {
	questions []question // about _ferry._udp.local. and its instances only
	knownPTR  []knownPTR
	knownSRV  []knownSRV
	tc        bool // more known answers follow in other packets (§7.2)
	partial   bool // it listed more known answers than were kept
}

// question is a question of a query: the name as decoded, lower case.
type question struct {
	name  string
	qtype uint16
	qu    bool // the unicast-response bit (§5.4)
}

// knownPTR is a PTR record listed as a known answer.
type knownPTR struct {
	owner string // "" for _ferry._udp.local., else the subtype label, lower case
	label string // the instance label, lower case
	ttl   uint32
}

// knownSRV is an SRV record listed as a known answer.
type knownSRV struct {
	label string // the instance label, lower case
	ttl   uint32
}

// parseQuery decodes an mDNS packet and keeps the questions about
// _ferry._udp.local., its subtypes and its instances, and the known
// answers among ferry's PTR and SRV records. It accepts only queries (QR
// clear, opcode 0).
func parseQuery(pkt []byte) (query, error) {
	msg, err := decode(pkt)
	if err != nil {
		return query{}, err
	}
	return queryOf(msg)
}

func queryOf(msg *dns.Msg) (query, error) {
	if msg.Response || msg.Opcode != dns.OpcodeQuery {
		return query{}, errNotQuery
	}
	q := query{tc: msg.Truncated}
	for _, qn := range msg.Question {
		if len(q.questions) >= maxQuestions {
			break
		}
		if qn.Qclass&classMask != dns.ClassINET && qn.Qclass&classMask != dns.ClassANY {
			continue
		}
		if _, ok := ptrOwner(qn.Name); !ok {
			if _, ok := splitInstance(qn.Name); !ok {
				continue
			}
		}
		q.questions = append(q.questions, question{name: strings.ToLower(qn.Name), qtype: qn.Qtype, qu: qn.Qclass&unicastBit != 0})
	}
	for _, rr := range msg.Answer {
		h := rr.Header()
		if h.Class&classMask != dns.ClassINET {
			continue
		}
		if len(q.knownPTR)+len(q.knownSRV) >= maxKnown {
			q.partial = true
			break
		}
		switch rr := rr.(type) {
		case *dns.PTR:
			owner, ok := ptrOwner(h.Name)
			label, ok2 := splitInstance(rr.Ptr)
			if ok && ok2 {
				q.knownPTR = append(q.knownPTR, knownPTR{owner: owner, label: strings.ToLower(label), ttl: h.Ttl})
			}
		case *dns.SRV:
			if label, ok := splitInstance(h.Name); ok {
				q.knownSRV = append(q.knownSRV, knownSRV{label: strings.ToLower(label), ttl: h.Ttl})
			}
		}
	}
	return q, nil
}

// unpackLenient decodes a DNS message record by record and leaves out the
// records that do not decode, where each record's length still tells where
// the next one starts. It fails on a header, question or record framing it
// cannot follow.
func unpackLenient(pkt []byte) (*dns.Msg, error) {
	if len(pkt) < 12 {
		return nil, errors.New("short DNS message")
	}
	var msg dns.Msg
	// The header alone: a message with no records decodes.
	if err := msg.Unpack(append(pkt[:4:4], make([]byte, 8)...)); err != nil {
		return nil, err
	}
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(pkt[4+2*i])<<8 | int(pkt[5+2*i])
	}
	off := 12
	for range counts[0] {
		name, next, err := dns.UnpackDomainName(pkt, off)
		if err != nil || next+4 > len(pkt) {
			return nil, errors.New("bad question")
		}
		msg.Question = append(msg.Question, dns.Question{Name: name,
			Qtype: uint16(pkt[next])<<8 | uint16(pkt[next+1]), Qclass: uint16(pkt[next+2])<<8 | uint16(pkt[next+3])})
		off = next + 4
	}
	secs := []*[]dns.RR{&msg.Answer, &msg.Ns, &msg.Extra}
	for i, sec := range secs {
		for range counts[i+1] {
			_, next, err := dns.UnpackDomainName(pkt, off)
			if err != nil || next+10 > len(pkt) {
				return nil, errors.New("bad record")
			}
			end := next + 10 + (int(pkt[next+8])<<8 | int(pkt[next+9]))
			if end > len(pkt) {
				return nil, errors.New("record past the end of the message")
			}
			if rr, _, err := dns.UnpackRR(pkt[:end], off); err == nil && rr != nil {
				*sec = append(*sec, rr)
			}
			off = end
		}
	}
	return &msg, nil
}
