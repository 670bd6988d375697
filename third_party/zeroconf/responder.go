package zeroconf

// When and where a server answers (RFC 6762 §5.4, §6, §6.7, §7): the
// responder's state, kept by a Server under its mutex. Composing the
// records is records.go's job; sending them is server.go's.
//
// This file is part of ferry's fork; see FORK.md.

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	mdnsServicePort = 5353

	// A shared record is answered after a random delay in this range, so
	// that the many responders that hold one do not answer in the same
	// millisecond (RFC 6762 §6).
	sharedDelayMin = 20 * time.Millisecond
	sharedDelayMax = 120 * time.Millisecond

	// A query with the TC bit is answered after a random delay in this
	// range, which gives the rest of its known answers time to arrive
	// (RFC 6762 §7.2).
	tcDelayMin = 400 * time.Millisecond
	tcDelayMax = 500 * time.Millisecond

	// A record is multicast at most once a second on a link (RFC 6762 §6).
	rateLimit = time.Second

	// The TTL of records in a reply to a legacy unicast query (§6.7).
	legacyTTL = 10

	// Bounds on what one querier's truncated query may make the server keep.
	maxTCSources = 64
	maxTCRecords = 512
)

type ipFamily uint8

const (
	ipv4Family ipFamily = 4
	ipv6Family ipFamily = 6
)

// A link is an interface and an IP family: where a query came in, and
// where its answer goes out. ifIndex 0 stands for every registered
// interface, on platforms that do not say where a packet came in.
type link struct {
	ifIndex int
	fam     ipFamily
}

// A dest is where a response goes: the link's multicast group, or, when to
// is valid, a querier by unicast.
type dest struct {
	link
	to netip.AddrPort
}

func (d dest) multicast() bool { return !d.to.IsValid() }

// A pendingRR is a record waiting to be sent to a dest.
type pendingRR struct {
	rr    dns.RR
	extra bool      // in the additional section
	due   time.Time // not before
}

// A tcQuery is a truncated query (RFC 6762 §7.2) whose known answers are
// still arriving.
type tcQuery struct {
	link
	from      netip.AddrPort
	questions []dns.Question
	known     []dns.RR
	due       time.Time
}

type sentKey struct {
	link
	key string
}

// An outgoing message is sent after the lock is released.
type outgoing struct {
	dest
	msg *dns.Msg
}

// responder is a Server's answering state; Server.mu guards it.
type responder struct {
	pending   map[dest]map[string]*pendingRR // by rrKey
	lastMcast map[sentKey]time.Time          // when each record was last multicast on each link
	tc        map[netip.AddrPort]*tcQuery    // by querier
	rng       *rand.Rand
}

func newResponder(seed uint64) responder {
	return responder{
		pending:   make(map[dest]map[string]*pendingRR),
		lastMcast: make(map[sentKey]time.Time),
		tc:        make(map[netip.AddrPort]*tcQuery),
		rng:       rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano()))),
	}
}

func (r *responder) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)+1))
}

// rrKey identifies a record: owner name (ignoring ASCII case), class
// (ignoring the cache-flush bit), type and data (names in it ignoring
// ASCII case), not the TTL.
func rrKey(rr dns.RR) string {
	h := rr.Header()
	data := strings.TrimPrefix(rr.String(), h.String())
	switch h.Rrtype {
	case dns.TypePTR, dns.TypeSRV, dns.TypeCNAME, dns.TypeNS:
		data = strings.ToLower(data)
	}
	return strings.ToLower(h.Name) + "/" + strconv.Itoa(int(h.Class&^qClassCacheFlush)) + "/" +
		strconv.Itoa(int(h.Rrtype)) + "/" + data
}

// seenRecords are the records of a packet, with the largest TTL of each, for
// known-answer (RFC 6762 §7.1) and duplicate-answer (§7.4) suppression.
type seenRecords map[string]uint32

