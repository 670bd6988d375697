package e2e

// Discovery at office scale (issue 13): N idle receivers on one LAN (60 by
// default, FERRY_OFFICE_N changes it), a host that browses and sends, an
// idle host that only listens, and nine more hosts for extra browsers. The
// test checks the targets, scaled where they depend on N, in this
// order:
//
//   - watch: `ferry peers --watch`, started once every receiver listens and
//     their start-up announcements are over, lists all N within 3 s, with
//     one "up" each;
//   - listing: `ferry peers --timeout 3s` lists all N, three runs out of
//     three;
//   - send: `ferry send --to desk-K` (1 MiB) among N finds the receiver and
//     delivers within 2 s, intact;
//   - traffic: with 5 browsers running, the idle host receives at most
//     12,000 × N / 200 bytes/s, and 10 browsers cost it at most 1.5× what
//     one does;
//   - steady: the watcher printed no "down" and no second "up" while nobody
//     left: from its start to the departures, which is 30 s at least (the
//     phases above take that long; the check waits out the rest if not);
//   - departures: 10 receivers stopped with SIGTERM at once are all "down"
//     within 2 s, 10 killed with SIGKILL within 15 s, and nobody else goes
//     down.
//
// The one-shot listings and the send come before the traffic, so that the
// watcher measured alone is past its first seconds of querying. A failed
// check starts with its name and says what it measured, and the test goes on
// to the next, so that one run gives every figure. The figures are logged as
// "FIGURE office_…" lines:
//
//	FERRY_OFFICE_N=200 go test -run 'TestOffice$' ./e2e/ -v
//
// FERRY_OFFICE_DEBUG=DIR keeps each browser's debug log in DIR.
//
// Let the kernel finish removing one run's namespaces before the next: at
// 200 receivers that keeps both cores busy for a minute or two after the
// test ends, and a run started meanwhile measures that instead.
//
// It is not parallel: the other e2e tests wait until it is done, since the
// LAN is as much as a small machine can hold (about 25 MiB a receiver).

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	officeDefaultN = 60
	officeExtra    = 9                // hosts for browsers beyond the watcher: 10 browsers in all
	officeMaxBPS   = 12000            // what an idle host may receive with 5 browsers, at 200 receivers
	officeSettle   = 5 * time.Second  // from starting browsers to measuring, as office.sh does
	officeWindow   = 30 * time.Second // each traffic measurement: 3 or 4 of a browser's refresh rounds (every 9.6–9.8 s)
	officeSteady   = 30 * time.Second // how long the watcher is observed before anyone leaves
	officeQuiet    = 2000             // bytes/s under which the idle host finds the LAN quiet
	officeBacklog  = 100000           // net.core.netdev_max_backlog for the test (raiseBacklog)
)

// office is the LAN of TestOffice: hosts 1..n are the receivers desk-1 to
// desk-n, then the browser, the idle host and the extra browsers' hosts.
type office struct {
	t       *testing.T
	n       int
	desks   []*desk
	byID    map[string]*desk
	browser *host
	idle    *host
	extra   []*host
}

// desk is a receiver of the office.
type desk struct {
	h    *host
	id   string
	dir  string
	p    *proc
	gone bool // stopped or killed by the test
}

func TestOffice(t *testing.T) {
	n := officeN(t)
	t0 := time.Now()
	o := newOffice(t, n)
	t.Logf("FIGURE office_n=%d", n)
	t.Logf("FIGURE office_setup_ms=%d", time.Since(t0).Milliseconds())
	o.settle()

	watch := o.browse(o.browser)
	for _, c := range []struct {
		name  string
		check func()
	}{
		{"watch", func() { o.checkWatch(watch) }},
		{"listing", o.checkListing},
		{"send", o.checkSend},
		{"traffic", o.checkTraffic},
		{"steady", func() { o.checkSteady(watch) }},
		{"departures", func() { o.checkDepartures(watch) }},
	} {
		t.Logf("%s: from %.1f s after the watcher started", c.name, time.Since(watch.begun).Seconds())
		c.check()
	}
	o.checkReceivers()
	o.logUDPErrors()
	t.Logf("FIGURE office_total_ms=%d", time.Since(t0).Milliseconds())
}

