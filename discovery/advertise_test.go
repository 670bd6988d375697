package discovery

// The advertiser as a responder (RFC 6762; see third_party/zeroconf/FORK.md
// for the responder's own tests): the records, TTLs and subtypes Advertise
// registers, known-answer suppression through it, and Options.Interfaces
// restricting answers. Queries are crafted with miekg/dns and sent from a
// socket inside a LAN host (netlab's Host.Do).

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// rawQuerier is an IPv4 socket inside a LAN host, on port 5353 and joined to
// the mDNS group on eth0, that sends crafted queries and keeps the responses
// it hears.
type rawQuerier struct {
	t    *testing.T
	c    *ipv4.PacketConn
	msgs chan rawMsg
}

type rawMsg struct {
	msg  *dns.Msg
	from netip.Addr
}

func (l *lan) rawQuerier(host string) *rawQuerier {
	l.t.Helper()
	q := &rawQuerier{t: l.t, msgs: make(chan rawMsg, 256)}
	err := l.host(host).Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pc, err := net.ListenPacket("udp4", "0.0.0.0:5353")
		if err != nil {
			return err
		}
		q.c = ipv4.NewPacketConn(pc)
		return errors.Join(q.c.JoinGroup(ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251)}),
			q.c.SetMulticastInterface(ifi), q.c.SetMulticastTTL(255))
	})
	if err != nil {
		l.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // owned by the test: ends when the cleanup closes the socket
		defer close(done)
		buf := make([]byte, 9000)
		for {
			n, _, from, err := q.c.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			select {
			case q.msgs <- rawMsg{msg: m, from: from.(*net.UDPAddr).AddrPort().Addr().Unmap()}:
			default:
			}
		}
	}()
	l.t.Cleanup(func() {
		q.c.Close()
		<-done
	})
	return q
}

func (q *rawQuerier) send(m *dns.Msg) {
	q.t.Helper()
	buf, err := m.Pack()
	if err == nil {
		_, err = q.c.WriteTo(buf, nil, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	}
	if err != nil {
		q.t.Fatal(err)
	}
}

// next returns the next response that satisfies match within timeout.
func (q *rawQuerier) next(timeout time.Duration, match func(rawMsg) bool) (rawMsg, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m := <-q.msgs:
			if match(m) {
				return m, true
			}
		case <-timer.C:
			return rawMsg{}, false
		}
	}
}

