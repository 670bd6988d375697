package pairing

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/pairing/cpace"
)

const (
	// DefaultPairTimeout bounds Pair when ctx has no earlier deadline.
	DefaultPairTimeout = 30 * time.Second
	// dialTimeout bounds the QUIC handshake with one address.
	dialTimeout = 5 * time.Second
)

// Pair is the initiator side of pairing: it connects to a pairing window,
// proves knowledge of secret and checks the window's proof. dev is this
// device and name the name it is shown under on the other side.
//
// addrs are tried in order, one at a time (up to 5 seconds each), until a
// QUIC handshake succeeds; only that connection runs the (single) attempt,
// since the window counts every connection it accepts as an attempt. For a
// Code, nil addrs means the code's own addresses. With a Code the other device must hold
// the key the code names (ErrPeerMismatch otherwise); with a PIN any key is
// accepted and proven by the PIN.
//
// On success it returns the other device as an identity.Peer; storing it in
// the trust store is the caller's job.
func Pair(ctx context.Context, dev *identity.Device, name string, addrs []netip.AddrPort, secret Secret) (identity.Peer, error) {
	if dev == nil || len(dev.Cert.Certificate) == 0 {
		return identity.Peer{}, errors.New("pair: no device identity")
	}
	if err := checkName(name); err != nil {
		return identity.Peer{}, fmt.Errorf("pair: %w", err)
	}
	var want *identity.DeviceID
	switch s := secret.(type) {
	case PIN:
		if _, err := ParsePIN(string(s)); err != nil {
			return identity.Peer{}, fmt.Errorf("pair: %w", err)
		}
	case Code:
		if len(s.Secret) != secretLen || strings.Trim(s.Secret, base32Chars) != "" || s.ID.IsZero() {
			return identity.Peer{}, fmt.Errorf("pair: %w: bad secret or device ID", ErrBadCode)
		}
		want = &s.ID
		if len(addrs) == 0 {
			addrs = s.Addrs
		}
	default:
		return identity.Peer{}, errors.New("pair: no PIN or code")
	}
	if len(addrs) == 0 {
		return identity.Peer{}, fmt.Errorf("pair: %w: no address to connect to", ErrUnreachable)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, DefaultPairTimeout, ErrTimeout)
	defer cancel()

	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return identity.Peer{}, fmt.Errorf("pair: %w", err)
	}
	defer udp.Close()
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()

	conn, err := dialWindow(ctx, tr, dev, addrs, want)
	if err != nil {
		return identity.Peer{}, err
	}
	peer, code, err := initiate(ctx, conn, dev, name, secret)
	conn.CloseWithError(code, closeMessage(code))
	if err != nil {
		return identity.Peer{}, err
	}
	return peer, nil
}

// dialWindow connects to the first address that completes a handshake.
func dialWindow(ctx context.Context, tr *quic.Transport, dev *identity.Device, addrs []netip.AddrPort, want *identity.DeviceID) (*quic.Conn, error) {
	var errs []error
	var mismatch error
	for _, ap := range addrs {
		if ctx.Err() != nil {
			break
		}
		var mu sync.Mutex
		var seen identity.DeviceID
		conf := &tls.Config{
			MinVersion:             tls.VersionTLS13,
			Certificates:           []tls.Certificate{dev.Cert},
			InsecureSkipVerify:     true, // no WebPKI: the PAKE, or the code's pin, authenticates the key
			ServerName:             "ferry",
			NextProtos:             []string{ALPN},
			SessionTicketsDisabled: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				id, err := identity.PeerID(cs)
				if err != nil {
					return err
				}
				mu.Lock()
				seen = id
				mu.Unlock()
				if want != nil && subtle.ConstantTimeCompare(id[:], want[:]) != 1 {
					return ErrPeerMismatch
				}
				return nil
			},
		}
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := tr.Dial(dctx, net.UDPAddrFromAddrPort(ap), conf, &quic.Config{
			HandshakeIdleTimeout:  dialTimeout,
			MaxIdleTimeout:        DefaultPairTimeout,
			MaxIncomingStreams:    -1,
			MaxIncomingUniStreams: -1,
		})
		cancel()
		if err == nil {
			return conn, nil
		}
		mu.Lock()
		got := seen
		mu.Unlock()
		if want != nil && !got.IsZero() && got != *want {
			mismatch = fmt.Errorf("pair: %w: %v answered as %v, the code names %v", ErrPeerMismatch, ap, got, *want)
			errs = append(errs, mismatch)
			continue
		}
		errs = append(errs, fmt.Errorf("%v: %w", ap, err))
	}
	if mismatch != nil {
		return nil, mismatch
	}
	if cause := context.Cause(ctx); cause != nil && len(errs) == 0 {
		return nil, fmt.Errorf("pair: %w", cause)
	}
	return nil, fmt.Errorf("pair: %w: %w", ErrUnreachable, errors.Join(errs...))
}

