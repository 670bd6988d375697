package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// MaxText is the longest text message, in bytes of UTF-8.
const MaxText = wire.MaxText

// ErrTextTooLong: a text message over MaxText bytes; it can go as a file.
var ErrTextTooLong = errors.New("text too long")

// CheckText says whether text can be sent as a text message: UTF-8, not
// empty, at most MaxText bytes.
func CheckText(text string) error {
	switch {
	case text == "":
		return errors.New("the text is empty")
	case len(text) > MaxText:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTextTooLong, len(text), MaxText)
	case !utf8.ValidString(text):
		return errors.New("the text is not valid UTF-8")
	}
	return nil
}

// sendText is Send for a text message (SendOptions.Text): the same
// connection, verification code and retries, but the offer is the text
// (see receiver_text.go), and the receiver's acceptance is its delivery.
func sendText(ctx context.Context, opt SendOptions) (Result, error) {
	s, err := textSender(opt)
	if err != nil {
		return Result{}, err
	}
	return s.runAlone(ctx)
}

// textSender prepares the session of opt's text for opt's receiver: the
// offer and its Text frame, their digest, the progress. Its run (with a
// dialer) sends the text; one per receiver sends it to several.
func textSender(opt SendOptions) (*sender, error) {
	if len(opt.Paths) > 0 {
		return nil, errors.New("a send is a text or files, not both")
	}
	if err := CheckText(opt.Text); err != nil {
		return nil, err
	}
	ref := wire.NewTextRef(opt.Text)
	s := &sender{opt: opt, log: opt.Logger, text: opt.Text}
	s.offer = wire.Offer{Version: wire.TextVersion, Name: opt.Name, Session: hex.EncodeToString(ref.Hash[:16]), Text: ref}
	frame, err := wire.AppendFrame(nil, wire.TypeOffer, s.offer)
	if err != nil {
		return nil, err
	}
	s.digest = wire.OfferDigest(frame[5:])
	s.offerFrame = wire.AppendText(frame, opt.Text) // one write: the offer and its text
	s.prog = &Progress{Total: ref.Size}
	return s, nil
}

// textDelivered ends the session of a text the receiver accepted.
func (s *sender) textDelivered(conn *quic.Conn) Result {
	conn.CloseWithError(codeDone, "")
	n := int64(len(s.text))
	s.prog.Done.Store(n)
	s.prog.Wire.Store(n)
	return Result{Info: s.info, Bytes: n}
}
