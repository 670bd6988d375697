package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

// errPartial: a send to several receivers delivered everything to some of
// them and not to the others (exit code ExitPartial).
var errPartial = errors.New("partly delivered")

// manySend is a send to several receivers: --to given more than once, or
// --all.
type manySend struct {
	tos     []string
	all     bool
	paired  bool // with all: paired devices only
	noSwarm bool
	paths   []string
	text    string // a text message instead of paths
	streams int
	disc    discovery.Options
	wait    time.Duration
	dev     *identity.Device
	name    string
	trust   *identity.TrustStore
}

// manyTarget is one receiver of a manySend: where it is, what to call it,
// and the key by which JSON events name it.
type manyTarget struct {
	target
	label string // for people: the --to text, or the advertised name
	key   string // the device ID, or HOST:PORT for an address without discovery
}

// sendMany runs one session per receiver at once (transfer.SendMany): each
// receiver has its own verification code, decision and resume; the display
// has a line per receiver; the result is told per receiver and summed up.
func (e *env) sendMany(ctx context.Context, m manySend) error {
	targets, err := e.resolveMany(ctx, m)
	if err != nil {
		return err
	}
	b := newBoard(e.out)
	views := make([]*sendView, len(targets))
	tt := make([]transfer.Target, len(targets))
	for i, tg := range targets {
		sv := &sendView{e: e, trust: m.trust, row: b.add(tg.label, tg.key), addrs: tg.addrs, expect: tg.expect}
		views[i] = sv
		tt[i] = transfer.Target{Addrs: tg.addrs, Expect: tg.expect, Paired: !tg.expect.IsZero() && m.trust.Trusted(tg.expect), Events: sv.onEvent}
		if tg.expect.IsZero() {
			sv.say(nil, fmt.Sprintf("connecting to %s…", strings.Join(tg.addrs, ", ")))
		}
	}
	stopBoard := b.start()
	out, err := transfer.SendMany(ctx, transfer.SendOptions{
		Device: m.dev, Name: m.name, Paths: m.paths, Text: m.text, Streams: m.streams, Logger: e.log, NoSwarm: m.noSwarm,
	}, tt)
	for _, sv := range views {
		sv.stop()
	}
	stopBoard()
	if err != nil {
		return err
	}
	return e.manyResults(targets, views, out)
}

