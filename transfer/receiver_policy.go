package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// decision is a receiver's answer to an offer.
type decision struct {
	accept bool
	code   wire.Decline // why not
	reason string       // for people, on both sides
}

var (
	accepted   = decision{accept: true}
	notTrusted = decision{code: wire.DeclineNotTrusted, reason: "this receiver accepts only paired devices (pair first with `ferry pair`)"}
)

// decideAndAdmit decides the offer and, if it is accepted, takes one of the
// receiver's session slots for it: a free one, or that of a session idle
// long enough (displaceIdle). With none, the answer is busy.
func (s *session) decideAndAdmit(ctx context.Context) (decision, error) {
	d, err := s.decide(ctx)
	if err != nil || !d.accept {
		return d, err
	}
	r := s.r
	if r.admit(s) || r.displaceIdle(ctx) && r.admit(s) {
		r.dropPending(s.conn)
		return d, nil
	}
	return decision{code: wire.DeclineBusy, reason: "the receiver is busy with other transfers; try again later"}, nil
}

// decide applies the policy to an offer: paired devices are accepted;
// under PolicyAsk the user is asked about the others (an answer is
// remembered for the same offer from the same key, see remembered).
func (s *session) decide(ctx context.Context) (decision, error) {
	r := s.r
	switch {
	case s.info.Trusted, r.cfg.Policy == PolicyAll:
		return accepted, nil
	case r.cfg.Policy == PolicyTrusted:
		return notTrusted, nil
	}
	// An acceptance covers exactly the offer the user saw, from that key:
	// a reconnect sends the same bytes; anything else is asked again.
	key := s.peer.String() + "/" + hex.EncodeToString(s.offer.digest)
	if r.remembered(key) {
		return accepted, nil // a reconnect of an offer the user already accepted
	}
	if r.cfg.Ask == nil {
		return decision{code: wire.DeclineNo, reason: "nobody is there to accept the offer"}, nil
	}
	if !r.startAsking() {
		return decision{code: wire.DeclineBusy, reason: "the receiver is already asking about other offers; try again in a moment"}, nil
	}
	defer r.doneAsking()
	r.dropPending(s.conn) // on the user's screen: no longer one of a flood
	d, err := s.ask(ctx)
	if d.accept && s.offer.Text == nil { // a text is shown once: the same one again is asked about again
		r.remember(key)
	}
	return d, err
}

// ask puts the offer to the user. The sender may give up while the
// question is on screen: the question's context then ends with
// ErrSenderGone as its cause.
func (s *session) ask(ctx context.Context) (decision, error) {
	cctx, gone := context.WithCancelCause(ctx)
	defer gone(nil)
	actx, cancel := context.WithTimeout(cctx, askTimeout)
	defer cancel()
	stop := context.AfterFunc(s.conn.Context(), func() { gone(ErrSenderGone) })
	defer stop()
	yes, err := s.r.cfg.Ask(actx, s.info)
	switch {
	case err != nil && s.conn.Context().Err() != nil:
		return decision{}, &connLost{errors.New("the sender went away while the offer was shown")}
	case err != nil:
		return decision{code: wire.DeclineNo, reason: "no answer in time"}, nil
	case !yes:
		return decision{code: wire.DeclineNo, reason: "answered no"}, nil
	}
	return accepted, nil
}

// startAsking takes one of the maxAsking places for a question on the
// user's screen.
func (r *Receiver) startAsking() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.asking >= maxAsking {
		return false
	}
	r.asking++
	return true
}

func (r *Receiver) doneAsking() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asking--
}

// remembered reports whether the user accepted the offer of key within
// rememberAccepted.
func (r *Receiver) remembered(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	when, ok := r.accepted[key]
	return ok && time.Since(when) < rememberAccepted
}

// remember notes that the user accepted the offer of key, and forgets
// acceptances that are too old.
func (r *Receiver) remember(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, t := range r.accepted {
		if time.Since(t) > rememberAccepted {
			delete(r.accepted, k)
		}
	}
	r.accepted[key] = time.Now()
}
