package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// sender multicasts a query on an interface; *sockets is one.
type sender interface {
	send(ifi *net.Interface, v6 bool, b []byte) error
}

// watcher is the state owned by a Browser's main goroutine.
type watcher struct {
	names  []string // Options.Interfaces
	log    *slog.Logger
	socks  *sockets      // joins the group; nil in unit tests
	tx     sender        // sends the queries: socks, or a recorder in unit tests
	maxTTL time.Duration // the longest a unique record is believed to live
	rand   *rand.Rand

	jitterAt time.Time               // when jitter was drawn
	jitter   [len(refreshAt)]float64 // see jitterFor

	lookup   Lookup    // what the PTR queries ask for; everyone once widened
	answered bool      // a receiver answered the narrowed lookup: it stays narrowed
	widenAt  time.Time // when the narrowed lookup asks everyone unless answered; zero if not pending

	links   map[int]*linkState // by interface index
	linkErr string             // the last interface error logged
	warned  map[string]bool
	own     map[uint64]time.Time           // digests of the queries sent lately, to know them when they loop back
	split   map[netip.AddrPort]*splitQuery // other hosts' truncated queries, until their last packet

	dirty      bool
	dirtySince time.Time
	published  map[string]Peer // by lower-case instance label
	queue      []Event
	out        chan<- Event
	publish    func(map[string]Peer)
}

func (w *watcher) run(ctx context.Context, pkts <-chan packet) error {
	defer close(w.out)
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	w.tick(time.Now())

	for {
		var (
			out  chan<- Event
			next Event
		)
		if len(w.queue) > 0 {
			out, next = w.out, w.queue[0]
		}
		if t := w.nextWake(); t.IsZero() {
			wake.Stop()
		} else {
			wake.Reset(time.Until(t))
		}

		select {
		case <-ctx.Done():
			w.flush(time.Now()) // so that Peers is current for List
			return nil
		case p := <-pkts:
			w.handle(p)
		case <-poll.C:
			w.refreshLinks(time.Now())
		case now := <-wake.C:
			w.drain(pkts)
			w.tick(now)
		case out <- next:
			w.queue[0] = Event{}
			w.queue = w.queue[1:]
		}
	}
}

// drain handles the packets already read before what the timer made due:
// select picks among ready cases at random, and on a busy machine an answer
// that came in before its record's expiry may still wait in pkts when the
// expiry is due. It takes at most what pkts holds, so that a flood cannot
// keep the timer from running.
func (w *watcher) drain(pkts <-chan packet) {
	for range cap(pkts) {
		select {
		case p := <-pkts:
			w.handle(p)
		default:
			return
		}
	}
}

// handle takes a packet from the readers.
func (w *watcher) handle(p packet) {
	switch {
	case p.resp != nil:
		w.apply(p)
	case p.query != nil:
		if _, mine := w.own[p.digest]; !mine {
			w.observeQuery(p)
		}
	}
}

// tick does what is due at now: expiries, queries, events.
func (w *watcher) tick(now time.Time) {
	w.expire(now)
	if !w.widenAt.IsZero() && !now.Before(w.widenAt) {
		w.log.Debug("nobody answered the narrowed lookup; asking everyone", "lookup", w.lookup)
		w.lookup, w.widenAt = Lookup{}, time.Time{}
		for _, st := range w.links {
			st.ptr.restart(now)
		}
	}
	for _, st := range w.sortedLinks() {
		if st.ptr.due(now) {
			if !w.lookup.everyone() && !w.answered && w.widenAt.IsZero() {
				w.widenAt = now.Add(widenAfter)
			}
			w.queryPTR(st, now, st.ptr.first(), nil)
			st.ptr.sent(now)
		}
		w.refresh(st, now)
	}
	for d, at := range w.own {
		if now.Sub(at) > ownMemory {
			delete(w.own, d)
		}
	}
	for src, sq := range w.split {
		if now.Sub(sq.at) > splitWait {
			delete(w.split, src)
		}
	}
	if w.dirty && !now.Before(w.dirtySince.Add(coalesce)) {
		w.flush(now)
	}
}

