package transfer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// errNotRead: an offer from a device the policy refuses anyway was too
// large to read for its name.
var errNotRead = errors.New("offer not read")

// versionError: the peer speaks another version of the transfer protocol.
type versionError struct{ theirs int }

func (e *versionError) Error() string {
	if e.theirs < wire.Version {
		return fmt.Sprintf("the sender runs an older version of ferry (transfer protocol %d, this receiver speaks %d): update ferry on the sending computer", e.theirs, wire.Version)
	}
	return fmt.Sprintf("the sender runs a newer version of ferry (transfer protocol %d, this receiver speaks %d): update ferry on the receiving computer", e.theirs, wire.Version)
}

// offerIn is an offer as read: decoded, its entries checked, and the digest
// of its bytes (what the verification code and an acceptance cover).
type offerIn struct {
	wire.Offer
	checked store.Checked
	digest  []byte
	text    string // a text offer's text (receiver_text.go)
}

// readOffer reads the offer from the control stream. An offer from a
// device the policy refuses anyway is read only if it is small (for the
// name shown with the refusal); errNotRead reports that it was not read.
//
// Offers are held in memory until they are decided, so their bytes are
// counted: offers over smallOffer share a budget of offerBudget bytes
// (waiting for it counts against the offer's deadline), and release gives
// the offer's share back (it may be called more than once).
func (r *Receiver) readOffer(ctx context.Context, c *control, peer identity.DeviceID, deadline time.Time) (o offerIn, release func(), err error) {
	release = func() {}
	n, err := offerHeader(c)
	if err != nil {
		return o, release, err
	}
	trusted := r.cfg.Trust != nil && r.cfg.Trust.Trusted(peer)
	if !trusted && r.cfg.Policy == PolicyTrusted && n > refusedOffer {
		return o, release, errNotRead
	}
	if n > smallOffer {
		var done func()
		release, done, err = r.budget(ctx, n, deadline)
		if err != nil {
			return o, release, err
		}
		defer done()
	}
	if o.Offer, o.digest, err = wire.DecodeOffer(c.br, n); err != nil {
		return offerIn{}, release, err
	}
	if o.Text != nil {
		o.text, err = readText(c, &o.Offer)
		return o, release, err
	}
	o.checked, err = validateOffer(&o.Offer)
	return o, release, err
}

// offerHeader reads the header of the first frame, which must be an
// offer, and returns the offer's length.
func offerHeader(c *control) (int64, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return 0, wire.Unexpected(err)
	}
	if _, known := wire.FrameCap(hdr[0]); !known {
		return 0, wire.Errorf("unknown control frame type %d", hdr[0])
	}
	if hdr[0] != wire.TypeOffer {
		return 0, wire.Errorf("got control frame type %d, want %d (an offer)", hdr[0], wire.TypeOffer)
	}
	n := int64(binary.BigEndian.Uint32(hdr[1:]))
	if n > wire.MaxOfferFrame {
		return 0, wire.Errorf("offer of %d bytes exceeds the limit of %d", n, wire.MaxOfferFrame)
	}
	return n, nil
}

// budget takes the share of the offer budget that an offer of n bytes
// (over smallOffer) needs, and the one place to decode a large offer: the
// wait ends with the offer's deadline, as a slow read would. release gives
// the share back once the offer is decided; done gives the place back
// once it is decoded.
func (r *Receiver) budget(ctx context.Context, n int64, deadline time.Time) (release, done func(), err error) {
	release = func() {}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	w := min(n, offerBudget) // a maximal offer takes the whole budget
	if err := r.offerBytes.Acquire(wctx, w); err != nil {
		return release, nil, fmt.Errorf("wait to read an offer of %s: %w", human.Bytes(n), os.ErrDeadlineExceeded)
	}
	release = sync.OnceFunc(func() { r.offerBytes.Release(w) })
	// Decoding and checking cost several times the offer's bytes for a
	// moment: one large offer at a time.
	select {
	case r.bigOffer <- struct{}{}:
		return release, func() { <-r.bigOffer }, nil
	case <-wctx.Done():
		return release, nil, fmt.Errorf("wait to read an offer of %s: %w", human.Bytes(n), os.ErrDeadlineExceeded)
	}
}

