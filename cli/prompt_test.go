package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer"
)

// waitLimit bounds every wait of these tests.
const waitLimit = 10 * time.Second

// screen records what ferry writes and tells when a question is shown.
type screen struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	asked   int
	changed chan struct{} // closed and replaced on every write
}

func newScreen() *screen { return &screen{changed: make(chan struct{})} }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	s.asked = strings.Count(s.buf.String(), "accept? [y/N]")
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// waitAsked waits until the n-th question is on the screen.
func (s *screen) waitAsked(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		asked, changed := s.asked, s.changed
		s.mu.Unlock()
		if asked >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("question %d was not shown within %s; screen: %q", n, waitLimit, s.String())
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

type answer struct {
	ok  bool
	err error
}

// asker runs a prompter's questions in the background.
type asker struct {
	t      *testing.T
	p      *prompter
	screen *screen
}

func newAsker(t *testing.T, stdin io.Reader) *asker {
	t.Helper()
	scr := newScreen()
	e := &env{stdin: stdin, stdout: scr, stderr: scr, out: newOutput(scr, scr, false)}
	p, err := newPrompter(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return &asker{t: t, p: p, screen: scr}
}

// ask opens question n (counting from 1) and returns once it is on the screen.
func (a *asker) ask(ctx context.Context, n int) <-chan answer {
	a.t.Helper()
	ch := make(chan answer, 1)
	go func() {
		ok, err := a.p.ask(ctx, transfer.OfferInfo{PeerName: "peer", Code: "123-456", Files: 1, Paths: []string{"f"}})
		ch <- answer{ok, err}
	}()
	a.screen.waitAsked(a.t, n)
	return ch
}

func (a *asker) result(ch <-chan answer) answer {
	a.t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		a.t.Fatalf("no answer within %s; screen: %q", waitLimit, a.screen.String())
		return answer{}
	}
}

// expect fails unless the question's answer is accepted, without error.
func (a *asker) expect(ch <-chan answer, accepted bool, what string) {
	a.t.Helper()
	if got := a.result(ch); got.ok != accepted || got.err != nil {
		a.t.Fatalf("%s: got %v, %v; want %v, no error", what, got.ok, got.err, accepted)
	}
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

// TestPromptAnswerTypedForIt: a line typed after the question is shown
// answers it.
func TestPromptAnswerTypedForIt(t *testing.T) {
	r, w := pipe(t)
	a := newAsker(t, r)
	q := a.ask(context.Background(), 1)
	write(t, w, "y\n")
	a.expect(q, true, "answer y after the question")
}

// TestPromptIgnoresEarlierInput: a "y" typed before the question was shown
// does not answer it.
func TestPromptIgnoresEarlierInput(t *testing.T) {
	r, w := pipe(t)
	write(t, w, "y\n")
	a := newAsker(t, r)
	q := a.ask(context.Background(), 1)
	write(t, w, "n\n")
	a.expect(q, false, "a y typed before the question answered it")
}

// TestPromptCancelledAnswerDoesNotCarryOver: an answer typed after its
// question was withdrawn does not answer the next one.
func TestPromptCancelledAnswerDoesNotCarryOver(t *testing.T) {
	r, w := pipe(t)
	a := newAsker(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	q1 := a.ask(ctx, 1)
	cancel()
	if got := a.result(q1); got.ok || !errors.Is(got.err, context.Canceled) {
		t.Fatalf("withdrawn question: got %v, %v; want declined, context.Canceled", got.ok, got.err)
	}
	write(t, w, "y\n")
	q2 := a.ask(context.Background(), 2)
	write(t, w, "n\n")
	a.expect(q2, false, "the answer to a withdrawn question answered the next")
}

// TestPromptOneAnswerOneQuestion: two lines that arrive together answer one
// question; the second does not wait for the next.
func TestPromptOneAnswerOneQuestion(t *testing.T) {
	r, w := pipe(t)
	a := newAsker(t, r)
	q1 := a.ask(context.Background(), 1)
	write(t, w, "y\ny\n")
	a.expect(q1, true, "first question")
	q2 := a.ask(context.Background(), 2)
	write(t, w, "n\n")
	a.expect(q2, false, "a second line typed for the first question answered the next")
}

// TestPromptInputClosed: the end of standard input declines with an error.
func TestPromptInputClosed(t *testing.T) {
	for name, mk := range map[string]func() (io.Reader, io.Closer){
		"pipe":      func() (io.Reader, io.Closer) { r, w := pipe(t); return r, w },
		"io.Reader": func() (io.Reader, io.Closer) { r, w := io.Pipe(); return r, w },
	} {
		t.Run(name, func(t *testing.T) {
			r, w := mk()
			a := newAsker(t, r)
			q := a.ask(context.Background(), 1)
			w.Close()
			if got := a.result(q); got.ok || got.err == nil {
				t.Fatalf("closed input: got %v, %v; want declined with an error", got.ok, got.err)
			}
		})
	}
}