// queryPTR asks the link for the instances the lookup names, listing those
// it knows as known answers, except the instances in omit.
func (w *watcher) queryPTR(st *linkState, now time.Time, qu bool, omit map[string]bool) {
	names := w.lookup.names()
	qs := make([]question, len(names))
	for i, n := range names {
		qs[i] = question{name: n, qtype: dns.TypePTR, qu: qu}
	}
	w.transmit(st, now, qs, st.knownAnswers(names, omit, now))
	if qu {
		st.quUntil = now.Add(quWindow)
	}
}

// refresh asks for the SRV records of the link's instances whose refresh
// is due, with those due within refreshBatch, in as few packets as they fit.
// From fallbackStep on, it also sends a PTR query that leaves them out of
// its known answers, for responders that do not answer SRV questions.
func (w *watcher) refresh(st *linkState, now time.Time) {
	due := false
	for _, in := range st.instances {
		if t := in.nextRefresh(); !t.IsZero() && !now.Before(t) {
			due = true
			break
		}
	}
	if !due {
		return
	}
	var (
		qs       []question
		fallback map[string]bool
		horizon  = now.Add(refreshBatch)
	)
	for _, key := range sortedKeys(st.instances) {
		in := st.instances[key]
		if t := in.nextRefresh(); t.IsZero() || t.After(horizon) {
			continue
		}
		if in.step >= fallbackStep {
			if fallback == nil {
				fallback = make(map[string]bool)
			}
			fallback[key] = true
		}
		in.step++
		qs = append(qs, question{name: in.fqdn, qtype: dns.TypeSRV})
	}
	w.log.Debug("asking again for SRV records", "interface", st.iface.Name, "records", len(qs), "also-ptr", len(fallback))
	w.transmit(st, now, qs, nil)
	if fallback != nil {
		w.queryPTR(st, now, false, fallback)
	}
}

// transmit packs a query and multicasts it on the link.
func (w *watcher) transmit(st *linkState, now time.Time, qs []question, known []dns.RR) {
	pkts, err := packQuery(qs, known, st.maxQuery())
	if err != nil {
		w.log.Warn("mDNS query", "interface", st.iface.Name, "err", err)
		return
	}
	if w.own == nil {
		w.own = make(map[uint64]time.Time)
	}
	for _, b := range pkts {
		w.own[digest(b)] = now
		if err := w.tx.send(&st.iface, st.queryV6(), b); err != nil {
			w.log.Debug("send mDNS query", "interface", st.iface.Name, "v6", st.queryV6(), "err", err)
		}
	}
}

// splitQuery is another host's query whose known answers span several
// packets (§7.2): its first packet, with the questions and the TC bit, and
// the known answers of the packets without questions that followed from the
// same address and port.
type splitQuery struct {
	q       query
	ifIndex int
	at      time.Time // when its first packet came
}

// Bounds on the truncated queries a browser assembles to observe them.
const (
	splitWait = 500 * time.Millisecond // a query's last packet comes within this of its first (§7.2 allows a responder 400–500 ms)
	maxSplit  = 64                     // sources at once
)

