package discovery

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// recorder is a sender that keeps what a watcher sends, decoded, with the
// time the test's clock says.
type recorder struct {
	now  time.Time
	sent []sentQuery
}

type sentQuery struct {
	at    time.Time
	iface string
	v6    bool
	size  int
	msg   *dns.Msg
}

func (r *recorder) send(ifi *net.Interface, v6 bool, b []byte) error {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		panic(err)
	}
	r.sent = append(r.sent, sentQuery{at: r.now, iface: ifi.Name, v6: v6, size: len(b), msg: m})
	return nil
}

// parsed is the query as another browser would decode it, and its bytes.
func (s sentQuery) parsed(t *testing.T) (query, []byte) {
	t.Helper()
	return mustParseQuery(t, s.msg)
}

// take returns what was sent since the last take.
func (r *recorder) take() []sentQuery {
	s := r.sent
	r.sent = nil
	return s
}

// newTestWatcher returns a watcher with two dual-stack links and no
// sockets; the tests drive apply, tick and flush with their own clock.
func newTestWatcher() (*watcher, *recorder) {
	tx := &recorder{}
	w := &watcher{
		log:     slog.New(slog.DiscardHandler),
		tx:      tx,
		maxTTL:  recordTTL,
		rand:    rand.New(rand.NewPCG(1, 2)),
		links:   make(map[int]*linkState),
		publish: func(map[string]Peer) {},
	}
	for i, name := range []string{"eth0", "eth1"} {
		st := newLinkState(link{iface: net.Interface{Index: i + 2, Name: name}})
		st.v4, st.v6 = true, true
		st.prefixes = []netip.Prefix{netip.MustParsePrefix("10.231.0.0/16"), netip.MustParsePrefix("fd31::/64")}
		w.links[i+2] = st
	}
	return w, tx
}

// upWatcher returns a test watcher to which rs were announced on eth0 at
// t0, and are up.
func upWatcher(t *testing.T, t0 time.Time, rs ...rec) (*watcher, *recorder) {
	t.Helper()
	w, tx := newTestWatcher()
	w.feed(t, t0, 2, false, rs...)
	want := make([]EventType, len(rs))
	for i := range want {
		want[i] = PeerUp
	}
	wantEvents(t, w.events(t0), want...)
	return w, tx
}

func (w *watcher) feed(t *testing.T, at time.Time, ifIndex int, announce bool, rs ...rec) {
	t.Helper()
	w.feedBytes(t, at, ifIndex, pkt(t, announce, rs...))
}

func (w *watcher) feedBytes(t *testing.T, at time.Time, ifIndex int, b []byte) {
	t.Helper()
	r, err := parseResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	w.handle(packet{ifIndex: ifIndex, at: at, resp: &r})
}

// events flushes at now and returns the queued events.
func (w *watcher) events(now time.Time) []Event {
	w.flush(now)
	evs := w.queue
	w.queue = nil
	return evs
}

// run ticks the watcher as its goroutine would, from..until, and returns
// the events; rec's clock follows.
func (w *watcher) runUntil(tx *recorder, from, until time.Time) []Event {
	now := from
	for {
		next := w.nextWake()
		if next.IsZero() || next.After(until) {
			break
		}
		if next.After(now) {
			now = next
		}
		tx.now = now
		w.tick(now)
	}
	tx.now = until
	w.tick(until)
	evs := w.queue
	w.queue = nil
	return evs
}

