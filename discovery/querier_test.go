//go:build linux

package discovery

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ferry-lan/ferry/internal/syncbuf"
)

// within reports whether d lies in [lo, hi].
func within(d, lo, hi time.Duration) bool { return lo <= d && d <= hi }

// TestWireQuerySchedule watches a browser's PTR queries on a dual-stack
// link that nobody answers: the first at once with the QU bit, the second
// 1 s later (and none until 16 s: TestWatcherPTRSchedule has the whole
// series), all over IPv4 and none over IPv6; an address added to the
// interface starts the series again.
func TestWireQuerySchedule(t *testing.T) {
	w := newWireLAN(t, "qs", 41, true)
	start := time.Now()
	w.browse(Options{})
	msgs := w.peer.collect(3 * time.Second)
	var ptr []wireMsg
	for _, m := range msgs {
		if m.v6 {
			t.Errorf("a packet over IPv6 on a link with IPv4: %v", m)
		}
		if isQuery(dns.TypePTR)(m) {
			ptr = append(ptr, m)
		} else {
			t.Errorf("unexpected packet %v", m)
		}
	}
	want := []time.Duration{0, time.Second}
	if len(ptr) != len(want) {
		t.Fatalf("%d PTR queries in 3 s, want %d: %v", len(ptr), len(want), ptr)
	}
	if d := ptr[0].at.Sub(start); d > 200*time.Millisecond {
		t.Errorf("first query %v after the start", d)
	}
	for i, m := range ptr {
		d := m.at.Sub(ptr[0].at)
		if !within(d, want[i]-20*time.Millisecond, want[i]+100*time.Millisecond) {
			t.Errorf("query %d at %v, want %v", i, d, want[i])
		}
		if qu(m) != (i == 0) || m.msg.Question[0].Name != serviceName || m.src.Addr() != w.addr4 {
			t.Errorf("query %d: %v, want QU only for the first, from %v", i, m, w.addr4)
		}
	}

	// A new address: the series starts again within the interface check.
	t0 := time.Now()
	w.ip("addr", "add", "10.231.41.100/24", "dev", w.ifname)
	m := w.peer.next(pollInterval+time.Second, "a query after the address change", isQuery(dns.TypePTR))
	m2 := w.peer.next(2*time.Second, "the second query after the change", isQuery(dns.TypePTR))
	if d := m.at.Sub(t0); !qu(m) || d > pollInterval+200*time.Millisecond {
		t.Errorf("after the change: %v, %v later; want a QU query within %v", m, d, pollInterval)
	}
	if d := m2.at.Sub(m.at); qu(m2) || !within(d, 980*time.Millisecond, 1100*time.Millisecond) {
		t.Errorf("second query after the change: %v, %v after the first; want QM, 1 s", m2, d)
	}
	t.Logf("PTR queries at %v, %v; after an address change %v later",
		ptr[0].at.Sub(start).Round(time.Millisecond), ptr[1].at.Sub(start).Round(time.Millisecond), m.at.Sub(t0).Round(time.Millisecond))
}

// TestWireIPv6Only: on a link without IPv4, the queries go over IPv6.
func TestWireIPv6Only(t *testing.T) {
	w := newWireLAN(t, "q6", 42, false)
	b := w.browse(Options{})
	m := w.peer.next(3*time.Second, "a PTR query", isQuery(dns.TypePTR))
	if !m.v6 {
		t.Fatalf("first query %v, want one over IPv6", m)
	}
	w.peer.msgs <- m // for announceTo
	a := rec{svc: Service{Name: "six", ID: testID("six"), Port: 4000}, ttl: 120, addrs: []string{"fd31::42:2"}}
	w.announceTo(b, a)
	if p := b.Peers(); len(p) != 1 || !slices.Equal(p[0].Addrs, addrs("fd31::42:2")) {
		t.Errorf("peers %+v", p)
	}
}

