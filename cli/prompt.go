package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

// prompter asks on the terminal whether to accept an offer, one question at
// a time. An answer applies only to the question it was typed for: standard
// input is read only while a question is on the screen, what was typed
// before the question appeared is discarded, and what comes with or after
// the answer line in the same read is dropped.
type prompter struct {
	e     *env
	trust *identity.TrustStore
	in    answerInput
	mu    sync.Mutex // held for a whole question; close takes it too
}

// answerInput is where answers are typed.
type answerInput interface {
	// discard drops whatever was typed before now.
	discard() error
	// readLine reads the next line typed from now on, without its line
	// break. It returns io.EOF when the input ends and ctx.Err() when ctx
	// ends first; a line that comes after ctx ended is dropped.
	readLine(ctx context.Context) (string, error)
	close() error
}

func newPrompter(e *env, trust *identity.TrustStore) (*prompter, error) {
	in, err := newAnswerInput(e.stdin)
	if err != nil {
		return nil, fmt.Errorf("prepare to ask on the terminal: %w", err)
	}
	return &prompter{e: e, trust: trust, in: &echoed{in, e.out}}, nil
}

// echoed is an answer input on the screen of out: the line break of an
// answer ends the question's line there.
type echoed struct {
	answerInput
	out *output
}

func (in *echoed) readLine(ctx context.Context) (string, error) {
	line, err := in.answerInput.readLine(ctx)
	if err == nil {
		in.out.answered()
	}
	return line, err
}

// close releases the input; it waits for an open question to end.
func (p *prompter) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in.close()
}

func (p *prompter) ask(ctx context.Context, info transfer.OfferInfo) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.e.out
	if warn := impostorWarning(p.trust, info); warn != "" {
		o.event(nil, "\n"+warn)
	}
	// Discard first, then show: whatever is read from here on was typed
	// with this question on the screen.
	if err := p.in.discard(); err != nil {
		return false, fmt.Errorf("discard earlier terminal input: %w", err)
	}
	o.prompt(fmt.Sprintf("\n%s (%s) wants to send you %s\nverification code: %s (compare it with the sender's screen)\naccept? [y/N] ",
		quoteName(info.PeerName), info.PeerID, describe(info, 10), info.Code))
	line, err := p.in.readLine(ctx)
	switch {
	case errors.Is(context.Cause(ctx), transfer.ErrSenderGone):
		o.event(nil, "(cancelled by the sender)")
		return false, ctx.Err()
	case ctx.Err() != nil:
		o.event(nil, "(no answer; declined)")
		return false, ctx.Err()
	case errors.Is(err, io.EOF):
		return false, errors.New("standard input closed")
	case err != nil:
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// lineInput reads answers from a reader that offers no way to wait for
// input, such as a console where poll(2) is not available: one goroutine
// reads lines, since a read cannot be interrupted, and ends with the input
// (or the process). A line reaches a question only if the question was
// open when the line was read; lines read while none is open are dropped.
// It cannot discard what the system buffered before a question appeared
// and the goroutine had not read yet.
type lineInput struct {
	mu   sync.Mutex
	slot chan string // the open question's, nil while none is open
	eof  chan struct{}
}

func newLineInput(r io.Reader) *lineInput {
	in := &lineInput{eof: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			in.mu.Lock()
			if in.slot != nil {
				in.slot <- sc.Text()
				in.slot = nil
			}
			in.mu.Unlock()
		}
		close(in.eof)
	}()
	return in
}

func (in *lineInput) discard() error { return nil }

func (in *lineInput) readLine(ctx context.Context) (string, error) {
	slot := make(chan string, 1)
	in.mu.Lock()
	in.slot = slot
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.slot = nil
		in.mu.Unlock()
	}()
	select {
	case line := <-slot:
		return line, nil
	case <-in.eof:
		select {
		case line := <-slot:
			return line, nil
		default:
			return "", io.EOF
		}
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (in *lineInput) close() error { return nil }