func newSeenRecords(rrs []dns.RR) seenRecords {
	seen := make(seenRecords, len(rrs))
	for _, rr := range rrs {
		k := rrKey(rr)
		seen[k] = max(seen[k], rr.Header().Ttl)
	}
	return seen
}

// covers reports whether rr was seen with at least half its TTL.
func (s seenRecords) covers(rr dns.RR) bool {
	ttl, ok := s[rrKey(rr)]
	return ok && uint64(ttl)*2 >= uint64(rr.Header().Ttl)
}

// drop returns the records of rrs that s does not cover.
func (s seenRecords) drop(rrs []dns.RR) []dns.RR {
	if len(s) == 0 {
		return rrs
	}
	var out []dns.RR
	for _, rr := range rrs {
		if !s.covers(rr) {
			out = append(out, rr)
		}
	}
	return out
}

// query handles a query that arrived on l from from. A legacy query is
// answered at once, and returned; the rest is scheduled.
func (r *responder) query(msg *dns.Msg, recs *recordSet, l link, from netip.AddrPort, now time.Time) []outgoing {
	if from.Port() != mdnsServicePort {
		return r.legacy(msg, recs, l, from)
	}
	t := r.tc[from]
	if t != nil && len(msg.Question) == 0 { // more known answers for a truncated query (§7.2)
		if len(t.questions)+len(t.known)+len(msg.Answer) <= maxTCRecords {
			t.known = append(t.known, msg.Answer...)
		}
		return nil
	}
	// A packet with questions is a new query, even from the address of a
	// truncated one still collecting its known answers: every mDNS
	// process of a host sends from its address and port 5353, so it may be
	// another browser there, whose questions must not be answered against
	// the first one's known answers.
	if msg.Truncated && len(msg.Question) > 0 {
		if t != nil && t.link == l { // the earlier one answers with what it has
			r.answer(t.questions, t.known, recs, t.link, t.from, now, true)
			delete(r.tc, from)
		}
		if r.tc[from] == nil && len(r.tc) < maxTCSources {
			r.tc[from] = &tcQuery{link: l, from: from, questions: msg.Question, known: msg.Answer,
				due: now.Add(r.between(tcDelayMin, tcDelayMax))}
			return nil
		}
	}
	r.answer(msg.Question, msg.Answer, recs, l, from, now, false)
	return nil
}

// dueTC removes and returns the truncated queries whose wait is over.
func (r *responder) dueTC(now time.Time) []*tcQuery {
	var out []*tcQuery
	for from, t := range r.tc {
		if !t.due.After(now) {
			out = append(out, t)
			delete(r.tc, from)
		}
	}
	return out
}

// answer schedules the answers to questions asked on l by from, leaving
// out what known covers. Unique records are due at once, unless the query
// also asks other responders for theirs (othersAsked); shared ones, and
// those, after a random delay; none is delayed when waited says the query
// already waited for its known answers.
//
// An answer goes by multicast, except: a QU question (§5.4) is answered
// by unicast to the querier when each answer was multicast on l within a
// quarter of its TTL; and a question whose answers were all multicast on l
// within the last second, which the rate limit would hold back, is answered
// by unicast to the querier instead (a querier that just started missed
// that multicast; the others have it).
func (r *responder) answer(questions []dns.Question, known []dns.RR, recs *recordSet, l link, from netip.AddrPort, now time.Time, waited bool) {
	seen := newSeenRecords(known)
	questions = distinct(questions)
	others := othersAsked(questions, recs)
	for _, q := range questions {
		answers, extra, unique := recs.answer(q)
		answers = seen.drop(answers)
		if len(answers) == 0 {
			continue
		}
		extra = seen.drop(extra)
		d := dest{link: l}
		qu := q.Qclass&qClassCacheFlush != 0
		if qu && r.multicastWithin(l, answers, now, quarterTTL) || !qu && r.multicastWithin(l, answers, now, oneSecond) {
			d.to = netip.AddrPortFrom(from.Addr(), mdnsServicePort)
		}
		due := now
		if (!unique || others) && !waited {
			due = r.window(d, now)
		}
		r.enqueue(d, answers, extra, due)
	}
}