// TestWireKnownAnswers: 200 receivers answer the first (QU) query by
// unicast; the browser lists all 200, and its next query lists their 200
// PTR records as known answers over several packets of at most 1472 bytes,
// with the TC bit on all but the last.
func TestWireKnownAnswers(t *testing.T) {
	w := newWireLAN(t, "ka", 43, true)
	b := w.browse(Options{})
	first := w.peer.next(3*time.Second, "the first PTR query", isQuery(dns.TypePTR))
	if !qu(first) {
		t.Fatalf("first query %v, want QU", first)
	}
	const n = 200
	for i := range n {
		r := rec{svc: Service{Name: fmt.Sprintf("desk-%d", i), ID: testID(fmt.Sprintf("desk-%d", i)), Port: 40000 + i},
			ttl: 4500, addrs: []string{fmt.Sprintf("10.231.43.%d", 10+i)}}
		w.peer.unicast(browseAnswer(r), first.src)
	}
	up := make(map[string]bool)
	deadline := time.After(3 * time.Second)
	for len(up) < n {
		select {
		case ev := <-b.Events():
			if ev.Type != PeerUp {
				t.Fatalf("event %v", ev)
			}
			up[ev.Peer.Name] = true
		case <-deadline:
			t.Fatalf("%d of %d peers up within 3 s", len(up), n)
		}
	}

	var pkts []wireMsg
	m := w.peer.next(2*time.Second, "the second query", isQuery(dns.TypePTR))
	pkts = append(pkts, m)
	for m.msg.Truncated {
		m = w.peer.next(time.Second, "the rest of the known answers", func(m wireMsg) bool { return !m.msg.Response })
		pkts = append(pkts, m)
	}
	if d := pkts[0].at.Sub(first.at); !within(d, 980*time.Millisecond, 1100*time.Millisecond) {
		t.Errorf("second query %v after the first, want 1 s", d)
	}
	listed := make(map[string]int)
	var sizes []int
	for i, p := range pkts {
		sizes = append(sizes, p.size)
		if p.size > maxQuery4 {
			t.Errorf("packet %d: %d bytes", i, p.size)
		}
		if wantQ := i == 0; (len(p.msg.Question) > 0) != wantQ || qu(p) {
			t.Errorf("packet %d: %v", i, p)
		}
		if d := p.at.Sub(pkts[0].at); d > 50*time.Millisecond {
			t.Errorf("packet %d came %v after the first", i, d)
		}
		for _, rr := range p.msg.Answer {
			ptr, ok := rr.(*dns.PTR)
			if !ok || ptr.Hdr.Name != serviceName || ptr.Hdr.Ttl > 4500 || ptr.Hdr.Ttl < 4495 {
				t.Errorf("known answer %v", rr)
				continue
			}
			listed[ptr.Ptr]++
		}
	}
	if len(pkts) < 2 || len(listed) != n {
		t.Errorf("%d packets list %d known answers, want %d over several", len(pkts), len(listed), n)
	}
	for name, c := range listed {
		if c != 1 {
			t.Errorf("%s listed %d times", name, c)
		}
	}
	t.Logf("%d known answers in %d packets of %v bytes", len(listed), len(pkts), sizes)
}

