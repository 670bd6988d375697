package pairing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/quic-go/quic-go"
)

// Sentinel errors. Callers test them with errors.Is; one error may match
// more than one (a third wrong PIN is both ErrWrongSecret and ErrClosed).
var (
	// ErrWrongSecret: the two devices did not hold the same PIN or QR secret.
	ErrWrongSecret = errors.New("wrong PIN or code")
	// ErrExpired: the pairing window's time ran out.
	ErrExpired = errors.New("pairing window expired")
	// ErrClosed: the pairing window closed after MaxFailures failed attempts.
	ErrClosed = fmt.Errorf("pairing window closed after %d failed attempts", MaxFailures)
	// ErrBusy: another device is pairing with the window right now.
	ErrBusy = errors.New("another pairing attempt is in progress")
	// ErrPeerMismatch: the device reached is not the one the QR code names.
	ErrPeerMismatch = errors.New("the device reached is not the one in the pairing code")
	// ErrUnreachable: no address of the pairing window answered.
	ErrUnreachable = errors.New("pairing window not reachable")
	// ErrTimeout: the attempt did not finish in time.
	ErrTimeout = errors.New("pairing attempt timed out")
	// ErrCanceled: the other device stopped pairing (its window was closed).
	ErrCanceled = errors.New("the other device stopped pairing")
	// ErrProtocol: the other side sent something malformed or unexpected.
	ErrProtocol = errors.New("pairing protocol error")
	// ErrBadCode: a text is not a ferry pairing code.
	ErrBadCode = errors.New("not a ferry pairing code")
	// ErrBadPIN: a text is not a 6-digit PIN.
	ErrBadPIN = errors.New("not a 6-digit PIN")
)

// errWindowClosed is the cause recorded when the caller closes a window.
var errWindowClosed = errors.New("pairing window closed")

// Application error codes of the QUIC CONNECTION_CLOSE that ends a pairing
// connection. They are part of the protocol (see the package documentation).
const (
	codePaired      quic.ApplicationErrorCode = 0x0 // A: Tb verified, pairing done
	codeBusy        quic.ApplicationErrorCode = 0x1 // B: another attempt is running
	codeWrongSecret quic.ApplicationErrorCode = 0x2 // B: Ta did not verify; A: Tb did not verify
	codeClosed      quic.ApplicationErrorCode = 0x3 // B: this attempt failed and the window is now closed
	codeExpired     quic.ApplicationErrorCode = 0x4 // B: the window expired
	codeProtocol    quic.ApplicationErrorCode = 0x5 // either: malformed or unexpected message
	codeTimeout     quic.ApplicationErrorCode = 0x6 // B: the attempt's deadline passed
	codeCanceled    quic.ApplicationErrorCode = 0x7 // either: the local side gave up
)

// triesLeftError is a wrong PIN or code, with the failed attempts the
// window still allows before it closes.
type triesLeftError struct{ n int }

func (e *triesLeftError) Error() string {
	return fmt.Sprintf("%v (%d more failed attempts close the window)", ErrWrongSecret, e.n)
}

func (e *triesLeftError) Unwrap() error { return ErrWrongSecret }

// TriesLeft reports how many more failed attempts the pairing window
// allows, if err (from Pair) says so: a window tells it when it refuses a
// wrong PIN or code.
func TriesLeft(err error) (int, bool) {
	var t *triesLeftError
	if errors.As(err, &t) {
		return t.n, true
	}
	return 0, false
}

// triesLeftReason is the reason phrase of a close with codeWrongSecret by
// the window: "wrong PIN or code; N left".
func triesLeftReason(n int) string { return fmt.Sprintf("%v; %d left", ErrWrongSecret, n) }

// parseTriesLeft reads the count of a triesLeftReason.
func parseTriesLeft(reason string) (int, bool) {
	var n int
	_, tail, ok := strings.Cut(reason, "; ")
	if !ok {
		return 0, false
	}
	if _, err := fmt.Sscanf(tail, "%d left", &n); err != nil || n < 0 || n >= MaxFailures {
		return 0, false
	}
	return n, true
}

// remoteReason is the reason phrase with which the peer closed the
// connection, if err says so.
func remoteReason(err error) string {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		return ae.ErrorMessage
	}
	return ""
}

// remoteCode returns the application error code with which the peer closed
// the connection, if err says so.
func remoteCode(err error) (quic.ApplicationErrorCode, bool) {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		return ae.ErrorCode, true
	}
	return 0, false
}
