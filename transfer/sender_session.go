package transfer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// attempt runs one session: connect, offer, plan, then move the data until
// the receiver reports every file delivered.
func (s *sender) attempt(ctx context.Context, connected *bool) (Result, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer conn.CloseWithError(codeCanceled, "sender stopped")
	peer, err := s.identify(conn, connected)
	if err != nil {
		return Result{}, err
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return Result{}, classify(err)
	}
	ctrl := newControl(str)
	// Until the data flows, a cancellation (Ctrl-C while the receiver's
	// user decides) ends the wait at once; the deferred close tells the
	// receiver, whose question goes away.
	stopWait := context.AfterFunc(ctx, func() { ctrl.deadline(time.Now()) })
	defer stopWait()
	dec, err := s.handshake(conn, ctrl, peer)
	if err != nil {
		return Result{}, err
	}
	if s.text != "" {
		return s.textDelivered(conn), nil
	}

	files, plan, kept, err := s.plan(ctx, dec.Have)
	if err != nil {
		return Result{}, err
	}
	if err := ctrl.send(wire.TypePlan, plan); err != nil {
		return Result{}, err
	}
	s.member = nil
	if s.sw != nil && dec.Swarm {
		m, err := s.sw.join(s, peer, conn.RemoteAddr().String(), ctrl, files)
		defer s.sw.leave(m)
		if err != nil {
			return Result{}, err
		}
		s.member = m
	}
	s.prog.Done.Store(kept)
	s.opt.Events(EventSession{Info: s.info, Progress: s.prog, Resumed: kept})
	return s.deliver(ctx, conn, peer, ctrl, dec.Token, files)
}

// dial connects to the first of the receiver's addresses that answers.
func (s *sender) dial(ctx context.Context) (*quic.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, s.opt.ConnectFor)
	defer cancel()
	conn, err := s.d.dialAny(dctx, s.opt.Addrs, clientTLS(s.opt.Device, s.opt.Expect))
	if err != nil {
		if errors.Is(err, ErrPeerMismatch) {
			return nil, err
		}
		return nil, &dialError{err}
	}
	return conn, nil
}

// identify checks that the receiver speaks this protocol version and
// returns its device ID. The first connection of a run fills in s.info.
func (s *sender) identify(conn *quic.Conn, connected *bool) (identity.DeviceID, error) {
	if conn.ConnectionState().TLS.NegotiatedProtocol != wire.ALPN {
		conn.CloseWithError(codeVersion, fmt.Sprintf("update ferry: this sender speaks transfer protocol %d", wire.Version))
		return identity.DeviceID{}, fmt.Errorf("%w: the receiver runs an older version of ferry (transfer protocol 1, this sender speaks %d): update ferry on the receiving computer",
			ErrVersion, wire.Version)
	}
	peer, err := identity.PeerID(conn.ConnectionState().TLS)
	if err != nil {
		return identity.DeviceID{}, err
	}
	if !*connected {
		s.info = OfferInfo{PeerID: peer, Bytes: s.prog.Total, Paths: pathsOf(s.src), Trusted: s.opt.Paired && peer == s.opt.Expect, Text: s.text}
		for _, e := range s.src {
			if e.Dir {
				s.info.Dirs++
			} else {
				s.info.Files++
			}
		}
	}
	*connected = true
	return peer, nil
}

// handshake sends the offer and returns the receiver's acceptance, after
// the verification code exchange. A refusal is an error of its kind (see
// refusal).
func (s *sender) handshake(conn *quic.Conn, ctrl *control, peer identity.DeviceID) (wire.Decision, error) {
	if err := ctrl.sendFrames(s.offerFrame); err != nil {
		return wire.Decision{}, err
	}
	// The receiver answers at once: a commitment to its verification nonce,
	// or a refusal.
	ctrl.deadline(time.Now().Add(offerTimeout))
	t, body, err := ctrl.recv()
	if err != nil {
		return wire.Decision{}, err
	}
	verified := t == wire.TypeCommit
	if verified {
		code, err := s.verify(conn, ctrl, body, peer)
		if err != nil {
			return wire.Decision{}, err
		}
		s.info.Code = code
		if !s.accepted { // each attempt that may be asked about shows its code
			s.opt.Events(EventConnected{Info: s.info})
		} else {
			s.opt.Events(EventReconnected{Info: s.info})
		}
		ctrl.deadline(time.Now().Add(askTimeout + offerTimeout))
		if t, body, err = ctrl.recv(); err != nil {
			return wire.Decision{}, err
		}
	}
	var dec wire.Decision
	if err := wire.DecodeFrame(t, wire.TypeDecision, body, &dec); err != nil {
		return wire.Decision{}, err
	}
	ctrl.deadline(time.Time{})
	s.info.PeerName = dec.Name
	if identity.CheckName(dec.Name) != nil {
		s.info.PeerName = "" // shows as nothing or as control characters
	}
	if !dec.Accept {
		conn.CloseWithError(codeDone, "")
		return wire.Decision{}, refusal(dec)
	}
	if !verified {
		// Only a refusal may skip the verification code.
		return wire.Decision{}, wire.Errorf("the receiver accepted without a verification code")
	}
	s.accepted = true
	if len(dec.Token) != wire.TokenLen && s.text == "" {
		return wire.Decision{}, wire.Errorf("session token of %d bytes", len(dec.Token))
	}
	return dec, nil
}

