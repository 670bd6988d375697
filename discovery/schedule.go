package discovery

import (
	"time"
)

// The querying schedule (RFC 6762 §5.2).
const (
	firstInterval = time.Second      // between the first query and the second
	thirdAfter    = 15 * time.Second // between the second and the third
	maxInterval   = 60 * time.Minute // the intervals double up to this
	refreshJitter = 0.02             // of the TTL, added at random to each refresh time
	refreshBatch  = 250 * time.Millisecond
	quWindow      = 2 * time.Second // unicast answers are welcome this long after a QU query
	widenAfter    = time.Second     // a narrowed lookup nobody answered asks everyone after this
	dupPTRWindow  = time.Second     // a PTR query due this soon counts as sent when another host asks it (§7.3)
	ownMemory     = 2 * time.Second // how long a browser knows its own queries when they loop back
)

// refreshAt are the fractions of an SRV record's TTL at which a browser asks
// for it again (§5.2), each plus up to refreshJitter.
var refreshAt = [...]float64{0.80, 0.85, 0.90, 0.95}

// fallbackStep is the first refresh whose query also asks, in case the
// responder does not answer SRV questions, for the PTR records with this
// instance left out of the known answers (see doc.go).
const fallbackStep = 2

// ptrSchedule says when a link's next PTR query goes out: at once after a
// restart, as a QU query; one second later; 15 s after that; then at
// intervals that double up to an hour (0, 1, 16, 46, 106 s, …; §5.2 asks
// for at least doubling). Two queries find every receiver that answers;
// the ones that start later announce themselves, and the SRV refreshes keep
// the known ones alive, so the early queries of the plain doubling (3, 7,
// 15 s), each listing every receiver as a known answer, would only repeat
// what the cache holds: with 200 receivers that is 6.6 KB a query, a cost
// every host on the LAN pays for every browser that starts.
type ptrSchedule struct {
	next     time.Time
	interval time.Duration // the wait after the next query; 0 before the first one
}

// restart makes the next query go out at now, as the first of a series.
func (s *ptrSchedule) restart(now time.Time) { *s = ptrSchedule{next: now} }

// first reports whether the next query is the first of its series, which
// asks for unicast answers.
func (s *ptrSchedule) first() bool { return s.interval == 0 }

// due reports whether the next query should go out by now.
func (s *ptrSchedule) due(now time.Time) bool { return !s.next.IsZero() && !now.Before(s.next) }

// sent records the next query as sent at now (or as good as sent).
func (s *ptrSchedule) sent(now time.Time) {
	switch s.interval {
	case 0:
		s.interval = firstInterval
	case firstInterval:
		s.interval = thirdAfter
	default:
		s.interval = min(2*s.interval, maxInterval)
	}
	s.next = now.Add(s.interval)
}

// dupPTRSpan is how soon a link's next PTR query, after a wait of interval,
// must be due to count as sent when another host asks the same question
// with known answers that this browser would all list too (§7.3): within
// the second, or within the later half of the wait. Every answer that
// browser's query draws reaches this one, so on a LAN of many browsers
// their queries stand in for one another and the LAN carries about one
// browser's queries, while each browser still asks at least every interval.
func dupPTRSpan(interval time.Duration) time.Duration {
	return max(dupPTRWindow, interval/2)
}

// dupSRVWindow is how soon a refresh query must be due to count as sent when
// another host asks the same question (§7.3): browsers that hold the same
// record plan their refreshes at the same fractions of its TTL, apart by the
// jitter at most, and a due query waits for the batch.
func dupSRVWindow(ttl time.Duration) time.Duration {
	return time.Duration(refreshJitter*float64(ttl)) + refreshBatch
}
