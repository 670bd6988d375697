package transfer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// A text message is an offer of protocol wire.TextVersion followed by a
// Text frame (wire/message.go). It is decided as an offer of files is
// (the same policy, question and verification code); an accepted text
// is reported (EventText) and the accepting decision, without a token,
// ends the session: nothing else flows.

// EventText: a receiver accepted a text message. Info.Text is the text,
// as the sender sent it (escape it to show it).
type EventText struct {
	Info OfferInfo
}

func (EventText) event() {}

// errTextShown ends a text session that was accepted and reported.
var errTextShown = errors.New("text shown")

// readText reads the text that follows a text offer and checks both: a
// text offer is of protocol wire.TextVersion and lists no files.
func readText(c *control, o *wire.Offer) (string, error) {
	switch {
	case o.Version > wire.TextVersion:
		return "", &versionError{theirs: o.Version}
	case o.Version != wire.TextVersion:
		return "", wire.Errorf("a text in an offer of protocol %d", o.Version)
	case len(o.Entries) > 0:
		return "", wire.Errorf("a text offer that also lists %d entries", len(o.Entries))
	}
	if err := checkName(o); err != nil {
		return "", err
	}
	if len(o.Session) > maxSessionID {
		return "", wire.Errorf("session ID of %d bytes", len(o.Session))
	}
	if err := wire.CheckTextRef(o.Text); err != nil {
		return "", err
	}
	return wire.ReadText(c.br, o.Text)
}

// runText decides a text offer and, if it is accepted, reports the text
// and says so to the sender.
func (s *session) runText(ctx context.Context, log *slog.Logger) error {
	d, err := s.decide(ctx)
	s.releaseOffer()
	if err != nil {
		return err
	}
	if !d.accept {
		return s.decline(d)
	}
	s.r.dropPending(s.conn)
	s.r.cfg.Events(EventText{Info: s.info})
	log.Info("text accepted", "bytes", len(s.offer.text))
	if err := s.ctrl.send(wire.TypeDecision, wire.Decision{Accept: true, Name: s.r.cfg.Name}); err != nil {
		return err
	}
	s.waitClose(codeDone, "")
	return errTextShown
}