// observeQuery notes another host's query on the group (RFC 6762 §7.3): a
// question this browser is about to ask counts as asked, since the answer
// will reach this browser too, unless the other host's known answers would
// keep a responder from answering what this browser needs. A query whose
// known answers span several packets is looked at once its last packet
// (the one without the TC bit) is in; one not complete within splitWait,
// or that kept fewer known answers than it listed, is not.
func (w *watcher) observeQuery(p packet) {
	q := p.query
	if len(q.questions) == 0 { // more known answers for a truncated query
		sq := w.split[p.src]
		if sq == nil || sq.ifIndex != p.ifIndex || p.at.Sub(sq.at) > splitWait {
			delete(w.split, p.src)
			return
		}
		sq.q.knownPTR = append(sq.q.knownPTR, q.knownPTR...)
		sq.q.knownSRV = append(sq.q.knownSRV, q.knownSRV...)
		sq.q.partial = sq.q.partial || q.partial || len(sq.q.knownPTR)+len(sq.q.knownSRV) > maxKnown
		if q.tc {
			return
		}
		delete(w.split, p.src)
		q, p.at = &sq.q, sq.at
	} else if q.tc {
		if w.split == nil {
			w.split = make(map[netip.AddrPort]*splitQuery)
		}
		if _, ok := w.split[p.src]; ok || len(w.split) < maxSplit {
			w.split[p.src] = &splitQuery{q: *q, ifIndex: p.ifIndex, at: p.at}
		}
		return
	}
	st := w.linkFor(p.ifIndex)
	if st == nil || q.partial {
		return
	}
	for _, qn := range q.questions {
		if qn.qu {
			continue // answered by unicast, to the other host only
		}
		switch qn.qtype {
		case dns.TypeSRV, dns.TypeANY:
			w.observeSRVQuestion(st, q, qn, p.at)
		case dns.TypePTR:
			w.observePTRQuestion(st, q, qn, p.at)
		}
	}
}

func (w *watcher) observeSRVQuestion(st *linkState, q *query, qn question, at time.Time) {
	label, ok := splitInstance(qn.name)
	if !ok {
		return
	}
	key := strings.ToLower(label)
	in := st.instances[key]
	if in == nil {
		return
	}
	next := in.nextRefresh()
	if next.IsZero() || next.Sub(at) > dupSRVWindow(in.srv.ttl) {
		return
	}
	for _, k := range q.knownSRV {
		if k.label == key && 2*ttlOf(k.ttl) >= in.srv.ttl {
			return // the responder would stay silent
		}
	}
	in.step++
	w.log.Debug("another host asked for the SRV record; not asking", "instance", in.label, "interface", st.iface.Name)
}

func (w *watcher) observePTRQuestion(st *linkState, q *query, qn question, at time.Time) {
	names := w.lookup.names()
	if len(names) != 1 || qn.name != strings.ToLower(names[0]) || st.ptr.first() || st.ptr.next.Sub(at) > dupPTRSpan(st.ptr.interval) {
		return
	}
	owner, _ := ptrOwner(qn.name)
	for _, k := range q.knownPTR {
		if k.owner != owner {
			continue
		}
		in := st.instances[k.label]
		if in == nil || !in.up(at) {
			return // it lists an answer this browser would not: a responder may stay silent for it
		}
		r := in.ptr
		if owner != "" {
			r = in.subs[owner]
		}
		if !r.known(at) {
			return
		}
	}
	st.ptr.sent(at)
	w.log.Debug("another host asked for the PTR records; not asking", "interface", st.iface.Name)
}

// narrowedTo reports whether the lookup asks for the subtype label.
func (w *watcher) narrowedTo(label string) bool { return slices.Contains(w.lookup.subtypes, label) }