// browse starts `ferry peers --watch` on h. With FERRY_OFFICE_DEBUG=DIR,
// it logs at debug level, and its standard error is kept in DIR when the
// test ends, one file per host.
func (o *office) browse(h *host) *proc {
	dir := os.Getenv("FERRY_OFFICE_DEBUG")
	args := []string{"peers", "--watch"}
	if dir != "" {
		args = append(args, "--verbose")
	}
	p := h.start(nil, args...)
	p.quiet = true
	if dir != "" {
		o.t.Cleanup(func() {
			name := filepath.Join(dir, fmt.Sprintf("h%d.log", h.i))
			if err := os.WriteFile(name, []byte(p.stderr.String()), 0o644); err != nil {
				o.t.Logf("FERRY_OFFICE_DEBUG: %v", err)
			}
		})
	}
	return p
}

// officeN is FERRY_OFFICE_N, or 60.
func officeN(t *testing.T) int {
	s := os.Getenv("FERRY_OFFICE_N")
	if s == "" {
		return officeDefaultN
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 21 || n+2+officeExtra > 254 {
		t.Fatalf("FERRY_OFFICE_N=%q: want a number of receivers from 21 to %d", s, 254-2-officeExtra)
	}
	return n
}

// newOffice builds the LAN (namespaces named foff-…) and starts the n
// receivers, all at once, and returns once each is listening.
func newOffice(t *testing.T, n int) *office {
	raiseBacklog(t)
	l := newLANOpts(t, n+2+officeExtra, lanOpts{family: "foff"})
	o := &office{t: t, n: n, byID: map[string]*desk{}, browser: l.h(n + 1), idle: l.h(n + 2)}
	o.browser.name, o.idle.name = "browser", "idle"
	for i := range officeExtra {
		h := l.h(n + 3 + i)
		h.name = fmt.Sprintf("browser-%d", i+2)
		o.extra = append(o.extra, h)
	}
	for i := 1; i <= n; i++ {
		h := l.h(i)
		h.name = fmt.Sprintf("desk-%d", i)
		d := &desk{h: h, dir: t.TempDir()}
		d.p = h.start(nil, "receive", "--accept", "all", "--dir", d.dir, "--port", "0")
		d.p.quiet = true
		o.desks = append(o.desks, d)
	}
	for _, d := range o.desks {
		ev := d.p.waitEvent("listening", 60*time.Second)
		d.id = ev.str("id")
		if d.id == "" || ev.str("name") != d.h.name {
			t.Fatalf("%s: listening event %v, want an id and the name %s", d.p.label, ev, d.h.name)
		}
		if o.byID[d.id] != nil {
			t.Fatalf("%s and %s have the same device ID %s", o.byID[d.id].h.name, d.h.name, d.id)
		}
		o.byID[d.id] = d
	}
	return o
}

// settle waits until the receivers' start-up announcements are over: until
// the idle host receives less than officeQuiet bytes a second over half a
// second, for 15 s at most. The watcher then starts on a LAN as quiet as an
// office's where everyone started work a while ago.
func (o *office) settle() {
	t := o.t
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond) // sampling a counter, not waiting for a peer
	defer tick.Stop()
	b0, t0 := o.idle.rxBytes(), start
	for {
		<-tick.C
		b1, t1 := o.idle.rxBytes(), time.Now()
		rate := float64(b1-b0) / t1.Sub(t0).Seconds()
		if rate < officeQuiet {
			t.Logf("FIGURE office_settle_ms=%d", t1.Sub(start).Milliseconds())
			return
		}
		if t1.Sub(start) > 15*time.Second {
			t.Logf("the LAN is not quiet 15 s after every receiver listens: the idle host receives %.0f B/s; going on", rate)
			return
		}
		b0, t0 = b1, t1
	}
}

// ids are the device IDs of these desks.
func ids(ds []*desk) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.id
	}
	return out
}

// names are the desk names of these IDs, sorted, for messages.
func (o *office) names(idList []string) string {
	var out []string
	for _, id := range idList {
		if d := o.byID[id]; d != nil {
			out = append(out, d.h.name)
		} else {
			out = append(out, "unknown "+short(id))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	slices.Sort(out)
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("… %d more", len(out)-12))
	}
	return strings.Join(out, ", ")
}

