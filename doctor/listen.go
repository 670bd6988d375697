package doctor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"
)

// Listener rates: answers a second over all senders, and the burst.
const (
	listenRate  = 50
	listenBurst = 100
)

// Listener is the `ferry doctor --listen` side of the two-sided test: it
// echoes well-formed probes on ferry's UDP port, at most listenRate a
// second. Advertising by mDNS is the caller's (the CLI uses discovery).
type Listener struct {
	conn *net.UDPConn
	log  *slog.Logger
}

// Listen binds UDP port (both IP families).
func Listen(port int, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		return nil, fmt.Errorf("listen for doctor probes on UDP %d: %w", port, err)
	}
	return &Listener{conn: c, log: log}, nil
}

// Port is the bound UDP port.
func (l *Listener) Port() int { return l.conn.LocalAddr().(*net.UDPAddr).Port }

// Serve answers probes until ctx is done, then closes the socket. seen,
// if not nil, hears of each probe answered.
func (l *Listener) Serve(ctx context.Context, seen func(from net.Addr)) error {
	var g errgroup.Group
	g.Go(func() error {
		<-ctx.Done()
		return l.conn.Close()
	})
	g.Go(func() error {
		lim := newLimiter(listenRate, listenBurst)
		buf := make([]byte, 512)
		for {
			n, from, err := l.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return nil
				}
				l.log.Debug("doctor listener read", "err", err)
				continue
			}
			p, err := decodeProbe(buf[:n])
			if err != nil || p.kind != kindProbe {
				continue // only well-formed probes get an answer
			}
			if !lim.allow(time.Now()) {
				l.log.Debug("doctor listener: rate limit", "from", from)
				continue
			}
			p.kind = kindEcho
			if _, err := l.conn.WriteToUDPAddrPort(p.encode(), from); err != nil {
				l.log.Debug("doctor listener write", "err", err)
				continue
			}
			if seen != nil {
				seen(net.UDPAddrFromAddrPort(from))
			}
		}
	})
	return g.Wait()
}
