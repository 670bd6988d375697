package e2e

import (
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/syncbuf"
	"github.com/ferry-lan/ferry/internal/testnet"
)

// term is a real terminal: a tmux session on a private server, cols×rows,
// running a shell. Keys go in with send-keys; the screen and the cursor
// come out of capture-pane and display-message.
type term struct {
	t      testing.TB
	socket string
}

var termCount atomic.Int32

// newTerm starts a terminal of cols×rows, removed when the test ends.
// Without tmux the test is skipped, or fails with CI=true.
func newTerm(t testing.TB, cols, rows int) *term {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testnet.CannotRun(t, "tmux is missing (apt-get install tmux): %v", err)
	}
	tm := &term{t: t, socket: fmt.Sprintf("ferry-e2e-%d-%d", os.Getpid(), termCount.Add(1))}
	// A plain shell with a fixed prompt: the screen holds only what ferry
	// writes and the commands.
	if out, err := tm.tmux("-f", "/dev/null", "new-session", "-d", "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows),
		"env", "-i", "PATH="+os.Getenv("PATH"), "TERM=xterm-256color", "PS1=$ ", "sh"); err != nil {
		testnet.CannotRun(t, "start tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { tm.tmux("kill-server") })
	return tm
}

func (tm *term) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// keys types keys: literal text, or tmux key names such as Enter and C-c.
func (tm *term) keys(keys ...string) {
	tm.t.Helper()
	if out, err := tm.tmux(append([]string{"send-keys", "-t", "0"}, keys...)...); err != nil {
		tm.t.Fatalf("tmux send-keys %q: %v: %s", keys, err, out)
	}
}

// run types a command line: argv quoted for the shell, after env.
func (tm *term) run(env []string, argv ...string) {
	tm.t.Helper()
	var words []string
	for _, w := range append(append([]string{"env"}, env...), argv...) {
		words = append(words, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	tm.keys("-l", strings.Join(words, " "))
	tm.keys("Enter")
}

// screen is what the terminal shows, one string a row.
func (tm *term) screen() []string {
	tm.t.Helper()
	out, err := tm.tmux("capture-pane", "-p", "-t", "0")
	if err != nil {
		tm.t.Fatalf("tmux capture-pane: %v: %s", err, out)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// cursor is the cursor's column and row, from 0.
func (tm *term) cursor() (x, y int) {
	tm.t.Helper()
	out, err := tm.tmux("display-message", "-p", "-t", "0", "#{cursor_x} #{cursor_y}")
	if err != nil {
		tm.t.Fatalf("tmux display-message: %v: %s", err, out)
	}
	if _, err := fmt.Sscan(out, &x, &y); err != nil {
		tm.t.Fatalf("cursor position %q: %v", out, err)
	}
	return x, y
}

// waitFor polls the screen until match finds what it wants in it, and
// returns the screen; it fails the test after limit.
func (tm *term) waitFor(what string, limit time.Duration, match func(rows []string) bool) []string {
	tm.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rows := tm.screen()
		if match(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal did not show %s within %v:\n%s", what, limit, strings.Join(rows, "\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}

// waitRegexp waits for a row that matches re and returns its submatches.
func (tm *term) waitRegexp(re *regexp.Regexp, limit time.Duration) []string {
	tm.t.Helper()
	var m []string
	tm.waitFor(re.String(), limit, func(rows []string) bool {
		for _, r := range rows {
			if m = re.FindStringSubmatch(r); m != nil {
				return true
			}
		}
		return false
	})
	return m
}

// localDevice is a ferry home outside any namespace, for tests on loopback.
func localDevice(t testing.TB, name string) []string {
	home := filepath.Join(t.TempDir(), name)
	return []string{"FERRY_HOME=" + home, "HOME=" + home}
}

var listeningRe = regexp.MustCompile(`listening on UDP port (\d+)`)

// TestQuestionOnTerminal: the receiver's question leaves the cursor on its
// line, after "accept? [y/N] ", and the answer is typed there.
func TestQuestionOnTerminal(t *testing.T) {
	// On a LAN of namespaces: a receiver announces itself by mDNS, which
	// must not leave this machine.
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	tm := newTerm(t, 100, 30)
	dir := t.TempDir()
	tm.run(rx.env(), "ip", "netns", "exec", rx.ns, ferryBin, "--name", "laptop-anna", "receive", "--dir", dir, "--port", "0")
	port, _ := strconv.Atoi(tm.waitRegexp(listeningRe, 15*time.Second)[1])

	note := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(note, []byte("hello there 15\n"), 0o644)
	send := tx.command(ferryBin, "--name", "desk-bob", "send", "--to", rx.addr(port), note)
	send.Env = tx.env()
	out := &syncbuf.Buffer{}
	send.Stdout, send.Stderr = out, out
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { send.Process.Kill(); send.Wait() })

	const question = "accept? [y/N] "
	rows := tm.waitFor("the question", 15*time.Second, func(rows []string) bool {
		x, y := tm.cursor()
		return y < len(rows) && strings.HasPrefix(rows[y], "accept?") && x > 0
	})
	x, y := tm.cursor()
	if rows[y] != strings.TrimSpace(question) || x != len(question) {
		t.Errorf("cursor at column %d of row %q, want column %d of %q:\n%s", x, rows[y], len(question), question, strings.Join(rows, "\n"))
	}
	tm.keys("y", "Enter")
	rows = tm.waitFor("the received line", 15*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "received 1 file")
	})
	if !strings.Contains(strings.Join(rows, "\n"), question+"y\n") {
		t.Errorf("the answer is not on the question's line:\n%s", strings.Join(rows, "\n"))
	}
	t.Logf("screen:\n%s", shown(rows))
}

// shown is a screen for a log: its rows up to the last that is not blank.
func shown(rows []string) string {
	for len(rows) > 0 && strings.TrimSpace(rows[len(rows)-1]) == "" {
		rows = rows[:len(rows)-1]
	}
	return strings.Join(rows, "\n")
}

var etaRe = regexp.MustCompile(`(\d+\.\d)% .* ETA (\S+)`)

// TestETAOnTerminal: during a transfer throttled to 16 Mbit/s (tc tbf on
// the receiver's port of the LAN's switch), the progress bar's ETA is
// within 30 % of the time the transfer then really takes to finish.
func TestETAOnTerminal(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	recv, port := rx.receive(t.TempDir(), 0, "all")
	_ = recv
	const size = 24 << 20 // about 13 s at 16 Mbit/s
	src := filepath.Join(t.TempDir(), "video.bin")
	writeRandom(t, src, size, seedOf(t, "video"))
	defer rx.shape("16mbit")()

	tm := newTerm(t, 120, 24)
	tm.run(tx.env(), "ip", "netns", "exec", tx.ns, ferryBin, "--name", tx.name, "send", "--to", rx.addr(port), src)
	var eta time.Duration
	var at time.Time
	var pct float64
	tm.waitFor("an ETA of 4 s or more past 25 %", 60*time.Second, func(rows []string) bool {
		for _, r := range rows {
			m := etaRe.FindStringSubmatch(r)
			if m == nil {
				continue
			}
			p, _ := strconv.ParseFloat(m[1], 64)
			d, err := time.ParseDuration(m[2])
			if err == nil && p >= 25 && d >= 4*time.Second {
				eta, at, pct = d, time.Now(), p
				return true
			}
		}
		return false
	})
	rows := tm.waitFor("the sent line", 60*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "sent video.bin")
	})
	real := time.Since(at)
	t.Logf("at %.1f%% the bar said ETA %v; the transfer ended %v later\n%s", pct, eta, real.Round(100*time.Millisecond), shown(rows))
	if off := math.Abs(float64(eta-real)) / float64(real); off > 0.3 {
		t.Errorf("ETA %v, real time left %v: off by %.0f%%, want at most 30%%", eta, real.Round(100*time.Millisecond), 100*off)
	}
}

// TestConnectingAtOnce: a send to an address where nothing answers says
// "connecting to …" at once, then, when it gives up, where nothing
// answered and what to check.
func TestConnectingAtOnce(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().String() // a port nobody listens on once closed
	conn.Close()
	note := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(note, []byte("hello\n"), 0o644)

	tm := newTerm(t, 100, 24)
	begun := time.Now()
	tm.run(localDevice(t, "bob"), ferryBin, "--name", "desk-bob", "send", "--to", addr, note)
	tm.waitFor("connecting to "+addr, 5*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "connecting to "+addr+"…")
	})
	if d := time.Since(begun); d > 2*time.Second {
		t.Errorf("\"connecting to\" came %v after the command, want at once", d)
	}
	rows := tm.waitFor("the unreachable message", 30*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, ""), "is `ferry receive` running there")
	})
	if screen := strings.Join(rows, ""); !strings.Contains(screen, "receiver unreachable: nothing answered at "+addr) {
		t.Errorf("the message does not say where nothing answered:\n%s", shown(rows))
	}
	t.Logf("screen:\n%s", shown(rows))
}