// othersAsked reports whether some of questions are for records this
// server does not hold. Other responders then answer the same query, such
// as a browser's refresh of many receivers' SRV records in one packet, and
// its unique records are delayed as shared ones are (RFC 6762 §6: "in any
// case where there may be multiple responses"), so that a LAN's answers
// spread over the window instead of arriving in one burst.
func othersAsked(questions []dns.Question, recs *recordSet) bool {
	for _, q := range questions {
		if answers, _, _ := recs.answer(q); len(answers) == 0 {
			return true
		}
	}
	return false
}

// multicastWithin reports whether every record of rrs was multicast on l
// within span(rr) before now.
func (r *responder) multicastWithin(l link, rrs []dns.RR, now time.Time, span func(dns.RR) time.Duration) bool {
	for _, rr := range rrs {
		t, ok := r.lastMcast[sentKey{l, rrKey(rr)}]
		if !ok || now.Sub(t) >= span(rr) {
			return false
		}
	}
	return true
}

func quarterTTL(rr dns.RR) time.Duration { return time.Duration(rr.Header().Ttl) * time.Second / 4 }

func oneSecond(dns.RR) time.Duration { return rateLimit }

// window is when a delayed answer to d goes out: with the answers already
// waiting for d, if some are due within the next sharedDelayMax, so that
// the answers to several queries share one packet; else after a random
// delay.
func (r *responder) window(d dest, now time.Time) time.Time {
	var w time.Time
	for _, p := range r.pending[d] {
		if !p.extra && p.due.After(now) && p.due.Sub(now) <= sharedDelayMax && (w.IsZero() || p.due.Before(w)) {
			w = p.due
		}
	}
	if w.IsZero() {
		w = now.Add(r.between(sharedDelayMin, sharedDelayMax))
	}
	return w
}

// enqueue schedules answers and extra for d, due at due. A record already
// waiting keeps the earlier time; one in both sections goes in the answers.
func (r *responder) enqueue(d dest, answers, extra []dns.RR, due time.Time) {
	m := r.pending[d]
	if m == nil {
		m = make(map[string]*pendingRR)
		r.pending[d] = m
	}
	add := func(rr dns.RR, isExtra bool) {
		k := rrKey(rr)
		if p := m[k]; p != nil {
			if !isExtra {
				p.extra = false
				p.rr = rr
			}
			if due.Before(p.due) {
				p.due = due
			}
			return
		}
		m[k] = &pendingRR{rr: rr, extra: isExtra, due: due}
	}
	for _, rr := range answers {
		add(rr, false)
	}
	for _, rr := range extra {
		add(rr, true)
	}
}

// fire takes the answers due at now into messages, one per dest. On a
// multicast link an answer sent less than rateLimit ago waits until
// rateLimit has passed, and such an additional record is left out.
func (r *responder) fire(now time.Time) []outgoing {
	var out []outgoing
	for d, m := range r.pending {
		var answers, extra []dns.RR
		for k, p := range m {
			if p.extra || p.due.After(now) {
				continue
			}
			if d.multicast() {
				if t, ok := r.lastMcast[sentKey{d.link, k}]; ok && now.Sub(t) < rateLimit {
					p.due = t.Add(rateLimit)
					continue
				}
			}
			answers = append(answers, p.rr)
			delete(m, k)
		}
		if len(answers) > 0 {
			for k, p := range m {
				if !p.extra || p.due.After(now) {
					continue
				}
				delete(m, k)
				if t, ok := r.lastMcast[sentKey{d.link, k}]; d.multicast() && ok && now.Sub(t) < rateLimit {
					continue
				}
				extra = append(extra, p.rr)
			}
		}
		if !hasAnswer(m) {
			delete(r.pending, d) // additional records go only with answers
		}
		if len(answers) == 0 {
			continue
		}
		if d.multicast() {
			r.sent(d.link, answers, now)
			r.sent(d.link, extra, now)
		}
		out = append(out, outgoing{dest: d, msg: response(answers, extra)})
	}
	return out
}

