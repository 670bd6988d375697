package cli

import (
	"context"
	"strings"
	"testing"
)

// TestQuestionKeepsTheCursor: the question ends without a line break, so
// the answer is typed on its line; a question withdrawn unanswered leaves
// its line before anything else is written.
func TestQuestionKeepsTheCursor(t *testing.T) {
	r, w := pipe(t)
	a := newAsker(t, r)
	q := a.ask(context.Background(), 1)
	if s := a.screen.String(); !strings.HasSuffix(s, "accept? [y/N] ") {
		t.Errorf("the question does not end the screen with the cursor after it: %q", s)
	}
	write(t, w, "y\n")
	a.expect(q, true, "answer y")
	a.p.e.out.event(nil, "next line")
	if s := a.screen.String(); !strings.HasSuffix(s, "accept? [y/N] next line\n") {
		t.Errorf("after an answer (whose line break the terminal echoes) the next line is not written at once: %q", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	q = a.ask(ctx, 2)
	cancel()
	a.result(q)
	s := a.screen.String()
	if after := s[strings.LastIndex(s, "accept? [y/N] ")+len("accept? [y/N] "):]; !strings.HasPrefix(after, "\n") || len(after) < 2 {
		t.Errorf("a withdrawn question's line is not ended before the next text: %q", after)
	}
}