// TestWireRefreshAndExpiry: with an SRV record of TTL 5 s, the browser asks
// for it at 80, 85, 90 and 95 % of the TTL (each plus up to 2 %), the last two
// with a PTR query that leaves the instance out of its known answers, and
// reports it down when the record expires. A second instance, answered at
// once, stays up without another query in that time.
func TestWireRefreshAndExpiry(t *testing.T) {
	w := newWireLAN(t, "rf", 44, true)
	b := w.browse(Options{})
	const ttl = 5 * time.Second
	short := rec{svc: Service{Name: "short", ID: testID("short"), Port: 4000}, ttl: 5, ptrTTL: 4500, addrs: []string{"10.231.44.2"}}
	kept := rec{svc: Service{Name: "kept", ID: testID("kept"), Port: 4001}, ttl: 5, ptrTTL: 4500, addrs: []string{"10.231.44.2"}}
	t0 := w.announceTo(b, short, kept)

	var shortAt, keptAt, fallbackAt []time.Duration
	var down time.Duration
	timeout := time.NewTimer(ttl + time.Second)
	defer timeout.Stop()
	for down == 0 {
		var m wireMsg
		select {
		case ev := <-b.Events():
			if ev.Type == PeerDown && ev.Peer.Name == "short" {
				down = time.Since(t0)
			} else {
				t.Errorf("event %v %s", ev.Type, ev.Peer.Name)
			}
			continue
		case m = <-w.peer.msgs:
		case <-timeout.C:
			t.Fatalf("short not down within %v", ttl+time.Second)
		}
		if m.msg.Response {
			continue
		}
		d := m.at.Sub(t0)
		for _, q := range m.msg.Question {
			switch {
			case q.Qtype == dns.TypeSRV && strings.HasPrefix(q.Name, "short"):
				shortAt = append(shortAt, d)
			case q.Qtype == dns.TypeSRV && strings.HasPrefix(q.Name, "kept"):
				keptAt = append(keptAt, d)
				srv, extra := srvAndAddrs(kept)
				w.peer.multicast(answer([]dns.RR{srv}, extra...), false)
			case q.Qtype == dns.TypePTR && d > 4*time.Second: // the PTR schedule's query is at 3 s
				fallbackAt = append(fallbackAt, d)
				for _, rr := range m.msg.Answer {
					if strings.HasPrefix(rr.(*dns.PTR).Ptr, "short") {
						t.Errorf("the fallback PTR query lists the instance it refreshes: %v", rr)
					}
				}
				if len(m.msg.Answer) != 1 || qu(m) {
					t.Errorf("fallback PTR query %v, want QM with kept's PTR only", m)
				}
			}
		}
	}
	if len(shortAt) != len(refreshAt) {
		t.Fatalf("SRV queries for short at %v, want %d", shortAt, len(refreshAt))
	}
	for i, f := range refreshAt {
		lo := time.Duration(f*float64(ttl)) - 20*time.Millisecond
		hi := time.Duration((f+refreshJitter)*float64(ttl)) + 60*time.Millisecond
		if !within(shortAt[i], lo, hi) {
			t.Errorf("refresh %d at %v, want %v..%v", i, shortAt[i], lo, hi)
		}
	}
	if len(keptAt) != 1 || !within(keptAt[0], 4*time.Second-20*time.Millisecond, 4100*time.Millisecond+60*time.Millisecond) {
		t.Errorf("SRV queries for kept at %v, want one at 80–82 %%", keptAt)
	}
	if len(fallbackAt) != 2 || fallbackAt[0] < 4500*time.Millisecond-20*time.Millisecond {
		t.Errorf("fallback PTR queries at %v, want two, from 90 %%", fallbackAt)
	}
	if !within(down, ttl-10*time.Millisecond, ttl+200*time.Millisecond) {
		t.Errorf("down after %v, want when the record expires, %v", down, ttl)
	}
	if !slices.ContainsFunc(b.Peers(), func(p Peer) bool { return p.Name == "kept" }) {
		t.Errorf("kept is not up: %v", b.Peers())
	}
	t.Logf("SRV refresh queries at %v; fallback PTR queries at %v; down at %v", shortAt, fallbackAt, down.Round(time.Millisecond))
}

// TestWirePassiveRefresh: an answer that another host's question brought
// renews the record: no refresh query at 80 % of the old one, and no
// departure when it would have expired.
func TestWirePassiveRefresh(t *testing.T) {
	w := newWireLAN(t, "pr", 45, true)
	b := w.browse(Options{})
	a := rec{svc: Service{Name: "pas", ID: testID("pas"), Port: 4000}, ttl: 5, addrs: []string{"10.231.44.2"}}
	t0 := w.announceTo(b, a)
	if m, ok := w.peer.poll(2500*time.Millisecond, isQuery(dns.TypeSRV)); ok {
		t.Fatalf("SRV query before 50 %%: %v", m)
	}
	srv, extra := srvAndAddrs(a)
	w.peer.multicast(answer([]dns.RR{srv}, extra...), false) // as if someone else asked
	t1 := time.Now()
	if m, ok := w.peer.poll(t1.Add(3900*time.Millisecond).Sub(time.Now()), isQuery(dns.TypeSRV)); ok {
		t.Errorf("SRV query %v after the passive answer, before 80 %% of the new record", m.at.Sub(t1))
	}
	if time.Since(t0) < 5*time.Second+200*time.Millisecond {
		t.Fatalf("the test took too little time to see the old record's expiry")
	}
	select {
	case ev := <-b.Events():
		t.Errorf("event %v of %s", ev.Type, ev.Peer.Name)
	default:
	}
	if len(b.Peers()) != 1 {
		t.Errorf("peers %v", b.Peers())
	}
	m := w.peer.next(time.Second, "the refresh of the new record", isQuery(dns.TypeSRV))
	if d := m.at.Sub(t1); !within(d, 3980*time.Millisecond, 4160*time.Millisecond) {
		t.Errorf("refresh %v after the passive answer, want 80–82 %% of 5 s", d)
	}
}

