package discovery

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// rec describes one advertiser's records, to build packets like the
// advertiser's library sends them.
type rec struct {
	svc    Service
	ttl    uint32
	ptrTTL uint32 // of the PTR record, if not ttl
	addrs  []string
	flush  bool // cache-flush bit on the address records, as in announcements
}

func (r rec) rrs() (ptr dns.RR, others []dns.RR) {
	inst := escapeLabel(r.svc.Instance()) + "." + serviceName
	host := r.svc.hostLabel() + "." + domain
	hdr := func(name string, t uint16, ttl uint32, flush bool) dns.RR_Header {
		h := dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
		if flush {
			h.Class |= cacheFlushBit
		}
		return h
	}
	ptr = &dns.PTR{Hdr: hdr(serviceName, dns.TypePTR, cmp.Or(r.ptrTTL, r.ttl), false), Ptr: inst}
	txt := &dns.TXT{Hdr: hdr(inst, dns.TypeTXT, r.ttl, false)}
	for _, s := range r.svc.txt() {
		txt.Txt = append(txt.Txt, escapeTXT(s))
	}
	others = []dns.RR{
		&dns.SRV{Hdr: hdr(inst, dns.TypeSRV, r.ttl, false), Port: uint16(r.svc.Port), Target: host},
		txt,
	}
	addrTTL := uint32(120)
	if r.ttl == 0 {
		addrTTL = 0
	}
	for _, s := range r.addrs {
		a := netip.MustParseAddr(s)
		if a.Is4() {
			others = append(others, &dns.A{Hdr: hdr(host, dns.TypeA, addrTTL, r.flush), A: net.IP(a.AsSlice())})
		} else {
			others = append(others, &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA, addrTTL, r.flush), AAAA: net.IP(a.AsSlice())})
		}
	}
	return ptr, others
}

// pkt packs a response: PTR in the answer section, the rest additional, as
// a browse answer; or everything in the answer section (announce).
func pkt(t testing.TB, announce bool, rs ...rec) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	for _, r := range rs {
		ptr, others := r.rrs()
		m.Answer = append(m.Answer, ptr)
		if announce {
			m.Answer = append(m.Answer, others...)
		} else {
			m.Extra = append(m.Extra, others...)
		}
	}
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseResponse(t *testing.T) {
	a := rec{svc: Service{Name: "alpha", ID: testID("a"), Port: 4001}, ttl: 3200, addrs: []string{"10.231.0.1", "fd31::1", "fe80::1"}}
	r, err := parseResponse(pkt(t, false, a))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.instances) != 1 {
		t.Fatalf("instances = %+v", r.instances)
	}
	ir := r.instances[0]
	if ir.label != a.svc.Instance() || !ir.alive() || ir.goodbye() || !ir.hasSRV || ir.srvTTL != 3200 || ir.port != 4001 ||
		ir.target != "ferry-"+strings.ToLower(a.svc.ID.Short())+".local." || !ir.hasTXT || len(ir.txt) != 3 ||
		!ir.hasPTR || ir.ptrTTL != 3200 || ir.fqdn != escapeLabel(a.svc.Instance())+"."+serviceName && ir.fqdn != `alpha\ `+a.svc.ID.Short()+"."+serviceName {
		t.Errorf("instance = %+v", ir)
	}
	if len(r.addrs) != 3 || r.addrs[0].addr != netip.MustParseAddr("10.231.0.1") || r.addrs[0].host != ir.target {
		t.Errorf("addrs = %+v", r.addrs)
	}

	bye := a
	bye.ttl = 0
	r, _ = parseResponse(pkt(t, true, bye))
	if len(r.instances) != 1 || r.instances[0].alive() || !r.instances[0].goodbye() {
		t.Errorf("goodbye parsed as %+v", r.instances)
	}

	// A query is not a response; other services are ignored.
	q := new(dns.Msg)
	q.SetQuestion(serviceName, dns.TypePTR)
	qb, _ := q.Pack()
	if _, err := parseResponse(qb); err == nil {
		t.Error("query accepted as a response")
	}
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: "_http._tcp.local.", Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 9}, Ptr: "x._http._tcp.local."}}
	mb, _ := m.Pack()
	if r, err := parseResponse(mb); err != nil || len(r.instances) != 0 {
		t.Errorf("foreign service: %+v, %v", r, err)
	}
}

