package transfer

import (
	"errors"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
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