// TestPickerOnTerminal: with two receivers on the LAN, `ferry send` on a
// terminal lists them in aligned columns, asks again after an answer that
// names neither, takes a name, and says where it sends.
func TestPickerOnTerminal(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 3)
	alpha := startNamed(t, l.h(1), "alpha", "all")
	beta := startNamed(t, l.h(2), "beta-with-a-longer-name", "all")
	tx := l.h(3)
	tx.name = "sender"
	note := writeNote(t, "note.txt", "for beta\n")

	tm := newTerm(t, 100, 24)
	tm.run(tx.env(), "ip", "netns", "exec", tx.ns, ferryBin, "--name", tx.name, "send", note)
	const question = "send to which? (1-2 or a name) "
	tm.waitFor("the picker's question", 30*time.Second, func(rows []string) bool {
		_, y := tm.cursor()
		return y < len(rows) && rows[y] == strings.TrimSpace(question)
	})
	tm.keys("3", "Enter")
	tm.waitFor("the question again", 10*time.Second, func(rows []string) bool {
		return strings.Count(strings.Join(rows, "\n"), strings.TrimSpace(question)) == 2 // capture-pane drops trailing blanks
	})
	tm.keys("-l", "beta-with-a-longer-name")
	tm.keys("Enter")
	rows := tm.waitFor("the sent line", 30*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "sent note.txt")
	})
	screen := strings.Join(rows, "\n")
	t.Logf("screen:\n%s", shown(rows))
	delivered(t, beta, "note.txt", "for beta\n")
	untouched(t, alpha)
	for _, want := range []string{
		question + "3\nthere is no 3: type a number from 1 to 2, or a name\n",
		"sending to beta-with-a-longer-name (" + short(beta.id) + ")\n",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen lacks %q", want)
		}
	}
	// The two rows of the list start their ID column at the same place.
	var cols []int
	for _, r := range rows {
		for _, r2 := range []*named{alpha, beta} {
			if i := strings.Index(r, short(r2.id)); i >= 0 && strings.HasPrefix(strings.TrimSpace(r), fmt.Sprint(len(cols)+1)+")") {
				cols = append(cols, i)
			}
		}
	}
	if len(cols) != 2 || cols[0] != cols[1] {
		t.Errorf("the ID column starts at %v, want two rows at one column", cols)
	}
}

