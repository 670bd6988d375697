package transfer

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// endReason is how a session ended, for its late data connections.
type endReason struct {
	peer identity.DeviceID
	code quic.ApplicationErrorCode
	msg  string
}

// sessionEnded: a data connection arrived for a session that has ended.
type sessionEnded struct{ endReason }

// register makes the session findable by its token, for the sender's
// further connections.
func (r *Receiver) register(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byToken[string(s.token)] = s
}

// join adds a further connection of the sender to the session its first
// data stream names, and returns that session.
func (r *Receiver) join(ctx context.Context, conn *quic.Conn, peer identity.DeviceID, first *quic.ReceiveStream, deadline time.Time) (*session, error) {
	first.SetReadDeadline(deadline)
	tok, err := wire.ReadStreamHello(first)
	if err != nil {
		return nil, streamErr(err)
	}
	first.SetReadDeadline(time.Time{})
	r.mu.Lock()
	s := r.byToken[string(tok)]
	ended, wasEnded := r.endedTokens[string(tok)]
	r.mu.Unlock()
	if s == nil && wasEnded && ended.peer == peer {
		return nil, &sessionEnded{ended}
	}
	if s == nil || s.peer != peer {
		return nil, wire.Errorf("data connection for no session of this device")
	}
	// A sender opens at most 3 further connections (a reconnect may
	// overlap the old ones): more than maxJoining for one session, waiting
	// or running, are refused, so one accepted sender cannot hold the
	// receiver's connection slots. The count is given back when the
	// connection ends (handleConn).
	r.mu.Lock()
	if s.further >= maxJoining {
		r.mu.Unlock()
		return nil, &sessionEnded{endReason{peer, codeBusy, "too many connections for this session"}}
	}
	s.further++
	r.mu.Unlock()
	joined := false
	defer func() {
		if !joined {
			s.leave()
		}
	}()
	t := time.NewTimer(r.planTimeout)
	defer t.Stop()
	select {
	case <-s.started:
	case <-s.ended:
		return nil, &sessionEnded{endReason{s.peer, s.endCode, s.endMsg}}
	case <-t.C:
		return nil, wire.Errorf("data connection for a session that never started")
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-conn.Context().Done():
		return nil, context.Cause(conn.Context())
	}
	s.strMu.Lock()
	if s.closed || s.g == nil {
		s.strMu.Unlock()
		<-s.ended // closing: its reason is moments away
		return nil, &sessionEnded{endReason{s.peer, s.endCode, s.endMsg}}
	}
	g, gctx := s.g, s.gctx
	g.Go(func() error {
		defer unblock(gctx, first)()
		return s.readChunks(gctx, bufio.NewReaderSize(first, 64<<10))
	})
	g.Go(func() error { return s.acceptData(gctx, conn, g) })
	s.strMu.Unlock()
	r.dropPending(conn)
	joined = true
	return s, nil
}

// leave gives back a further connection's place in the session (see join).
func (s *session) leave() {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.further--
}

// claim takes ownership of the session's partial files. A session of the
// same sender still holding one of them is a leftover of an attempt that
// broke (the sender reconnected before the old connection timed out): it is
// cancelled, and claim waits until it has let go.
func (r *Receiver) claim(ctx context.Context, s *session) error {
	for {
		r.mu.Lock()
		var old *session
		for _, f := range s.files {
			if f == nil {
				continue
			}
			if o := r.owners[f.Key()]; o != nil && o != s {
				old = o
				break
			}
		}
		if old == nil {
			for _, f := range s.files {
				if f != nil {
					r.owners[f.Key()] = s
				}
			}
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		if old.peer != s.peer {
			return fmt.Errorf("internal: partial file shared by two devices")
		}
		if old.cancel != nil {
			old.cancel(errSuperseded)
		}
		// Cancelling does not unblock a read of the old control stream (it
		// may be waiting for a plan that will never come): close its
		// connection, which the dead sender will never see anyway.
		old.conn.CloseWithError(codeSuperseded, errSuperseded.Error())
		select {
		case <-old.ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Receiver) release(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.sessions[s]; ok {
		delete(r.sessions, s)
		r.nSess--
	}
	if r.byToken[string(s.token)] == s {
		delete(r.byToken, string(s.token))
		// A further connection of the sender may still be on its way:
		// it gets the session's own reason, not a puzzling refusal.
		if len(r.endedTokens) >= 64 {
			clear(r.endedTokens)
		}
		r.endedTokens[string(s.token)] = endReason{s.peer, s.endCode, s.endMsg}
	}
	for k, o := range r.owners {
		if o == s {
			delete(r.owners, k)
		}
	}
}

func (e *sessionEnded) Error() string { return "session ended: " + e.msg }
