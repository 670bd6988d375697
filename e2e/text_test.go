package e2e

import (
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/syncbuf"
)

// Text messages (issue 15): ferry send --text and --text -, on a LAN of
// namespaces whose names start with "ftxt-".

// textLAN is a LAN of a receiving host (1) and a sending one (2).
func textLAN(t *testing.T) (rx, tx *host) {
	l := newLANOpts(t, 2, lanOpts{family: "ftxt"})
	return l.h(1), l.h(2)
}

// richText is UTF-8 with every kind of thing a terminal must not be fed:
// escape sequences, C0 and C1 controls, bidi overrides, a line separator,
// CRLF, and no line break at the end.
const richText = "first line\r\n\x1b[2J\x1b[31mred\x1b[0m \u202egnp.exe\u202c\t\x07\x08\x7f\u0085\u009b31m \u2028 \ufeff\\x1b\nlast line, no line break"

// TestTextJSON: multi-line text, exactly 64 KiB from standard input, and a
// control-character-rich text each arrive as sent in the receiver's text
// event; 64 KiB + 1 is refused by the sender before it connects, with the
// advice to send a file.
func TestTextJSON(t *testing.T) {
	t.Parallel()
	rx, tx := textLAN(t)
	recv, port := rx.receive(t.TempDir(), 0, "all")
	max := strings.Repeat("ferry ✓ ", 64<<10/10) // 10 bytes each
	max += strings.Repeat("x", 64<<10-len(max))
	for i, tc := range []struct {
		name  string
		text  string
		stdin bool
	}{
		{"multi-line", "the meeting moved to room 4\nbring the slides\n\nand coffee\n", false},
		{"exactly-64KiB", max, true},
		{"control-rich", richText, false},
	} {
		args := []string{"send", "--to", rx.addr(port), "--text"}
		var stdin *strings.Reader
		if tc.stdin {
			args, stdin = append(args, "-"), strings.NewReader(tc.text)
		} else {
			args = append(args, tc.text)
		}
		var p *proc
		if stdin != nil {
			p = tx.run(30*time.Second, stdin, args...)
		} else {
			p = tx.run(30*time.Second, nil, args...)
		}
		if p.exitCode() != 0 {
			t.Fatalf("%s: send exited %d: %s", tc.name, p.exitCode(), p.stderr.String())
		}
		if done := p.mustEvent("done"); done.num("bytes") != int64(len(tc.text)) {
			t.Errorf("%s: done event %v, want bytes %d", tc.name, done, len(tc.text))
		}
		ev := recv.waitEvents("text", i+1, 15*time.Second)[i]
		if got := ev.str("text"); got != tc.text {
			t.Errorf("%s: the text event's text (%d bytes) is not the text sent (%d bytes)", tc.name, len(got), len(tc.text))
		}
		if ev.num("bytes") != int64(len(tc.text)) || ev.str("from") != tx.name || ev.str("code") == "" {
			t.Errorf("%s: text event %v, want %d bytes from %q with a code", tc.name, ev, len(tc.text), tx.name)
		}
	}
	if n := len(max); n != 64<<10 {
		t.Fatalf("the 64 KiB text has %d bytes", n)
	}

	// One byte over: refused at once, before any connection (nothing
	// answers at this address: trying would end as unreachable).
	begun := time.Now()
	p := tx.run(30*time.Second, strings.NewReader(max+"y"), "send", "--to", rx.v4+":9", "--text", "-")
	msg := p.last("error").str("message")
	if p.exitCode() != 1 || msg != "standard input holds more than 64 KiB, and a text message may hold 64 KiB (65536 bytes): send it as a file (ferry send FILE, or ferry send --as NAME - from standard input)" {
		t.Errorf("64 KiB + 1: exit %d, error %q; want 1 and the advice to send a file", p.exitCode(), msg)
	}
	if d := time.Since(begun); d > 5*time.Second || p.last("connecting") != nil {
		t.Errorf("64 KiB + 1 was refused after %v (events %v), want before connecting", d, p.snapshot())
	}
	if n := len(recv.all("text")); n != 3 {
		t.Errorf("the receiver showed %d texts, want 3", n)
	}
	if files := textDirListing(t, recv); files != "" {
		t.Errorf("texts left files in the receiving folder: %s", files)
	}
}

// textDirListing lists the receiving folder of a receiver started by receive.
func textDirListing(t *testing.T, recv *proc) string {
	dir := recv.mustEvent("listening").str("dir")
	out, _ := exec.Command("ls", "-A", dir).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestTextStdout: ferry receive --once --stdout, its standard output a
// pipe, writes the text byte for byte as sent and nothing else (no line
// break added), says what it did on standard error, and exits.
func TestTextStdout(t *testing.T) {
	t.Parallel()
	rx, tx := textLAN(t)
	cmd := rx.command(ferryBin, "--name", rx.name, "receive", "--accept", "all", "--once", "--stdout", "--port", "0", "--dir", t.TempDir())
	cmd.Env = rx.env()
	var stdout bytes.Buffer
	stderr := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("receiver's stderr:\n%s", stderr.String())
		}
	})
	port := waitStderr(t, stderr, regexp.MustCompile(`listening on UDP port (\d+)`), exited)

	p := tx.run(30*time.Second, strings.NewReader(richText), "send", "--to", rx.addr(port), "--text", "-")
	if p.exitCode() != 0 {
		t.Fatalf("send exited %d: %s", p.exitCode(), p.stderr.String())
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("receive --once --stdout: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("receive --once --stdout did not exit after the text")
	}
	if got := stdout.String(); got != richText {
		t.Errorf("standard output is not the text as sent:\n got %q\nwant %q", got, richText)
	}
	if !strings.Contains(stderr.String(), `text from "`+tx.name+`"`) || !strings.Contains(stderr.String(), "written to standard output") {
		t.Errorf("standard error does not say a text was written to standard output:\n%s", stderr.String())
	}
}