func wantEvents(t *testing.T, got []Event, want ...EventType) {
	t.Helper()
	var types []EventType
	for _, e := range got {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v (%+v)", types, want, got)
	}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestWatcherLifecycle(t *testing.T) {
	w, _ := newTestWatcher()
	t0 := time.Unix(1000, 0)
	alpha := rec{svc: Service{Name: "alpha", ID: testID("a"), Port: 4001}, ttl: 3200,
		addrs: []string{"10.231.0.1", "fd31::1"}}

	w.feed(t, t0, 2, false, alpha)
	evs := w.events(t0)
	wantEvents(t, evs, PeerUp)
	p := evs[0].Peer
	if p.Name != "alpha" || p.ID != alpha.svc.ID || p.Port != 4001 || p.Version != 1 ||
		!slices.Equal(p.Addrs, addrs("10.231.0.1", "fd31::1")) || p.Instance != alpha.svc.Instance() {
		t.Fatalf("peer = %+v", p)
	}

	// The same answer again changes nothing; new flags are a change.
	w.feed(t, t0.Add(time.Second), 2, false, alpha)
	wantEvents(t, w.events(t0.Add(time.Second)))
	alpha.svc.Flags = map[string]string{"pair": "1"}
	w.feed(t, t0.Add(time.Second), 2, false, alpha)
	evs = w.events(t0.Add(time.Second))
	wantEvents(t, evs, PeerChanged)
	if evs[0].Peer.Flags["pair"] != "1" {
		t.Fatalf("flags = %v", evs[0].Peer.Flags)
	}

	// Seen on a second link: the addresses of both, link-local with a zone.
	alpha2 := alpha
	alpha2.addrs = []string{"10.231.2.1", "fe80::1"}
	w.feed(t, t0.Add(time.Second), 3, false, alpha2)
	evs = w.events(t0.Add(time.Second))
	wantEvents(t, evs, PeerChanged)
	want := []netip.Addr{netip.MustParseAddr("10.231.0.1"), netip.MustParseAddr("10.231.2.1"),
		netip.MustParseAddr("fd31::1"), netip.MustParseAddr("fe80::1").WithZone("eth1")}
	if got := evs[0].Peer.Addrs; !slices.Equal(got, want) {
		t.Fatalf("addrs = %v, want %v", got, want)
	}

	// A goodbye on both links takes effect after a second.
	bye := alpha
	bye.ttl = 0
	tb := t0.Add(3 * time.Second)
	w.feed(t, tb, 2, true, bye)
	w.feed(t, tb, 3, true, bye)
	if next := w.nextWake(); next.After(tb.Add(goodbyeGrace)) {
		t.Fatalf("next wake %v, want by %v", next, tb.Add(goodbyeGrace))
	}
	wantEvents(t, w.events(tb.Add(goodbyeGrace/2)))
	wantEvents(t, w.events(tb.Add(goodbyeGrace)), PeerDown)
	if len(w.published) != 0 {
		t.Fatalf("published = %v", w.published)
	}
}

func TestWatcherReannounceCancelsGoodbye(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 3200, addrs: []string{"10.231.0.1"}}
	w, _ := upWatcher(t, t0, a)

	// Re-registration: goodbye, then an announcement with a new address and
	// the cache-flush bit, within the second.
	bye := a
	bye.ttl = 0
	w.feed(t, t0.Add(10*time.Second), 2, true, bye)
	b := a
	b.addrs, b.flush = []string{"10.231.0.9"}, true
	w.feed(t, t0.Add(10*time.Second+300*time.Millisecond), 2, true, b)
	// The old address lives a second after its goodbye (RFC 6762 §10.1).
	evs := w.events(t0.Add(10*time.Second + 500*time.Millisecond))
	wantEvents(t, evs, PeerChanged)
	if got := evs[0].Peer.Addrs; !slices.Equal(got, addrs("10.231.0.1", "10.231.0.9")) {
		t.Fatalf("addrs = %v, want both", got)
	}
	evs = w.events(t0.Add(11 * time.Second))
	wantEvents(t, evs, PeerChanged)
	if got := evs[0].Peer.Addrs; !slices.Equal(got, addrs("10.231.0.9")) {
		t.Fatalf("addrs = %v, want only the new one", got)
	}

	// Without a goodbye, the cache-flush bit ends the old address a second
	// later (RFC 6762 §10.2).
	c := b
	c.addrs = []string{"10.231.0.10"}
	w.feed(t, t0.Add(20*time.Second), 2, true, c)
	wantEvents(t, w.events(t0.Add(20*time.Second)), PeerChanged)
	evs = w.events(t0.Add(21 * time.Second))
	wantEvents(t, evs, PeerChanged)
	if got := evs[0].Peer.Addrs; !slices.Equal(got, addrs("10.231.0.10")) {
		t.Fatalf("addrs = %v, want only the newest", got)
	}
}

