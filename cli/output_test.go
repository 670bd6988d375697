package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/transfer"
)

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
