package discovery

import (
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// record is when a cached record was received and how long it lives from
// then: its TTL, or less for a unique record (see maxTTL), or a second for
// one flushed or said goodbye to (RFC 6762 §10.1, §10.2). The zero record is
// none.
type record struct {
	at  time.Time
	ttl time.Duration
}

func (r record) valid() bool                      { return !r.at.IsZero() }
func (r record) expires() time.Time               { return r.at.Add(r.ttl) }
func (r record) live(now time.Time) bool          { return r.valid() && now.Before(r.expires()) }
func (r record) left(now time.Time) time.Duration { return r.expires().Sub(now) }

// known reports whether a query may list the record as a known answer: it
// has more than half its TTL left (RFC 6762 §7.1).
func (r record) known(now time.Time) bool { return r.valid() && 2*r.left(now) > r.ttl }

// endIn makes the record expire d after at, unless it expires sooner.
func (r *record) endIn(at time.Time, d time.Duration) {
	if r.valid() && at.Add(d).Before(r.expires()) {
		r.ttl = at.Add(d).Sub(r.at)
	}
}

func ttlOf(secs uint32) time.Duration { return time.Duration(secs) * time.Second }

// linkState is what a watcher knows about one interface: a cache of its own,
// since each link has its own receivers and addresses.
type linkState struct {
	link
	v4, v6    bool                 // joined the group over IPv4, IPv6
	prefixes  []netip.Prefix       // on-link prefixes: unicast responses come from these (RFC 6762 §11)
	instances map[string]*instance // by lower-case instance label
	hosts     map[string]*host     // by lower-case SRV target
	ptr       ptrSchedule          // the next query for PTR records
	quUntil   time.Time            // until when unicast responses are welcome (a QU query went out)
}

func newLinkState(l link) *linkState {
	return &linkState{link: l, instances: make(map[string]*instance), hosts: make(map[string]*host)}
}

// queryV6 reports whether queries on the link go over IPv6: only on a link
// without IPv4. A responder answers over the family it was asked on, so one
// family is enough, and asking over both would double every answer.
func (st *linkState) queryV6() bool { return !st.v4 && st.v6 }

// maxQuery is the largest query message for the link's query family.
func (st *linkState) maxQuery() int {
	if st.queryV6() {
		return maxQuery6
	}
	return maxQuery4
}

// onLink reports whether a unicast response from a is from this link.
func (st *linkState) onLink(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && a.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range st.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// instance is one DNS-SD instance as seen on one link.
type instance struct {
	label    string // unescaped
	fqdn     string // full name as received, presentation format
	lastSeen time.Time
	byeAt    time.Time // when a goodbye takes effect; zero if none

	ptr  record            // its PTR record under _ferry._udp.local.
	subs map[string]record // its PTR records under subtypes, by subtype label

	srv     record // the instance is up while this lives
	port    int
	target  string
	refresh [len(refreshAt)]time.Time // when to ask for the SRV record again
	step    int                       // the next refresh; len(refresh) once all are asked

	txt    *txtInfo // kept while the instance is up, even past its TTL
	txtRec record
}

// up reports whether the instance's SRV record lives.
func (in *instance) up(now time.Time) bool { return in.srv.live(now) }

// setSRV records a fresh SRV record and plans its refresh queries, each
// later by its share of the TTL in jitter.
func (in *instance) setSRV(at time.Time, ttl time.Duration, jitter [len(refreshAt)]float64) {
	in.srv = record{at: at, ttl: ttl}
	for i, f := range refreshAt {
		in.refresh[i] = at.Add(time.Duration((f + jitter[i]) * float64(ttl)))
	}
	in.step = 0
}

// nextRefresh is when the next refresh query is due; zero if none is.
func (in *instance) nextRefresh() time.Time {
	if in.step >= len(in.refresh) || !in.srv.valid() {
		return time.Time{}
	}
	return in.refresh[in.step]
}

type host struct {
	addrs map[netip.Addr]record
}

// apply records what a response says, whoever asked (passive observation).
func (w *watcher) apply(p packet) {
	st := w.linkFor(p.ifIndex)
	if st == nil || p.resp == nil {
		return
	}
	if p.unicast && (p.at.After(st.quUntil) || !st.onLink(p.src.Addr())) {
		// RFC 6762 §5.4, §11: unicast answers only to a recent QU query of
		// ours, and only from this link.
		return
	}
	for _, ir := range p.resp.instances {
		w.applyInstance(st, p.at, &ir)
	}
	for _, ha := range p.resp.addrs {
		w.applyAddr(st, p.at, ha)
	}
}

func (w *watcher) applyInstance(st *linkState, at time.Time, ir *instanceRecords) {
	key := strings.ToLower(ir.label)
	in := st.instances[key]
	alive := ir.alive() || hasLiveSub(ir.subs)
	if in == nil {
		if !alive {
			return
		}
		if len(st.instances) >= maxInstancesPerLink {
			w.warnOnce("instances-"+st.iface.Name, "too many ferry instances; ignoring more", "interface", st.iface.Name)
			return
		}
		in = &instance{label: ir.label, fqdn: ir.fqdn, subs: make(map[string]record)}
		st.instances[key] = in
	}
	switch {
	case alive:
		in.lastSeen, in.byeAt = at, time.Time{}
	case ir.goodbye() && in.byeAt.IsZero():
		in.byeAt = at.Add(goodbyeGrace)
	}
	if ir.hasPTR && ir.ptrTTL > 0 {
		in.ptr = record{at: at, ttl: ttlOf(ir.ptrTTL)}
	}
	for _, s := range ir.subs {
		switch {
		case s.ttl > 0 && (len(in.subs) < maxSubtypes || in.subs[s.label].valid()):
			in.subs[s.label] = record{at: at, ttl: ttlOf(s.ttl)}
			if w.narrowedTo(s.label) {
				w.answered, w.widenAt = true, time.Time{} // the narrowed question is answered: keep it
			}
		case s.ttl == 0 && in.subs[s.label].valid():
			r := in.subs[s.label]
			r.endIn(at, goodbyeGrace)
			in.subs[s.label] = r
		}
	}
	if ir.hasSRV && ir.srvTTL > 0 {
		in.setSRV(at, min(ttlOf(ir.srvTTL), w.maxTTL), w.jitterFor(at))
		in.port, in.target = ir.port, ir.target
	}
	if ir.hasTXT && ir.txtTTL > 0 {
		t := parseTXT(ir.txt)
		in.txt, in.txtRec = &t, record{at: at, ttl: ttlOf(ir.txtTTL)}
	}
	w.markDirty(at)
}

// jitterFor returns the random shares of the TTL (up to refreshJitter) by
// which the refreshes of a record received at at come later than 80, 85, 90
// and 95 %. Records received within refreshBatch of each other, such as the
// answers of a LAN's receivers to one query, share them: their refresh
// questions then go out together, at a time that differs from another
// browser's as much as one record's would, so that the first browser to ask
// spares the others (RFC 6762 §7.3). Drawn per record, the earliest of a
// few hundred would always fall at 80 % in every browser at once.
func (w *watcher) jitterFor(at time.Time) [len(refreshAt)]float64 {
	if w.jitterAt.IsZero() || at.Before(w.jitterAt) || at.Sub(w.jitterAt) >= refreshBatch {
		w.jitterAt = at
		for i := range w.jitter {
			w.jitter[i] = refreshJitter * w.rand.Float64()
		}
	}
	return w.jitter
}

func hasLiveSub(subs []subtypePTR) bool {
	for _, s := range subs {
		if s.ttl > 0 {
			return true
		}
	}
	return false
}

func (w *watcher) applyAddr(st *linkState, at time.Time, ha hostAddr) {
	if !st.isTarget(ha.host) {
		return
	}
	h := st.hosts[ha.host]
	if h == nil {
		if ha.ttl == 0 {
			return
		}
		h = &host{addrs: make(map[netip.Addr]record)}
		st.hosts[ha.host] = h
	}
	w.markDirty(at)
	if ha.flush { // RFC 6762 §10.2: older records of this name and type end in a second
		for a, r := range h.addrs {
			if a.Is4() == ha.addr.Is4() && r.at.Before(at.Add(-time.Second)) {
				r.endIn(at, time.Second)
				h.addrs[a] = r
			}
		}
	}
	r, ok := h.addrs[ha.addr]
	switch {
	case ha.ttl == 0: // a goodbye: it ends in a second (RFC 6762 §10.1)
		if ok {
			r.endIn(at, goodbyeGrace)
			h.addrs[ha.addr] = r
		}
	case ok || len(h.addrs) < maxAddrsPerHost:
		h.addrs[ha.addr] = record{at: at, ttl: ttlOf(ha.ttl)}
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

// expire drops what has run out by now: instances after a goodbye or once
// their SRV record expired, instances that never got one, addresses, and
// subtype records.
func (w *watcher) expire(now time.Time) {
	for _, st := range w.links {
		for key, in := range st.instances {
			switch {
			case !in.byeAt.IsZero() && !now.Before(in.byeAt):
				w.log.Debug("peer said goodbye", "instance", in.label, "interface", st.iface.Name)
			case in.srv.valid() && !in.srv.live(now):
				w.log.Debug("peer stopped answering", "instance", in.label, "interface", st.iface.Name)
			case !in.srv.valid() && now.Sub(in.lastSeen) > w.maxTTL:
				// Named by a PTR record but never resolved.
			default:
				for s, r := range in.subs {
					if !r.live(now) {
						delete(in.subs, s)
					}
				}
				if in.ptr.valid() && !in.ptr.live(now) {
					in.ptr = record{}
				}
				continue
			}
			delete(st.instances, key)
			w.markDirty(now)
		}
		for name, h := range st.hosts {
			for a, r := range h.addrs {
				if !r.live(now) {
					delete(h.addrs, a)
					w.markDirty(now)
				}
			}
			if len(h.addrs) == 0 || !st.isTarget(name) {
				delete(st.hosts, name)
			}
		}
	}
}

// knownAnswers lists, for a PTR query of names on the link, the PTR records
// of the instances that are up with more than half their TTL left, except
// those of the instances in omit (by lower-case label).
func (st *linkState) knownAnswers(names []string, omit map[string]bool, now time.Time) []dns.RR {
	var out []dns.RR
	for _, name := range names {
		owner, _ := ptrOwner(name)
		for _, key := range sortedKeys(st.instances) {
			in := st.instances[key]
			if omit[key] || !in.up(now) {
				continue
			}
			r := in.ptr
			if owner != "" {
				r = in.subs[owner]
			}
			if r.known(now) {
				out = append(out, knownPTRRecord(name, in.fqdn, uint32(r.left(now)/time.Second)))
			}
		}
	}
	return out
}
