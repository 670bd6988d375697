package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// endpoint is one listening UDP socket with its QUIC transport.
type endpoint struct {
	conn *net.UDPConn
	tr   *quic.Transport
	ln   *quic.Listener
}

// listen opens the receiver's sockets: one dual-stack socket where the
// system has dual stack, otherwise one per IP family on the same port. The
// stateless-reset key comes from the device key, so a restarted receiver
// resets the connections its previous process left behind.
func listen(dev *identity.Device, port int) ([]endpoint, error) {
	key := quic.StatelessResetKey(dev.Secret("quic stateless reset"))
	open := func(network string, port int) (endpoint, error) {
		c, err := net.ListenUDP(network, &net.UDPAddr{Port: port})
		if err != nil {
			return endpoint{}, fmt.Errorf("listen on UDP port %d: %w", port, err)
		}
		tr := &quic.Transport{Conn: c, StatelessResetKey: &key}
		ln, err := tr.Listen(serverTLS(dev), quicConfig())
		if err != nil {
			tr.Close()
			c.Close()
			return endpoint{}, fmt.Errorf("listen for QUIC: %w", err)
		}
		return endpoint{conn: c, tr: tr, ln: ln}, nil
	}
	first, err := open("udp", port)
	if err != nil {
		return nil, err
	}
	eps := []endpoint{first}
	if la := first.conn.LocalAddr().(*net.UDPAddr); la.IP.To4() != nil {
		// Go chose an IPv4-only socket (no IPv4-mapped support): add IPv6
		// on the same port if the system has it.
		if second, err := open("udp6", la.Port); err == nil {
			eps = append(eps, second)
		}
	}
	return eps, nil
}

// Close releases the sockets of a receiver whose Serve was never called.
// (Serve closes them itself when it returns.) A transport does not close a
// socket it was given, so Close does.
func (r *Receiver) Close() error {
	var errs []error
	for _, ep := range r.eps {
		ep.ln.Close()
		errs = append(errs, ep.tr.Close(), ep.conn.Close())
	}
	return errors.Join(errs...)
}

// closeReason is the code and the reason with which a session's connection
// closes after err. The reason never names dir, the receiving folder: a
// receiver tells its senders nothing of its own file system.
func closeReason(ctx context.Context, err error, dir string) (quic.ApplicationErrorCode, string) {
	code, msg := closeCode(ctx, err)
	if dir != "" {
		msg = strings.ReplaceAll(msg, dir, "(the receiving folder)")
	}
	return code, msg
}

func closeCode(ctx context.Context, err error) (quic.ApplicationErrorCode, string) {
	switch {
	case ctx.Err() != nil:
		return codeShutdown, "the receiver is stopping"
	case errors.Is(err, errSuperseded):
		return codeSuperseded, err.Error()
	case errors.Is(err, ErrDiskFull):
		return codeDiskFull, truncate(err.Error())
	case errors.Is(err, ErrIntegrity):
		return codeIntegrity, truncate(err.Error())
	case errors.Is(err, ErrTargetGone):
		return codeTargetGone, truncate(err.Error())
	case errors.Is(err, ErrProtocol), errors.Is(err, safepath.ErrUnsafePath), errors.Is(err, safepath.ErrPathCollision):
		return codeProtocol, truncate(err.Error())
	}
	return codeFatal, truncate(err.Error())
}

// pathless is err without the local path an *os.PathError names, for
// errors a sender is told.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func truncate(s string) string {
	if len(s) > 512 {
		return strings.ToValidUTF8(s[:512], "") + "…"
	}
	return s
}
