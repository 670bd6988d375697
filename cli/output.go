package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// output renders what ferry has to say: newline-delimited JSON events with
// --json, text otherwise, and a live progress line when stdout is a terminal.
type output struct {
	mu     sync.Mutex
	w      io.Writer
	errw   io.Writer
	json   bool
	tty    bool
	barLen int // length of the progress line on screen, 0 if none
	// barRows: lines of a block of progress lines (one per receiver of a
	// send to several) on screen, the cursor at the end of the last; 0 if
	// none.
	barRows int
	// asking: a question is on screen and the cursor after it, on its
	// line; what comes next starts on a new line unless an answer ended
	// that line.
	asking bool
}

func newOutput(stdout, stderr io.Writer, jsonMode bool) *output {
	return &output{w: stdout, errw: stderr, json: jsonMode, tty: !jsonMode && isTerminal(stdout)}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// emit writes one JSON event line.
func (o *output) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearBar()
	o.endQuestion()
	o.w.Write(append(b, '\n'))
}

// event emits a JSON event in --json mode, or a text line otherwise.
func (o *output) event(v map[string]any, text string) {
	if o.json {
		if v != nil {
			o.emit(v)
		}
		return
	}
	if text == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearBar()
	o.endQuestion()
	fmt.Fprintln(o.w, text)
}

// prompt shows a question and leaves the cursor after it, on its line, for
// the answer.
func (o *output) prompt(text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearBar()
	o.endQuestion()
	fmt.Fprint(o.w, text)
	o.asking = true
}

// answered records that an answer was typed: its line break ended the
// question's line.
func (o *output) answered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asking = false
}

// endQuestion moves past a question nobody answered to a new line.
func (o *output) endQuestion() {
	if o.asking {
		fmt.Fprintln(o.w)
		o.asking = false
	}
}

func (o *output) error(err error) {
	msg := errText(err)
	if o.json {
		o.emit(map[string]any{"event": "error", "message": msg})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearBar()
	o.endQuestion()
	fmt.Fprintf(o.errw, "ferry: %s\n", msg)
}

// errText is an error's text made safe to print: every error ferry shows, as
// text or in a JSON event, goes through here. An error's text can hold bytes
// from the network whatever its type (quic-go puts a peer's close reason in
// the text of a *quic.TransportError), so every character that is not
// graphic is escaped as safepath.Display escapes names: control characters
// (line breaks too), DEL, C1 controls, format characters such as the bidi
// overrides, line separators and invalid UTF-8. Backslashes stay as they
// are, so text that was escaped before (transfer escapes the reasons of
// application closes) is not escaped twice.
//
// Usage errors keep their line breaks: ferry writes them from the command
// line, and the names they list are already made printable.
func errText(err error) string {
	msg := err.Error()
	if !errors.Is(err, errUsage) {
		return escapeText(msg)
	}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = escapeText(l)
	}
	return strings.Join(lines, "\n")
}

// saidErr is an error told in words of its own: Error is the text for
// people; errors.Is and errors.As still find the errors it stands for, and
// so the exit code stays theirs.
type saidErr struct {
	text string
	errs []error
}

func said(text string, errs ...error) error { return &saidErr{text, errs} }

func (e *saidErr) Error() string   { return e.text }
func (e *saidErr) Unwrap() []error { return e.errs }

// escapeText escapes every non-graphic character of s (see errText).
func escapeText(s string) string { return safepath.DisplayText(s, 0) }

func (o *output) clearBar() {
	if o.barRows > 0 {
		fmt.Fprint(o.w, "\r\x1b[2K"+strings.Repeat("\x1b[1A\x1b[2K", o.barRows-1))
		o.barRows = 0
	}
	if o.barLen > 0 {
		fmt.Fprintf(o.w, "\r%s\r", strings.Repeat(" ", o.barLen))
		o.barLen = 0
	}
}

// progressView says how a session's progress is shown: verb leads the
// live line ("sending"); stall, a format for how long nothing moved, says
// so in place of the rate (`"anna" not answering for %s`); fields go into
// every JSON progress event.
type progressView struct {
	verb   string
	stall  string
	fields map[string]any
}

