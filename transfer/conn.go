package transfer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
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
	codeVersion    quic.ApplicationErrorCode = 11 // the peer speaks another protocol version

	// Refusals on a swarm connection (ALPN ferry-swarm/1), see doc.go.
	codeSwarmUnknown   quic.ApplicationErrorCode = 20 // no running swarm session has that token
	codeSwarmNotListed quic.ApplicationErrorCode = 21 // the key is not one the sender listed for the session
	codeSwarmRange     quic.ApplicationErrorCode = 22 // a chunk outside the session's files
	codeSwarmTooMany   quic.ApplicationErrorCode = 23 // more asked at once than a peer may have outstanding
	codeSwarmProtocol  quic.ApplicationErrorCode = 24 // a malformed swarm stream
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
		MaxStreamReceiveWindow:         6 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     8 << 20,
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
		NextProtos:   []string{wire.ALPN, wire.ALPNv1, wire.ALPNSwarm}, // ferry/1 only to tell old senders to update
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
		NextProtos:         []string{wire.ALPN, wire.ALPNv1}, // ferry/1 only to tell old receivers to update
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

// dialer is a sender's QUIC endpoints: one UDP socket per IP family,
// opened when first needed, so that IPv6-only and IPv4-only networks both
// work whatever the system's dual-stack support.
type dialer struct {
	mu  sync.Mutex
	trs map[string]*quic.Transport // "udp4", "udp6"
}

func newDialer() (*dialer, error) {
	return &dialer{trs: make(map[string]*quic.Transport)}, nil
}

// transport returns the endpoint for addr's family.
func (d *dialer) transport(addr *net.UDPAddr) (*quic.Transport, error) {
	network := "udp6"
	if addr.IP.To4() != nil {
		network = "udp4"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if tr := d.trs[network]; tr != nil {
		return tr, nil
	}
	c, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s socket: %w", network, err)
	}
	tr := &quic.Transport{Conn: c}
	d.trs[network] = tr
	return tr, nil
}

// Close closes the transports and then their sockets, which a transport
// does not close because it did not open them.
func (d *dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, tr := range d.trs {
		errs = append(errs, tr.Close(), tr.Conn.Close())
	}
	return errors.Join(errs...)
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
			tr, err := d.transport(ua)
			if err != nil {
				results <- result{err: fmt.Errorf("connect to %s: %w", a, err)}
				return
			}
			c, err := tr.Dial(ctx, ua, tlsConf, quicConfig())
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
	return nil, joinedErr(errs)
}

// joinedErr is errors.Join on one line: each address's failure, "; "
// between them.
type joinedErr []error

func (e joinedErr) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e joinedErr) Unwrap() []error { return e }
