package zeroconf

// Tests of the responder on real sockets: a server in the test's private
// namespace, queriers in peer namespaces sending queries crafted with
// miekg/dns (see netns_test.go). Each test waits for packets with a
// deadline; the only sleeps let time pass for a rate limit or a TTL rule.
//
// This file is part of ferry's fork; see FORK.md.

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	svcName  = "_ferry._udp.local."
	instName = `test\ box._ferry._udp.local.`
	hostName = "testhost.local."
	subA     = "_a._sub._ferry._udp.local."
	subB     = "_b._sub._ferry._udp.local."
	enumName = "_services._dns-sd._udp.local."

	// slack allows for scheduling on a busy 2-core machine under -race.
	slack = 40 * time.Millisecond
)

// ferryTTLs are the TTLs ferry registers with.
var ferryTTLs = ServerOptions{SharedTTL: 75 * time.Minute, UniqueTTL: 12 * time.Second}

func register(t *testing.T, opt ServerOptions, ifaces ...net.Interface) *Server {
	t.Helper()
	s, err := RegisterProxyWithOptions("test box", "_ferry._udp,_a,_b", "local.", 4242, "testhost", nil,
		[]string{"v=1", "id=x"}, ifaces, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// find returns the records of rrs with type and name.
func find(rrs []dns.RR, rrtype uint16, name string) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == rrtype && strings.EqualFold(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

func has(rrs []dns.RR, rrtype uint16, name string) bool { return len(find(rrs, rrtype, name)) > 0 }

// announced waits until q has seen the server's two announcements over fam,
// and returns when the second arrived.
func announced(t *testing.T, q *querier, fam ipFamily) time.Time {
	t.Helper()
	var at []time.Time
	for len(at) < 2 {
		r, ok := q.next(5*time.Second, func(r received) bool {
			return r.fam == fam && r.multicast && has(r.msg.Answer, dns.TypeSRV, instName)
		})
		if !ok {
			t.Fatalf("%d announcements seen over IPv%d, want 2", len(at), fam)
		}
		at = append(at, r.at)
	}
	// Arrival times carry each send's scheduling delay: on a loaded machine
	// the first may come 100 ms late and the second on time.
	if d := at[1].Sub(at[0]); d < rateLimit-4*slack {
		t.Errorf("announcements %v apart, want at least %v", d, rateLimit)
	}
	return at[1]
}

// settle waits for the announcements, then until every record may be
// multicast again.
func settle(t *testing.T, q *querier) {
	t.Helper()
	settleAfter(q, announced(t, q, ipv4Family))
}

func settleAfter(q *querier, last time.Time) {
	time.Sleep(time.Until(last.Add(rateLimit + 20*time.Millisecond))) // time passing, not an event
	q.drain()
}

// answerTo matches a response over fam that answers with a record of type
// and name.
func answerTo(fam ipFamily, rrtype uint16, name string) func(received) bool {
	return func(r received) bool { return r.fam == fam && has(r.msg.Answer, rrtype, name) }
}

// TestTTLs: shared records carry SharedTTL, unique ones UniqueTTL, in
// announcements and in answers.
func TestTTLs(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	r, ok := q.next(5*time.Second, answerTo(ipv4Family, dns.TypeSRV, instName))
	if !ok {
		t.Fatal("no announcement")
	}
	second, ok := q.next(5*time.Second, answerTo(ipv4Family, dns.TypeSRV, instName))
	if !ok {
		t.Fatal("no second announcement")
	}
	check := func(what string, rrs []dns.RR) {
		t.Helper()
		if len(rrs) == 0 {
			t.Errorf("%s: no records", what)
		}
		for _, rr := range rrs {
			want := uint32(12)
			if rr.Header().Rrtype == dns.TypePTR {
				want = 4500
			}
			if rr.Header().Ttl != want {
				t.Errorf("%s: %v has TTL %d, want %d", what, rr, rr.Header().Ttl, want)
			}
		}
	}
	check("announcement", r.msg.Answer)
	for _, typ := range []uint16{dns.TypePTR, dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA} {
		if !has(r.msg.Answer, typ, map[uint16]string{dns.TypePTR: svcName, dns.TypeSRV: instName, dns.TypeTXT: instName}[typ]+
			map[uint16]string{dns.TypeA: hostName, dns.TypeAAAA: hostName}[typ]) {
			t.Errorf("announcement lacks the %s record: %v", dns.TypeToString[typ], r.msg)
		}
	}
	for _, name := range []string{subA, subB} {
		if !has(r.msg.Answer, dns.TypePTR, name) {
			t.Errorf("announcement lacks the PTR of %s", name)
		}
	}
	settleAfter(q, second.at)
	q.send(query(false, question(svcName, dns.TypePTR)), ipv4Family)
	r, ok = q.next(time.Second, answerTo(ipv4Family, dns.TypePTR, svcName))
	if !ok {
		t.Fatal("no answer")
	}
	check("answer", r.msg.Answer)
	check("additional", r.msg.Extra)
}

// TestAnswerDelay: a shared record (PTR) is answered 20–120 ms after the
// query, a unique one (SRV, TXT) at once.
func TestAnswerDelay(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	measure := func(name string, qtype uint16) time.Duration {
		t.Helper()
		t0 := q.send(query(false, question(name, qtype)), ipv4Family)
		r, ok := q.next(time.Second, answerTo(ipv4Family, qtype, name))
		if !ok {
			t.Fatalf("no answer to %s %s", name, dns.TypeToString[qtype])
		}
		return r.at.Sub(t0)
	}
	// The unique ones first: a PTR answer carries SRV and TXT as additional
	// records, which the rate limit would then hold back for a second.
	for _, qtype := range []uint16{dns.TypeSRV, dns.TypeTXT} {
		d := atOnce(func() time.Duration {
			d := measure(instName, qtype)
			settleAfter(q, time.Now()) // past the rate limit for a second try
			return d
		})
		if d > atOnceMax {
			t.Errorf("%s answered after %v, want at once", dns.TypeToString[qtype], d)
		} else {
			t.Logf("%s answered after %v", dns.TypeToString[qtype], d)
		}
	}
	for _, name := range []string{svcName, subA, subB, enumName} {
		if d := measure(name, dns.TypePTR); d < sharedDelayMin || d > sharedDelayMax+slack {
			t.Errorf("PTR %s answered after %v, want %v–%v", name, d, sharedDelayMin, sharedDelayMax)
		} else {
			t.Logf("PTR %s answered after %v", name, d)
		}
	}
}

// atOnceMax is the most an answer given at once may take to arrive; a
// delayed one takes at least sharedDelayMin.
const atOnceMax = 15 * time.Millisecond

// atOnce is the quickest of up to three measurements, stopping at the
// first within atOnceMax: on a loaded machine (-race, the whole suite
// beside it) one answer given at once can arrive after 19 ms, but an
// answer held back for 20–120 ms never arrives sooner, however often it
// is asked.
func atOnce(measure func() time.Duration) time.Duration {
	best := measure()
	for i := 1; i < 3 && best > atOnceMax; i++ {
		best = min(best, measure())
	}
	return best
}

// TestAnswerDelayOthersAsked: a unique record asked for in a query that
// also asks for another responder's records (a browser refreshing many
// receivers at once) is answered 20–120 ms later, as a shared one is, so
// that the LAN's answers do not all arrive in the same millisecond; asked
// with another of this server's own records, at once.
func TestAnswerDelayOthersAsked(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	measure := func(qs ...dns.Question) time.Duration {
		t.Helper()
		t0 := q.send(query(false, qs...), ipv4Family)
		r, ok := q.next(time.Second, answerTo(ipv4Family, dns.TypeSRV, instName))
		if !ok {
			t.Fatalf("no answer to %v", qs)
		}
		settleAfter(q, r.at) // past the rate limit for the next query
		return r.at.Sub(t0)
	}
	if d := atOnce(func() time.Duration { return measure(question(instName, dns.TypeSRV), question(instName, dns.TypeTXT)) }); d > atOnceMax {
		t.Errorf("SRV and TXT of this server alone answered after %v, want at once", d)
	}
	other := `other\ desk.` + svcName
	if d := measure(question(other, dns.TypeSRV), question(instName, dns.TypeSRV)); d < sharedDelayMin || d > sharedDelayMax+slack {
		t.Errorf("SRV asked beside another responder's answered after %v, want %v–%v", d, sharedDelayMin, sharedDelayMax)
	} else {
		t.Logf("SRV asked beside another responder's answered after %v", d)
	}
}

// TestAggregation: answers to several queries within the delay go out in
// one packet.
func TestAggregation(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	for _, name := range []string{svcName, subA, subB} {
		q.send(query(false, question(name, dns.TypePTR)), ipv4Family)
	}
	var got []received
	deadline := time.Now().Add(sharedDelayMax + 200*time.Millisecond)
	for {
		r, ok := q.next(time.Until(deadline), func(r received) bool { return r.fam == ipv4Family })
		if !ok {
			break
		}
		got = append(got, r)
	}
	if len(got) != 1 {
		t.Fatalf("%d response packets, want 1: %v", len(got), got)
	}
	for _, name := range []string{svcName, subA, subB} {
		if !has(got[0].msg.Answer, dns.TypePTR, name) {
			t.Errorf("the response lacks the PTR of %s: %v", name, got[0].msg)
		}
	}
	if !has(got[0].msg.Extra, dns.TypeSRV, instName) || !has(got[0].msg.Extra, dns.TypeA, hostName) {
		t.Errorf("the response lacks SRV or A in its additional section: %v", got[0].msg)
	}
}

func ptrRR(name string, ttl uint32) dns.RR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: instName}
}

// TestKnownAnswerSuppression: a record the query lists as known, with at
// least half its TTL, is not sent (RFC 6762 §7.1).
func TestKnownAnswerSuppression(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)

	// Known with the full TTL, and with exactly half: silence.
	for _, ttl := range []uint32{4500, 2250} {
		m := query(false, question(svcName, dns.TypePTR))
		m.Answer = []dns.RR{ptrRR(svcName, ttl)}
		q.send(m, ipv4Family)
		if r, ok := q.next(sharedDelayMax+200*time.Millisecond, func(r received) bool { return r.fam == ipv4Family }); ok {
			t.Errorf("known answer with TTL %d: got a response %v", ttl, r.msg)
		}
	}

	// Two questions, one answer known: only the other is answered.
	m := query(false, question(svcName, dns.TypePTR), question(subA, dns.TypePTR))
	m.Answer = []dns.RR{ptrRR(svcName, 4000)}
	q.send(m, ipv4Family)
	r, ok := q.next(time.Second, func(r received) bool { return r.fam == ipv4Family })
	if !ok || !has(r.msg.Answer, dns.TypePTR, subA) || has(r.msg.Answer, dns.TypePTR, svcName) {
		t.Errorf("want the PTR of %s alone, got %v (%v)", subA, r.msg, ok)
	}

	// Known with less than half the TTL: answered.
	m = query(false, question(svcName, dns.TypePTR))
	m.Answer = []dns.RR{ptrRR(svcName, 2249)}
	q.send(m, ipv4Family)
	if _, ok := q.next(time.Second, answerTo(ipv4Family, dns.TypePTR, svcName)); !ok {
		t.Error("a known answer with less than half the TTL suppressed the answer")
	}
}