func (r *Receiver) offerInfo(peer identity.DeviceID, o *offerIn) OfferInfo {
	info := OfferInfo{PeerName: o.Name, PeerID: peer}
	if o.text != "" {
		info.Text, info.Bytes = o.text, int64(len(o.text))
	}
	for _, e := range o.Entries {
		if e.Dir {
			info.Dirs++
			continue
		}
		info.Files++
		if e.Size < 0 || info.Bytes < 0 {
			info.Bytes = -1
		} else {
			info.Bytes += e.Size
		}
		info.Paths = append(info.Paths, e.Path)
	}
	if r.cfg.Trust != nil {
		info.Trusted = r.cfg.Trust.Trusted(peer)
	}
	return info
}

// validateOffer checks everything about an offer that does not need the
// disk; its entries pass store.Check.
func validateOffer(o *wire.Offer) (store.Checked, error) {
	if o.Version != wire.Version && o.Version != wire.TextVersion || o.Version == wire.TextVersion && o.Text == nil {
		return store.Checked{}, &versionError{theirs: o.Version}
	}
	if len(o.Entries) == 0 {
		return store.Checked{}, wire.Errorf("an offer of nothing")
	}
	if len(o.Entries) > wire.MaxEntries {
		return store.Checked{}, wire.Errorf("%d entries, the limit is %d", len(o.Entries), wire.MaxEntries)
	}
	if err := checkName(o); err != nil {
		return store.Checked{}, err
	}
	if len(o.Session) > maxSessionID {
		return store.Checked{}, wire.Errorf("session ID of %d bytes", len(o.Session))
	}
	return store.Check(o.Entries)
}

// checkName checks the sender's name in an offer.
func checkName(o *wire.Offer) error {
	if o.Name != "" {
		// A name that shows as nothing, or as a control sequence, is
		// refused; lookalikes of paired names are the CLI's to flag.
		if err := identity.CheckName(o.Name); err != nil {
			return wire.Errorf("sender name: %v", err)
		}
	}
	return nil
}

// refuseOldSender tells a sender of protocol 1 (which cannot show an
// unforgeable verification code) to update, in a decision it understands.
// Its offer is read, if small, only for the name shown on this side.
func (s *session) refuseOldSender() {
	s.info = OfferInfo{PeerID: s.peer}
	var hdr [5]byte
	if _, err := io.ReadFull(s.ctrl.br, hdr[:]); err == nil && hdr[0] == wire.TypeOffer {
		if n := binary.BigEndian.Uint32(hdr[1:]); n <= refusedOffer {
			if body, err := wire.ReadLimited(s.ctrl.br, int(n)); err == nil {
				var o struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(body, &o) == nil && len(o.Name) <= 256 {
					s.info.PeerName = o.Name
				}
			}
		}
	}
	s.r.cfg.Events(EventDeclined{Info: s.info, Reason: (&versionError{theirs: 1}).Error()})
	reason := fmt.Sprintf("the receiver runs a newer version of ferry (transfer protocol %d): update ferry on this computer and send again", wire.Version)
	s.ctrl.send(wire.TypeDecision, wire.Decision{Accept: false, Code: wire.DeclineVersion, Reason: reason, Name: s.r.cfg.Name})
	s.waitClose(codeDeclined, reason)
}

// verify runs the receiver's side of the verification code exchange (see
// wire/verify.go): commit to a nonce, take the sender's, reveal ours.
func (s *session) verify() (string, error) {
	ekm, err := wire.Exporter(s.conn.ConnectionState().TLS)
	if err != nil {
		return "", err
	}
	mine := wire.NewNonce()
	if err := s.ctrl.send(wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(mine)}); err != nil {
		return "", err
	}
	var nf wire.NonceFrame
	if err := s.ctrl.expect(wire.TypeNonce, &nf); err != nil {
		return "", err
	}
	if len(nf.Value) != wire.NonceLen {
		return "", wire.Errorf("verification nonce of %d bytes", len(nf.Value))
	}
	code := wire.VerificationCode(wire.SASInput{
		Sender: s.peer, Receiver: s.r.cfg.Device.ID, Exporter: ekm, Offer: s.offer.digest,
		SenderNonce: nf.Value, ReceiverNonce: mine,
	})
	if err := s.ctrl.send(wire.TypeReveal, wire.NonceFrame{Value: mine}); err != nil {
		return "", err
	}
	return code, nil
}