// during returns the responses that satisfy match within d.
func (q *rawQuerier) during(d time.Duration, match func(rawMsg) bool) []rawMsg {
	var out []rawMsg
	deadline := time.Now().Add(d)
	for {
		m, ok := q.next(time.Until(deadline), match)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// wireName is name as miekg/dns unpacks it from the wire.
func wireName(t *testing.T, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	off, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	w, _, err := dns.UnpackDomainName(buf[:off], 0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func rrsOf(rrs []dns.RR, rrtype uint16, name string) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == rrtype && strings.EqualFold(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

func ptrQuery(name string, known ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypePTR)
	m.RecursionDesired = false
	m.Answer = known
	return m
}

// TestAdvertiseRecords: an advertisement is listed under the service type
// and its name's, ID's and (with pair=1) the pairing subtype, with the TTLs
// of records.go; each subtype question is answered by that advertiser
// alone, and a known answer silences it.
func TestAdvertiseRecords(t *testing.T) {
	l := newLAN(t, "rec")
	l.addSwitch("sw")
	for i, h := range []string{"h1", "h2", "h3"} {
		l.addHost(h)
		l.connect(h, "sw", "eth0", netip.AddrFrom4([4]byte{10, 231, 7, byte(i + 1)}).String()+"/24")
	}
	q := l.rawQuerier("h2")
	a1, id1 := l.advertise("h1", "desk one", 40001, "FDSC_FLAGS=pair=1")
	a3, id3 := l.advertise("h3", "desk three", 40003)
	svc1 := Service{Name: "desk one", ID: id1, Flags: map[string]string{"pair": "1"}}
	svc3 := Service{Name: "desk three", ID: id3}
	inst1 := wireName(t, escapeLabel(svc1.Instance())+"."+serviceName)
	inst3 := wireName(t, escapeLabel(svc3.Instance())+"."+serviceName)
	sub := func(label string) string { return label + "._sub." + serviceName }

	// The announcements: every record, with ferry's TTLs.
	var last time.Time
	for _, c := range []struct {
		inst     string
		svc      Service
		subtypes []string
	}{
		{inst1, svc1, []string{nameSubtype(svc1.Name), idSubtype(id1), pairSubtype}},
		{inst3, svc3, []string{nameSubtype(svc3.Name), idSubtype(id3)}},
	} {
		m, ok := q.next(5*time.Second, func(m rawMsg) bool { return len(rrsOf(m.msg.Answer, dns.TypeSRV, c.inst)) > 0 })
		if !ok {
			t.Fatalf("no announcement of %s", c.inst)
		}
		last = time.Now()
		var ptrs []string
		for _, rr := range m.msg.Answer {
			want := uint32(recordTTL / time.Second)
			if ptr, ok := rr.(*dns.PTR); ok {
				want = uint32(ptrTTL / time.Second)
				if strings.EqualFold(ptr.Ptr, c.inst) {
					ptrs = append(ptrs, strings.ToLower(ptr.Hdr.Name))
				}
			}
			if rr.Header().Ttl != want {
				t.Errorf("%v: TTL %d, want %d", rr, rr.Header().Ttl, want)
			}
		}
		wantPTRs := []string{serviceName}
		for _, st := range c.subtypes {
			wantPTRs = append(wantPTRs, strings.ToLower(sub(st)))
		}
		slices.Sort(ptrs)
		slices.Sort(wantPTRs)
		if !slices.Equal(ptrs, wantPTRs) {
			t.Errorf("%s is listed under %v, want %v", c.inst, ptrs, wantPTRs)
		}
	}

	// Past the second announcement and the one-a-second limit.
	time.Sleep(time.Until(last.Add(2500 * time.Millisecond))) // time passing, not an event
	answeredBy := func(m *dns.Msg, name string) []string {
		t.Helper()
		q.send(m)
		var who []string
		// Answers, not announcements (which carry SRV among the answers,
		// and come again when an advertiser sees its interfaces change).
		isAnswer := func(r rawMsg) bool {
			return len(rrsOf(r.msg.Answer, dns.TypePTR, name)) > 0 && len(rrsOf(r.msg.Answer, dns.TypeSRV, inst1)) == 0 &&
				len(rrsOf(r.msg.Answer, dns.TypeSRV, inst3)) == 0
		}
		for _, r := range q.during(500*time.Millisecond, isAnswer) {
			for _, rr := range rrsOf(r.msg.Answer, dns.TypePTR, name) {
				who = append(who, rr.(*dns.PTR).Ptr)
			}
		}
		slices.Sort(who)
		return who
	}
	for _, c := range []struct {
		name string
		want []string
	}{
		{sub(pairSubtype), []string{inst1}},
		{sub(nameSubtype("DESK THREE")), []string{inst3}},
		{sub(idSubtype(id1)), []string{inst1}},
		{sub("_n-0000000000000000"), nil},
	} {
		if got := answeredBy(ptrQuery(c.name), c.name); !slices.Equal(got, c.want) {
			t.Errorf("PTR %s answered with %v, want %v", c.name, got, c.want)
		}
	}
	known := &dns.PTR{Hdr: dns.RR_Header{Name: serviceName, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4000}, Ptr: inst1}
	if got := answeredBy(ptrQuery(serviceName, known), serviceName); !slices.Equal(got, []string{inst3}) {
		t.Errorf("PTR %s with %s known answered with %v, want only %s", serviceName, inst1, got, inst3)
	}
	a1.finish()
	a3.finish()
}

// TestAdvertiseInterfaces: an advertisement restricted to eth0 answers
// nothing on eth1, though a browser on the same host joined the group there
// (so the kernel hands the advertiser eth1's queries too), and answers on
// eth0 with eth0's address only.
func TestAdvertiseInterfaces(t *testing.T) {
	l := newLAN(t, "adif")
	l.addSwitch("swa")
	l.addSwitch("swb")
	for _, h := range []string{"h1", "h2", "h3"} {
		l.addHost(h)
	}
	l.connect("h1", "swa", "eth0", "10.231.8.1/24")
	l.connect("h1", "swb", "eth1", "10.231.9.1/24")
	l.connect("h2", "swa", "eth0", "10.231.8.2/24")
	l.connect("h3", "swb", "eth0", "10.231.9.3/24")
	onA, onB := l.rawQuerier("h2"), l.rawQuerier("h3")
	b := l.browse("h1") // joins the group on eth0 and eth1
	a, id := l.advertise("h1", "desk", 40001, "FDSC_IFACES=eth0")
	inst := wireName(t, escapeLabel(Service{Name: "desk", ID: id}.Instance())+"."+serviceName)

	srv := new(dns.Msg)
	srv.SetQuestion(inst, dns.TypeSRV)
	srv.RecursionDesired = false
	hasSRV := func(m rawMsg) bool { return len(rrsOf(m.msg.Answer, dns.TypeSRV, inst)) > 0 }

	m, ok := onA.next(5*time.Second, hasSRV) // the announcement
	if !ok {
		t.Fatal("no announcement on eth0")
	}
	var addrs []string
	for _, rr := range m.msg.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	if !slices.Equal(addrs, []string{"10.231.8.1"}) {
		t.Errorf("eth0 announces addresses %v, want 10.231.8.1", addrs)
	}
	onB.send(srv)
	onB.send(ptrQuery(serviceName))
	if got := onB.during(time.Second, func(rawMsg) bool { return true }); len(got) > 0 {
		t.Errorf("eth1 heard %d responses, want none: %v", len(got), got[0].msg)
	}
	b.finish()
	a.finish()
}