// until waits until cond holds for the events printed so far (it sees them
// and their arrival times under the process's lock), the deadline passes or
// the process ends, and reports whether cond held.
func (p *proc) until(deadline time.Time, cond func(evs []event, at []time.Time) bool) bool {
	tm := time.NewTimer(time.Until(deadline))
	defer tm.Stop()
	for {
		p.mu.Lock()
		ok := cond(p.events, p.at)
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if ok || exited {
			return ok
		}
		select {
		case <-changed:
		case <-tm.C:
			return false
		}
	}
}

// firsts returns, for each device ID, when the first event of this kind
// about it arrived at or after since.
func firsts(evs []event, at []time.Time, kind string, since time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	for i, e := range evs {
		if e.name() != kind || at[i].Before(since) {
			continue
		}
		if _, ok := out[e.str("id")]; !ok {
			out[e.str("id")] = at[i]
		}
	}
	return out
}

// awaitAll waits until the process printed an event of this kind about each
// of want since that time, or the deadline passes. It returns when the last
// of them arrived (zero if one is missing) and the ones missing.
func (p *proc) awaitAll(kind string, want []string, since, deadline time.Time) (last time.Time, missing []string) {
	var got map[string]time.Time
	p.until(deadline, func(evs []event, at []time.Time) bool {
		got = firsts(evs, at, kind, since)
		for _, id := range want {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	for _, id := range want {
		at, ok := got[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case at.After(last):
			last = at
		}
	}
	if len(missing) > 0 {
		last = time.Time{}
	}
	return last, missing
}

// snapshotAt returns the events printed so far and when each arrived.
func (p *proc) snapshotAt() ([]event, []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events), slices.Clone(p.at)
}

// awaitGone waits until the process's latest "up" or "down" about each of
// want is a "down", or the deadline passes. It returns when the last of those
// downs arrived (t0 for one already down before t0; zero if one is missing),
// how many were down before t0, and the ones still up.
func (p *proc) awaitGone(want []string, t0, deadline time.Time) (last time.Time, before int, up []string) {
	type state struct {
		kind string
		at   time.Time
	}
	var now map[string]state
	p.until(deadline, func(evs []event, at []time.Time) bool {
		now = map[string]state{}
		for i, e := range evs {
			if k := e.name(); k == "up" || k == "down" {
				now[e.str("id")] = state{k, at[i]}
			}
		}
		for _, id := range want {
			if now[id].kind != "down" {
				return false
			}
		}
		return true
	})
	last = t0
	for _, id := range want {
		switch st := now[id]; {
		case st.kind != "down":
			up = append(up, id)
		case st.at.Before(t0):
			before++
		case st.at.After(last):
			last = st.at
		}
	}
	if len(up) > 0 {
		last = time.Time{}
	}
	return last, before, up
}

// counts tallies the events of this kind by device ID.
func counts(evs []event, kind string) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		if e.name() == kind {
			out[e.str("id")]++
		}
	}
	return out
}

// checkWatch: the watcher lists every receiver within 3 s of its start,
// once each. It waits up to 30 s to say how long it does take.
func (o *office) checkWatch(watch *proc) {
	t := o.t
	last, missing := watch.awaitAll("up", ids(o.desks), watch.begun, watch.begun.Add(30*time.Second))
	if len(missing) > 0 {
		t.Errorf("watch: `ferry peers --watch` listed %d of %d receivers in 30 s (target: all in 3 s); missing %s",
			o.n-len(missing), o.n, o.names(missing))
		t.Logf("FIGURE office_watch_seen_30s=%d", o.n-len(missing))
		return
	}
	took := last.Sub(watch.begun)
	t.Logf("FIGURE office_watch_all_ms=%d", took.Milliseconds())
	if took > 3*time.Second {
		t.Errorf("watch: `ferry peers --watch` listed all %d receivers after %.2f s (target 3 s)", o.n, took.Seconds())
	}
	var twice []string
	for id, c := range counts(watch.snapshot(), "up") {
		if c > 1 {
			twice = append(twice, id)
		}
	}
	if len(twice) > 0 {
		t.Errorf("watch: by the time all %d were listed, %d of them had more than one \"up\": %s", o.n, len(twice), o.names(twice))
	}
}

