package discovery

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

const (
	classMask      = 0x7fff // the class without the cache-flush bit (RFC 6762 §10.2)
	cacheFlushBit  = 0x8000
	maxPerResponse = 64 // instances, and addresses, kept from one response
)

var errNotResponse = errors.New("not an mDNS response")

// response is what one mDNS response says about ferry instances and hosts.
type response struct {
	instances []instanceRecords
	addrs     []hostAddr
}

// instanceRecords are one instance's records in a response.
type instanceRecords struct {
	label   string // instance label, unescaped
	alive   bool   // a PTR, SRV or TXT record with a TTL above zero
	goodbye bool   // a PTR or SRV record with TTL zero
	srv     bool   // port and target are set
	port    int
	target  string // SRV target, lower case, presentation format
	txt     []string
	hasTXT  bool
}

// hostAddr is an A or AAAA record.
type hostAddr struct {
	host  string // owner name, lower case, presentation format
	addr  netip.Addr
	ttl   uint32
	flush bool // the cache-flush bit
}

// parseResponse decodes an mDNS packet and keeps the records about
// _ferry._udp instances and every address record; the caller decides which
// hosts matter. It accepts only responses (QR set, opcode 0).
func parseResponse(pkt []byte) (response, error) {
	var msg dns.Msg
	if err := msg.Unpack(pkt); err != nil {
		// One record it cannot decode (python-zeroconf 0.47 writes NSEC
		// records with an empty type bitmap) would cost the whole answer:
		// keep every record that decodes.
		m, lerr := unpackLenient(pkt)
		if lerr != nil {
			return response{}, err
		}
		msg = *m
	}
	if !msg.Response || msg.Opcode != dns.OpcodeQuery {
		return response{}, errNotResponse
	}
	var r response
	byLabel := make(map[string]int) // lower-case label → index in r.instances
	get := func(label string) *instanceRecords {
		key := strings.ToLower(label)
		if i, ok := byLabel[key]; ok {
			return &r.instances[i]
		}
		if len(r.instances) >= maxPerResponse {
			return nil
		}
		byLabel[key] = len(r.instances)
		r.instances = append(r.instances, instanceRecords{label: label})
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
				if !strings.EqualFold(h.Name, serviceName) {
					continue
				}
				label, ok := splitInstance(rr.Ptr)
				if !ok {
					continue
				}
				if ir := get(label); ir != nil {
					ir.note(h.Ttl, true)
				}
			case *dns.SRV:
				label, ok := splitInstance(h.Name)
				if !ok {
					continue
				}
				if ir := get(label); ir != nil {
					ir.note(h.Ttl, true)
					if h.Ttl > 0 {
						ir.srv, ir.port, ir.target = true, int(rr.Port), strings.ToLower(rr.Target)
					}
				}
			case *dns.TXT:
				label, ok := splitInstance(h.Name)
				if !ok {
					continue
				}
				if ir := get(label); ir != nil {
					ir.note(h.Ttl, false)
					if h.Ttl > 0 {
						ir.txt, ir.hasTXT = rr.Txt, true
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

func (ir *instanceRecords) note(ttl uint32, canSayGoodbye bool) {
	if ttl > 0 {
		ir.alive = true
	} else if canSayGoodbye {
		ir.goodbye = true
	}
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
		_, next, err := dns.UnpackDomainName(pkt, off)
		if err != nil || next+4 > len(pkt) {
			return nil, errors.New("bad question")
		}
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