// withBadNSEC appends to a packed response an NSEC record with an empty
// type bitmap block, as python-zeroconf 0.47 sends, in the additional
// section, before a good A record.
func withBadNSEC(t testing.TB, b []byte) []byte {
	t.Helper()
	good, err := dns.NewRR("ferry-late.local. 120 IN A 10.231.0.9")
	if err != nil {
		t.Fatal(err)
	}
	tail := make([]byte, 64)
	n, err := dns.PackRR(good, tail, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// owner "." (root), type NSEC (47), class IN, TTL 120, rdlength 3:
	// next name ".", then window 0 with a length of 0.
	bad := []byte{0, 0, 47, 0, 1, 0, 0, 0, 120, 0, 3, 0, 0, 0}
	out := append(append(append([]byte{}, b...), bad...), tail[:n]...)
	ar := int(out[10])<<8 | int(out[11]) + 2
	out[10], out[11] = byte(ar>>8), byte(ar)
	return out
}

// A record that does not decode costs only itself, not the response.
func TestParseResponseSkipsBadRecord(t *testing.T) {
	a := rec{svc: Service{Name: "alpha", ID: testID("a"), Port: 4001}, ttl: 3200, addrs: []string{"10.231.0.1"}}
	b := withBadNSEC(t, pkt(t, false, a))
	var m dns.Msg
	if err := m.Unpack(b); err == nil {
		t.Fatal("the packet with the bad NSEC decodes as a whole: the test needs a record miekg/dns refuses")
	}
	r, err := parseResponse(b)
	if err != nil {
		t.Fatalf("parseResponse: %v", err)
	}
	if len(r.instances) != 1 || !r.instances[0].hasSRV || r.instances[0].port != 4001 || !r.instances[0].hasTXT {
		t.Errorf("instances = %+v", r.instances)
	}
	if len(r.addrs) != 2 || r.addrs[1].addr != netip.MustParseAddr("10.231.0.9") {
		t.Errorf("addrs = %+v, want 10.231.0.1 and the A record after the bad one", r.addrs)
	}
	// A record whose length runs past the end still fails the packet.
	if _, err := parseResponse(b[:len(b)-3]); err == nil {
		t.Error("a truncated record was accepted")
	}
}

// FuzzParseResponse feeds arbitrary packets to the decoder, and what it
// returns to the TXT parser: nothing may panic, and what reaches a Peer must
// be printable.
func FuzzParseResponse(f *testing.F) {
	a := rec{svc: Service{Name: "alpha", ID: testID("a"), Port: 4001, Flags: map[string]string{"pair": "1"}},
		ttl: 3200, addrs: []string{"10.231.0.1", "fd31::1", "fe80::1"}}
	f.Add(pkt(f, false, a))
	bye := a
	bye.ttl = 0
	f.Add(pkt(f, true, bye))
	f.Add(withBadNSEC(f, pkt(f, false, a)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResponse(b)
		if err != nil {
			return
		}
		if len(r.instances) > maxPerResponse || len(r.addrs) > maxPerResponse {
			t.Fatalf("%d instances, %d addrs", len(r.instances), len(r.addrs))
		}
		for _, ir := range r.instances {
			if ir.label == "" || len(ir.label) > maxLabel {
				t.Fatalf("label %q", ir.label)
			}
			checkTXTInfo(t, parseTXT(ir.txt))
		}
	})
}

// FuzzParseTXT feeds TXT strings (one a line, in miekg/dns's escaped form)
// to parseTXT.
func FuzzParseTXT(f *testing.F) {
	f.Add("v=1\nid=" + testID("a").String() + "\nname=alpha\npair=1")
	f.Add(`name=\027[2J\226\128\174` + "\nID=x\nv=99999999999\n=\npair")
	f.Fuzz(func(t *testing.T, s string) {
		checkTXTInfo(t, parseTXT(strings.Split(s, "\n")))
	})
}

func checkTXTInfo(t *testing.T, info txtInfo) {
	t.Helper()
	if len(info.flags) > maxFlags {
		t.Fatalf("%d flags", len(info.flags))
	}
	ok := func(s string) bool { return utf8.ValidString(s) && strings.IndexFunc(s, unprintable) < 0 }
	if !ok(info.name) {
		t.Fatalf("name %q not printable", info.name)
	}
	for k, v := range info.flags {
		if !ok(k) || !ok(v) || k == keyID || k == keyName || k == keyVersion {
			t.Fatalf("flag %q=%q", k, v)
		}
	}
	if info.idOK && info.id.IsZero() {
		t.Fatal("zero id accepted")
	}
}

// TestFuzzSeedsPresent keeps the checked-in corpus honest: each fuzz target
// has seeds in testdata/fuzz.
func TestFuzzSeedsPresent(t *testing.T) {
	for _, name := range []string{"FuzzParseResponse", "FuzzParseTXT", "FuzzParseQuery"} {
		ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
		if err != nil || len(ents) == 0 {
			t.Errorf("no seeds for %s: %v", name, err)
		}
	}
}

// TestParseQuery: the questions about ferry and the known answers among
// ferry's PTR and SRV records, with the QU and TC bits.
func TestParseQuery(t *testing.T) {
	a := rec{svc: Service{Name: "alpha", ID: testID("a"), Port: 4001}, ttl: 3200, addrs: []string{"10.231.0.1"}}
	ptr, others := a.rrs()
	srv := others[0]
	m := new(dns.Msg)
	m.Question = []dns.Question{
		{Name: serviceName, Qtype: dns.TypePTR, Qclass: dns.ClassINET | unicastBit},
		{Name: "_pair._sub." + serviceName, Qtype: dns.TypePTR, Qclass: dns.ClassINET},
		{Name: srv.Header().Name, Qtype: dns.TypeSRV, Qclass: dns.ClassINET},
		{Name: "_http._tcp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET},
	}
	sub := dns.Copy(ptr).(*dns.PTR)
	sub.Hdr.Name = "_pair._sub." + serviceName
	m.Answer = []dns.RR{ptr, sub, srv}
	m.Truncated = true
	q, _ := mustParseQuery(t, m)
	label := strings.ToLower(a.svc.Instance())
	if len(q.questions) != 3 || !q.questions[0].qu || q.questions[1].qu || q.questions[2].qtype != dns.TypeSRV || !q.tc ||
		len(q.knownPTR) != 2 || q.knownPTR[0] != (knownPTR{"", label, 3200}) || q.knownPTR[1] != (knownPTR{"_pair", label, 3200}) ||
		len(q.knownSRV) != 1 || q.knownSRV[0] != (knownSRV{label, 3200}) {
		t.Errorf("query = %+v", q)
	}
	if _, err := parseQuery(pkt(t, false, a)); err == nil {
		t.Error("a response accepted as a query")
	}
}

// mustParseQuery packs m and parses it as a query.
func mustParseQuery(t *testing.T, m *dns.Msg) (query, []byte) {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	q, err := parseQuery(b)
	if err != nil {
		t.Fatal(err)
	}
	return q, b
}

// TestPackQuery: questions without known answers spread over packets that
// each stand alone; known answers that do not fit follow the question in
// packets with the TC bit on all but the last; nothing exceeds the limit.
func TestPackQuery(t *testing.T) {
	var qs []question
	for i := range 100 {
		qs = append(qs, question{name: fmt.Sprintf("desk-%03d\\ ABCD-EFGH.%s", i, serviceName), qtype: dns.TypeSRV})
	}
	pkts, err := packQuery(qs, nil, maxQuery4)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, b := range pkts {
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if len(b) > maxQuery4 || m.Truncated || len(m.Answer) > 0 || m.Response || m.Id != 0 || m.RecursionDesired {
			t.Errorf("packet %d: %d bytes, %v", i, len(b), m.MsgHdr)
		}
		n += len(m.Question)
	}
	if n != 100 || len(pkts) < 2 {
		t.Errorf("%d questions in %d packets", n, len(pkts))
	}

	var known []dns.RR
	for i := range 100 {
		known = append(known, knownPTRRecord(serviceName, fmt.Sprintf("desk-%03d\\ ABCD-EFGH.%s", i, serviceName), 4000))
	}
	pkts, err = packQuery([]question{{name: serviceName, qtype: dns.TypePTR}}, known, maxQuery6)
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for i, b := range pkts {
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if len(b) > maxQuery6 || m.Truncated != (i < len(pkts)-1) || (len(m.Question) == 1) != (i == 0) {
			t.Errorf("packet %d: %d bytes, TC %v, %d questions", i, len(b), m.Truncated, len(m.Question))
		}
		n += len(m.Answer)
	}
	if n != 100 || len(pkts) < 2 {
		t.Errorf("%d known answers in %d packets", n, len(pkts))
	}
}

// FuzzParseQuery feeds arbitrary packets to the query decoder: nothing may
// panic, and what it keeps stays within its limits.
func FuzzParseQuery(f *testing.F) {
	a := rec{svc: Service{Name: "alpha", ID: testID("a"), Port: 4001}, ttl: 3200, addrs: []string{"10.231.0.1"}}
	ptr, others := a.rrs()
	m := new(dns.Msg)
	m.SetQuestion(serviceName, dns.TypePTR)
	m.Answer = []dns.RR{ptr}
	b, _ := m.Pack()
	f.Add(b)
	m.SetQuestion(others[0].Header().Name, dns.TypeSRV)
	m.Answer = []dns.RR{others[0]}
	b, _ = m.Pack()
	f.Add(b)
	f.Add(withBadNSEC(f, b))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseQuery(b)
		if err != nil {
			return
		}
		if len(q.questions) > maxQuestions || len(q.knownPTR)+len(q.knownSRV) > maxKnown {
			t.Fatalf("%d questions, %d+%d known answers", len(q.questions), len(q.knownPTR), len(q.knownSRV))
		}
		for _, k := range q.knownPTR {
			if k.label == "" || len(k.label) > maxLabel {
				t.Fatalf("known PTR %+v", k)
			}
		}
	})
}