// refusal is the error for a declined offer, by the receiver's code: a busy
// receiver is tried again (a lost connection), the others end the run.
func refusal(dec wire.Decision) error {
	msg := wire.PeerText(dec.Reason)
	if msg == "" {
		msg = "declined"
	}
	switch dec.Code {
	case wire.DeclineNo, wire.DeclineNotTrusted:
		return fmt.Errorf("%w: %s", ErrDeclined, msg)
	case wire.DeclineBusy:
		return &connLost{fmt.Errorf("%w: %s", errBusy, msg)}
	case wire.DeclineVersion:
		return fmt.Errorf("%w: %s", ErrVersion, msg)
	}
	return fmt.Errorf("the receiver refused: %s", msg)
}

// verify runs the sender's side of the verification code exchange (see
// wire/verify.go): take the receiver's commitment, send our nonce, check the
// receiver's against its commitment, compute the code.
func (s *sender) verify(conn *quic.Conn, ctrl *control, commitBody []byte, peer identity.DeviceID) (string, error) {
	var commit wire.NonceFrame
	if err := wire.DecodeFrame(wire.TypeCommit, wire.TypeCommit, commitBody, &commit); err != nil {
		return "", err
	}
	if len(commit.Value) != sha256.Size {
		return "", wire.Errorf("verification commitment of %d bytes", len(commit.Value))
	}
	ekm, err := wire.Exporter(conn.ConnectionState().TLS)
	if err != nil {
		return "", err
	}
	mine := wire.NewNonce()
	if err := ctrl.send(wire.TypeNonce, wire.NonceFrame{Value: mine}); err != nil {
		return "", err
	}
	t, body, err := ctrl.recv()
	if err != nil {
		// Whoever holds the other end now knows this attempt's code. Were
		// the sender to reconnect (say on a close as busy), it could drop
		// every attempt whose code does not suit it, unseen: this attempt
		// ends the command instead.
		return "", fmt.Errorf("%w: the connection ended in the middle of the verification code exchange (%v); run the same command again",
			ErrInterrupted, err)
	}
	var reveal wire.NonceFrame
	if err := wire.DecodeFrame(t, wire.TypeReveal, body, &reveal); err != nil {
		return "", err
	}
	if !wire.CheckCommitment(commit.Value, reveal.Value) {
		return "", wire.Errorf("the receiver's verification nonce does not open its commitment")
	}
	return wire.VerificationCode(wire.SASInput{
		Sender: s.opt.Device.ID, Receiver: peer, Exporter: ekm, Offer: s.digest,
		SenderNonce: mine, ReceiverNonce: reveal.Value,
	}), nil
}

// deliver is the data phase of an accepted session: the work scheduled
// in order, data streams spread over the connections, standard input on a
// stream of its own, the watchdog, and the receiver's reports, until the
// receiver says every file is delivered.
func (s *sender) deliver(ctx context.Context, conn *quic.Conn, peer identity.DeviceID, ctrl *control, token []byte, files []*sendFile) (Result, error) {
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan workItem, 64)
	if s.member != nil {
		// A swarm hands a chunk out when a stream is ready for it: the
		// session that drains fastest takes the most.
		work = make(chan workItem)
	}
	if m := s.member; m != nil {
		g.Go(func() error { return s.swarmSchedule(gctx, m, work) })
		g.Go(func() error { return s.sw.writer(gctx, m) })
	} else {
		g.Go(func() error { return s.schedule(gctx, files, ctrl, work) })
	}
	// Each QUIC connection has its own congestion controller: spreading the
	// streams over several connections keeps the link full when one of
	// them backs off after a loss (quic-go's NewReno halves on every loss).
	conns := []*quic.Conn{conn}
	if len(files) > 0 {
		for _, c := range s.extraConns(ctx, conn, peer) {
			defer c.CloseWithError(codeDone, "")
			conns = append(conns, c)
		}
	}
	for k := range s.opt.Streams {
		c := conns[k%len(conns)]
		g.Go(func() error { return s.dataStream(gctx, c, token, work, ctrl) })
	}
	if s.streamed {
		g.Go(func() error { return s.sendStdin(gctx, conn, token, files, ctrl) })
	}
	if m := s.member; m != nil {
		g.Go(func() error { return s.sw.watch(gctx, m, conns) })
	}
	var done wire.DoneFrame
	var heard atomic.Int64 // frames from the receiver, for the watchdog
	g.Go(func() error { return s.watchdog(gctx, &heard) })
	g.Go(func() error { return s.reports(gctx, ctrl, files, &heard, &done) })
	err := g.Wait()
	if errors.Is(err, errComplete) && s.member != nil {
		// Done here, but the others may still fetch from this receiver:
		// its connection stays until the swarm ends.
		s.sw.finished(s.member)
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(conn.Context(), cancel)
		var wg sync.WaitGroup
		// It still serves: is it there? (The writer sends watch's probes;
		// the receiver no longer reads them, but acknowledges them.)
		wg.Go(func() { s.sw.watch(wctx, s.member, conns) })
		wg.Go(func() { s.sw.writer(wctx, s.member) })
		s.sw.waitEnd(wctx, swarmIdle)
		stop()
		cancel()
		wg.Wait()
	}
	if errors.Is(err, errComplete) {
		conn.CloseWithError(codeDone, "")
		var peers int64
		for _, sf := range files {
			if s.member != nil && sf != nil && !sf.skip && !sf.src.Stream {
				peers += max(sf.src.Size-sf.keptLen-sf.sent.Load(), 0)
			}
		}
		return Result{Info: s.info, Files: done.Files, Bytes: done.Bytes, FromPeers: peers}, nil
	}
	if err == nil {
		err = &connLost{errors.New("the session ended early")}
	}
	return Result{}, err
}

