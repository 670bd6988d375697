package transfer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// session is one offer on the receiving side: read, decided and, if
// accepted, received into the store.
type session struct {
	r      *Receiver
	conn   *quic.Conn
	ctrl   *control
	peer   identity.DeviceID
	offer  offerIn
	info   OfferInfo
	token  []byte
	in     *store.Incoming
	files  []*store.File   // by entry index; nil for folders
	fps    []*FileProgress // by entry index
	nFiles int
	prog   *Progress
	cancel context.CancelCauseFunc
	ended  chan struct{} // closed once the session has ended and let go of its files
	// releaseOffer gives back the offer's share of the receiver's memory
	// budget once it is decided (it may be called more than once).
	releaseOffer func()

	// The finalizer's queue. unnamed holds a token for each complete file
	// that is not yet named: each keeps a descriptor open, so their number
	// is bounded (see maxUnnamed); ready has room for every token.
	unnamed chan struct{}
	ready   chan *store.File

	// complete is the session's one success signal: set, after bytes,
	// when the Done frame goes out and every file is delivered.
	complete atomic.Bool
	bytes    int64

	start     time.Time    // when the session was admitted (set under r.mu)
	active    atomic.Int64 // when something last came from the sender, as time since start
	dataPhase atomic.Bool  // the plan is in: data flows
	pending   atomic.Int64 // files the receiver waits for the sender to complete

	strMu   sync.Mutex
	g       *errgroup.Group // the session's goroutines, which further connections join
	gctx    context.Context
	started chan struct{} // closed once g runs (made when the token is registered)
	closed  bool          // g is ending: nothing joins any more

	// swarm is the session's part in its sender's swarm; nil unless the
	// offer asked for one and this receiver takes part (set before the
	// decision, never changed).
	swarm *swarmIn

	endCode quic.ApplicationErrorCode // why the session ended, set before ended closes
	endMsg  string
	further int // further connections of the sender, waiting or joined (under r.mu)
}

// touch notes that something came from the sender.
func (s *session) touch() { s.active.Store(int64(time.Since(s.start))) }

// file returns the file of entry i, or nil if i is not a file of the offer.
func (s *session) file(i int) *store.File {
	if i < 0 || i >= len(s.files) {
		return nil
	}
	return s.files[i]
}

// errComplete stops a session's goroutines once every file is delivered.
var errComplete = errors.New("session complete")

var errSuperseded = errors.New("superseded by a newer session from the same device")

// errStalled ends a session whose sender stopped sending while the receiver
// waited for it.
var errStalled = errors.New("sender stalled")

// errDeclinedHere: the session ended with a refusal, already reported and
// closed.
var errDeclinedHere = errors.New("declined")

// handleConn serves one connection: a new session's, or a further one of a
// running session.
func (r *Receiver) handleConn(ctx context.Context, conn *quic.Conn) {
	peer, err := identity.PeerID(conn.ConnectionState().TLS)
	if err != nil {
		conn.CloseWithError(codeProtocol, "no certificate")
		return
	}
	log := r.log.With("peer", peer.Short(), "addr", conn.RemoteAddr().String())
	if conn.ConnectionState().TLS.NegotiatedProtocol == wire.ALPNSwarm {
		r.handleSwarm(ctx, conn, peer)
		return
	}
	deadline := time.Now().Add(r.offerTimeout)
	actx, cancel := context.WithDeadline(ctx, deadline)
	ctrl, data, err := firstStream(actx, conn)
	cancel()
	if err != nil {
		log.Debug("no control stream", "err", err)
		conn.CloseWithError(codeProtocol, fmt.Sprintf("no offer within %s", r.offerTimeout))
		return
	}
	if data != nil {
		r.handleFurther(ctx, conn, peer, data, deadline, log)
		return
	}
	s := &session{r: r, conn: conn, ctrl: newControl(ctrl), peer: peer, ended: make(chan struct{}), releaseOffer: func() {}}
	defer func() { s.releaseOffer() }()
	if !s.open(ctx, deadline, log) {
		return
	}
	s.end(ctx, s.run(ctx, log), log)
}

