package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"syscall"

	"github.com/quic-go/quic-go"
)

// doctorALPN is what the QUIC probe offers: no receiver speaks it, so a
// receiver ends the handshake with a TLS alert, which proves that UDP
// passes both ways without starting a session.
const doctorALPN = "ferry-doctor"

// quicProbe starts a QUIC handshake with ap, for a peer that runs ferry
// receive (or ferry daemon) rather than ferry doctor --listen: any answer
// from the peer's QUIC stack counts, even the refusal.
func quicProbe(ctx context.Context, ap netip.AddrPort) unicast {
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	conn, err := quic.DialAddr(ctx, ap.String(), &tls.Config{
		InsecureSkipVerify: true, // only reachability is tested; nothing is sent over it
		NextProtos:         []string{doctorALPN},
		MinVersion:         tls.VersionTLS13,
	}, &quic.Config{HandshakeIdleTimeout: probeWait})
	if err == nil {
		conn.CloseWithError(0, "ferry doctor")
		return unicastOK
	}
	var te *quic.TransportError
	var ae *quic.ApplicationError
	switch {
	case errors.As(err, &te) && te.Remote, errors.As(err, &ae) && ae.Remote:
		return unicastOK
	case errors.Is(err, syscall.ECONNREFUSED):
		return unicastRefused
	}
	return unicastSilent
}