func hasAnswer(m map[string]*pendingRR) bool {
	for _, p := range m {
		if !p.extra {
			return true
		}
	}
	return false
}

// sent notes that rrs were multicast on l at now.
func (r *responder) sent(l link, rrs []dns.RR, now time.Time) {
	for _, rr := range rrs {
		r.lastMcast[sentKey{l, rrKey(rr)}] = now
	}
}

// nextDue is when fire has something to do next, or zero for never.
func (r *responder) nextDue() time.Time {
	var next time.Time
	early := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, m := range r.pending {
		for _, p := range m {
			if !p.extra {
				early(p.due)
			}
		}
	}
	for _, t := range r.tc {
		early(t.due)
	}
	return next
}

// suppressDuplicates drops the multicast answers waiting for l that a
// response seen on l carried with at least half their TTL (RFC 6762 §7.4).
func (r *responder) suppressDuplicates(rrs []dns.RR, l link) {
	m := r.pending[dest{link: l}]
	if len(m) == 0 {
		return
	}
	seen := newSeenRecords(rrs)
	for k, p := range m {
		if seen.covers(p.rr) {
			delete(m, k)
		}
	}
}

// distinct returns questions without repeats (same name ignoring ASCII
// case, type and class), so that a packet full of one question costs what
// one does.
func distinct(questions []dns.Question) []dns.Question {
	seen := make(map[dns.Question]bool, len(questions))
	var out []dns.Question
	for _, q := range questions {
		k := q
		k.Name = strings.ToLower(k.Name)
		if !seen[k] {
			seen[k] = true
			out = append(out, q)
		}
	}
	return out
}

// legacy answers a query from a port other than 5353 (RFC 6762 §6.7): by
// unicast to that port, at once, with the query's ID and questions, TTLs of
// at most legacyTTL and no cache-flush bits.
func (r *responder) legacy(msg *dns.Msg, recs *recordSet, l link, from netip.AddrPort) []outgoing {
	if from.Port() == 0 {
		return nil
	}
	var answers, extra []dns.RR
	seen := newSeenRecords(msg.Answer)
	for _, q := range distinct(msg.Question) {
		a, e, _ := recs.answer(q)
		answers = append(answers, seen.drop(a)...)
		extra = append(extra, e...)
	}
	if len(answers) == 0 {
		return nil
	}
	resp := response(answers, extra)
	for _, rrs := range [][]dns.RR{resp.Answer, resp.Extra} {
		for i, rr := range rrs {
			rr = dns.Copy(rr)
			h := rr.Header()
			h.Class &^= qClassCacheFlush
			h.Ttl = min(h.Ttl, legacyTTL)
			rrs[i] = rr
		}
	}
	resp.Id = msg.Id
	resp.Question = msg.Question
	return []outgoing{{dest: dest{link: l, to: from}, msg: resp}}
}

// response is a response message with answers and extra, without
// duplicates, in a stable order, and without the extra records that are
// among the answers.
func response(answers, extra []dns.RR) *dns.Msg {
	seen := make(map[string]bool)
	uniq := func(rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			if k := rrKey(rr); !seen[k] {
				seen[k] = true
				out = append(out, rr)
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return order(out[i]) < order(out[j]) })
		return out
	}
	m := new(dns.Msg)
	m.Response = true
	m.Authoritative = true
	m.Compress = true
	m.Answer = uniq(answers)
	m.Extra = uniq(extra)
	return m
}

// order sorts records as RFC 6763 §12 lists them: PTR, SRV, TXT,
// addresses; then by key, for a stable packet.
func order(rr dns.RR) string {
	rank := map[uint16]string{dns.TypePTR: "0", dns.TypeSRV: "1", dns.TypeTXT: "2", dns.TypeA: "3", dns.TypeAAAA: "4"}[rr.Header().Rrtype]
	if rank == "" {
		rank = "5"
	}
	return rank + rrKey(rr)
}
