package transfer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/quic-go/quic-go"
)

// addPending registers a connection that has yet to make an offer. When too
// many are waiting, the oldest is closed: a real sender makes its offer
// right after the handshake, so connections that stall are the ones that
// go, and a flood of them cannot lock real senders out.
func (r *Receiver) addPending(c *quic.Conn) {
	r.pendMu.Lock()
	defer r.pendMu.Unlock()
	if len(r.pending) >= maxPending {
		r.pending[0].CloseWithError(codeBusy, "too many connections waiting; closed the oldest")
		r.pending = r.pending[1:]
	}
	r.pending = append(r.pending, c)
}

// dropPending forgets a connection once it made its offer or ended.
func (r *Receiver) dropPending(c *quic.Conn) {
	r.pendMu.Lock()
	defer r.pendMu.Unlock()
	if i := slices.Index(r.pending, c); i >= 0 {
		r.pending = slices.Delete(r.pending, i, i+1)
	}
}

// firstStream waits for the first stream of a new connection: the
// bidirectional control stream of a new session, or the first data stream
// of a further connection of a running one.
func firstStream(ctx context.Context, conn *quic.Conn) (*quic.Stream, *quic.ReceiveStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		bidi *quic.Stream
		uni  *quic.ReceiveStream
		err  error
	}
	out := make(chan res, 2)
	go func() { str, err := conn.AcceptStream(ctx); out <- res{bidi: str, err: err} }()
	go func() { str, err := conn.AcceptUniStream(ctx); out <- res{uni: str, err: err} }()
	first := <-out
	cancel()
	second := <-out // both goroutines have ended when firstStream returns
	for _, r := range []res{first, second} {
		if r.err == nil {
			return r.bidi, r.uni, nil
		}
	}
	return nil, nil, first.err
}

// admit counts an accepted session against the cap.
func (r *Receiver) admit(s *session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nSess >= r.cfg.MaxSessions {
		return false
	}
	r.nSess++
	r.sessions[s] = struct{}{}
	s.start = time.Now()
	return true
}

// displaceIdle makes room for a new session when every slot is taken: the
// running session that has gone longest with nothing from its sender (no
// plan, no data), if that is at least displaceAfter, is closed as busy
// (its sender may resume later). It reports whether one ended.
func (r *Receiver) displaceIdle(ctx context.Context) bool {
	r.mu.Lock()
	var idlest *session
	var most time.Duration
	for s := range r.sessions {
		if s.complete.Load() || (s.dataPhase.Load() && s.pending.Load() == 0) {
			continue // everything is in: it is finishing, not idle
		}
		idle := time.Since(s.start) - time.Duration(s.active.Load())
		if idle >= r.displaceAfter && idle > most {
			idlest, most = s, idle
		}
	}
	r.mu.Unlock()
	if idlest == nil {
		return false
	}
	idlest.conn.CloseWithError(codeBusy, fmt.Sprintf("nothing came from you for %s while another sender waited: send again later to resume", most.Round(time.Second)))
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	select {
	case <-idlest.ended:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}
