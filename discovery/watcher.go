package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// watcher is the state owned by a Browser's main goroutine.
type watcher struct {
	names    []string // Options.Interfaces
	log      *slog.Logger
	socks    *sockets
	interval time.Duration
	missed   int

	links     map[int]*linkState // by interface index
	lastSweep time.Time
	linkErr   string // the last interface error logged
	warned    map[string]bool

	dirty      bool
	dirtySince time.Time
	published  map[string]Peer // by lower-case instance label
	queue      []Event
	out        chan<- Event
	publish    func(map[string]Peer)
}

// linkState is what a watcher knows about one interface.
type linkState struct {
	link
	v4, v6    bool                 // joined the group over IPv4, IPv6
	instances map[string]*instance // by lower-case instance label
	hosts     map[string]*host     // by lower-case SRV target
}

type instance struct {
	label    string
	port     int
	target   string
	txt      *txtInfo
	lastSeen time.Time // last record with a TTL
	missed   int       // sweeps in a row without a record
	byeAt    time.Time // when a goodbye takes effect; zero if none
}

type host struct {
	addrs map[netip.Addr]time.Time // last seen
}

func (w *watcher) run(ctx context.Context, pkts <-chan packet) error {
	defer close(w.out)
	query := queryPacket()
	now := time.Now()
	w.query(query)
	w.lastSweep = now

	sweep := time.NewTicker(w.interval)
	defer sweep.Stop()
	repeat := time.NewTimer(firstRepeat)
	defer repeat.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()

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
			w.apply(p)
		case <-repeat.C:
			w.query(query)
		case now := <-sweep.C:
			w.refreshLinks()
			w.sweep(now)
			w.query(query)
		case now := <-wake.C:
			w.flush(now)
		case out <- next:
			w.queue[0] = Event{}
			w.queue = w.queue[1:]
		}
	}
}

func queryPacket() []byte {
	m := new(dns.Msg)
	m.SetQuestion(serviceName, dns.TypePTR)
	m.Id = 0 // RFC 6762 §18.1
	m.RecursionDesired = false
	b, err := m.Pack()
	if err != nil {
		panic("discovery: pack query: " + err.Error()) // a constant message
	}
	return b
}

// query asks every link for ferry instances.
func (w *watcher) query(q []byte) {
	for _, st := range w.sortedLinks() {
		if st.v4 {
			err := w.socks.v4.SetMulticastInterface(&st.iface)
			if err == nil {
				_, err = w.socks.v4.WriteTo(q, nil, &net.UDPAddr{IP: mdnsGroup4.AsSlice(), Port: mdnsPort})
			}
			if err != nil {
				w.log.Debug("query over IPv4", "interface", st.iface.Name, "err", err)
			}
		}
		if st.v6 {
			err := w.socks.v6.SetMulticastInterface(&st.iface)
			if err == nil {
				_, err = w.socks.v6.WriteTo(q, nil, &net.UDPAddr{IP: mdnsGroup6.AsSlice(), Port: mdnsPort})
			}
			if err != nil {
				w.log.Debug("query over IPv6", "interface", st.iface.Name, "err", err)
			}
		}
	}
}

func (w *watcher) sortedLinks() []*linkState {
	ls := slices.Collect(maps.Values(w.links))
	slices.SortFunc(ls, func(a, b *linkState) int { return a.iface.Index - b.iface.Index })
	return ls
}

// refreshLinks follows changes of the interfaces.
func (w *watcher) refreshLinks() {
	links, err := usableLinks(w.names)
	err = errors.Join(err, w.setLinks(links, false))
	if msg := errText(err); msg != w.linkErr {
		w.linkErr = msg
		if err != nil {
			w.log.Warn("interface check", "err", err)
		}
	}
}