// How often progress is shown: the live line on a terminal, the JSON
// events; and after how long without progress the line says so.
const (
	barEvery      = 200 * time.Millisecond
	jsonEvery     = time.Second
	stallAfter    = 3 * time.Second
	rateWindow    = 5 * time.Second
	progressEvent = "progress"
)

// progress shows p until stop is called: a live line on a terminal, a JSON
// progress event a second and one when it stops with --json, nothing
// otherwise.
func (o *output) progress(p *transfer.Progress, v progressView) (stop func()) {
	if p == nil || (!o.tty && !o.json) {
		return func() {}
	}
	every := barEvery
	if o.json {
		every = jsonEvery
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var m meter
		m.add(time.Now(), p.Done.Load())
		for {
			select {
			case <-done:
				if o.json {
					m.add(time.Now(), p.Done.Load())
					o.emit(progressJSON(p, &m, v))
					return
				}
				o.mu.Lock()
				o.clearBar()
				o.mu.Unlock()
				return
			case now := <-t.C:
				m.add(now, p.Done.Load())
				if o.json {
					o.emit(progressJSON(p, &m, v))
				} else {
					o.drawBar(barText(p, &m, v, now))
				}
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// status shows a line on a terminal, redrawn from text every second, until
// stop is called.
func (o *output) status(text func() string) (stop func()) {
	o.drawBar(text())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				o.mu.Lock()
				o.clearBar()
				o.mu.Unlock()
				return
			case <-t.C:
				o.drawBar(text())
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// meter measures a rate over the last rateWindow and how long the count
// has stood still.
type meter struct {
	samples []sample // oldest first, spanning at most rateWindow
	moved   time.Time
}

type sample struct {
	t time.Time
	n int64
}

func (m *meter) add(t time.Time, n int64) {
	if len(m.samples) == 0 || n != m.last().n {
		m.moved = t
	}
	m.samples = append(m.samples, sample{t, n})
	for len(m.samples) > 2 && t.Sub(m.samples[1].t) >= rateWindow {
		m.samples = m.samples[1:]
	}
}

func (m *meter) last() sample { return m.samples[len(m.samples)-1] }

// rate is bytes a second over the window; 0 until a sample is a second old.
func (m *meter) rate() float64 {
	first, last := m.samples[0], m.last()
	dt := last.t.Sub(first.t).Seconds()
	if dt < 1 {
		return 0
	}
	return float64(last.n-first.n) / dt
}

// still is how long the count has not moved, as of the last sample.
func (m *meter) still() time.Duration { return m.last().t.Sub(m.moved) }

func progressJSON(p *transfer.Progress, m *meter, v progressView) map[string]any {
	ev := map[string]any{"event": progressEvent, "bytes": m.last().n, "total": p.Total, "rate": int64(m.rate())}
	if r := m.rate(); r > 1 && p.Total >= 0 {
		ev["eta"] = int64((float64(p.Total-m.last().n) / r) + 0.5)
	}
	for k, x := range v.fields {
		ev[k] = x
	}
	return ev
}

// barText is the live progress line.
func barText(p *transfer.Progress, m *meter, v progressView, now time.Time) string {
	done, total, rate := m.last().n, p.Total, m.rate()
	speed := human.Bytes(int64(rate)) + "/s"
	if still := m.still(); still >= stallAfter && v.stall != "" {
		speed = fmt.Sprintf(v.stall, still.Round(time.Second))
	}
	var line string
	if total > 0 {
		pct := float64(done) / float64(total)
		const width = 24
		fill := int(pct * width)
		fill = min(max(fill, 0), width)
		line = fmt.Sprintf("%s [%s%s] %5.1f%% %s / %s  %s", v.verb,
			strings.Repeat("█", fill), strings.Repeat("░", width-fill), pct*100,
			human.Bytes(done), human.Bytes(total), speed)
		if m.still() < stallAfter {
			line += "  ETA " + etaText(total-done, rate)
		}
	} else {
		line = fmt.Sprintf("%s %s  %s", v.verb, human.Bytes(done), speed)
	}
	if cur := p.Current(); cur != nil && cur.Size > 0 {
		line += fmt.Sprintf("  | %s %.0f%%", safepath.Display(cur.Name, 30), 100*float64(cur.Done.Load())/float64(cur.Size))
	}
	return line
}

// drawBar puts line on the live line.
func (o *output) drawBar(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.asking {
		return // the line is the question's
	}
	line = fit(o.w, line)
	pad := ""
	if n := len([]rune(line)); n < o.barLen {
		pad = strings.Repeat(" ", o.barLen-n)
	}
	fmt.Fprintf(o.w, "\r%s%s", line, pad)
	o.barLen = len([]rune(line))
}

// fit cuts a line to the terminal's width, if w is one: a line that wraps
// cannot be drawn again in place.
func fit(w io.Writer, line string) string {
	f, ok := w.(*os.File)
	if !ok {
		return line
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if r := []rune(line); err == nil && cols > 1 && len(r) > cols-1 {
		return string(r[:cols-2]) + "…"
	}
	return line
}

// etaText is the time left to move left bytes at rate bytes a second,
// rounded to the second; "--" while there is no rate to go by.
func etaText(left int64, rate float64) string {
	if rate <= 1 {
		return "--"
	}
	return time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
}

// describe lists an offer for people, every name made safe to print: how
// much it holds, then up to maxNames of its files, one a line, and how many
// more there are.
func describe(info transfer.OfferInfo, maxNames int) string {
	if info.Text != "" {
		return textDescription(info)
	}
	var b strings.Builder
	b.WriteString(amount(info))
	for i, p := range info.Paths {
		if i == maxNames {
			fmt.Fprintf(&b, "\n    … and %d more", len(info.Paths)-maxNames)
			break
		}
		fmt.Fprintf(&b, "\n    %s", safepath.Display(p, 100))
	}
	return b.String()
}

// headline names an offer on one line: its first two top-level names (a
// folder's with a slash) and how much it holds, "note.txt (15 B)" or
// "photos/, a.txt and 3 more (14 files, 3.2 MiB)".
func headline(info transfer.OfferInfo) string {
	if info.Text != "" {
		return textHeadline(info)
	}
	var tops []string
	seen := make(map[string]bool)
	for _, p := range info.Paths {
		top, _, folder := strings.Cut(p, "/")
		if folder {
			top += "/"
		}
		if !seen[top] {
			seen[top] = true
			tops = append(tops, safepath.Display(top, 60))
		}
	}
	var names string
	switch {
	case len(tops) == 0:
		return amount(info)
	case len(tops) == 1:
		names = tops[0]
	case len(tops) == 2:
		names = tops[0] + " and " + tops[1]
	default:
		names = fmt.Sprintf("%s, %s and %d more", tops[0], tops[1], len(tops)-2)
	}
	if len(tops) == 1 && info.Files == 1 {
		return fmt.Sprintf("%s (%s)", names, size(info.Bytes))
	}
	return fmt.Sprintf("%s (%s)", names, amount(info))
}

// amount is how much an offer holds: "14 files, 3.2 MiB" (", 2 folders").
func amount(info transfer.OfferInfo) string {
	s := plural(info.Files, "file") + ", " + size(info.Bytes)
	if info.Dirs > 0 {
		s += ", " + plural(info.Dirs, "folder")
	}
	return s
}

// table writes a header and rows of tab-separated columns to standard
// output, aligned; without rows, the line empty instead.
func (e *env) table(header string, rows []string, empty string) error {
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, empty)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

func size(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	return human.Bytes(n)
}

// plural counts things: "1 file", "3 files", "2 tries".
func plural(n int, thing string) string {
	switch {
	case n == 1:
		return "1 " + thing
	case strings.HasSuffix(thing, "y"):
		return fmt.Sprintf("%d %sies", n, thing[:len(thing)-1])
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
