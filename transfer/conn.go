package transfer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
)

// Application error codes carried by CONNECTION_CLOSE.
const (
	codeDone       quic.ApplicationErrorCode = 0  // the session ended normally
	codeProtocol   quic.ApplicationErrorCode = 1  // the peer broke the protocol
	codeDeclined   quic.ApplicationErrorCode = 2  // the offer was declined
	codeShutdown   quic.ApplicationErrorCode = 3  // the receiver is stopping; retry later
	codeSuperseded quic.ApplicationErrorCode = 4  // a newer session of the same sender took over
	codeFatal      quic.ApplicationErrorCode = 5  // an error the sender cannot fix by retrying
	codeDiskFull   quic.ApplicationErrorCode = 6  // the receiver's disk is full
	codeIntegrity  quic.ApplicationErrorCode = 7  // a chunk or file did not match its hash
	codeBusy       quic.ApplicationErrorCode = 8  // too many connections
	codeCanceled   quic.ApplicationErrorCode = 9  // the sender stopped
	codeTargetGone quic.ApplicationErrorCode = 10 // the receiving folder vanished
)

// Timeouts of a transfer connection.
const (
	handshakeTimeout = 5 * time.Second
	idleTimeout      = 15 * time.Second
	keepAlive        = 3 * time.Second
	offerTimeout     = 20 * time.Second // from handshake to a complete offer
)

func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           handshakeTimeout,
		MaxIdleTimeout:                 idleTimeout,
		KeepAlivePeriod:                keepAlive,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         8 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     24 << 20,
		MaxIncomingStreams:             2,
		MaxIncomingUniStreams:          maxDataStreams,
	}
}

// serverTLS accepts any client certificate: who the client is decides what
// happens to its offer, not whether it may finish the handshake.
func serverTLS(dev *identity.Device) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{dev.Cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := identity.PeerID(cs)
			return err
		},
	}
}

// clientTLS authenticates the server by its key alone: when expect is set the
// server must present exactly that device's key. VerifyConnection runs on
// every handshake, resumed ones included.
func clientTLS(dev *identity.Device, expect identity.DeviceID) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{dev.Cert},
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{ALPN},
		ServerName:         "ferry",
		InsecureSkipVerify: true, // self-signed device certificates; checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := identity.PeerID(cs)
			if err != nil {
				return err
			}
			if !expect.IsZero() && id != expect {
				return fmt.Errorf("%w: expected %s, the peer presented %s", ErrPeerMismatch, expect.Short(), id.Short())
			}
			return nil
		},
	}
}

// listenUDP opens the UDP socket a receiver listens on: all addresses, both
// IP families where the system has them.
func listenUDP(port int) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		return nil, fmt.Errorf("listen on UDP port %d: %w", port, err)
	}
	return c, nil
}

// dialer is a sender's QUIC endpoint.
type dialer struct {
	tr   *quic.Transport
	conn *net.UDPConn
}

func newDialer() (*dialer, error) {
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("open UDP socket: %w", err)
	}
	return &dialer{tr: &quic.Transport{Conn: c}, conn: c}, nil
}

// Close closes the transport and then the socket, which the transport does
// not close because it did not open it.
func (d *dialer) Close() error {
	err := d.tr.Close()
	return errors.Join(err, d.conn.Close())
}

// dialAny dials every address at once and keeps the first connection whose
// handshake completes (and whose key matches expect); the others are closed.
func (d *dialer) dialAny(ctx context.Context, addrs []string, tlsConf *tls.Config) (*quic.Conn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no address to dial")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   *quic.Conn
		err error
	}
	results := make(chan result, len(addrs))
	for _, a := range addrs {
		go func() { // each sends exactly one result; the loop below drains them all
			ua, err := net.ResolveUDPAddr("udp", a)
			if err != nil {
				results <- result{err: fmt.Errorf("resolve %s: %w", a, err)}
				return
			}
			c, err := d.tr.Dial(ctx, ua, tlsConf, quicConfig())
			if err != nil {
				err = fmt.Errorf("connect to %s: %w", a, err)
			}
			results <- result{c, err}
		}()
	}
	var winner *quic.Conn
	var errs []error
	for range addrs {
		r := <-results
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case winner == nil:
			winner = r.c
			cancel()
		default:
			r.c.CloseWithError(codeDone, "another address won")
		}
	}
	if winner != nil {
		return winner, nil
	}
	return nil, errors.Join(errs...)
}