// setLinks joins the group on new links and leaves it on links gone. At the
// start (strict) a named link that cannot join is an error.
func (w *watcher) setLinks(links []link, strict bool) error {
	keep := make(map[int]bool)
	var errs []error
	for _, l := range links {
		st := w.links[l.iface.Index]
		if st == nil {
			st = &linkState{instances: make(map[string]*instance), hosts: make(map[string]*host)}
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
		w.links[l.iface.Index] = st
		keep[l.iface.Index] = true
	}
	for i, st := range w.links {
		if !keep[i] && i != 0 {
			w.leave(st)
			delete(w.links, i)
			w.markDirty(time.Now())
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

func (w *watcher) join4(st *linkState, want bool) error {
	if w.socks.v4 == nil {
		return nil
	}
	return setGroup(w.socks.v4, &st.iface, mdnsGroup4, &st.v4, want, "IPv4")
}

func (w *watcher) join6(st *linkState, want bool) error {
	if w.socks.v6 == nil {
		return nil
	}
	return setGroup(w.socks.v6, &st.iface, mdnsGroup6, &st.v6, want, "IPv6")
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
		st = &linkState{instances: make(map[string]*instance), hosts: make(map[string]*host)}
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

// apply records what a response says.
func (w *watcher) apply(p packet) {
	st := w.linkFor(p.ifIndex)
	if st == nil {
		return
	}
	for _, ir := range p.resp.instances {
		key := strings.ToLower(ir.label)
		in := st.instances[key]
		if in == nil {
			if !ir.alive {
				continue
			}
			if len(st.instances) >= maxInstancesPerLink {
				w.warnOnce("instances-"+st.iface.Name, "too many ferry instances; ignoring more", "interface", st.iface.Name)
				continue
			}
			in = &instance{label: ir.label}
			st.instances[key] = in
		}
		switch {
		case ir.alive:
			in.lastSeen, in.missed, in.byeAt = p.at, 0, time.Time{}
		case ir.goodbye && in.byeAt.IsZero():
			in.byeAt = p.at.Add(goodbyeGrace)
		}
		if ir.srv {
			in.port, in.target = ir.port, ir.target
		}
		if ir.hasTXT {
			t := parseTXT(ir.txt)
			in.txt = &t
		}
		w.markDirty(p.at)
	}
	for _, ha := range p.resp.addrs {
		// An address goodbye comes with its instance's, which ends the peer
		// a second later; one alone ages out like any stale address.
		if ha.ttl == 0 || !st.isTarget(ha.host) {
			continue
		}
		h := st.hosts[ha.host]
		if h == nil {
			h = &host{addrs: make(map[netip.Addr]time.Time)}
			st.hosts[ha.host] = h
		}
		w.markDirty(p.at)
		if ha.flush { // RFC 6762 §10.2: older records of this name and type are stale
			for a, seen := range h.addrs {
				if a.Is4() == ha.addr.Is4() && seen.Before(p.at.Add(-time.Second)) {
					delete(h.addrs, a)
				}
			}
		}
		if _, ok := h.addrs[ha.addr]; ok || len(h.addrs) < maxAddrsPerHost {
			h.addrs[ha.addr] = p.at
		}
	}
}

func (st *linkState) isTarget(name string) bool {
	for _, in := range st.instances {
		if in.target == name {
			return true
		}
	}
	return false
}

// sweep counts the instances that did not answer since the last sweep and
// drops those that missed too many, and stale addresses.
func (w *watcher) sweep(now time.Time) {
	stale := now.Add(-time.Duration(w.missed+1) * w.interval)
	for _, st := range w.links {
		for key, in := range st.instances {
			if !in.lastSeen.Before(w.lastSweep) {
				continue
			}
			if in.missed++; in.missed >= w.missed {
				delete(st.instances, key)
				w.markDirty(now)
				w.log.Debug("peer stopped answering", "instance", in.label, "interface", st.iface.Name)
			}
		}
		for name, h := range st.hosts {
			for a, seen := range h.addrs {
				if seen.Before(stale) {
					delete(h.addrs, a)
					w.markDirty(now)
				}
			}
			if len(h.addrs) == 0 || !st.isTarget(name) {
				delete(st.hosts, name)
			}
		}
	}
	w.lastSweep = now
}

// nextWake is when the watcher must next flush: shortly after a change, and
// when a goodbye takes effect.
func (w *watcher) nextWake() time.Time {
	var t time.Time
	if w.dirty {
		t = w.dirtySince.Add(coalesce)
	}
	for _, st := range w.links {
		for _, in := range st.instances {
			if !in.byeAt.IsZero() && (t.IsZero() || in.byeAt.Before(t)) {
				t = in.byeAt
			}
		}
	}
	return t
}

// flush applies due goodbyes, then compares the peers with those last
// published and queues the events.
func (w *watcher) flush(now time.Time) {
	for _, st := range w.links {
		for key, in := range st.instances {
			if !in.byeAt.IsZero() && !now.Before(in.byeAt) {
				delete(st.instances, key)
				w.log.Debug("peer said goodbye", "instance", in.label, "interface", st.iface.Name)
			}
		}
	}
	w.dirty = false
	cur := w.assemble()
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
// sighting, the addresses from all links. An instance without a valid device
// ID, a port or an address is not a peer (yet).
func (w *watcher) assemble() map[string]Peer {
	peers := make(map[string]Peer)
	latest := make(map[string]time.Time)
	for _, st := range w.sortedLinks() {
		for key, in := range st.instances {
			if in.txt == nil || !in.txt.idOK || in.port == 0 {
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
