package transfer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// Errors a caller acts on; the CLI maps them to exit codes.
var (
	// ErrDeclined: the receiver (or its policy) declined the offer.
	ErrDeclined = errors.New("declined by the receiver")
	// ErrUnreachable: no connection to the receiver could be made.
	ErrUnreachable = errors.New("receiver unreachable")
	// ErrInterrupted: the session stopped part-way; running it again resumes.
	ErrInterrupted = errors.New("interrupted")
	// ErrPeerMismatch: the peer's key is not the expected one.
	ErrPeerMismatch = errors.New("peer key mismatch")
	// ErrIntegrity: data did not match its hash.
	ErrIntegrity = store.ErrIntegrity
	// ErrDiskFull: the receiving disk is full; the verified data is kept.
	ErrDiskFull = store.ErrDiskFull
	// ErrTargetGone: the receiving folder was removed during the session.
	ErrTargetGone = store.ErrTargetGone
	// ErrSourceChanged: a file changed while it was being sent.
	ErrSourceChanged = errors.New("source changed while sending")
	// ErrVersion: the peer runs a version of ferry that speaks another
	// transfer protocol; one of the two must be updated.
	ErrVersion = errors.New("incompatible versions of ferry")
)

// ErrSenderGone is the cause of a question's context (ReceiverConfig.Ask)
// that ended because the sender cancelled or went away.
var ErrSenderGone = errors.New("cancelled by the sender")

// errBusy: the receiver has no room for the session now; a sender retries.
var errBusy = errors.New("receiver busy")

// connLost marks an error of the connection itself (timeout, reset, the
// peer gone), after which a sender may reconnect and resume.
type connLost struct{ err error }

func (e *connLost) Error() string { return "connection lost: " + e.err.Error() }
func (e *connLost) Unwrap() error { return e.err }

// classify turns an error from a QUIC connection or stream into ferry's
// terms: the receiver's reason for closing, or a lost connection.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		msg := wire.PeerText(ae.ErrorMessage)
		switch ae.ErrorCode {
		case codeShutdown:
			return &connLost{fmt.Errorf("the peer closed the connection: %s", msg)}
		case codeBusy:
			return &connLost{fmt.Errorf("%w: the peer closed the connection: %s", errBusy, msg)}
		case codeVersion:
			return fmt.Errorf("%w: %s", ErrVersion, msg)
		case codeDiskFull:
			return fmt.Errorf("%w on the receiver: %s", ErrDiskFull, strings.TrimPrefix(msg, ErrDiskFull.Error()+": "))
		case codeIntegrity:
			return fmt.Errorf("%w: %s", ErrIntegrity, msg)
		case codeTargetGone:
			return fmt.Errorf("%w on the receiver: %s", ErrTargetGone, strings.TrimPrefix(msg, ErrTargetGone.Error()+": "))
		case codeDeclined:
			return fmt.Errorf("%w: %s", ErrDeclined, msg)
		case codeProtocol:
			return fmt.Errorf("the peer reports a %w: %s", ErrProtocol, msg)
		case codeDone:
			return &connLost{errors.New("the peer closed the connection early")}
		default:
			return fmt.Errorf("the peer closed the connection: %s", msg)
		}
	}
	var (
		idle  *quic.IdleTimeoutError
		reset *quic.StatelessResetError
		hs    *quic.HandshakeTimeoutError
		te    *quic.TransportError
		se    *quic.StreamError
		ne    net.Error
	)
	switch {
	case errors.As(err, &idle), errors.As(err, &reset), errors.As(err, &hs), errors.As(err, &te),
		errors.As(err, &se), errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return &connLost{err}
	}
	return err
}

func isConnLost(err error) bool {
	var cl *connLost
	return errors.As(err, &cl)
}

// ErrProtocol marks a peer that broke the protocol: malformed, oversized or
// out-of-place frames.
var ErrProtocol = wire.ErrProtocol