// checkListing: `ferry peers --timeout 3s` lists every receiver, three
// runs out of three.
func (o *office) checkListing() {
	t := o.t
	var listed []string
	for run := 1; run <= 3; run++ {
		p := o.browser.run(30*time.Second, nil, "peers", "--timeout", "3s")
		p.quiet = true
		seen := map[string]bool{}
		for _, pl := range peersOf(p) {
			if o.byID[pl.id] != nil {
				seen[pl.id] = true
			}
		}
		listed = append(listed, fmt.Sprintf("%d in %.1f s", len(seen), p.duration().Seconds()))
		if p.exitCode() != exitOK {
			t.Errorf("listing: run %d of `ferry peers --timeout 3s` exited %d: %s", run, p.exitCode(), tail(errorText(p)))
		}
		if len(seen) < o.n {
			var missing []string
			for _, d := range o.desks {
				if !seen[d.id] {
					missing = append(missing, d.id)
				}
			}
			t.Errorf("listing: run %d of `ferry peers --timeout 3s` listed %d of %d receivers; missing %s",
				run, len(seen), o.n, o.names(missing))
		}
		t.Logf("FIGURE office_peers3s_run%d_listed=%d", run, len(seen))
	}
	t.Logf("ferry peers --timeout 3s, 3 runs: %s", strings.Join(listed, "; "))
}

// checkSend: `ferry send --to desk-K FILE` among n finds desk-K and
// delivers 1 MiB within 2 s, from the start of the process to its end.
func (o *office) checkSend() {
	t := o.t
	d := o.desks[o.n*2/3-1]
	src, sum := sharedRandom(t, "office-memo.bin", 1<<20)
	s := o.browser.run(60*time.Second, nil, "send", "--to", d.h.name, src)
	s.quiet = true
	took := s.duration()
	t.Logf("FIGURE office_send_ms=%d", took.Milliseconds())
	if s.exitCode() != exitOK {
		t.Errorf("send: `ferry send --to %s` (1 MiB) among %d exited %d after %.2f s: %s",
			d.h.name, o.n, s.exitCode(), took.Seconds(), tail(errorText(s)))
		return
	}
	if acc := s.last("accepted"); acc == nil || acc.str("id") != d.id {
		t.Errorf("send: `ferry send --to %s` was accepted by %v, want %s", d.h.name, acc, d.id)
	}
	ended := d.p.until(time.Now().Add(10*time.Second), func(evs []event, _ []time.Time) bool {
		return slices.ContainsFunc(evs, func(e event) bool { return e.name() == "session_done" || e.name() == "session_error" })
	})
	if done := d.p.last("session_done"); !ended || done == nil {
		t.Errorf("send: %s did not end its session with session_done (%v)", d.h.name, d.p.last("session_error"))
		return
	}
	if got := fileSum(t, filepath.Join(d.dir, filepath.Base(src))); got != sum {
		t.Errorf("send: %s got the file with sha256 %x, want %x", d.h.name, got[:8], sum[:8])
	}
	if took > 2*time.Second {
		t.Errorf("send: `ferry send --to %s` (1 MiB) among %d took %.2f s (target 2 s)", d.h.name, o.n, took.Seconds())
	}
}

