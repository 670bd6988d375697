package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/discovery"
)

// TestPickAsksAgain: on a terminal, a wrong answer asks again, a name
// answers, and Ctrl-C (the end of ctx) stops the question.
func TestPickAsksAgain(t *testing.T) {
	master, term := openPTY(t)
	peers, trust := threePeers(t)
	scr := newScreen()
	e := &env{stdin: term, stdout: scr, stderr: scr, out: newOutput(scr, scr, false)}
	type picked struct {
		p   discovery.Peer
		err error
	}
	run := func(ctx context.Context) <-chan picked {
		ch := make(chan picked, 1)
		go func() {
			p, err := e.pick(ctx, peers, "", "send to which?", trust)
			ch <- picked{p, err}
		}()
		return ch
	}
	waitScreen := func(want string, n int) {
		t.Helper()
		scr.waitFor(t, func(s string) bool { return strings.Count(s, want) >= n })
	}
	const question = "send to which? (1-3 or a name) "
	ch := run(context.Background())
	waitScreen(question, 1)
	if s := scr.String(); !strings.HasSuffix(s, question) {
		t.Errorf("the question does not leave the cursor after it: %q", s)
	}
	write(t, master, "5\n")
	waitScreen(question, 2)
	write(t, master, "desk-bob-with-a-long-name\n")
	if got := <-ch; got.err != nil || got.p.Name != "desk-bob-with-a-long-name" {
		t.Errorf("picked %q, %v; want desk-bob-with-a-long-name", got.p.Name, got.err)
	}
	if s := scr.String(); !strings.Contains(s, "there is no 5: type a number from 1 to 3, or a name") {
		t.Errorf("a wrong answer is not told: %q", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ch = run(ctx)
	waitScreen(question, 3)
	cancel()
	if got := <-ch; !errors.Is(got.err, context.Canceled) {
		t.Errorf("Ctrl-C at the picker: %v, want context.Canceled", got.err)
	}
}

// waitFor waits until match accepts what is on the screen.
func (s *screen) waitFor(t *testing.T, match func(string) bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		text, changed := s.buf.String(), s.changed
		s.mu.Unlock()
		if match(text) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the screen did not show what was awaited within %s: %q", waitLimit, text)
		}
	}
}