// TestWatcherRefreshAndExpiry: an instance is refreshed by SRV queries at
// 80, 85, 90 and 95 % of its record's TTL (each plus up to 2 %), the last
// two with a PTR query that leaves it out of the known answers; it is down
// when its SRV record expires. Another that answers stays up, without a
// further query until 80 % of its new record's TTL.
func TestWatcherRefreshAndExpiry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.1"}}
	b := rec{svc: Service{Name: "b", ID: testID("b"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.2"}}
	w, tx := upWatcher(t, t0, a, b)
	tx.take()

	ttl := 12 * time.Second
	// b answers its first refresh query at once; a never answers.
	var srvQ []sentQuery
	var ptrQ []sentQuery
	now := t0
	bAnswered := time.Time{}
	var evs []Event
	for now.Before(t0.Add(ttl + time.Second)) {
		now = now.Add(10 * time.Millisecond)
		tx.now = now
		w.tick(now)
		evs = append(evs, w.queue...)
		w.queue = nil
		for _, s := range tx.take() {
			if s.iface != "eth0" {
				continue // eth1 knows nothing
			}
			for _, q := range s.msg.Question {
				switch q.Qtype {
				case dns.TypeSRV:
					one := s
					one.msg = s.msg.Copy()
					one.msg.Question = []dns.Question{q}
					srvQ = append(srvQ, one)
					if strings.HasPrefix(q.Name, "b") && bAnswered.IsZero() {
						bAnswered = now
						w.feed(t, now, 2, false, b)
					}
				case dns.TypePTR:
					ptrQ = append(ptrQ, s)
				}
			}
		}
	}
	var aTimes []time.Duration
	for _, s := range srvQ {
		if strings.HasPrefix(s.msg.Question[0].Name, "a") {
			aTimes = append(aTimes, s.at.Sub(t0))
		}
	}
	if len(aTimes) != 4 {
		t.Fatalf("a's SRV queries at %v, want 4", aTimes)
	}
	for i, f := range refreshAt {
		lo := time.Duration(f*float64(ttl)) - refreshBatch
		hi := time.Duration((f+refreshJitter)*float64(ttl)) + 10*time.Millisecond
		if aTimes[i] < lo || aTimes[i] > hi {
			t.Errorf("refresh %d at %v, want within %v..%v", i, aTimes[i], lo, hi)
		}
	}
	// One SRV query of b, at 80 %; none for its new record within its 80 %.
	if n := len(srvQ) - len(aTimes); n != 1 {
		t.Errorf("%d SRV queries for b, want 1", n)
	}
	// The fallback PTR queries (steps 3 and 4) list b but not a.
	if len(ptrQ) != 2 {
		t.Fatalf("%d PTR queries, want 2 (the fallback of the last two refreshes)", len(ptrQ))
	}
	for _, s := range ptrQ {
		if s.msg.Question[0].Qclass&unicastBit != 0 || len(s.msg.Answer) != 1 ||
			!strings.HasPrefix(s.msg.Answer[0].(*dns.PTR).Ptr, "b") {
			t.Errorf("fallback PTR query %v, want a QM question with b's PTR as the known answer", s.msg)
		}
		if got := s.at.Sub(t0); got < time.Duration(0.9*float64(ttl))-refreshBatch {
			t.Errorf("fallback PTR query at %v, before 90 %% of the TTL", got)
		}
	}
	wantEvents(t, evs, PeerDown)
	if evs[0].Peer.Name != "a" {
		t.Errorf("down: %+v", evs[0].Peer)
	}
	if w.links[2].instances["b "+strings.ToLower(b.svc.ID.Short())] == nil {
		t.Errorf("b left the cache")
	}
}

// TestWatcherPTRSchedule: a link's PTR queries go out at 0 (QU), 1 s, 16 s,
// 46 s, … doubling up to an hour; an address change starts them again.
func TestWatcherPTRSchedule(t *testing.T) {
	w, tx := newTestWatcher()
	delete(w.links, 3)
	st := w.links[2]
	t0 := time.Unix(1000, 0)
	st.ptr.restart(t0)
	w.runUntil(tx, t0, t0.Add(5*time.Hour))
	sent := tx.take()
	var gaps []time.Duration
	for i, s := range sent {
		if len(s.msg.Question) != 1 || s.msg.Question[0].Name != serviceName || s.msg.Question[0].Qtype != dns.TypePTR {
			t.Fatalf("query %d: %v", i, s.msg.Question)
		}
		if qu := s.msg.Question[0].Qclass&unicastBit != 0; qu != (i == 0) {
			t.Errorf("query %d: QU %v", i, qu)
		}
		if s.v6 {
			t.Errorf("query %d over IPv6 on a link with IPv4", i)
		}
		if i > 0 {
			gaps = append(gaps, s.at.Sub(sent[i-1].at))
		}
	}
	want := []time.Duration{1, 15, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600}
	for i := range want {
		want[i] *= time.Second
	}
	if sent[0].at != t0 || !slices.Equal(gaps[:len(want)], want) {
		t.Errorf("first at %v, gaps %v, want at %v, %v", sent[0].at, gaps, t0, want)
	}

	// An address change on the link: a QU query at once, then 1 s later.
	t1 := t0.Add(5 * time.Hour)
	l := st.link
	l.v4 = addrs("10.231.0.100")
	if err := w.setLinks([]link{l}, false, t1); err != nil {
		t.Fatal(err)
	}
	w.runUntil(tx, t1, t1.Add(1500*time.Millisecond))
	sent = tx.take()
	if len(sent) != 2 || sent[0].at != t1 || sent[0].msg.Question[0].Qclass&unicastBit == 0 || sent[1].at != t1.Add(time.Second) {
		t.Errorf("after the change: %v", sent)
	}
}

// TestWatcherKnownAnswers: with 200 receivers cached, a PTR query lists
// every PTR record with more than half its TTL left, over several packets
// of at most 1472 bytes, the TC bit on all but the last; one whose record is
// older than half its TTL is not listed.
func TestWatcherKnownAnswers(t *testing.T) {
	w, tx := newTestWatcher()
	t0 := time.Unix(1000, 0)
	var rs []rec
	for i := range 200 {
		rs = append(rs, rec{svc: Service{Name: "desk-" + string(rune('a'+i%26)) + strings.Repeat("x", i%7), ID: testID("d" + string(rune(i))), Port: 1},
			ttl: 4500, addrs: []string{"10.231.0.7"}})
	}
	for i := 0; i < len(rs); i += 10 {
		w.feed(t, t0, 2, false, rs[i:i+10]...)
	}
	// One whose PTR is old: more than half its TTL gone (its SRV is fresh).
	old := rec{svc: Service{Name: "old", ID: testID("old"), Port: 1}, ttl: 100, addrs: []string{"10.231.0.8"}}
	w.feed(t, t0.Add(-60*time.Second), 2, false, old)
	w.links[2].instances[strings.ToLower(old.svc.Instance())].setSRV(t0, 12*time.Second, w.jitterFor(t0))

	now := t0.Add(2 * time.Second)
	tx.now = now
	w.queryPTR(w.links[2], now, false, nil)
	sent := tx.take()
	if len(sent) < 5 {
		t.Fatalf("%d packets for 200 known answers, want several", len(sent))
	}
	listed := make(map[string]int)
	for i, s := range sent {
		if s.size > maxQuery4 {
			t.Errorf("packet %d is %d bytes", i, s.size)
		}
		if tc := i < len(sent)-1; s.msg.Truncated != tc {
			t.Errorf("packet %d: TC %v", i, s.msg.Truncated)
		}
		if wantQ := i == 0; (len(s.msg.Question) == 1) != wantQ {
			t.Errorf("packet %d: questions %v", i, s.msg.Question)
		}
		for _, rr := range s.msg.Answer {
			ptr := rr.(*dns.PTR)
			listed[ptr.Ptr]++
			if ptr.Hdr.Name != serviceName || ptr.Hdr.Ttl != 4498 {
				t.Errorf("known answer %v, want TTL 4498", ptr)
			}
		}
	}
	if len(listed) != 200 {
		t.Errorf("%d known answers, want 200", len(listed))
	}
	for name, n := range listed {
		if n != 1 || strings.HasPrefix(name, "old") {
			t.Errorf("%s listed %d times", name, n)
		}
	}
	t.Logf("200 known answers in %d packets: %v bytes", len(sent), func() (s []int) {
		for _, p := range sent {
			s = append(s, p.size)
		}
		return
	}())
}

// TestWatcherDuplicateQuestion: another host's QM question for an SRV
// record this browser is about to refresh counts as this browser's (RFC
// 6762 §7.3), unless it lists the record as a known answer or asks for a
// unicast answer; this browser's own query, looped back, does not count.
func TestWatcherDuplicateQuestion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qu     bool
		known  uint32 // TTL of the SRV record listed as known; 0: none
		mine   bool
		skips  bool
		before time.Duration // how long before our refresh the other asks
	}{
		{name: "plain", skips: true, before: 100 * time.Millisecond},
		{name: "just after ours would be due", skips: true, before: 0},
		{name: "too early", before: 2 * time.Second},
		{name: "QU", qu: true, before: 100 * time.Millisecond},
		{name: "lists the record", known: 10, before: 100 * time.Millisecond},
		{name: "lists it nearly expired", known: 2, skips: true, before: 100 * time.Millisecond},
		{name: "our own", mine: true, before: 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, tx := newTestWatcher()
			t0 := time.Unix(1000, 0)
			a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.1"}}
			w.feed(t, t0, 2, false, a)
			in := w.links[2].instances[strings.ToLower(a.svc.Instance())]
			due := in.nextRefresh()

			m := new(dns.Msg)
			m.SetQuestion(in.fqdn, dns.TypeSRV)
			m.RecursionDesired = false
			if tc.qu {
				m.Question[0].Qclass |= unicastBit
			}
			if tc.known > 0 {
				m.Answer = []dns.RR{&dns.SRV{Hdr: dns.RR_Header{Name: in.fqdn, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: tc.known}, Target: "x.local."}}
			}
			q, b := mustParseQuery(t, m)
			at := due.Add(-tc.before)
			if tc.mine {
				w.own = map[uint64]time.Time{digest(b): at}
			}
			w.handle(packet{ifIndex: 2, at: at, query: &q, digest: digest(b)})
			tx.now = due
			w.tick(due)
			asked := len(tx.take()) > 0
			if asked == tc.skips {
				t.Errorf("asked %v, want %v", asked, !tc.skips)
			}
		})
	}
}