// TestWireDuplicateQuestion: when another host asks for the SRV record just
// before this browser would, the browser does not ask (RFC 6762 §7.3), and
// the answer renews its record; with nobody else asking, it asks itself.
func TestWireDuplicateQuestion(t *testing.T) {
	w := newWireLAN(t, "dq", 46, true)
	b := w.browse(Options{})
	a := rec{svc: Service{Name: "dup", ID: testID("dup"), Port: 4000}, ttl: 4, addrs: []string{"10.231.46.2"}}
	t0 := w.announceTo(b, a)

	// The other host asks at 77.5 %, the answer comes at 83.75 %.
	if m, ok := w.peer.poll(time.Until(t0.Add(3100*time.Millisecond)), isQuery(dns.TypeSRV)); ok {
		t.Fatalf("SRV query at %v", m.at.Sub(t0))
	}
	srv, extra := srvAndAddrs(a)
	other := new(dns.Msg)
	other.SetQuestion(srv.Header().Name, dns.TypeSRV)
	other.RecursionDesired, other.Id = false, 0
	w.peer.multicast(other, false)
	if m, ok := w.peer.poll(time.Until(t0.Add(3350*time.Millisecond)), isQuery(dns.TypeSRV)); ok {
		t.Errorf("the browser asked too, %v after the start: %v", m.at.Sub(t0), m)
	}
	t1 := time.Now()
	w.peer.multicast(answer([]dns.RR{srv}, extra...), false)

	// Nobody else asks now: the browser does, at 80–82 % of the new record.
	m := w.peer.next(4*time.Second, "the browser's own refresh", isQuery(dns.TypeSRV))
	if d := m.at.Sub(t1); !within(d, 3180*time.Millisecond, 3300*time.Millisecond) {
		t.Errorf("own refresh %v after the answer, want 80–82 %% of 4 s", d)
	}
	select {
	case ev := <-b.Events():
		t.Errorf("event %v of %s", ev.Type, ev.Peer.Name)
	default:
	}
}

// TestWireNarrowed: a narrowed lookup asks for its subtype first (QU); if
// nobody answers within a second it asks everyone (QU again); if a
// receiver answers, it keeps asking for the subtype, listing the answer.
func TestWireNarrowed(t *testing.T) {
	desk := rec{svc: Service{Name: "Desk-7", ID: testID("desk-7"), Port: 4000}, ttl: 120, addrs: []string{"10.231.47.2"}}
	t.Run("unanswered widens", func(t *testing.T) {
		w := newWireLAN(t, "nw", 47, true)
		b := w.browse(Options{Only: ByName("desk-7")})
		m := w.peer.next(3*time.Second, "the narrowed query", isQuery(dns.TypePTR))
		sub := nameSubtype("desk-7") + "._sub." + serviceName
		if !qu(m) || len(m.msg.Question) != 1 || m.msg.Question[0].Name != sub {
			t.Fatalf("first query %v, want %s QU", m, sub)
		}
		m2 := w.peer.next(2*time.Second, "the widened query", isQuery(dns.TypePTR))
		if d := m2.at.Sub(m.at); !qu(m2) || m2.msg.Question[0].Name != serviceName || !within(d, 980*time.Millisecond, 1100*time.Millisecond) {
			t.Fatalf("second query %v, %v after the first; want %s QU after 1 s", m2, d, serviceName)
		}
		w.peer.unicast(browseAnswer(desk), m2.src)
		waitEvent(t, b, time.Second, PeerUp, "Desk-7")
	})
	t.Run("answered stays narrow", func(t *testing.T) {
		w := newWireLAN(t, "nn", 48, true)
		prefix := desk.svc.ID.String()[:16]
		b := w.browse(Options{Only: ByID(prefix)})
		m := w.peer.next(3*time.Second, "the narrowed query", isQuery(dns.TypePTR))
		sub := idSubtype(desk.svc.ID) + "._sub." + serviceName
		if !qu(m) || m.msg.Question[0].Name != sub {
			t.Fatalf("first query %v, want %s QU", m, sub)
		}
		ptr, others := desk.rrs()
		subPTR := dns.Copy(ptr).(*dns.PTR)
		subPTR.Hdr.Name = sub
		w.peer.unicast(answer([]dns.RR{subPTR}, others...), m.src)
		waitEvent(t, b, time.Second, PeerUp, "Desk-7")
		m2 := w.peer.next(2*time.Second, "the second query", isQuery(dns.TypePTR))
		if qu(m2) || m2.msg.Question[0].Name != sub || len(m2.msg.Answer) != 1 || m2.msg.Answer[0].Header().Name != sub {
			t.Errorf("second query %v, want %s QM listing desk's subtype PTR", m2, sub)
		}
		if m3, ok := w.peer.poll(2500*time.Millisecond, func(m wireMsg) bool {
			return isQuery(dns.TypePTR)(m) && m.msg.Question[0].Name == serviceName
		}); ok {
			t.Errorf("asked everyone after an answer: %v", m3)
		}
	})
}

