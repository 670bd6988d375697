package zeroconf

// Tests without a network: what each question is answered with, and the
// query-handling path under fuzzing.
//
// This file is part of ferry's fork; see FORK.md.

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// offlineServer is a server without sockets whose packets go to sent; it
// has fixed addresses, so it asks the kernel nothing.
func offlineServer(t testing.TB, sent *[]sentPacket) *Server {
	t.Helper()
	e := NewServiceEntry("test box", "_ferry._udp,_a,_b", "local.")
	e.Port = 4242
	e.HostName = "testhost.local."
	e.Text = []string{"v=1", "name=Zoë"}
	e.AddrIPv4 = []net.IP{net.ParseIP("10.231.0.1")}
	e.AddrIPv6 = []net.IP{net.ParseIP("fd31::1")}
	s, err := prepare(e, []net.Interface{{Index: 1, Name: "fz0"}}, ferryTTLs)
	if err != nil {
		t.Fatal(err)
	}
	s.out = func(d dest, pkt []byte) { *sent = append(*sent, sentPacket{d, pkt}) }
	return s
}

type sentPacket struct {
	dest
	pkt []byte
}

func names4(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.TypeToString[rr.Header().Rrtype]+" "+strings.ToLower(rr.Header().Name))
	}
	return out
}

// TestAnswerComposition: RFC 6763 §12 — what goes in the answer and the
// additional section for each question.
func TestAnswerComposition(t *testing.T) {
	var sent []sentPacket
	recs := offlineServer(t, &sent).records(1)
	const (
		ptr  = "PTR " + svcName
		srv  = "SRV " + instName
		txt  = "TXT " + instName
		a    = "A " + hostName
		aaaa = "AAAA " + hostName
	)
	tests := []struct {
		q              dns.Question
		answers, extra []string
		unique         bool
	}{
		{question(svcName, dns.TypePTR), []string{ptr}, []string{srv, txt, a, aaaa}, false},
		{question(strings.ToUpper(svcName), dns.TypePTR), []string{ptr}, []string{srv, txt, a, aaaa}, false},
		{dns.Question{Name: svcName, Qtype: dns.TypePTR, Qclass: dns.ClassINET | qClassCacheFlush}, []string{ptr}, []string{srv, txt, a, aaaa}, false},
		{question(svcName, dns.TypeANY), []string{ptr}, []string{srv, txt, a, aaaa}, false},
		{question(subA, dns.TypePTR), []string{"PTR " + subA}, []string{srv, txt, a, aaaa}, false},
		{question("_A._SUB._ferry._udp.local.", dns.TypePTR), []string{"PTR " + subA}, []string{srv, txt, a, aaaa}, false},
		{question(enumName, dns.TypePTR), []string{"PTR " + enumName}, nil, false},
		{question(instName, dns.TypeSRV), []string{srv}, []string{a, aaaa}, true},
		{question(instName, dns.TypeTXT), []string{txt}, nil, true},
		{question(instName, dns.TypeANY), []string{srv, txt}, []string{a, aaaa}, true},
		{question(hostName, dns.TypeA), []string{a}, []string{aaaa}, true},
		{question(hostName, dns.TypeAAAA), []string{aaaa}, []string{a}, true},
		{question(hostName, dns.TypeANY), []string{a, aaaa}, nil, true},
		{question(instName, dns.TypePTR), nil, nil, false},
		{question(hostName, dns.TypeSRV), nil, nil, false},
		{question("_c._sub._ferry._udp.local.", dns.TypePTR), nil, nil, false},
		{question("_other._udp.local.", dns.TypePTR), nil, nil, false},
		{dns.Question{Name: svcName, Qtype: dns.TypePTR, Qclass: dns.ClassCHAOS}, nil, nil, false},
	}
	for _, tt := range tests {
		answers, extra, unique := recs.answer(tt.q)
		if got := names4(answers); !slices.Equal(got, tt.answers) || !slices.Equal(names4(extra), tt.extra) || unique != tt.unique {
			t.Errorf("%v: answers %v, extra %v, unique %v; want %v, %v, %v", tt.q, got, names4(extra), unique, tt.answers, tt.extra, tt.unique)
		}
	}
}

// TestNonASCIINames: names and TXT strings of ours compare equal to the same
// records read off the wire, so known-answer suppression works for them.
func TestNonASCIINames(t *testing.T) {
	e := NewServiceEntry("Zoë's box", "_ferry._udp", "local.")
	e.Port, e.HostName, e.Text = 1, "zoe.local.", []string{"name=Zoë"}
	e.AddrIPv4 = []net.IP{net.ParseIP("10.231.0.1")}
	s, err := prepare(e, nil, ferryTTLs)
	if err != nil {
		t.Fatal(err)
	}
	recs := s.records(0)
	for _, rr := range append(recs.all(), recs.instanceExtra()...) {
		buf := make([]byte, 512)
		off, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		wire, _, err := dns.UnpackRR(buf[:off], 0)
		if err != nil {
			t.Fatal(err)
		}
		if !newSeenRecords([]dns.RR{wire}).covers(rr) {
			t.Errorf("%v does not match itself off the wire: %v", rr, wire)
		}
	}
}

// TestFuzzSeedsPresent keeps the checked-in corpus honest.
func TestFuzzSeedsPresent(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzHandlePacket"))
	if err != nil || len(ents) == 0 {
		t.Errorf("no seeds for FuzzHandlePacket: %v", err)
	}
}

// FuzzHandlePacket feeds a packet to the query-handling path twice (from
// port, over IPv6 if v6), then lets every pending answer fall due. Nothing
// may panic, and what the server sends must be a well-formed response: no
// question and ID 0 in a multicast or QU answer; for a legacy query, a
// unicast reply to its port with TTLs of at most 10 s.
func FuzzHandlePacket(f *testing.F) {
	f.Add([]byte{}, uint16(5353), false)
	f.Fuzz(func(t *testing.T, pkt []byte, port uint16, v6 bool) {
		var sent []sentPacket
		s := offlineServer(t, &sent)
		l := link{1, ipv4Family}
		from := netip.AddrPortFrom(netip.MustParseAddr("10.231.0.2"), port)
		if v6 {
			l.fam = ipv6Family
			from = netip.AddrPortFrom(netip.MustParseAddr("fe80::2").WithZone("fz0"), port)
		}
		s.handlePacket(pkt, l, from)
		s.handlePacket(pkt, l, from)
		now := time.Now()
		s.step(now.Add(time.Second))
		s.step(now.Add(3 * time.Second))
		for _, p := range sent {
			var m dns.Msg
			if err := m.Unpack(p.pkt); err != nil {
				t.Fatalf("sent a packet that does not unpack: %v", err)
			}
			if !m.Response || p.link != l {
				t.Fatalf("sent %v to %+v", m, p.dest)
			}
			legacy := port != mdnsServicePort
			if legacy != (len(m.Question) > 0) || !legacy && m.Id != 0 {
				t.Fatalf("from port %d: sent %v", port, m)
			}
			if legacy && p.to != from {
				t.Fatalf("legacy reply to %v, want %v", p.to, from)
			}
			for _, rr := range append(m.Answer, m.Extra...) {
				ttl := rr.Header().Ttl
				if legacy && ttl > legacyTTL || !legacy && ttl != 4500 && ttl != 12 {
					t.Fatalf("TTL %d in %v", ttl, rr)
				}
			}
		}
	})
}