// TestWatcherPassiveRefresh: an answer to another host's question renews
// the record, so this browser asks nothing at 80 % of the old one.
func TestWatcherPassiveRefresh(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.1"}}
	w, tx := upWatcher(t, t0, a)
	w.feed(t, t0.Add(9*time.Second), 2, true, a) // someone else's answer
	evs := w.runUntil(tx, t0, t0.Add(16*time.Second))
	for _, s := range tx.take() {
		if s.iface == "eth0" {
			if got := s.at.Sub(t0); got < 9*time.Second+time.Duration(0.8*12*float64(time.Second))-refreshBatch {
				t.Errorf("query at %v: %v", got, s.msg.Question)
			}
		}
	}
	wantEvents(t, evs)
}

// TestWatcherNarrowed: a narrowed lookup asks for its subtype, QU first;
// answered, it keeps asking for it; unanswered for a second, it asks
// everyone, QU first again.
func TestWatcherNarrowed(t *testing.T) {
	for _, answered := range []bool{false, true} {
		w, tx := newTestWatcher()
		delete(w.links, 3)
		w.lookup = ByName("Desk")
		t0 := time.Unix(1000, 0)
		w.links[2].ptr.restart(t0)
		tx.now = t0
		w.tick(t0)
		sent := tx.take()
		sub := nameSubtype("desk") + "._sub." + serviceName
		if len(sent) != 1 || sent[0].msg.Question[0].Name != sub || sent[0].msg.Question[0].Qclass&unicastBit == 0 {
			t.Fatalf("first query %v, want %s QU", sent, sub)
		}
		if answered {
			desk := rec{svc: Service{Name: "desk", ID: testID("desk"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.1"}}
			ptr, others := desk.rrs()
			m := new(dns.Msg)
			m.Response = true
			subPTR := dns.Copy(ptr).(*dns.PTR)
			subPTR.Hdr.Name = sub
			m.Answer, m.Extra = []dns.RR{subPTR}, others
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			w.feedBytes(t, t0.Add(50*time.Millisecond), 2, b)
		}
		w.runUntil(tx, t0, t0.Add(1100*time.Millisecond))
		sent = tx.take()
		if len(sent) != 1 {
			t.Fatalf("answered %v: %d queries at 1 s, want 1", answered, len(sent))
		}
		q := sent[0].msg.Question[0]
		switch {
		case answered && (q.Name != sub || q.Qclass&unicastBit != 0 || len(sent[0].msg.Answer) != 1):
			t.Errorf("answered: second query %v, want %s QM with the known answer", sent[0].msg, sub)
		case !answered && (q.Name != serviceName || q.Qclass&unicastBit == 0):
			t.Errorf("unanswered: second query %v, want %s QU", sent[0].msg, serviceName)
		}
	}
}

// TestWatcherUnicast: a unicast response counts only within two seconds of
// a QU query on that link, and from an address of the link.
func TestWatcherUnicast(t *testing.T) {
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.1"}}
	for _, tc := range []struct {
		name  string
		src   string
		after time.Duration // since the QU query
		ok    bool
	}{
		{"on-link, soon", "10.231.0.1", 100 * time.Millisecond, true},
		{"link-local IPv6", "fe80::1", 100 * time.Millisecond, true},
		{"late", "10.231.0.1", 3 * time.Second, false},
		{"off-link", "192.0.2.1", 100 * time.Millisecond, false},
	} {
		w, tx := newTestWatcher()
		t0 := time.Unix(1000, 0)
		w.links[2].ptr.restart(t0)
		tx.now = t0
		w.tick(t0)
		r, err := parseResponse(pkt(t, false, a))
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(tc.after)
		w.handle(packet{ifIndex: 2, at: at, resp: &r, unicast: true, src: netip.AddrPortFrom(netip.MustParseAddr(tc.src), mdnsPort)})
		if got := len(w.events(at)) == 1; got != tc.ok {
			t.Errorf("%s: accepted %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestWatcherFamily: queries go over IPv4 on a link with IPv4, over IPv6
// only on a link without.
func TestWatcherFamily(t *testing.T) {
	w, tx := newTestWatcher()
	w.links[3].v4 = false
	t0 := time.Unix(1000, 0)
	for _, st := range w.links {
		st.ptr.restart(t0)
	}
	tx.now = t0
	w.tick(t0)
	got := map[string]bool{}
	for _, s := range tx.take() {
		got[s.iface] = s.v6
	}
	if v6, ok := got["eth0"]; !ok || v6 {
		t.Errorf("eth0 (IPv4 and IPv6): queried %v, over IPv6 %v; want IPv4", ok, v6)
	}
	if v6, ok := got["eth1"]; !ok || !v6 {
		t.Errorf("eth1 (IPv6 only): queried %v, over IPv6 %v; want IPv6", ok, v6)
	}
}

func TestWatcherIncompleteAndForeign(t *testing.T) {
	w, _ := newTestWatcher()
	t0 := time.Unix(1000, 0)
	noAddr := rec{svc: Service{Name: "n", ID: testID("n"), Port: 1}, ttl: 3200}
	w.feed(t, t0, 2, false, noAddr)
	// An interface not in use.
	foreign := rec{svc: Service{Name: "f", ID: testID("f"), Port: 1}, ttl: 3200, addrs: []string{"10.231.0.3"}}
	w.feed(t, t0, 7, false, foreign)
	// Unusable addresses only.
	bad := rec{svc: Service{Name: "b", ID: testID("b"), Port: 1}, ttl: 3200, addrs: []string{"127.0.0.1", "::1", "0.0.0.0", "255.255.255.255"}}
	w.feed(t, t0, 2, false, bad)
	wantEvents(t, w.events(t0))

	// The addresses arrive in a later packet (a host announcement).
	m := noAddr
	m.addrs = []string{"10.231.0.4"}
	w.feed(t, t0.Add(time.Millisecond), 2, true, m)
	wantEvents(t, w.events(t0), PeerUp)

	// No interface information, two links: kept, but link-local needs a zone.
	unknown := rec{svc: Service{Name: "u", ID: testID("u"), Port: 1}, ttl: 3200, addrs: []string{"10.231.0.5", "fe80::5"}}
	w.feed(t, t0, 0, false, unknown)
	evs := w.events(t0)
	wantEvents(t, evs, PeerUp)
	if got := evs[0].Peer.Addrs; !slices.Equal(got, addrs("10.231.0.5")) {
		t.Fatalf("addrs = %v", got)
	}
}

// TestWatcherTXTOutlivesItsTTL: an instance whose SRV record is refreshed
// stays up though its TXT record's TTL ran out.
func TestWatcherTXTOutlivesItsTTL(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 12, addrs: []string{"10.231.0.1"}}
	w, _ := upWatcher(t, t0, a)
	// SRV and A answers only, as a responder answers an SRV question.
	_, others := a.rrs()
	for i := 1; i <= 3; i++ {
		m := new(dns.Msg)
		m.Response = true
		for _, rr := range others {
			if rr.Header().Rrtype != dns.TypeTXT {
				m.Answer = append(m.Answer, rr)
			}
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		w.feedBytes(t, at, 2, b)
		wantEvents(t, w.events(at))
	}
}

// TestWatcherBrowsersShareRefreshes: five browsers that hold the same 50
// records refresh them with one set of questions between them, though a
// query takes 5 ms to reach the others: the records that arrived together
// are asked for together, each browser at its own random share of the TTL,
// and the later ones take the first one's questions as theirs (RFC 6762
// §7.3). With a random share per record, the earliest of 50 falls near 80 %
// in every browser, and several ask at once.
func TestWatcherBrowsersShareRefreshes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var rs []rec
	for i := range 50 {
		rs = append(rs, rec{svc: Service{Name: fmt.Sprintf("desk-%d", i), ID: testID(fmt.Sprintf("desk-%d", i)), Port: 1},
			ttl: 12, addrs: []string{"10.231.0.1"}})
	}
	var ws []*watcher
	var txs []*recorder
	for seed := range uint64(5) {
		w, tx := newTestWatcher()
		w.rand = rand.New(rand.NewPCG(seed, 7))
		for i := 0; i < len(rs); i += 10 {
			w.feed(t, t0.Add(time.Duration(i)*time.Millisecond), 2, false, rs[i:i+10]...)
		}
		ws, txs = append(ws, w), append(txs, tx)
	}
	asked := make([]int, len(ws))
	batches := make([]int, len(ws))
	type delivery struct {
		at   time.Time
		to   *watcher
		p    packet
		resp []byte
	}
	var inFlight []delivery // what the LAN carries, 5 ms late
	const latency = 5 * time.Millisecond
	for now := t0.Add(9 * time.Second); now.Before(t0.Add(11 * time.Second)); now = now.Add(time.Millisecond) {
		for len(inFlight) > 0 && !inFlight[0].at.After(now) {
			d := inFlight[0]
			inFlight = inFlight[1:]
			if d.resp != nil {
				d.to.feedBytes(t, d.at, 2, d.resp)
			} else {
				d.to.handle(d.p)
			}
		}
		for i, w := range ws {
			txs[i].now = now
			w.tick(now)
			sent := txs[i].take()
			for _, s := range sent {
				if s.iface != "eth0" || len(s.msg.Question) == 0 || s.msg.Question[0].Qtype != dns.TypeSRV {
					continue
				}
				batches[i]++
				asked[i] += len(s.msg.Question)
				q, b := s.parsed(t)
				for j, other := range ws {
					if j != i {
						inFlight = append(inFlight, delivery{at: now.Add(latency), to: other, p: packet{ifIndex: 2, at: now.Add(latency), query: &q, digest: digest(b)}})
					}
				}
				// The responders answer at once, both browsers hear it.
				for _, qn := range s.msg.Question {
					for _, r := range rs {
						if strings.EqualFold(qn.Name, escapeLabel(r.svc.Instance())+"."+serviceName) ||
							strings.EqualFold(strings.ReplaceAll(qn.Name, `\ `, " "), r.svc.Instance()+"."+serviceName) {
							srv, extra := srvAndAddrs(r)
							m := answer([]dns.RR{srv}, extra...)
							ab, err := m.Pack()
							if err != nil {
								t.Fatal(err)
							}
							for _, w := range ws {
								inFlight = append(inFlight, delivery{at: now.Add(2 * latency), to: w, resp: ab})
							}
						}
					}
				}
			}
		}
	}
	t.Logf("questions asked %v in batches %v", asked, batches)
	total := 0
	for _, n := range asked {
		total += n
	}
	if total != len(rs) {
		t.Errorf("the browsers asked %v questions in %v batches, want %d between them", asked, batches, len(rs))
	}
	for _, w := range ws {
		if evs := w.events(t0.Add(11 * time.Second)); len(evs) != len(rs) { // the ups of the start
			t.Errorf("%d events, want %d ups only", len(evs), len(rs))
		}
	}
}

// TestWatcherDuplicatePTRTruncated: another browser's PTR query whose known
// answers span several packets (TC) counts as this browser's next PTR
// query (RFC 6762 §7.3) once its last packet is in, if this browser would
// list all of them too and its own query is due within the later half of
// its wait; not if the other lists an instance this browser does not know,
// not if its last packet never comes, and not too early.
func TestWatcherDuplicatePTRTruncated(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var rs []rec
	for i := range 200 {
		rs = append(rs, rec{svc: Service{Name: fmt.Sprintf("desk-%d", i), ID: testID(fmt.Sprintf("d%d", i)), Port: 1},
			ttl: 4500, addrs: []string{"10.231.0.7"}})
	}
	stranger := rec{svc: Service{Name: "stranger", ID: testID("stranger"), Port: 1}, ttl: 4500, addrs: []string{"10.231.0.9"}}
	other := netip.MustParseAddrPort("10.231.0.50:5353")
	for _, tc := range []struct {
		name     string
		extra    bool          // the other browser knows one more instance
		dropLast bool          // the other's last packet is lost
		before   time.Duration // how long before this browser's query the other's goes out
		counts   bool
	}{
		{name: "covered, in the later half", before: 10 * time.Second, counts: true},
		{name: "covered, too early", before: 20 * time.Second},
		{name: "lists a stranger", extra: true, before: 10 * time.Second},
		{name: "last packet lost", dropLast: true, before: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := t0.Add(40 * time.Second)
			at := next.Add(-tc.before)
			seen := at.Add(-time.Second) // both caches fresh when the other asks
			w, _ := newTestWatcher()
			for i := 0; i < len(rs); i += 10 {
				w.feed(t, seen, 2, false, rs[i:i+10]...)
			}
			st := w.links[2]
			st.ptr = ptrSchedule{next: next, interval: 30 * time.Second}

			// The other browser's query, as it sends it: same cache (and
			// perhaps one more), so the same known answers.
			w2, tx2 := newTestWatcher()
			for i := 0; i < len(rs); i += 10 {
				w2.feed(t, seen, 2, false, rs[i:i+10]...)
			}
			if tc.extra {
				w2.feed(t, seen, 2, false, stranger)
			}
			w2.queryPTR(w2.links[2], at, false, nil)
			sent := tx2.take()
			if len(sent) < 3 || !sent[0].msg.Truncated {
				t.Fatalf("the other browser's query is %d packets, want several, the first truncated", len(sent))
			}
			if tc.dropLast {
				sent = sent[:len(sent)-1]
			}
			for i, s := range sent {
				q, b := s.parsed(t)
				w.handle(packet{ifIndex: 2, at: at.Add(time.Duration(i) * time.Millisecond), src: other, query: &q, digest: digest(b)})
			}
			moved := st.ptr.next != next
			if moved != tc.counts {
				t.Errorf("next PTR query moved %v (to %v), want %v", moved, st.ptr.next.Sub(t0), tc.counts)
			}
			if tc.counts && st.ptr.next != at.Add(60*time.Second) {
				t.Errorf("next PTR query at %v, want the doubled wait after the other's, %v", st.ptr.next.Sub(t0), at.Add(60*time.Second).Sub(t0))
			}
		})
	}
}