// handleFurther serves a further connection of the sender of a running
// session until the session or the connection ends. Until it has named a
// running session of its device, it is as unproven as a new connection.
func (r *Receiver) handleFurther(ctx context.Context, conn *quic.Conn, peer identity.DeviceID, first *quic.ReceiveStream, deadline time.Time, log *slog.Logger) {
	s, err := r.join(ctx, conn, peer, first, deadline)
	var se *sessionEnded
	if errors.As(err, &se) {
		conn.CloseWithError(se.code, se.msg)
		return
	}
	if err != nil {
		log.Info("bad data connection", "err", err)
		conn.CloseWithError(codeProtocol, truncate(err.Error()))
		return
	}
	defer s.leave()
	select {
	case <-s.ended:
		conn.CloseWithError(s.endCode, s.endMsg) // the same reason as the session's
	case <-conn.Context().Done():
	case <-ctx.Done():
		conn.CloseWithError(codeShutdown, "the receiver is stopping")
	}
}

// open reads the offer and runs the verification code exchange, within
// the offer's deadline. It reports whether the session goes on; if not,
// the connection is closed (with a refusal the sender understands where
// there is one).
//
// The connection stays pending (the oldest are closed when too many wait)
// until its offer is admitted or put to the user: refusals too, which wait
// a moment for the sender to read them.
func (s *session) open(ctx context.Context, deadline time.Time, log *slog.Logger) bool {
	r := s.r
	s.ctrl.deadline(deadline)
	if s.conn.ConnectionState().TLS.NegotiatedProtocol == wire.ALPNv1 {
		s.refuseOldSender()
		return false
	}
	o, release, err := r.readOffer(ctx, s.ctrl, s.peer, deadline)
	s.offer, s.releaseOffer = o, release
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = wire.Errorf("no offer within %s", r.offerTimeout)
	}
	var ve *versionError
	switch {
	case errors.As(err, &ve):
		s.info = OfferInfo{PeerName: o.Name, PeerID: s.peer}
		s.refuse(decision{code: wire.DeclineVersion, reason: ve.Error()})
		return false
	case errors.Is(err, errNotRead):
		s.info = OfferInfo{PeerID: s.peer}
		s.refuse(notTrusted)
		return false
	case err != nil:
		log.Info("bad offer", "err", err)
		s.conn.CloseWithError(codeProtocol, truncate(err.Error()))
		return false
	}
	s.info = r.offerInfo(s.peer, &o)
	if !s.info.Trusted && r.cfg.Policy == PolicyTrusted {
		s.refuse(notTrusted)
		return false
	}
	code, err := s.verify()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = wire.Errorf("no verification nonce within %s", r.offerTimeout)
	}
	if err != nil {
		log.Info("verification code exchange failed", "err", err)
		s.conn.CloseWithError(codeProtocol, truncate(err.Error()))
		return false
	}
	s.info.Code = code
	s.ctrl.deadline(time.Time{})
	return true
}

