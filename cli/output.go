package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

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

// escapeText escapes every non-graphic character of s (see errText).
func escapeText(s string) string {
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = safepath.Display(p, 0)
	}
	return strings.Join(parts, `\`)
}

func (o *output) clearBar() {
	if o.barLen > 0 {
		fmt.Fprintf(o.w, "\r%s\r", strings.Repeat(" ", o.barLen))
		o.barLen = 0
	}
}

// bar shows a live progress line until stop is called. It draws nothing when
// stdout is not a terminal.
func (o *output) bar(p *transfer.Progress, verb string) (stop func()) {
	if !o.tty || p == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		startDone := p.Done.Load()
		var rate float64
		lastT, lastB := start, startDone
		for {
			select {
			case <-done:
				o.mu.Lock()
				o.clearBar()
				o.mu.Unlock()
				return
			case now := <-t.C:
				b := p.Done.Load()
				if dt := now.Sub(lastT).Seconds(); dt > 0 {
					inst := float64(b-lastB) / dt
					if rate == 0 {
						rate = inst
					} else {
						rate = 0.8*rate + 0.2*inst
					}
				}
				lastT, lastB = now, b
				o.drawBar(verb, b, p.Total, rate, p.Current())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (o *output) drawBar(verb string, done, total int64, rate float64, cur *transfer.FileProgress) {
	var line string
	if total > 0 {
		pct := float64(done) / float64(total)
		const width = 24
		fill := int(pct * width)
		fill = min(max(fill, 0), width)
		eta := etaText(total-done, rate)
		line = fmt.Sprintf("%s [%s%s] %5.1f%% %s / %s  %s/s  ETA %s", verb,
			strings.Repeat("█", fill), strings.Repeat("░", width-fill), pct*100,
			transfer.HumanBytes(done), transfer.HumanBytes(total), transfer.HumanBytes(int64(rate)), eta)
	} else {
		line = fmt.Sprintf("%s %s  %s/s", verb, transfer.HumanBytes(done), transfer.HumanBytes(int64(rate)))
	}
	if cur != nil && cur.Size > 0 {
		line += fmt.Sprintf("  | %s %.0f%%", safepath.Display(cur.Name, 30), 100*float64(cur.Done.Load())/float64(cur.Size))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	pad := ""
	if n := len([]rune(line)); n < o.barLen {
		pad = strings.Repeat(" ", o.barLen-n)
	}
	fmt.Fprintf(o.w, "\r%s%s", line, pad)
	o.barLen = len([]rune(line))
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

func size(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	return transfer.HumanBytes(n)
}

// plural counts things: "1 file", "3 files".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