// TestReceiveBuffer: the sockets ask for 4 MiB; what the kernel grants is
// read back, and less than 1 MiB is one warning that says how to raise it.
func TestReceiveBuffer(t *testing.T) {
	requireNamespace(t)
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip(err)
	}
	rmem, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ask := range []int{wantRcvbuf, 256 << 10} {
		var buf syncbuf.Buffer
		s, err := openSockets(slog.New(slog.NewTextHandler(&buf, nil)), ask)
		if err != nil {
			t.Fatal(err)
		}
		s.close()
		want := 2 * min(ask, rmem) // Linux reports twice the size, the rest is its bookkeeping
		if s.rcvbuf != want {
			t.Errorf("asked %d: the kernel reports %d, want %d (rmem_max %d)", ask, s.rcvbuf, want, rmem)
		}
		warned := strings.Count(buf.String(), "sysctl -w net.core.rmem_max=4194304")
		if wantWarn := want < minRcvbuf; (warned == 1) != wantWarn || warned > 1 {
			t.Errorf("asked %d, granted %d: %d warnings, want %v\n%s", ask, s.rcvbuf, warned, wantWarn, buf.String())
		}
		t.Logf("asked %d KiB: granted %d KiB; log: %s", ask>>10, s.rcvbuf>>10, strings.TrimSpace(buf.String()))
	}
}

// requireNamespace skips (fails under CI) unless this process runs in a
// private namespace, where opening port 5353 disturbs nothing.
func requireNamespace(t *testing.T) {
	t.Helper()
	if os.Getenv("FERRY_TESTNET") == "" {
		newWireLAN(t, "x", 0, true) // skips or fails as the harness does
	}
}

// TestPrefixes: the on-link prefixes of an interface, as the net package
// reports them (IPv4 addresses in 16 bytes with 4-byte masks).
func TestPrefixes(t *testing.T) {
	requireNamespace(t)
	w := newWireLAN(t, "px", 49, true)
	st := newLinkState(link{})
	links, err := usableLinks([]string{w.ifname})
	if err != nil {
		t.Fatal(err)
	}
	st.iface = links[0].iface
	got := prefixes(&st.iface)
	for _, want := range []string{"10.231.49.0/24", "fd31::/64"} {
		if !slices.Contains(got, netip.MustParsePrefix(want).Masked()) && !slices.ContainsFunc(got, func(p netip.Prefix) bool { return p.Masked() == netip.MustParsePrefix(want) }) {
			t.Errorf("prefixes %v lack %s", got, want)
		}
	}
	st.prefixes = got
	if !st.onLink(netip.MustParseAddr("10.231.49.77")) || st.onLink(netip.MustParseAddr("10.231.50.1")) || !st.onLink(netip.MustParseAddr("fe80::9")) {
		t.Errorf("onLink wrong with %v", got)
	}
}