// run decides the offer and, if it is accepted, receives it: it returns
// nil once every file is delivered.
func (s *session) run(ctx context.Context, log *slog.Logger) error {
	if s.offer.Text != nil {
		return s.runText(ctx, log)
	}
	d, err := s.decideAndAdmit(ctx)
	s.releaseOffer()
	if err != nil {
		return err
	}
	if !d.accept {
		return s.decline(d)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.cancel = cancel
	swarm := s.offer.Swarm && !s.r.cfg.NoSwarm
	in, err := store.Open(s.r.dir, s.offer.checked, store.Options{Sender: s.peer, Overwrite: s.r.cfg.Overwrite, NoTmpFiles: s.r.noTmpFiles, Serve: swarm})
	if err != nil {
		return err
	}
	defer in.Close()
	s.in, s.files = in, in.Files()
	for _, f := range s.files {
		if f != nil {
			s.nFiles++
		}
	}
	if err := s.r.claim(ctx, s); err != nil {
		return err
	}
	have, kept, need, err := s.resume()
	if err != nil {
		return err
	}
	if d, ok := s.checkSpace(need); !ok {
		return s.decline(d)
	}
	if swarm {
		s.swarm = newSwarmIn(s)
	}
	if err := s.accept(have, kept, log); err != nil {
		return err
	}
	if err := s.readPlan(); err != nil {
		return err
	}
	if err := s.in.MakeFolders(); err != nil {
		return err
	}
	s.r.cfg.Events(EventSession{Info: s.info, Progress: s.prog, Resumed: s.prog.Done.Load()})
	if err := s.receive(ctx); err != nil {
		return err
	}
	if s.swarm != nil {
		s.swarm.linger(ctx)
	}
	return nil
}

// end reports how the session ended, lets go of its slot and files, and
// closes the connection with the reason.
func (s *session) end(ctx context.Context, err error, log *slog.Logger) {
	r := s.r
	if err != nil && !errors.Is(err, errDeclinedHere) {
		s.endCode, s.endMsg = closeReason(ctx, err, r.dir)
	}
	r.release(s) // first: whoever waits for ended finds the slot and the files free
	close(s.ended)
	switch {
	case err == nil:
		r.cfg.Events(EventSessionEnd{Info: s.info, Files: s.nFiles, Bytes: s.bytes})
		// Let the sender read the last frames and close first: closing now
		// would let CONNECTION_CLOSE overtake them. Not even shutdown (as
		// with --once, right after this session) cuts this short.
		t := time.NewTimer(3 * time.Second)
		select {
		case <-s.conn.Context().Done():
		case <-t.C:
		}
		t.Stop()
		s.conn.CloseWithError(codeDone, "")
	case errors.Is(err, errDeclinedHere), errors.Is(err, errTextShown):
		// already reported and closed
	default:
		log.Info("session ended", "err", err)
		s.conn.CloseWithError(s.endCode, s.endMsg)
		if s.prog != nil {
			r.cfg.Events(EventSessionEnd{Info: s.info, Err: err})
		}
	}
}

// refuse declines the offer and closes the connection once the sender has
// read why.
func (s *session) refuse(d decision) {
	s.r.cfg.Events(EventDeclined{Info: s.info, Reason: d.reason})
	s.ctrl.send(wire.TypeDecision, wire.Decision{Accept: false, Code: d.code, Reason: d.reason, Name: s.r.cfg.Name})
	s.waitClose(codeDeclined, d.reason)
}

// decline refuses the offer in the middle of run.
func (s *session) decline(d decision) error {
	s.refuse(d)
	return errDeclinedHere
}

// resume finds what earlier attempts left of each file, in the decision's
// terms, with the bytes kept and the bytes still to come.
func (s *session) resume() (have []wire.Have, kept, need int64, err error) {
	for _, f := range s.files {
		if f == nil {
			continue
		}
		if err := s.in.Resume(f); err != nil {
			return nil, 0, 0, err
		}
		k := f.Kept()
		if k.Existing != nil {
			have = append(have, wire.Have{File: f.Index(), Complete: true, Hash: k.Existing})
		}
		if len(k.Chunks) > 0 {
			have = append(have, wire.Have{File: f.Index(), Ranges: wire.RangesOf(k.Chunks), Digest: wire.HaveDigest(k.Chunks, k.Hashes)})
		}
		kept += k.Bytes
		if size := f.Size(); size > 0 {
			need += size - k.Bytes
		}
	}
	return have, kept, need, nil
}

// checkSpace refuses an offer that would not fit, with a margin.
func (s *session) checkSpace(need int64) (decision, bool) {
	free, known := s.in.FreeSpace()
	if !known || need <= 0 || free >= need+(1<<20) {
		return decision{}, true
	}
	return decision{code: wire.DeclineNoSpace, reason: fmt.Sprintf("not enough free space on the receiver: the transfer needs %s, %s is available",
		human.Bytes(need), human.Bytes(free))}, false
}

// accept makes the session findable by its token (the sender's further
// connections may arrive as soon as it has the decision; join waits until
// the session runs) and sends the accepting decision.
func (s *session) accept(have []wire.Have, kept int64, log *slog.Logger) error {
	s.token = make([]byte, wire.TokenLen)
	rand.Read(s.token)
	s.started = make(chan struct{})
	s.r.register(s)
	s.prog = &Progress{Total: s.info.Bytes}
	s.prog.Done.Store(kept)
	if err := s.ctrl.send(wire.TypeDecision, wire.Decision{Accept: true, Token: s.token, Name: s.r.cfg.Name, Have: have, Swarm: s.swarm != nil}); err != nil {
		return err
	}
	log.Info("accepted", "files", s.nFiles, "bytes", s.info.Bytes, "resumed", kept)
	return nil
}

// readPlan takes the sender's plan, which must be in before data is
// taken: it may discard kept chunks, and skips files already here. The
// sender hashes what was kept before it answers, hence the long wait.
func (s *session) readPlan() error {
	s.ctrl.deadline(time.Now().Add(s.r.planTimeout))
	var plan wire.Plan
	err := s.ctrl.expect(wire.TypePlan, &plan)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: no plan within %s", errStalled, s.r.planTimeout)
	}
	if err != nil {
		return err
	}
	s.ctrl.deadline(time.Time{})
	s.touch()
	for _, i := range plan.Restart {
		f := s.file(i)
		if f == nil {
			return wire.Errorf("plan restarts entry %d", i)
		}
		s.prog.Done.Add(-f.Verified())
		f.Restart()
	}
	for _, i := range plan.Skip {
		f := s.file(i)
		if f == nil {
			return wire.Errorf("plan skips entry %d", i)
		}
		if err := f.Skip(); err != nil {
			return err
		}
		s.prog.Done.Add(f.Size())
	}
	s.fps = make([]*FileProgress, len(s.files))
	for i, f := range s.files {
		if f != nil {
			s.fps[i] = newFileProgress(f.Path(), f.Size(), f.Verified())
			if !f.Skipped() {
				s.pending.Add(1)
			}
		}
	}
	return nil
}