// waitStderr waits until a line of buf matches re and returns its first
// submatch as a number; it fails the test if the process exits first.
func waitStderr(t *testing.T, buf *syncbuf.Buffer, re *regexp.Regexp, exited chan error) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("exited (%v) before printing %s:\n%s", err, re, buf.String())
		case <-time.After(50 * time.Millisecond): // polling interval, not a wait for an outcome
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing matched %s within 15 s:\n%s", re, buf.String())
		}
	}
}

// TestTextTrusted: a receiver that accepts only paired devices refuses an
// unpaired sender's text (exit 3, declined) and shows nothing of it.
func TestTextTrusted(t *testing.T) {
	t.Parallel()
	rx, tx := textLAN(t)
	recv, port := rx.receive(t.TempDir(), 0, "trusted")
	p := tx.run(30*time.Second, nil, "send", "--to", rx.addr(port), "--text", "secret plans")
	if p.exitCode() != 3 || !strings.Contains(p.last("error").str("message"), "paired") {
		t.Errorf("send to --accept trusted: exit %d, %v; want 3, declined as not paired", p.exitCode(), p.last("error"))
	}
	ev := recv.waitEvent("declined", 15*time.Second)
	if ev.str("from") != tx.name {
		t.Errorf("declined event %v, want from %q", ev, tx.name)
	}
	for _, e := range recv.snapshot() {
		for k, v := range e {
			if s, ok := v.(string); ok && strings.Contains(s, "secret plans") {
				t.Errorf("the receiver showed the refused text in %s of %v", k, e)
			}
		}
	}
}

var textCodeRe = regexp.MustCompile(`verification code:? (\d{3}-\d{3})`)

// TestTextOnTerminal: on a real terminal (tmux), the question about a text
// shows its sender, size and first line escaped; a text declined there is
// refused to its sender (exit 3); an accepted one is shown with its escape
// sequences, controls and bidi overrides made visible, so that the
// terminal neither clears nor reorders anything. ferry receive --stdout
// on a terminal shows the text escaped too, and says so.
func TestTextOnTerminal(t *testing.T) {
	t.Parallel()
	rx, tx := textLAN(t)
	tm := newTerm(t, 200, 50)
	tm.run(rx.env(), "ip", "netns", "exec", rx.ns, ferryBin, "--name", rx.name, "receive", "--dir", t.TempDir(), "--port", "0", "--stdout")
	port, _ := strconv.Atoi(tm.waitRegexp(listeningRe, 15*time.Second)[1])

	send := func(text string) (*exec.Cmd, *syncbuf.Buffer, chan error) {
		cmd := tx.command(ferryBin, "--name", tx.name, "send", "--to", rx.addr(port), "--text", text)
		cmd.Env = tx.env()
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		return cmd, out, done
	}
	exitOf := func(done chan error) int {
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			if err != nil {
				return -1
			}
			return 0
		case <-time.After(30 * time.Second):
			t.Fatal("the sender did not exit")
		}
		return -1
	}
	asked := func(n int) string {
		rows := tm.waitFor("question "+strconv.Itoa(n), 15*time.Second, func(rows []string) bool {
			return strings.Count(strings.Join(rows, "\n"), "accept? [y/N]") == n
		})
		return strings.Join(rows, "\n")
	}

	// Declined.
	_, out, done := send("please say no\nsecond line")
	screen := asked(1)
	if !strings.Contains(screen, `"`+tx.name+`" (`) || !strings.Contains(screen, "wants to send you a text (25 B, 2 lines):") ||
		!strings.Contains(screen, "│ please say no") || strings.Contains(screen, "second line") {
		t.Errorf("the question does not show the sender, the size and only the first line:\n%s", shown(strings.Split(screen, "\n")))
	}
	tm.keys("n", "Enter")
	if code := exitOf(done); code != 3 {
		t.Errorf("declined text: sender exited %d, want 3 (declined): %s", code, out.String())
	}

	// Accepted: the escapes are shown, not obeyed.
	_, out, done = send(richText)
	screen = asked(2)
	if !strings.Contains(screen, `│ first line\x0d`) {
		t.Errorf("the question does not show the first line escaped:\n%s", shown(strings.Split(screen, "\n")))
	}
	code := textCodeRe.FindAllStringSubmatch(screen, -1)
	tm.keys("y", "Enter")
	if c := exitOf(done); c != 0 {
		t.Fatalf("accepted text: sender exited %d: %s", c, out.String())
	}
	if m := textCodeRe.FindStringSubmatch(out.String()); m == nil || len(code) == 0 || m[1] != code[len(code)-1][1] {
		t.Errorf("the codes differ: sender %q, receiver %q", m, code)
	}
	rows := tm.waitFor("the text", 15*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "│ last line, no line break")
	})
	screen = strings.Join(rows, "\n")
	t.Logf("screen:\n%s", shown(rows))
	for _, want := range []string{
		`│ first line\x0d`,
		`│ \x1b[2J\x1b[31mred\x1b[0m \u202egnp.exe\u202c\x09\x07\x08\x7f\u0085\u009b31m \u2028 \ufeff\x1b`,
		"│ last line, no line break",
		"(standard output is a terminal, so the text is shown escaped",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen does not show %q", want)
		}
	}
	// ESC [2J obeyed would have cleared the screen: the start is still there.
	if !listeningRe.MatchString(screen) {
		t.Error("the screen was cleared: the listening line is gone")
	}
	if strings.ContainsAny(screen, "\u202e\u202c\u2028\ufeff\x1b") {
		t.Error("a bidi override, line separator, BOM or ESC reached the screen")
	}
}