// TestTruncatedQuery: a query with the TC bit waits 400–500 ms for the
// rest of its known answers (RFC 6762 §7.2).
func TestTruncatedQuery(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)

	// The known answer comes in a second packet 100 ms later: silence.
	m := query(false, question(svcName, dns.TypePTR))
	m.Truncated = true
	t0 := q.send(m, ipv4Family)
	rest := new(dns.Msg)
	rest.Answer = []dns.RR{ptrRR(svcName, 4500)}
	time.Sleep(time.Until(t0.Add(100 * time.Millisecond))) // a querier's pace, not an event
	q.send(rest, ipv4Family)
	if r, ok := q.next(tcDelayMax+sharedDelayMax+200*time.Millisecond, func(r received) bool { return r.fam == ipv4Family }); ok {
		t.Errorf("answered although the second packet listed the answer: %v", r.msg)
	}

	// No second packet: answered after the wait.
	m = query(false, question(subA, dns.TypePTR))
	m.Truncated = true
	t0 = q.send(m, ipv4Family)
	r, ok := q.next(2*time.Second, answerTo(ipv4Family, dns.TypePTR, subA))
	if !ok {
		t.Fatal("a truncated query was not answered")
	}
	if d := r.at.Sub(t0); d < tcDelayMin || d > tcDelayMax+slack {
		t.Errorf("a truncated query answered after %v, want %v–%v", d, tcDelayMin, tcDelayMax)
	} else {
		t.Logf("truncated query answered after %v", d)
	}

	// Another browser on the querier's host (the same address and port
	// 5353) asks, with no known answers, while a truncated query waits for
	// its own: it is answered, not taken for the first one's continuation
	// (whose known answers would silence it).
	m = query(false, question(svcName, dns.TypePTR))
	m.Truncated = true
	q.send(m, ipv4Family)
	q.send(query(false, question(svcName, dns.TypePTR)), ipv4Family)
	rest = new(dns.Msg)
	rest.Answer = []dns.RR{ptrRR(svcName, 4500)}
	q.send(rest, ipv4Family)
	if _, ok := q.next(2*time.Second, answerTo(ipv4Family, dns.TypePTR, svcName)); !ok {
		t.Error("a query from the same host during a truncated query's wait went unanswered")
	}
}

