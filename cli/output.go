package cli

import (
	"encoding/json"
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
	fmt.Fprintln(o.w, text)
}

func (o *output) error(err error) {
	msg := err.Error()
	if o.json {
		o.emit(map[string]any{"event": "error", "message": msg})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearBar()
	fmt.Fprintf(o.errw, "ferry: %s\n", msg)
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
		eta := "--"
		if rate > 1 {
			eta = (time.Duration(float64(total-done)/rate) * time.Second / time.Second).Round(time.Second).String()
		}
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

// describe lists an offer for people, every name made safe to print.
func describe(info transfer.OfferInfo, maxNames int) string {
	var b strings.Builder
	size := "unknown size"
	if info.Bytes >= 0 {
		size = transfer.HumanBytes(info.Bytes)
	}
	fmt.Fprintf(&b, "%d file(s), %s", info.Files, size)
	if info.Dirs > 0 {
		fmt.Fprintf(&b, ", %d folder(s)", info.Dirs)
	}
	for i, p := range info.Paths {
		if i == maxNames {
			fmt.Fprintf(&b, "\n    … and %d more", len(info.Paths)-maxNames)
			break
		}
		fmt.Fprintf(&b, "\n    %s", safepath.Display(p, 100))
	}
	return b.String()
}