func (w *watcher) sortedLinks() []*linkState {
	ls := slices.Collect(maps.Values(w.links))
	slices.SortFunc(ls, func(a, b *linkState) int { return a.iface.Index - b.iface.Index })
	return ls
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// refreshLinks follows changes of the interfaces.
func (w *watcher) refreshLinks(now time.Time) {
	links, err := usableLinks(w.names)
	err = errors.Join(err, w.setLinks(links, false, now))
	if msg := errText(err); msg != w.linkErr {
		w.linkErr = msg
		if err != nil {
			w.log.Warn("interface check", "err", err)
		}
	}
}

// setLinks joins the group on new links and leaves it on links gone. A new
// link, or one whose addresses changed, starts its queries again. At the
// start (strict) a named link that cannot join is an error.
func (w *watcher) setLinks(links []link, strict bool, now time.Time) error {
	keep := make(map[int]bool)
	var errs []error
	for _, l := range links {
		st := w.links[l.iface.Index]
		changed := st == nil || !st.link.equal(l)
		if st == nil {
			st = newLinkState(l)
		}
		st.link = l
		err4 := w.join4(st, len(l.v4) > 0)
		err6 := w.join6(st, len(l.v6) > 0)
		if !st.v4 && !st.v6 {
			w.leave(st)
			errs = append(errs, &InterfaceError{Name: l.iface.Name,
				Problem: fmt.Sprintf("cannot join the mDNS group: %v", cmp.Or(errors.Join(err4, err6), errors.New("no socket")))})
			continue
		}
		if changed {
			st.prefixes = prefixes(&st.iface)
			st.ptr.restart(now)
			w.log.Debug("querying", "interface", l.iface.Name, "v6", st.queryV6())
		}
		w.links[l.iface.Index] = st
		keep[l.iface.Index] = true
	}
	for i, st := range w.links {
		if !keep[i] && i != 0 {
			w.leave(st)
			delete(w.links, i)
			w.markDirty(now)
			w.log.Debug("interface gone", "interface", st.iface.Name)
		}
	}
	switch {
	case len(keep) == 0:
		return errors.Join(append(errs, ErrNoInterface)...)
	case strict && len(w.names) > 0:
		return errors.Join(errs...)
	}
	return nil
}

// prefixes returns the on-link prefixes of ifi.
func prefixes(ifi *net.Interface) []netip.Prefix {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		ones, bits := ipn.Mask.Size()
		if !ok || bits == 0 {
			continue
		}
		if ip.Is4In6() { // the net package writes IPv4 addresses in 16 bytes, their masks in 4 or 16
			ip = ip.Unmap()
			if bits == 128 {
				ones -= 96
			}
		}
		if p, err := ip.Prefix(ones); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// join4 joins or leaves the IPv4 group on the link. Without sockets (unit
// tests) the link counts as joined.
func (w *watcher) join4(st *linkState, want bool) error {
	switch {
	case w.socks == nil:
		st.v4 = want
	case w.socks.v4 != nil:
		return setGroup(w.socks.v4, &st.iface, mdnsGroup4, &st.v4, want, "IPv4")
	}
	return nil
}

func (w *watcher) join6(st *linkState, want bool) error {
	switch {
	case w.socks == nil:
		st.v6 = want
	case w.socks.v6 != nil:
		return setGroup(w.socks.v6, &st.iface, mdnsGroup6, &st.v6, want, "IPv6")
	}
	return nil
}

// groupMember is what ipv4.PacketConn and ipv6.PacketConn have in common
// for multicast groups.
type groupMember interface {
	JoinGroup(ifi *net.Interface, group net.Addr) error
	LeaveGroup(ifi *net.Interface, group net.Addr) error
}

// setGroup joins (want) or leaves group on ifi through c, unless *joined
// says it is done already, and keeps *joined up to date; family names the
// socket in errors.
func setGroup(c groupMember, ifi *net.Interface, group netip.Addr, joined *bool, want bool, family string) error {
	if want == *joined {
		return nil
	}
	g := &net.UDPAddr{IP: group.AsSlice()}
	if !want {
		*joined = false
		return c.LeaveGroup(ifi, g)
	}
	if err := c.JoinGroup(ifi, g); err != nil {
		return fmt.Errorf("%s: %w", family, err)
	}
	*joined = true
	return nil
}

func (w *watcher) leave(st *linkState) {
	_ = w.join4(st, false)
	_ = w.join6(st, false)
}

// linkFor returns the state of the link a packet came in on, or nil for a
// link not in use (Linux delivers group traffic from every interface on
// which any socket of the host joined the group). Where the platform does not
// say (Windows), packets go to the only link, or with several to a link of
// unknown name (index 0), whose link-local addresses are dropped for want of
// a zone.
func (w *watcher) linkFor(ifIndex int) *linkState {
	if ifIndex != 0 {
		return w.links[ifIndex]
	}
	if len(w.links) == 1 {
		for _, st := range w.links {
			return st
		}
	}
	st := w.links[0]
	if st == nil {
		st = newLinkState(link{})
		w.links[0] = st
	}
	return st
}

func (w *watcher) warnOnce(key, msg string, args ...any) {
	if w.warned == nil {
		w.warned = make(map[string]bool)
	}
	if !w.warned[key] {
		w.warned[key] = true
		w.log.Warn(msg, args...)
	}
}

func (w *watcher) markDirty(now time.Time) {
	if !w.dirty {
		w.dirty, w.dirtySince = true, now
	}
}

// nextWake is when the watcher must next act: shortly after a change, when
// a record expires or a goodbye takes effect, when a query is due.
func (w *watcher) nextWake() time.Time {
	var t time.Time
	at := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	if w.dirty {
		at(w.dirtySince.Add(coalesce))
	}
	at(w.widenAt)
	for _, st := range w.links {
		at(st.ptr.next)
		for _, in := range st.instances {
			at(in.byeAt)
			at(in.nextRefresh())
			if in.srv.valid() {
				at(in.srv.expires())
			}
		}
		for _, h := range st.hosts {
			for _, r := range h.addrs {
				at(r.expires())
			}
		}
	}
	return t
}

// flush drops what expired, then compares the peers with those last
// published and queues the events.
func (w *watcher) flush(now time.Time) {
	w.expire(now)
	w.dirty = false
	cur := w.assemble(now)
	for _, key := range slices.Sorted(maps.Keys(cur)) {
		p := cur[key]
		if old, ok := w.published[key]; !ok {
			w.enqueue(PeerUp, p)
		} else if !old.equal(p) {
			w.enqueue(PeerChanged, p)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(w.published)) {
		if _, ok := cur[key]; !ok {
			w.enqueue(PeerDown, w.published[key])
		}
	}
	w.published = cur
	w.publish(cur)
}

// enqueue queues an event with a copy of p, which the reader may change.
func (w *watcher) enqueue(t EventType, p Peer) {
	if len(w.queue) >= maxQueue {
		w.warnOnce("queue", "peer events are not being read; dropping the oldest")
		w.queue[0] = Event{}
		w.queue = w.queue[1:]
	}
	w.queue = append(w.queue, Event{Type: t, Peer: p.clone()})
}

// assemble builds the peers from every link: the fields from the most recent
// sighting, the addresses from all links. An instance that is not up, or
// without a valid device ID, a port or an address, is not a peer (yet).
func (w *watcher) assemble(now time.Time) map[string]Peer {
	peers := make(map[string]Peer)
	latest := make(map[string]time.Time)
	for _, st := range w.sortedLinks() {
		for key, in := range st.instances {
			if !in.up(now) || in.txt == nil || !in.txt.idOK || in.port == 0 {
				continue
			}
			addrs := st.addrsOf(in.target)
			if len(addrs) == 0 {
				continue
			}
			p, ok := peers[key]
			if !ok || in.lastSeen.After(latest[key]) {
				latest[key] = in.lastSeen
				p = Peer{
					Instance: printable(in.label),
					Name:     cmp.Or(in.txt.name, printable(in.label)),
					ID:       in.txt.id,
					Version:  in.txt.version,
					Addrs:    p.Addrs,
					Port:     in.port,
					Flags:    maps.Clone(in.txt.flags),
				}
			}
			p.Addrs = append(p.Addrs, addrs...)
			peers[key] = p
		}
	}
	for key, p := range peers {
		slices.SortFunc(p.Addrs, compareAddrs)
		p.Addrs = slices.Compact(p.Addrs)
		peers[key] = p
	}
	return peers
}

// addrsOf returns the usable addresses of a host on this link; a link-local
// IPv6 address gets the link's name as its zone.
func (st *linkState) addrsOf(target string) []netip.Addr {
	h := st.hosts[target]
	if h == nil {
		return nil
	}
	var out []netip.Addr
	for a := range h.addrs {
		switch {
		case a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a == ipv4Broadcast:
		case a.Is6() && a.IsLinkLocalUnicast():
			if st.iface.Name != "" {
				out = append(out, a.WithZone(st.iface.Name))
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

// compareAddrs orders IPv4 first, then global and unique-local IPv6, then
// link-local IPv6.
func compareAddrs(a, b netip.Addr) int {
	rank := func(x netip.Addr) int {
		switch {
		case x.Is4():
			return 0
		case x.IsLinkLocalUnicast():
			return 2
		}
		return 1
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), a.Compare(b))
}