// TestUnicastResponse: a QU question is answered by unicast when the
// record was multicast on the link within a quarter of its TTL, else by
// multicast (RFC 6762 §5.4).
func TestUnicastResponse(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	// SRV and TXT live 2 s: a quarter is 500 ms. The PTR lives 75 min.
	register(t, ServerOptions{SharedTTL: 75 * time.Minute, UniqueTTL: 2 * time.Second}, p.iface(t))
	last := announced(t, q, ipv4Family)

	// The announcement multicast the PTR just now: unicast, and nothing
	// by multicast.
	q.send(query(true, question(svcName, dns.TypePTR)), ipv4Family)
	r, ok := q.next(time.Second, func(r received) bool { return r.fam == ipv4Family })
	if !ok || r.multicast || !has(r.msg.Answer, dns.TypePTR, svcName) {
		t.Fatalf("QU for a record multicast just now: got %+v (%v), want a unicast answer", r, ok)
	}
	if r.from.Addr() != p.addr4(1) || r.from.Port() != 5353 {
		t.Errorf("unicast answer from %v", r.from)
	}
	if r, ok := q.next(sharedDelayMax+100*time.Millisecond, func(r received) bool { return r.fam == ipv4Family }); ok {
		t.Errorf("a second response: %+v", r)
	}

	// The SRV was multicast more than 500 ms ago: multicast.
	time.Sleep(time.Until(last.Add(600 * time.Millisecond))) // time passing, not an event
	q.send(query(true, question(instName, dns.TypeSRV)), ipv4Family)
	r, ok = q.next(time.Second, answerTo(ipv4Family, dns.TypeSRV, instName))
	if !ok || !r.multicast {
		t.Fatalf("QU for a record not multicast within a quarter of its TTL: got %+v (%v), want a multicast answer", r, ok)
	}
	// Now it was: unicast, though the rate limit holds the multicast.
	q.send(query(true, question(instName, dns.TypeSRV)), ipv4Family)
	r, ok = q.next(time.Second, answerTo(ipv4Family, dns.TypeSRV, instName))
	if !ok || r.multicast {
		t.Fatalf("second QU: got %+v (%v), want a unicast answer", r, ok)
	}
}