// checkTraffic: what the idle host receives with 1, 5 and 10 browsers
// running, each measured over officeWindow once the newest browsers have
// run for officeSettle.
func (o *office) checkTraffic() {
	t := o.t
	limit := float64(officeMaxBPS) * float64(o.n) / 200
	one := o.rxRate()
	var extra []*proc
	more := func(k int) {
		start := time.Now()
		var newer []*proc
		for _, h := range o.extra[len(extra) : len(extra)+k] {
			p := o.browse(h)
			newer = append(newer, p)
		}
		extra = append(extra, newer...)
		for _, p := range newer {
			if _, missing := p.awaitAll("up", ids(o.desks), start, start.Add(officeSettle)); len(missing) > 0 {
				t.Logf("%s listed %d of %d receivers within %v of its start", p.label, o.n-len(missing), o.n, officeSettle)
			}
		}
		time.Sleep(time.Until(start.Add(officeSettle))) // a measuring window, not an event
	}
	more(4)
	five := o.rxRate()
	more(5)
	ten := o.rxRate()
	for _, p := range extra {
		if p.hasExited() {
			t.Errorf("traffic: %s ended (code %d) while being measured: %s", p.label, p.exitCode(), tail(p.stderr.String()))
		}
		p.killAndWait()
	}
	ratio := ten / one
	t.Logf("FIGURE office_idle_bps_1=%.0f", one)
	t.Logf("FIGURE office_idle_bps_5=%.0f", five)
	t.Logf("FIGURE office_idle_bps_10=%.0f", ten)
	t.Logf("FIGURE office_idle_cost_10_over_1=%.2f", ratio)
	if five > limit {
		t.Errorf("traffic: with 5 browsers running, the idle host receives %.0f B/s (target ≤ %.0f B/s: 12,000 × %d / 200)", five, limit, o.n)
	}
	if ratio > 1.5 {
		t.Errorf("traffic: 10 browsers cost the idle host %.2f× what one costs (%.0f against %.0f B/s; target ≤ 1.5×)", ratio, ten, one)
	}
}

// rxRate is what the idle host's eth0 receives over officeWindow, in bytes
// a second, headers included (rx_bytes, as office.sh measures).
func (o *office) rxRate() float64 {
	b0, t0 := o.idle.rxBytes(), time.Now()
	time.Sleep(officeWindow) // a measuring window, not an event
	b1, t1 := o.idle.rxBytes(), time.Now()
	return float64(b1-b0) / t1.Sub(t0).Seconds()
}

