package transfer

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// Serving a swarm: another receiver of the same sender's swarm connects to
// this receiver's port under ALPN ferry-swarm/1, names the session by its
// swarm token and asks for chunks, which are read back from the store and
// hashed again before they leave. Anything else gets a close with a code
// that says why, and nothing else.

const (
	// maxOutstanding is how many bytes of chunks a peer may have asked for
	// and not yet received.
	maxOutstanding = 4 << 20
	// swarmHelloTimeout is how long a swarm connection may take to name
	// its session.
	swarmHelloTimeout = 5 * time.Second
)

// handleSwarm serves one swarm connection until it or ctx ends.
func (r *Receiver) handleSwarm(ctx context.Context, conn *quic.Conn, peer identity.DeviceID) {
	actx, cancel := context.WithTimeout(ctx, swarmHelloTimeout)
	str, err := conn.AcceptStream(actx)
	cancel()
	if err != nil {
		conn.CloseWithError(codeSwarmProtocol, "no swarm stream")
		return
	}
	str.SetReadDeadline(time.Now().Add(swarmHelloTimeout))
	br := bufio.NewReaderSize(str, 4<<10)
	tok, err := wire.ReadSwarmHello(br)
	if err != nil {
		conn.CloseWithError(codeSwarmProtocol, truncate(err.Error()))
		return
	}
	str.SetReadDeadline(time.Time{})
	s, code, msg := r.swarmSession(tok, peer)
	if s == nil {
		r.log.Info("swarm connection refused", "peer", peer.Short(), "why", msg)
		conn.CloseWithError(code, msg)
		return
	}
	// Proven: a listed peer of a running session, no longer among the
	// connections closed first to make room.
	r.dropPending(conn)
	code, msg = s.swarm.serve(ctx, str, br, peer)
	conn.CloseWithError(code, msg)
}

// swarmSession finds the running swarm session whose token tok is and
// checks that peer is one of the receivers its sender listed.
func (r *Receiver) swarmSession(tok []byte, peer identity.DeviceID) (*session, quic.ApplicationErrorCode, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.sessions {
		sw := s.swarm
		if sw == nil {
			continue
		}
		t := sw.tokenOf()
		if len(t) != wire.TokenLen || subtle.ConstantTimeCompare(t, tok) != 1 {
			continue
		}
		if !sw.listed(peer) {
			return nil, codeSwarmNotListed, "your key is not listed for this swarm"
		}
		return s, 0, ""
	}
	return nil, codeSwarmUnknown, "no swarm with that token here"
}

// serve answers a listed peer's requests on str, in order, until the
// stream ends or a rule is broken: it returns the close code and reason.
func (sw *swarmIn) serve(ctx context.Context, str *quic.Stream, br *bufio.Reader, peer identity.DeviceID) (quic.ApplicationErrorCode, string) {
	stop := context.AfterFunc(ctx, func() { str.SetReadDeadline(time.Now()) })
	defer stop()
	type ask struct {
		f   *store.File
		c   int64
		len int64
	}
	asks := make(chan ask, maxOutstanding/wire.MinChunkSize+1)
	var queued atomic.Int64 // bytes asked and not yet answered
	done := make(chan struct{})
	var code quic.ApplicationErrorCode
	var msg string
	go func() { // the answers, in order; ends when asks is closed
		defer close(done)
		buf := make([]byte, 0)
		for a := range asks {
			if int64(cap(buf)) < a.len {
				buf = make([]byte, a.len)
			}
			b := buf[:a.len]
			err := sw.read(a.f, a.c, b)
			var hdr []byte
			switch {
			case errors.Is(err, store.ErrNotHere):
				hdr = wire.AppendSwarmAnswer(nil, wire.SwarmMissing, 0)
				b = nil
			case err != nil: // not served any more, or changed on disk
				hdr = wire.AppendSwarmAnswer(nil, wire.SwarmGone, 0)
				b = nil
			default:
				hdr = wire.AppendSwarmAnswer(nil, wire.SwarmOK, uint32(a.len))
			}
			str.SetWriteDeadline(time.Now().Add(idleTimeout))
			if _, err := str.Write(hdr); err != nil {
				str.CancelRead(0)
				return
			}
			if _, err := str.Write(b); err != nil {
				str.CancelRead(0)
				return
			}
			queued.Add(-a.len)
			sw.served()
		}
	}()
	for {
		fi, ci, err := wire.ReadSwarmAsk(br)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				code, msg = codeDone, ""
			} else {
				code, msg = codeSwarmProtocol, truncate(err.Error())
			}
			break
		}
		f := sw.s.file(int(fi))
		if f == nil || int64(ci) >= f.Chunks() {
			code, msg = codeSwarmRange, fmt.Sprintf("chunk %d of entry %d is not in this session", ci, fi)
			break
		}
		n := f.ChunkLen(int64(ci))
		if q := queued.Add(n); q > maxOutstanding && q > n { // one chunk, however large, may always be asked
			code, msg = codeSwarmTooMany, fmt.Sprintf("more than %d bytes asked at once", maxOutstanding)
			break
		}
		asks <- ask{f, int64(ci), n}
	}
	close(asks)
	if code != codeDone {
		str.CancelWrite(0)
	}
	<-done
	str.Close()
	return code, msg
}