// TestLegacyUnicast: a query from a port other than 5353 gets a unicast
// reply to that port, with its ID and question, TTLs of at most 10 s and no
// cache-flush bit (RFC 6762 §6.7).
func TestLegacyUnicast(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	legacy := newQuerier(t, p, 0)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	for _, fam := range []ipFamily{ipv4Family, ipv6Family} {
		m := query(false, question(svcName, dns.TypePTR), question(instName, dns.TypeSRV))
		m.Id = 0xbeef
		t0 := legacy.send(m, fam)
		r, ok := legacy.next(time.Second, func(r received) bool { return r.fam == fam })
		if !ok {
			t.Fatalf("IPv%d: no reply to a legacy query", fam)
		}
		t.Logf("IPv%d: legacy reply after %v", fam, r.at.Sub(t0))
		if r.multicast || r.msg.Id != 0xbeef || len(r.msg.Question) != 2 || r.msg.Question[0] != m.Question[0] {
			t.Errorf("IPv%d: reply %v (multicast %v), want unicast with ID 0xbeef and the questions", fam, r.msg, r.multicast)
		}
		if !has(r.msg.Answer, dns.TypePTR, svcName) || !has(r.msg.Answer, dns.TypeSRV, instName) {
			t.Errorf("IPv%d: reply lacks answers: %v", fam, r.msg)
		}
		for _, rr := range append(r.msg.Answer, r.msg.Extra...) {
			if h := rr.Header(); h.Ttl > 10 || h.Class != dns.ClassINET {
				t.Errorf("IPv%d: %v: want TTL ≤ 10, class IN without cache-flush", fam, rr)
			}
		}
	}
	if r, ok := q.next(sharedDelayMax+100*time.Millisecond, func(r received) bool { return true }); ok {
		t.Errorf("a legacy query made a multicast response: %v", r.msg)
	}
}