// checkSteady: while nobody left, the watcher printed exactly one "up"
// per receiver and no "down", over officeSteady at least from its start.
func (o *office) checkSteady(watch *proc) {
	t := o.t
	time.Sleep(time.Until(watch.begun.Add(officeSteady))) // an observation window; normally already over
	evs := watch.snapshot()
	observed := time.Since(watch.begun)
	ups, downs := counts(evs, "up"), counts(evs, "down")
	nUp, nDown := total(ups), total(downs)
	var again []string
	for id, c := range ups {
		if c > 1 {
			again = append(again, id)
		}
	}
	t.Logf("FIGURE office_steady_s=%.0f", observed.Seconds())
	t.Logf("FIGURE office_steady_ups=%d", nUp)
	t.Logf("FIGURE office_steady_downs=%d", nDown)
	t.Logf("FIGURE office_steady_changed=%d", total(counts(evs, "changed")))
	if first := watch.when("down"); !first.IsZero() {
		t.Logf("FIGURE office_steady_first_down_s=%.1f", first.Sub(watch.begun).Seconds())
	}
	if nUp != o.n || nDown != 0 || len(ups) != o.n {
		t.Errorf("steady: with nobody leaving for %.0f s, `ferry peers --watch` printed %d \"up\" (for %d devices) and %d \"down\" (want %d and 0); up more than once: %s; down: %s",
			observed.Seconds(), nUp, len(ups), nDown, o.n, o.names(again), o.names(keys(downs)))
	}
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkDepartures: desk-1 to desk-10 stopped with SIGTERM at once go down
// within 2 s; desk-11 to desk-20 killed at once within 15 s; from then on
// nobody else goes down, nobody comes up, and nobody goes down twice. A
// departure counts when the watcher last said "down" about the receiver,
// so that a flap just before it is not taken for it.
func (o *office) checkDepartures(watch *proc) {
	t := o.t
	begin := time.Now()
	leave := func(ds []*desk, sig syscall.Signal, target, wait time.Duration, figure string) {
		t0 := time.Now()
		for _, d := range ds {
			d.gone = true
			d.p.signal(sig)
		}
		last, before, missing := watch.awaitGone(ids(ds), t0, t0.Add(wait))
		how := map[syscall.Signal]string{syscall.SIGTERM: "stopped (SIGTERM)", syscall.SIGKILL: "killed (SIGKILL)"}[sig]
		if before > 0 {
			t.Logf("departures: %d of the %d receivers to be %s were already reported down when the signal went (flapping)", before, len(ds), how)
		}
		if len(missing) > 0 {
			t.Errorf("departures: %d of %d receivers %s at once were reported down within %v (target: all within %v); not reported: %s",
				len(ds)-len(missing), len(ds), how, wait, target, o.names(missing))
			return
		}
		took := last.Sub(t0)
		t.Logf("FIGURE %s=%d", figure, took.Milliseconds())
		if took > target {
			t.Errorf("departures: %d receivers %s at once were all reported down after %.2f s (target %v)", len(ds), how, took.Seconds(), target)
		}
	}
	leave(o.desks[0:10], syscall.SIGTERM, 2*time.Second, 10*time.Second, "office_sigterm_down_ms")
	for _, d := range o.desks[0:10] {
		select {
		case <-d.p.done:
			if d.p.exitCode() != exitOK {
				t.Errorf("departures: %s exited %d after SIGTERM, want 0: %s", d.h.name, d.p.exitCode(), tail(d.p.stderr.String()))
			}
		case <-time.After(10 * time.Second):
			t.Errorf("departures: %s still runs 10 s after SIGTERM", d.h.name)
		}
	}
	leave(o.desks[10:20], syscall.SIGKILL, 15*time.Second, 30*time.Second, "office_sigkill_down_ms")

	var since []event
	evs, at := watch.snapshotAt()
	for i, e := range evs {
		if !at[i].Before(begin) {
			since = append(since, e)
		}
	}
	var others, twice []string
	for id, c := range counts(since, "down") {
		if d := o.byID[id]; d == nil || !d.gone {
			others = append(others, id)
		} else if c > 1 {
			twice = append(twice, id)
		}
	}
	if len(others) > 0 {
		t.Errorf("departures: %d receivers that did not leave were reported down meanwhile: %s", len(others), o.names(others))
	}
	if len(twice) > 0 {
		t.Errorf("departures: receivers that left were reported down more than once: %s", o.names(twice))
	}
	if ups := counts(since, "up"); len(ups) > 0 {
		t.Errorf("departures: %d receivers were reported up meanwhile: %s", len(ups), o.names(keys(ups)))
	}
}

// checkReceivers: the receivers the test did not stop still run.
func (o *office) checkReceivers() {
	for _, d := range o.desks {
		if !d.gone && d.p.hasExited() {
			o.t.Errorf("%s ended by itself (code %d): %s", d.h.name, d.p.exitCode(), tail(d.p.stderr.String()))
		}
	}
}

// logUDPErrors logs the browsing host's UDP counters (its namespace's
// /proc/net/snmp): receive-buffer overflows are answers the browser lost.
func (o *office) logUDPErrors() {
	out, err := o.browser.command("cat", "/proc/net/snmp").Output()
	if err != nil {
		o.t.Logf("reading /proc/net/snmp on the browsing host: %v", err)
		return
	}
	var head []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, name := range head {
			if (name == "InDatagrams" || name == "RcvbufErrors") && i < len(f) {
				o.t.Logf("FIGURE office_browser_udp_%s=%s", strings.ToLower(name), f[i])
			}
		}
		return
	}
}

// raiseBacklog lifts net.core.netdev_max_backlog to officeBacklog for the
// test, if it is lower. Every namespace's veth queues its packets on the
// same two per-CPU backlogs, and a multicast packet on the bridge is one
// entry for each of the LAN's hosts: at 200 hosts, the 200 answers of one
// refresh round overflow the default 1,000 entries (86,000 drops in one run
// at the default), a loss that a LAN of real computers, each with its own
// queue, does not have.
func raiseBacklog(t *testing.T) {
	const path = "/proc/sys/net/core/netdev_max_backlog"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("netdev_max_backlog: %v; going on", err)
		return
	}
	old, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || old >= officeBacklog {
		return
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(officeBacklog)), 0o644); err != nil {
		t.Logf("netdev_max_backlog: %v; going on", err)
		return
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, []byte(strconv.Itoa(old)), 0o644); err != nil {
			t.Logf("netdev_max_backlog back to %d: %v", old, err)
		}
	})
}