// initiate runs the initiator's side on conn. It returns the close code to
// end the connection with.
func initiate(ctx context.Context, conn *quic.Conn, dev *identity.Device, name string, secret Secret) (identity.Peer, quic.ApplicationErrorCode, error) {
	mode := secret.Mode()
	sentTa := false
	fail := func(code quic.ApplicationErrorCode, err error) (identity.Peer, quic.ApplicationErrorCode, error) {
		if ctx.Err() != nil {
			code = codeCanceled // we gave up (deadline or cancel), whatever we were doing
		}
		return identity.Peer{}, code, fmt.Errorf("pair: %w", explain(ctx, err, sentTa))
	}

	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return fail(codeCanceled, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		stream.SetDeadline(dl)
	}
	stop := interruptOnDone(ctx, stream)
	defer stop()

	cs := conn.ConnectionState().TLS
	fpB, err := identity.PeerID(cs)
	if err != nil {
		return fail(codeProtocol, fmt.Errorf("%w: %w", ErrProtocol, err))
	}
	if c, ok := secret.(Code); ok && fpB != c.ID { // VerifyConnection checked it; be sure
		return fail(codeCanceled, ErrPeerMismatch)
	}
	if fpB == dev.ID {
		return fail(codeProtocol, fmt.Errorf("%w: the other device has this device's key", ErrProtocol))
	}
	sid, err := sessionID(cs)
	if err != nil {
		return fail(codeCanceled, err)
	}
	cp, msgA, err := cpace.Start(cpace.Initiator, secret.prs(), channelID(mode, dev.ID, fpB), sid, encodeAD(name))
	if err != nil {
		return fail(codeCanceled, err)
	}
	defer cp.Close()

	if err := writeFrame(stream, frameStart, encodeStart(mode, msgA)); err != nil {
		return fail(codeCanceled, err)
	}
	msgB, err := readFrame(stream, frameReply)
	if err != nil {
		return fail(codeProtocol, err)
	}
	adB, err := cp.Finish(msgB)
	if err != nil {
		return fail(codeProtocol, fmt.Errorf("%w: %w", ErrProtocol, err))
	}
	ad, err := decodeAD(adB)
	if err != nil {
		return fail(codeProtocol, err)
	}
	ta, err := cp.Tag()
	if err != nil {
		return fail(codeCanceled, err)
	}
	if err := writeFrame(stream, frameTa, ta); err != nil {
		return fail(codeCanceled, err)
	}
	sentTa = true
	tb, err := readFrame(stream, frameTb)
	if err != nil {
		return fail(codeProtocol, err)
	}
	if err := cp.VerifyTag(tb); err != nil {
		// An honest window rejects a wrong Ta before it sends anything
		// keyed; a Tb that does not verify comes from a device that does
		// not know the secret.
		return fail(codeWrongSecret, fmt.Errorf("%w: the other device's proof did not verify", ErrWrongSecret))
	}
	return identity.Peer{Name: ad.Name, ID: fpB, PairedAt: time.Now().UTC(), Via: string(mode)}, codePaired, nil
}

// explain turns a failure of the initiator into the sentinel the caller
// acts on, using the code with which the window closed the connection.
func explain(ctx context.Context, err error, sentTa bool) error {
	if code, ok := remoteCode(err); ok {
		switch code {
		case codeBusy:
			return ErrBusy
		case codeWrongSecret:
			if n, ok := parseTriesLeft(remoteReason(err)); ok {
				return &triesLeftError{n}
			}
			return ErrWrongSecret
		case codeClosed:
			if sentTa {
				return fmt.Errorf("%w; %w", ErrWrongSecret, ErrClosed)
			}
			return ErrClosed
		case codeExpired:
			return ErrExpired
		case codeTimeout:
			return ErrTimeout
		case codeProtocol:
			return fmt.Errorf("%w: the other device rejected our messages", ErrProtocol)
		case codeCanceled:
			return ErrCanceled
		}
		return fmt.Errorf("%w: closed with code %#x", ErrProtocol, uint64(code))
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, ErrTimeout) || errors.Is(cause, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return cause
	}
	return err
}
