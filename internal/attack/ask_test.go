package attack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"
)

// askReceiver is `ferry receive --accept ask` on a pseudo-terminal made by
// util-linux script(1), so that the kit can read its questions and type
// answers.
type askReceiver struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{}
	port    int
}

func startAskReceiver(t *testing.T) *askReceiver {
	return startAskReceiverIn(t, "victim-receiver", t.TempDir())
}

// startAskReceiverIn is an ask receiver called name, saving into dir.
func startAskReceiverIn(t *testing.T, name, dir string) *askReceiver {
	t.Helper()
	needFerry(t)
	script, err := exec.LookPath("script")
	if err != nil {
		testnetCannotRun(t, "no script(1) for a pseudo-terminal: ask mode not tested")
	}
	inner := fmt.Sprintf("exec '%s' --home '%s' --name %s receive --accept ask --port 0 --dir '%s'",
		ferryBin, t.TempDir(), name, dir)
	a, err := onTerminal(t, script, inner, "NO_COLOR=1")
	if err != nil {
		t.Fatalf("script(1): %v", err)
	}
	m := a.waitMatch(regexp.MustCompile(`listening on UDP port (\d+)`), 1, 10*time.Second)
	if m == nil {
		t.Fatalf("ask receiver did not start on script(1)'s terminal: %q", a.text())
	}
	fmt.Sscanf(m[1], "%d", &a.port)
	return a
}

// onTerminal runs the shell command inner on a pseudo-terminal made by
// script, env added to the kit's, collecting what it shows; the command
// ends with the test (what it showed is logged if the test failed).
func onTerminal(t *testing.T, script, inner string, env ...string) (*askReceiver, error) {
	t.Helper()
	a := &askReceiver{changed: make(chan struct{})}
	a.cmd = exec.Command(script, "-qfec", inner, "/dev/null")
	a.cmd.Env = append(os.Environ(), env...)
	a.stdin, _ = a.cmd.StdinPipe()
	stdout, _ := a.cmd.StdoutPipe()
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			a.mu.Lock()
			a.out.Write(buf[:n])
			close(a.changed)
			a.changed = make(chan struct{})
			a.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		a.stdin.Close()
		a.cmd.Process.Kill()
		a.cmd.Wait()
		if t.Failed() {
			t.Logf("the terminal of %s:\n%q", inner, a.text())
		}
	})
	return a, nil
}

func (a *askReceiver) text() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

func (a *askReceiver) addr() string { return fmt.Sprintf("127.0.0.1:%d", a.port) }

// waitMatch waits for the n-th match of re in the terminal's output.
func (a *askReceiver) waitMatch(re *regexp.Regexp, n int, d time.Duration) []string {
	deadline := time.After(d)
	for {
		a.mu.Lock()
		ch := a.changed
		all := re.FindAllStringSubmatch(a.out.String(), -1)
		a.mu.Unlock()
		if len(all) >= n {
			return all[n-1]
		}
		select {
		case <-ch:
		case <-deadline:
			return nil
		}
	}
}

var question = regexp.MustCompile(`verification code: (\d{3}-\d{3})[^\n]*\n[^\n]*accept\? \[y/N\]`)

// answer waits for the n-th question and types ans, again (at most 3 times)
// while no decision arrives, since input typed before the question is
// shown is discarded.
func (a *askReceiver) answer(t *testing.T, at *attempt, n int, ans string) decision {
	t.Helper()
	q := a.waitMatch(question, n, 10*time.Second)
	if q == nil {
		t.Fatalf("question %d not asked", n)
	}
	if q[1] != at.code {
		t.Errorf("question shows code %s, the spec's is %s", q[1], at.code)
	}
	for i := 0; i < 3; i++ {
		io.WriteString(a.stdin, ans+"\r")
		typ, body, err := readFrame(at.ctl, 2*time.Second)
		if err == nil {
			if typ != tDecision {
				t.Fatalf("want Decision, got %d", typ)
			}
			var dec decision
			if err := json.Unmarshal(body, &dec); err != nil {
				t.Fatal(err)
			}
			return dec
		}
	}
	t.Fatalf("no decision after answering %q", ans)
	return decision{}
}

// askedAttempt offers body as dev to addr and runs the verification
// exchange up to the Reveal, returning before the decision.
func askedAttempt(t *testing.T, addr string, dev device, body []byte) *attempt {
	at := connect(t, addr, dev, body)
	at.reveal(t)
	return at
}

// TestAcceptanceCoversOnlyTheOffer: in ask mode, the user accepts one offer
// from a key. A reconnect with the same offer bytes is not asked again; a
// different offer from the same key (other files, or the same JSON with
// other bytes), or the same offer from another key, is asked about again
// and not accepted until answered.
func TestAcceptanceCoversOnlyTheOffer(t *testing.T) {
	t.Parallel()
	a := startAskReceiver(t)
	dev := newDevice(t)
	offerA := mustJSON(smallOffer("attacker", "a.txt", 3))

	at := askedAttempt(t, a.addr(), dev, offerA)
	if dec := a.answer(t, at, 1, "y"); !dec.Accept {
		t.Fatalf("user's yes not honoured: %+v", dec)
	}
	at.conn.CloseWithError(0, "")

	// The same bytes again from the same key: remembered, not asked.
	at = askedAttempt(t, a.addr(), dev, offerA)
	at.readDecision(t)
	if !at.dec.Accept {
		t.Errorf("a reconnect of the accepted offer was refused: %+v", at.dec)
	}
	if n := len(question.FindAllString(a.text(), -1)); n != 1 {
		t.Errorf("a reconnect of the accepted offer was asked again (%d questions)", n)
	}
	at.conn.CloseWithError(0, "")

	other := smallOffer("attacker", "evil.sh", 3)
	other.Entries[0].Exec = true
	spaced := append([]byte(" "), offerA...) // same JSON, other bytes
	asks := []struct {
		name string
		dev  device
		body []byte
	}{
		{"other-offer-same-key", dev, mustJSON(other)},
		{"same-json-other-bytes", dev, spaced},
		{"same-offer-other-key", newDevice(t), offerA},
	}
	for i, c := range asks {
		at := askedAttempt(t, a.addr(), c.dev, c.body)
		if typ, body, err := readFrame(at.ctl, 1500*time.Millisecond); err == nil {
			t.Errorf("FINDING: %s: got frame %d %s without a new question", c.name, typ, body)
			at.conn.CloseWithError(0, "")
			continue
		}
		if dec := a.answer(t, at, i+2, "n"); dec.Accept {
			t.Errorf("FINDING: %s accepted although the user said no: %+v", c.name, dec)
		}
		at.conn.CloseWithError(0, "")
	}
}