// receive runs the data phase: the sender's FileEnd frames, its data
// streams (on this connection and those that join), the finalizer and the
// watchdog, until every file is delivered (nil) or something fails.
func (s *session) receive(ctx context.Context) error {
	n := maxUnnamed(s.r.cfg.MaxSessions)
	s.unnamed = make(chan struct{}, n)
	s.ready = make(chan *store.File, n)
	s.dataPhase.Store(true)
	g, gctx := errgroup.WithContext(ctx)
	s.strMu.Lock()
	s.g, s.gctx = g, gctx
	s.strMu.Unlock()
	close(s.started)
	g.Go(func() error { // no joins once the session ends; unblock the control stream
		<-gctx.Done()
		s.strMu.Lock()
		s.closed = true
		s.strMu.Unlock()
		s.ctrl.deadline(time.Now())
		return nil
	})
	g.Go(s.readControl)
	g.Go(func() error { return s.acceptData(gctx, s.conn, g) })
	g.Go(func() error { return s.finalize(gctx) })
	g.Go(func() error { return s.watchdog(gctx) })
	if s.swarm != nil {
		g.Go(func() error { return s.swarm.run(gctx, g) })
	}
	err := g.Wait()
	if s.complete.Load() {
		// Done is sent: whatever the sender's close did to the readers
		// after that, every file was delivered.
		return nil
	}
	if c := context.Cause(ctx); errors.Is(c, errSuperseded) {
		return c
	}
	return err
}
func (s *session) watchdog(ctx context.Context) error {
	limit := s.r.stallTimeout
	t := time.NewTimer(min(limit, folderCheck))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s.pending.Load() == 0 {
			return nil // everything is in; the finalizer ends the session
		}
		// A removed receiving folder would swallow everything that still
		// arrives: notice it now, not at the end.
		if err := s.in.StillThere(); err != nil {
			return err
		}
		idle := time.Since(s.start) - time.Duration(s.active.Load())
		if idle >= limit {
			return fmt.Errorf("%w: nothing arrived for %s", errStalled, limit)
		}
		t.Reset(min(limit-idle, folderCheck))
	}
}
func (s *session) waitClose(code quic.ApplicationErrorCode, msg string) {
	select {
	case <-s.conn.Context().Done():
	case <-time.After(2 * time.Second):
	}
	s.conn.CloseWithError(code, truncate(msg))
}