// TestDuplicateAnswerSuppression: a pending answer is dropped when another
// responder sends it first (RFC 6762 §7.4).
func TestDuplicateAnswerSuppression(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	other := func(ttl uint32) *dns.Msg {
		m := new(dns.Msg)
		m.Response = true
		m.Answer = []dns.RR{ptrRR(svcName, ttl)}
		return m
	}
	q.send(query(false, question(svcName, dns.TypePTR)), ipv4Family)
	q.send(other(4500), ipv4Family) // within the 20 ms the answer waits at least
	if r, ok := q.next(sharedDelayMax+200*time.Millisecond, func(r received) bool { return r.fam == ipv4Family }); ok {
		t.Errorf("answered although another responder had: %v", r.msg)
	}
	// With less than half our TTL the other answer does not count.
	q.send(query(false, question(subA, dns.TypePTR)), ipv4Family)
	q.send(other(100), ipv4Family)
	if _, ok := q.next(time.Second, answerTo(ipv4Family, dns.TypePTR, subA)); !ok {
		t.Error("an answer with a low TTL suppressed ours")
	}
}

// TestRateLimit: a record is multicast at most once a second on a link
// (RFC 6762 §6). A second QM query within the second is answered by
// multicast when the second is over (its querier takes no unicast answer it
// did not ask for). The announcements' spacing is checked by announced.
func TestRateLimit(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	q.send(query(false, question(instName, dns.TypeTXT)), ipv4Family)
	first, ok := q.next(time.Second, answerTo(ipv4Family, dns.TypeTXT, instName))
	if !ok || !first.multicast {
		t.Fatalf("first query: %+v (%v), want a multicast answer", first, ok)
	}
	q.send(query(false, question(instName, dns.TypeTXT)), ipv4Family)
	second, ok := q.next(2*time.Second, answerTo(ipv4Family, dns.TypeTXT, instName))
	if !ok || !second.multicast {
		t.Fatalf("second query within the second: %+v (%v), want a multicast answer (no unicast to a QM querier)", second, ok)
	}
	if d := second.at.Sub(first.at); d < rateLimit-5*time.Millisecond || d > rateLimit+slack {
		t.Errorf("second multicast %v after the first, want %v", d, rateLimit)
	} else {
		t.Logf("second multicast %v after the first", d)
	}
}