// manyResults tells each receiver's result (a done or failed event) and
// the summary, and returns nil if every receiver got everything, an error
// of errPartial if some did, and the first receiver's failure if none did.
func (e *env) manyResults(targets []manyTarget, views []*sendView, out []transfer.Outcome) error {
	var results []map[string]any
	var failed []string
	var firstErr error
	for i, o := range out {
		sv := views[i]
		r := map[string]any{"receiver": targets[i].key, "name": targets[i].label}
		if o.Err == nil {
			sv.say(map[string]any{"event": "done", "files": o.Result.Files, "bytes": o.Result.Bytes, "bytes_sent": o.Result.BytesSent, "from_peers": o.Result.FromPeers}, sv.summary(o.Result))
			r["ok"], r["exit"] = true, ExitOK
		} else {
			err := sv.failure(o.Err)
			firstErr = cmp(firstErr, err)
			msg := errText(err)
			sv.say(map[string]any{"event": "failed", "message": msg, "exit": exitCode(err)}, "not delivered: "+msg)
			r["ok"], r["exit"], r["message"] = false, exitCode(err), msg
			failed = append(failed, printable(targets[i].label))
		}
		results = append(results, r)
	}
	ok := len(out) - len(failed)
	text := fmt.Sprintf("%d of %d receivers got everything", ok, len(out))
	if len(failed) > 0 {
		text += "; not delivered to " + strings.Join(failed, ", ")
	}
	e.out.event(map[string]any{"event": "summary", "receivers": len(out), "complete": ok, "failed": len(failed), "results": results}, "")
	switch {
	case len(failed) == 0:
		e.out.event(nil, text)
		return nil
	case ok == 0:
		return said(text+" (the first failure decides the exit code); run the same command again to resume", firstErr)
	}
	return said(text+"; run the same command again to resume the others", errPartial)
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// resolveMany finds the receivers: each --to as a single send finds its
// one (a name, an ID prefix, an address), or with --all every receiver
// discovery finds (paired ones only with --paired). A receiver named twice
// is sent to once.
func (e *env) resolveMany(ctx context.Context, m manySend) ([]manyTarget, error) {
	var out []manyTarget
	seen := func(t manyTarget) bool {
		return slices.ContainsFunc(out, func(o manyTarget) bool { return o.key == t.key })
	}
	if m.all {
		peers, err := collectAll(ctx, m.disc, m.wait, func(p discovery.Peer) bool {
			return p.ID != m.dev.ID && (!m.paired || m.trust.Trusted(p.ID))
		})
		if err != nil {
			return nil, err
		}
		which := "receivers"
		if m.paired {
			which = "paired receivers"
		}
		if len(peers) == 0 {
			return nil, fmt.Errorf("%w: no %s found on the network within %s", transfer.ErrUnreachable, which, m.wait)
		}
		names := make([]string, len(peers))
		for i, p := range peers {
			names[i] = fmt.Sprintf("%s (%s)", printable(p.Name), p.ID.Short())
			out = append(out, manyTarget{target: target{addrs: addrStrings(p), expect: p.ID}, label: p.Name, key: p.ID.String()})
		}
		e.out.event(nil, fmt.Sprintf("sending to %d %s: %s", len(peers), which, strings.Join(names, ", ")))
		return out, nil
	}
	for _, to := range m.tos {
		tg, err := e.resolveTarget(ctx, to, m.disc, m.wait, m.trust, m.dev.ID)
		if err != nil {
			return nil, fmt.Errorf("--to %s: %w", printable(to), err)
		}
		t := manyTarget{target: tg, label: to, key: tg.expect.String()}
		if tg.expect.IsZero() {
			t.key = strings.Join(tg.addrs, ",")
		}
		if !seen(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// allQuiet is how long --all keeps listening after the last new receiver
// answered.
const allQuiet = time.Second

// collectAll browses until wait passes or no new matching receiver has
// answered for allQuiet since the last one, and returns the matches in the
// order they answered.
func collectAll(ctx context.Context, opts discovery.Options, wait time.Duration, match func(discovery.Peer) bool) ([]discovery.Peer, error) {
	return browseFor(ctx, opts, wait, match, allQuiet, true)
}

// board is the live display of a send to several receivers: a line per
// receiver on a terminal; with --json, each receiver's progress events
// carry its receiver field.
type board struct {
	o    *output
	mu   sync.Mutex // guards the rows' fields
	rows []*manyRow
}

// manyRow is one receiver's line, and how its events are marked.
type manyRow struct {
	b     *board
	label string
	key   string

	// guarded by b.mu
	note   string // the last thing said about this receiver
	prog   *transfer.Progress
	pv     progressView
	m      meter
	status func() string
}

func newBoard(o *output) *board { return &board{o: o} }

func (b *board) add(label, key string) *manyRow {
	r := &manyRow{b: b, label: printable(label), key: key, note: "waiting…"}
	b.rows = append(b.rows, r)
	return r
}

// tag marks an event of this receiver: its receiver field in JSON, its
// label before each line of text.
func (r *manyRow) tag(m map[string]any, text string) (map[string]any, string) {
	if m != nil {
		m = maps.Clone(m)
		m["receiver"] = r.key
	}
	if text != "" {
		lines := strings.Split(text, "\n")
		r.b.mu.Lock()
		r.note = lines[len(lines)-1]
		r.b.mu.Unlock()
		for i, l := range lines {
			lines[i] = r.label + ": " + l
		}
		text = strings.Join(lines, "\n")
	}
	return m, text
}

// progress shows p as this receiver's progress until the returned stop.
func (r *manyRow) progress(p *transfer.Progress, pv progressView) func() {
	o := r.b.o
	if o.json {
		pv.fields = map[string]any{"receiver": r.key}
		return o.progress(p, pv)
	}
	if !o.tty {
		return func() {}
	}
	r.b.mu.Lock()
	r.prog, r.pv, r.m = p, pv, meter{}
	r.m.add(time.Now(), p.Done.Load())
	r.b.mu.Unlock()
	return func() {
		r.b.mu.Lock()
		defer r.b.mu.Unlock()
		if r.prog == p {
			r.prog = nil
		}
	}
}

// setStatus shows text (redrawn) on this receiver's line in place of its
// progress; nil clears it.
func (r *manyRow) setStatus(text func() string) {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.status = text
}

// start draws the rows on a terminal until the returned stop.
func (b *board) start() (stop func()) {
	if !b.o.tty {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(barEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				b.o.mu.Lock()
				b.o.clearBar()
				b.o.mu.Unlock()
				return
			case now := <-t.C:
				b.o.drawBlock(b.lines(now))
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// lines is what the rows show at now.
func (b *board) lines(now time.Time) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.rows))
	for i, r := range b.rows {
		text := r.note
		switch {
		case r.status != nil:
			text = r.status()
		case r.prog != nil:
			r.m.add(now, r.prog.Done.Load())
			text = barText(r.prog, &r.m, r.pv, now)
		}
		out[i] = r.label + ": " + text
	}
	return out
}

// drawBlock puts lines on the live block of lines, one per receiver.
func (o *output) drawBlock(lines []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.asking {
		return
	}
	o.clearBar()
	for i, l := range lines {
		if i > 0 {
			fmt.Fprint(o.w, "\n")
		}
		fmt.Fprint(o.w, fit(o.w, l))
	}
	o.barRows = len(lines)
}
