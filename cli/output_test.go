package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer"
)

// TestHumanBytes: byte counts for people, in binary units with one decimal.
func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1024.0 KiB"},
		{1 << 20, "1.0 MiB"},
		{253 << 20, "253.0 MiB"},
		{3<<30 + 1<<29, "3.5 GiB"},
		{1 << 40, "1.0 TiB"},
		{1 << 50, "1.0 PiB"},
		{1 << 60, "1.0 EiB"},
		{1<<63 - 1, "8.0 EiB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestETA: the time left is bytes left over the rate, in seconds (it was
// nanoseconds, so every ETA showed as 0s).
func TestETA(t *testing.T) {
	for _, tc := range []struct {
		left int64
		rate float64
		want string
	}{
		{253 << 20, 20.4 * (1 << 20), "12s"},
		{100, 10, "10s"},
		{3600 * 1000, 1000, "1h0m0s"},
		{1 << 20, 0, "--"},
		{1 << 20, 0.5, "--"},
		{0, 1000, "0s"},
	} {
		if got := etaText(tc.left, tc.rate); got != tc.want {
			t.Errorf("etaText(%d, %.1f) = %q, want %q", tc.left, tc.rate, got, tc.want)
		}
	}
}

// TestHeadline: an offer named on one line shows its names, never a bare
// "… and N more".
func TestHeadline(t *testing.T) {
	for _, tc := range []struct {
		info transfer.OfferInfo
		want string
	}{
		{transfer.OfferInfo{Files: 1, Bytes: 15, Paths: []string{"note.txt"}}, "note.txt (15 B)"},
		{transfer.OfferInfo{Files: 3, Dirs: 2, Bytes: 3 << 20, Paths: []string{"photos/a.jpg", "photos/2024/b.jpg", "photos/c.jpg"}},
			"photos/ (3 files, 3.0 MiB, 2 folders)"},
		{transfer.OfferInfo{Files: 2, Bytes: 30, Paths: []string{"a.txt", "b.txt"}}, "a.txt and b.txt (2 files, 30 B)"},
		{transfer.OfferInfo{Files: 5, Dirs: 1, Bytes: 50, Paths: []string{"a.txt", "b.txt", "d/c", "e", "f"}},
			"a.txt, b.txt and 3 more (5 files, 50 B, 1 folder)"},
		{transfer.OfferInfo{Files: 1, Bytes: -1, Paths: []string{"stdin.log"}}, "stdin.log (unknown size)"},
		{transfer.OfferInfo{Dirs: 1}, "0 files, 0 B, 1 folder"},
		{transfer.OfferInfo{Files: 1, Bytes: 1, Paths: []string{"\x1b[2Jx"}}, `\x1b[2Jx (1 B)`},
	} {
		if got := headline(tc.info); got != tc.want {
			t.Errorf("headline(%v) = %q, want %q", tc.info.Paths, got, tc.want)
		}
	}
}

// TestOfferLinesNameTheFiles: the sender's wait and the receiver's session
// line name what moves, on one line each.
func TestOfferLinesNameTheFiles(t *testing.T) {
	info := transfer.OfferInfo{PeerName: "laptop-anna", Code: "123-456", Files: 1, Bytes: 15, Paths: []string{"note.txt"}}
	var out bytes.Buffer
	sv := &sendView{e: &env{out: newOutput(&out, &out, false)}}
	sv.onEvent(transfer.EventConnected{Info: info})
	rv := &receiveView{e: &env{out: newOutput(&out, &out, false)}, cancel: func() {}}
	rv.onEvent(transfer.EventSession{Info: info, Progress: &transfer.Progress{Total: 15}})
	text := out.String()
	for _, want := range []string{"waiting for the receiver to accept note.txt (15 B)…\n", `receiving from "laptop-anna"`, "note.txt (15 B)\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "more") || strings.Contains(text, "file(s)") {
		t.Errorf("screen says \"more\" or \"file(s)\":\n%s", text)
	}
}

// TestMeter: the rate is taken over the last 5 s, and a count that stands
// still is noticed.
func TestMeter(t *testing.T) {
	var m meter
	t0 := time.Unix(1000, 0)
	m.add(t0, 0)
	if r := m.rate(); r != 0 {
		t.Errorf("rate with one sample = %v, want 0", r)
	}
	for i := 1; i <= 50; i++ { // 10 s at 1 MB/s, then the same count for 5 s
		n := int64(i) * 200_000
		if i > 25 {
			n = 5_000_000
		}
		m.add(t0.Add(time.Duration(i)*200*time.Millisecond), n)
		if i == 25 {
			if r := m.rate(); r < 0.99e6 || r > 1.01e6 {
				t.Errorf("rate after 5 s at 1 MB/s = %.0f", r)
			}
		}
	}
	if r := m.rate(); r > 0.05e6 {
		t.Errorf("rate after 5 s without progress = %.0f, want about 0", r)
	}
	if s := m.still(); s != 5*time.Second {
		t.Errorf("still = %v, want 5s", s)
	}
}

// TestBarSaysWhoStopped: after 3 s without progress the line names the
// peer that stopped answering, and shows no ETA.
func TestBarSaysWhoStopped(t *testing.T) {
	p := &transfer.Progress{Total: 100 << 20}
	v := progressView{verb: "sending", stall: `"laptop-anna" not answering for %s`}
	var m meter
	t0 := time.Unix(1000, 0)
	for i := range 11 {
		m.add(t0.Add(time.Duration(i)*time.Second), min(int64(i), 2)*(10<<20))
	}
	line := barText(p, &m, v, t0.Add(10*time.Second))
	if !strings.Contains(line, `"laptop-anna" not answering for 8s`) || strings.Contains(line, "ETA") {
		t.Errorf("stalled bar: %q", line)
	}
	m = meter{}
	for i := range 11 {
		m.add(t0.Add(time.Duration(i)*time.Second), int64(i)*(5<<20))
	}
	line = barText(p, &m, v, t0.Add(10*time.Second))
	if !strings.Contains(line, "5.0 MiB/s  ETA 10s") {
		t.Errorf("moving bar: %q", line)
	}
}

// TestJSONProgress: with --json a transfer reports progress events, the
// last one when it ends.
func TestJSONProgress(t *testing.T) {
	var out bytes.Buffer
	o := newOutput(&out, &out, true)
	p := &transfer.Progress{Total: 1000}
	stop := o.progress(p, progressView{verb: "sending", fields: map[string]any{"id": "X"}})
	p.Done.Store(1000)
	stop()
	stop() // twice is fine
	var last map[string]any
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if last["event"] != "progress" || last["bytes"] != 1000.0 || last["total"] != 1000.0 || last["id"] != "X" {
		t.Errorf("last progress event %v", last)
	}
}