// TestInterfaces: a query is answered only on a registered interface,
// though the socket hears the group on others; each interface answers with
// its own addresses.
func TestInterfaces(t *testing.T) {
	p1, p2, p3 := newPeer(t), newPeer(t), newPeer(t)
	q1, q2, q3 := newQuerier(t, p1, 5353), newQuerier(t, p2, 5353), newQuerier(t, p3, 5353)
	register(t, ferryTTLs, p1.iface(t), p2.iface(t))

	// Another program of this host listens on p3's link (as avahi-daemon
	// would): the kernel then hands the server's socket that link's
	// queries too.
	other, err := joinUdp4Multicast([]net.Interface{p3.iface(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	settle(t, q1)
	q2.drain()
	for _, c := range []struct {
		q    *querier
		want string
	}{{q1, p1.addr4(1).String()}, {q2, p2.addr4(1).String()}} {
		c.q.send(query(false, question(instName, dns.TypeSRV)), ipv4Family)
		r, ok := c.q.next(time.Second, answerTo(ipv4Family, dns.TypeSRV, instName))
		if !ok {
			t.Fatal("no answer on a registered interface")
		}
		var addrs []string
		for _, rr := range find(r.msg.Extra, dns.TypeA, hostName) {
			addrs = append(addrs, rr.(*dns.A).A.String())
		}
		if !slices.Equal(addrs, []string{c.want}) {
			t.Errorf("A records %v, want %s", addrs, c.want)
		}
	}
	// Multicast, QU and legacy queries on p3's link: no answer of any kind.
	legacy3 := newQuerier(t, p3, 0)
	q3.send(query(false, question(instName, dns.TypeSRV)), ipv4Family)
	q3.send(query(false, question(svcName, dns.TypePTR)), ipv4Family)
	q3.send(query(true, question(instName, dns.TypeTXT)), ipv4Family)
	legacy3.send(query(false, question(instName, dns.TypeSRV)), ipv4Family)
	for _, q := range []*querier{q3, legacy3} {
		if r, ok := q.next(sharedDelayMax+300*time.Millisecond, func(received) bool { return true }); ok {
			t.Errorf("answered on an interface it was not registered on: %v", r.msg)
		}
	}
}

// TestFamily: a query over IPv4 is answered over IPv4 only, one over IPv6
// over IPv6 only.
func TestFamily(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	register(t, ferryTTLs, p.iface(t))
	settle(t, q)
	for _, c := range []struct {
		fam  ipFamily
		name string
	}{{ipv4Family, subA}, {ipv6Family, subB}} {
		q.send(query(false, question(c.name, dns.TypePTR)), c.fam)
		var fams []ipFamily
		deadline := time.Now().Add(sharedDelayMax + 200*time.Millisecond)
		for {
			r, ok := q.next(time.Until(deadline), func(r received) bool { return has(r.msg.Answer, dns.TypePTR, c.name) })
			if !ok {
				break
			}
			fams = append(fams, r.fam)
		}
		if !slices.Equal(fams, []ipFamily{c.fam}) {
			t.Errorf("a query over IPv%d answered over %v, want IPv%d once", c.fam, fams, c.fam)
		}
	}
}

// TestGoodbye: Shutdown sends every record with TTL 0, and returns at once
// even while the server is still probing.
func TestGoodbye(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	s, err := RegisterProxyWithOptions("test box", "_ferry._udp,_a,_b", "local.", 4242, "testhost", nil,
		[]string{"v=1"}, []net.Interface{p.iface(t)}, ferryTTLs)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s.Shutdown()
	if d := time.Since(t0); d > 200*time.Millisecond {
		t.Errorf("Shutdown took %v", d)
	}
	r, ok := q.next(time.Second, func(r received) bool { return r.fam == ipv4Family && has(r.msg.Answer, dns.TypeSRV, instName) })
	if !ok {
		t.Fatal("no goodbye")
	}
	for _, rr := range r.msg.Answer {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye record %v", rr)
		}
	}
	for _, name := range []string{svcName, subA, subB} {
		if !has(r.msg.Answer, dns.TypePTR, name) {
			t.Errorf("goodbye lacks the PTR of %s", name)
		}
	}
}

// TestSetTextAndTTL: SetText and TTL are safe while the server runs (the
// race detector watches), and the new TXT is announced.
func TestSetTextAndTTL(t *testing.T) {
	p := newPeer(t)
	q := newQuerier(t, p, 5353)
	s := register(t, ferryTTLs, p.iface(t))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.send(query(false, question(svcName, dns.TypePTR), question(instName, dns.TypeTXT)), ipv4Family)
			s.TTL(uint32(100 + i))
		}()
	}
	s.SetText([]string{"v=2"})
	wg.Wait()
	if _, ok := q.next(3*time.Second, func(r received) bool {
		txt := find(r.msg.Answer, dns.TypeTXT, instName)
		return len(txt) == 1 && slices.Equal(txt[0].(*dns.TXT).Txt, []string{"v=2"})
	}); !ok {
		t.Error("the new TXT was not sent")
	}
}
