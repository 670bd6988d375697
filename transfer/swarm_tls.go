package transfer

import (
	"crypto/tls"
	"net"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// swarmClientTLS is a receiver's TLS config for fetching from another
// receiver of its swarm: ALPN ferry-swarm/1, the peer's key pinned.
func swarmClientTLS(dev *identity.Device, peer identity.DeviceID) *tls.Config {
	c := clientTLS(dev, peer)
	c.NextProtos = []string{wire.ALPNSwarm}
	return c
}

// transportFor is the receiver's endpoint for addr's family, to dial swarm
// peers from the receiving port.
func (r *Receiver) transportFor(addr *net.UDPAddr) *quic.Transport {
	if addr.IP.To4() == nil && len(r.eps) > 1 {
		return r.eps[1].tr
	}
	return r.eps[0].tr
}
