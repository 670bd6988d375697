package discovery

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// newTestWatcher returns a watcher with two links and no sockets; the tests
// drive apply, sweep and flush with their own clock.
func newTestWatcher() *watcher {
	w := &watcher{
		log:      slog.New(slog.DiscardHandler),
		interval: 2 * time.Second,
		missed:   3,
		links:    make(map[int]*linkState),
		publish:  func(map[string]Peer) {},
	}
	for i, name := range []string{"eth0", "eth1"} {
		w.links[i+2] = &linkState{
			link:      link{iface: net.Interface{Index: i + 2, Name: name}},
			instances: make(map[string]*instance),
			hosts:     make(map[string]*host),
		}
	}
	return w
}

func (w *watcher) feed(t *testing.T, at time.Time, ifIndex int, announce bool, rs ...rec) {
	t.Helper()
	r, err := parseResponse(pkt(t, announce, rs...))
	if err != nil {
		t.Fatal(err)
	}
	w.apply(packet{ifIndex: ifIndex, at: at, resp: r})
}

// events flushes at now and returns the queued events.
func (w *watcher) events(now time.Time) []Event {
	w.flush(now)
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
	w := newTestWatcher()
	t0 := time.Unix(1000, 0)
	w.lastSweep = t0
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
	w := newTestWatcher()
	t0 := time.Unix(1000, 0)
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 3200, addrs: []string{"10.231.0.1"}}
	w.feed(t, t0, 2, false, a)
	wantEvents(t, w.events(t0), PeerUp)

	// Re-registration: goodbye, then an announcement with a new address and
	// the cache-flush bit, within the second.
	bye := a
	bye.ttl = 0
	w.feed(t, t0.Add(10*time.Second), 2, true, bye)
	b := a
	b.addrs, b.flush = []string{"10.231.0.9"}, true
	w.feed(t, t0.Add(10*time.Second+300*time.Millisecond), 2, true, b)
	evs := w.events(t0.Add(12 * time.Second))
	wantEvents(t, evs, PeerChanged)
	if got := evs[0].Peer.Addrs; !slices.Equal(got, addrs("10.231.0.9")) {
		t.Fatalf("addrs = %v, want only the new one", got)
	}
}

func TestWatcherMissedSweeps(t *testing.T) {
	w := newTestWatcher()
	t0 := time.Unix(1000, 0)
	w.lastSweep = t0
	a := rec{svc: Service{Name: "a", ID: testID("a"), Port: 1}, ttl: 3200, addrs: []string{"10.231.0.1"}}
	b := rec{svc: Service{Name: "b", ID: testID("b"), Port: 1}, ttl: 3200, addrs: []string{"10.231.0.2"}}
	w.feed(t, t0.Add(time.Millisecond), 2, false, a, b)
	wantEvents(t, w.events(t0), PeerUp, PeerUp)

	// b keeps answering, a does not: a is down at the third sweep it missed.
	for i := 1; i <= 4; i++ {
		now := t0.Add(time.Duration(i) * w.interval)
		w.sweep(now)
		evs := w.events(now)
		if i < 4 {
			wantEvents(t, evs)
		} else {
			wantEvents(t, evs, PeerDown)
			if evs[0].Peer.Name != "a" {
				t.Fatalf("down: %+v", evs[0].Peer)
			}
		}
		w.feed(t, now.Add(time.Millisecond), 2, false, b)
	}
}

func TestWatcherIncompleteAndForeign(t *testing.T) {
	w := newTestWatcher()
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