// reports reads the receiver's reports on the control stream: each file
// delivered, then the end of the session (errComplete, with done filled
// in). Every frame read counts in heard.
func (s *sender) reports(ctx context.Context, ctrl *control, files []*sendFile, heard *atomic.Int64, done *wire.DoneFrame) error {
	defer ctrl.str.CancelRead(0)
	stop := context.AfterFunc(ctx, func() { ctrl.deadline(time.Now()) })
	defer stop()
	for {
		t, body, err := ctrl.recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		heard.Add(1)
		switch t {
		case wire.TypeFileDone:
			var fd wire.FileDone
			if err := wire.DecodeFrame(t, wire.TypeFileDone, body, &fd); err != nil {
				return err
			}
			if fd.File < 0 || fd.File >= len(files) || files[fd.File] == nil {
				return wire.Errorf("receiver reports entry %d done, which is not a file", fd.File)
			}
			sf := files[fd.File]
			if s.member != nil && !sf.skip { // what came from the other receivers counts now
				s.prog.Done.Add(max(sf.src.Size-sf.keptLen-sf.sent.Load(), 0))
			}
			s.opt.Events(EventFile{Path: sf.src.Path, Name: fd.Name, Size: sf.src.Size, Existing: sf.skip})
		case wire.TypeWant:
			var w wire.WantChunk
			if s.member == nil {
				return wire.Errorf("want from a receiver outside the swarm")
			}
			if err := wire.DecodeFrame(t, wire.TypeWant, body, &w); err != nil {
				return err
			}
			if err := s.sw.want(s.member, w); err != nil {
				return err
			}
		case wire.TypeGot:
			var g wire.WantChunk
			if s.member == nil {
				return wire.Errorf("got from a receiver outside the swarm")
			}
			if err := wire.DecodeFrame(t, wire.TypeGot, body, &g); err != nil {
				return err
			}
			if err := s.sw.got(s.member, g); err != nil {
				return err
			}
		case wire.TypeDone:
			if err := wire.DecodeFrame(t, wire.TypeDone, body, done); err != nil {
				return err
			}
			return errComplete
		default:
			var v struct{}
			return wire.DecodeFrame(t, wire.TypeFileDone, body, &v)
		}
	}
}

// watchdog ends a session in which the receiver has taken no data and
// confirmed nothing for StallTimeout: QUIC keep-alives hold the connection
// open, so a receiver that accepts and then stops reading (or never
// confirms) would otherwise keep the sender waiting for ever. Time spent
// waiting for standard input does not count.
func (s *sender) watchdog(ctx context.Context, heard *atomic.Int64) error {
	limit := s.opt.StallTimeout
	t := time.NewTicker(min(limit/4, time.Second))
	defer t.Stop()
	wire, frames, last := s.prog.Wire.Load(), heard.Load(), time.Now()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return nil
		case now = <-t.C:
		}
		if w, f := s.prog.Wire.Load(), heard.Load(); w != wire || f != frames || s.readingStdin.Load() {
			wire, frames, last = w, f, now
			continue
		}
		if now.Sub(last) >= limit {
			return fmt.Errorf("%w: the receiver took no data and confirmed nothing for %s; run the same command again to resume",
				ErrInterrupted, limit.Round(time.Second))
		}
	}
}

// extraConns opens up to opt.Conns-1 further connections to the receiver
// of conn, which must present the same key. A connection that cannot be
// made is left out: the session goes on with fewer.
func (s *sender) extraConns(ctx context.Context, conn *quic.Conn, peer identity.DeviceID) []*quic.Conn {
	n := min(s.opt.Conns, s.opt.Streams) - 1
	if n <= 0 {
		return nil
	}
	ua, ok := conn.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return nil
	}
	tr, err := s.d.transport(ua)
	if err != nil {
		return nil
	}
	out := make([]*quic.Conn, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
			defer cancel()
			c, err := tr.Dial(dctx, ua, clientTLS(s.opt.Device, peer), quicConfig())
			if err != nil {
				s.log.Debug("extra connection failed", "err", err)
				return
			}
			out[i] = c
		})
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(c *quic.Conn) bool { return c == nil })
}