// TestCancelOnTerminal: Ctrl-C on the sender while the receiver's question
// is on screen stops the sender within 1 s, saying "cancelled", and the
// question goes away on the receiver with "cancelled by the sender";
// nothing is received (issue 11, item 1).
func TestCancelOnTerminal(t *testing.T) {
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	tmR := newTerm(t, 100, 30)
	tmS := newTerm(t, 100, 30)
	dir := t.TempDir()
	tmR.run(rx.env(), "ip", "netns", "exec", rx.ns, ferryBin, "--name", "laptop-anna", "receive", "--dir", dir, "--port", "0")
	port, _ := strconv.Atoi(tmR.waitRegexp(listeningRe, 15*time.Second)[1])
	note := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(note, []byte("never accepted\n"), 0o644)
	tmS.run(tx.env(), "ip", "netns", "exec", tx.ns, ferryBin, "--name", "desk-bob", "send", "--to", rx.addr(port), note)
	tmR.waitFor("the question", 15*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "accept? [y/N]")
	})
	tmS.waitFor("the sender waiting", 5*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "verification code")
	})
	tmS.keys("C-c")
	pressed := time.Now()
	tmS.waitFor("cancelled, and the shell prompt back", 5*time.Second, func(rows []string) bool {
		screen := strings.Join(rows, "\n")
		return strings.Contains(screen, "cancelled") && strings.HasSuffix(strings.TrimRight(screen, " \n"), "$")
	})
	if d := time.Since(pressed); d > time.Second {
		t.Errorf("the sender took %v to stop after Ctrl-C, want at most 1 s", d)
	}
	tmR.waitFor("the question withdrawn", 5*time.Second, func(rows []string) bool {
		return strings.Contains(strings.Join(rows, "\n"), "cancelled by the sender")
	})
	tmR.keys("y", "Enter") // a late yes answers nothing
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the receiving folder holds %d entries after a cancelled send", len(entries))
	}
	t.Logf("sender:\n%s\nreceiver:\n%s", strings.Join(tmS.screen(), "\n"), strings.Join(tmR.screen(), "\n"))
}
