package pairing

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/pairing/cpace"
)

// Limits of a pairing window.
const (
	// MaxFailures is how many failed attempts, from any address, close a
	// window.
	MaxFailures = 3
	// DefaultTimeout is a window's default lifetime.
	DefaultTimeout = 2 * time.Minute
	// DefaultAttemptTimeout is the default time one attempt may take, from
	// the responder accepting the connection to Ta verified.
	DefaultAttemptTimeout = 15 * time.Second

	// tbLinger bounds how long the responder, once paired, waits for the
	// initiator to close the connection after Tb, so that Tb is delivered.
	tbLinger = 5 * time.Second
)

// Options configure a pairing window. The zero value is usable if Hosts is
// set or Listen names a specific address.
type Options struct {
	// Listen is the UDP address to listen on. The zero value listens on all
	// addresses, on a port the system chooses.
	Listen netip.AddrPort
	// Hosts are the addresses the QR code advertises, with the window's
	// port: addresses other devices on the LAN can reach. A QR code carries
	// no IPv6 zone, so link-local IPv6 addresses do not belong here. If
	// empty, Listen's address is used; Open fails if that is unspecified
	// too.
	Hosts []netip.Addr
	// Timeout is the window's lifetime (DefaultTimeout if zero). The PIN and
	// the QR secret die with the window.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt (DefaultAttemptTimeout if zero).
	AttemptTimeout time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is called for each event, from the window's own
	// goroutines, one call at a time. It must not block.
	OnEvent func(Event)
}

// EventKind says what happened in a pairing window.
type EventKind uint8

const (
	AttemptStarted EventKind = iota + 1 // a device connected and is now the attempt
	AttemptBusy                         // a device connected during another attempt and was turned away
	AttemptFailed                       // the attempt failed and counted against MaxFailures
	Paired                              // the attempt succeeded; the window is done
)

func (k EventKind) String() string {
	switch k {
	case AttemptStarted:
		return "attempt-started"
	case AttemptBusy:
		return "attempt-busy"
	case AttemptFailed:
		return "attempt-failed"
	case Paired:
		return "paired"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports progress in a pairing window, for a user interface.
type Event struct {
	Kind      EventKind
	Remote    netip.AddrPort
	Mode      Mode          // once the initiator said it (AttemptFailed, Paired)
	Err       error         // AttemptFailed: why
	Failures  int           // failed attempts so far
	Remaining int           // failed attempts left before the window closes
	Peer      identity.Peer // Paired
}

// Window is an open pairing window: the responder side of pairing. It
// listens for QUIC connections with ALPN "ferry-pair/1" and pairs with the
// first device that proves it knows the PIN or the QR secret.
type Window struct {
	dev      *identity.Device
	log      *slog.Logger
	onEvent  func(Event)
	adB      []byte
	pin      PIN
	code     Code
	addr     netip.AddrPort
	expires  time.Time
	attemptT time.Duration

	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.Listener

	ctx       context.Context // done at expiry, on Close, or when Open's ctx is done
	cancel    context.CancelCauseFunc
	stopTimer context.CancelFunc
	done      chan struct{} // closed when the window's goroutines ended and its socket closed

	evMu sync.Mutex // serializes OnEvent calls

	mu       sync.Mutex
	failures int
	decided  bool
	peer     identity.Peer
	err      error
}

// Open opens a pairing window for dev, shown to others as name. It draws a
// fresh 6-digit PIN and a fresh 128-bit QR secret, listens, and serves
// attempts until one succeeds, MaxFailures fail, the window expires, ctx is
// done, or Close is called. Wait returns the outcome.
func Open(ctx context.Context, dev *identity.Device, name string, opts Options) (*Window, error) {
	if dev == nil || len(dev.Cert.Certificate) == 0 {
		return nil, errors.New("open pairing window: no device identity")
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("open pairing window: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hosts := opts.Hosts
	if len(hosts) == 0 && opts.Listen.Addr().IsValid() && !opts.Listen.Addr().IsUnspecified() {
		hosts = []netip.Addr{opts.Listen.Addr()}
	}
	if len(hosts) == 0 {
		return nil, errors.New("open pairing window: no address for the QR code (set Options.Hosts)")
	}
	if len(hosts) > maxCodeAddrs {
		return nil, fmt.Errorf("open pairing window: %d addresses for the QR code, at most %d", len(hosts), maxCodeAddrs)
	}

	var laddr *net.UDPAddr
	if opts.Listen.IsValid() {
		laddr = net.UDPAddrFromAddrPort(opts.Listen)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("open pairing window: %w", err)
	}
	bound := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	code := Code{ID: dev.ID, Secret: rand.Text()}
	for _, h := range hosts {
		ap, err := parseCodeAddr(strings.ToUpper(netip.AddrPortFrom(h.Unmap(), bound.Port()).String()))
		if err != nil {
			udp.Close()
			return nil, fmt.Errorf("open pairing window: cannot advertise %v: %w", h, err)
		}
		code.Addrs = append(code.Addrs, ap)
	}
	if _, err := ParseCode(code.String()); err != nil {
		udp.Close()
		return nil, fmt.Errorf("open pairing window: %w", err)
	}

	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(serverTLS(dev), &quic.Config{
		HandshakeIdleTimeout:  5 * time.Second,
		MaxIdleTimeout:        opts.AttemptTimeout + 5*time.Second, // the attempt deadline cuts first
		MaxIncomingStreams:    1,
		MaxIncomingUniStreams: -1,
	})
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, fmt.Errorf("open pairing window: %w", err)
	}

	w := &Window{
		dev:      dev,
		log:      log,
		onEvent:  opts.OnEvent,
		adB:      encodeAD(name),
		pin:      newPIN(),
		code:     code,
		addr:     bound,
		expires:  time.Now().Add(opts.Timeout),
		attemptT: opts.AttemptTimeout,
		udp:      udp,
		tr:       tr,
		ln:       ln,
		done:     make(chan struct{}),
	}
	base, cancel := context.WithCancelCause(ctx)
	w.ctx, w.stopTimer = context.WithDeadlineCause(base, w.expires, ErrExpired)
	w.cancel = cancel
	log.Info("pairing window open", "addr", bound, "expires", w.expires, "id", dev.ID.Short())
	go w.run()
	return w, nil
}

func serverTLS(dev *identity.Device) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{dev.Cert},
		ClientAuth:             tls.RequireAnyClientCert, // no CA: the PAKE authenticates the key
		NextProtos:             []string{ALPN},
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != ALPN {
				return fmt.Errorf("pairing: ALPN %q, want %q", cs.NegotiatedProtocol, ALPN)
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("pairing: client sent no certificate")
			}
			return nil
		},
	}
}

// PIN returns the window's PIN, to show.
func (w *Window) PIN() PIN { return w.pin }

// Code returns the window's QR code content; Code().String() is the text.
func (w *Window) Code() Code {
	c := w.code
	c.Addrs = slices.Clone(c.Addrs)
	return c
}

// Addr returns the address the window listens on.
func (w *Window) Addr() netip.AddrPort { return w.addr }

// Expires returns when the window closes if nobody pairs.
func (w *Window) Expires() time.Time { return w.expires }

// Wait waits for the window's outcome: the paired device, or ErrExpired,
// ErrClosed (MaxFailures failed attempts), or the reason the window was
// closed. It returns after the window's connections have ended. If ctx is
// done first it returns ctx's error and the window stays open.
func (w *Window) Wait(ctx context.Context) (identity.Peer, error) {
	select {
	case <-w.done:
	case <-ctx.Done():
		return identity.Peer{}, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peer, w.err
}

// Close closes the window, ending any attempt in progress, and returns once
// its goroutines have ended. A window that already paired keeps its result.
func (w *Window) Close() error {
	w.cancel(errWindowClosed)
	<-w.done
	return nil
}

// run accepts connections until the window ends, then releases everything.
func (w *Window) run() {
	defer close(w.done)
	var g errgroup.Group
	slot := make(chan struct{}, 1) // one attempt at a time
	for {
		conn, err := w.ln.Accept(w.ctx)
		if err != nil {
			break
		}
		remote := remoteAddr(conn)
		if ended, code := w.ended(); ended {
			conn.CloseWithError(code, "pairing window closed")
			continue
		}
		select {
		case slot <- struct{}{}:
			g.Go(func() error {
				defer func() { <-slot }()
				w.attempt(conn, remote)
				return nil
			})
		default:
			w.log.Info("pairing attempt refused: busy", "remote", remote)
			w.emit(Event{Kind: AttemptBusy, Remote: remote})
			conn.CloseWithError(codeBusy, ErrBusy.Error())
		}
	}
	w.decide(identity.Peer{}, w.endErr())
	g.Wait()
	w.stopTimer() // release the context's timer
	w.ln.Close()
	w.tr.Close()
	w.udp.Close()
}

// endErr is the outcome of a window that ends without a result: ErrExpired,
// errWindowClosed (Close), or the cause with which Open's context ended.
func (w *Window) endErr() error {
	if cause := context.Cause(w.ctx); cause != nil {
		return cause
	}
	return errWindowClosed
}

// decide records the window's outcome once and stops accepting. It reports
// whether this call decided.
func (w *Window) decide(peer identity.Peer, err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.decided {
		return false
	}
	w.decided, w.peer, w.err = true, peer, err
	w.ln.Close()
	return true
}

// ended reports whether the window has an outcome or its context is done,
// and the close code to give a connection that arrives now.
func (w *Window) ended() (bool, quic.ApplicationErrorCode) {
	w.mu.Lock()
	decided, err := w.decided, w.err
	w.mu.Unlock()
	if !decided && w.ctx.Err() == nil {
		return false, 0
	}
	if !decided {
		err = context.Cause(w.ctx)
	}
	switch {
	case errors.Is(err, ErrClosed):
		return true, codeClosed
	case errors.Is(err, ErrExpired):
		return true, codeExpired
	}
	return true, codeCanceled
}

func (w *Window) emit(e Event) {
	if w.onEvent == nil {
		return
	}
	w.evMu.Lock()
	defer w.evMu.Unlock()
	w.onEvent(e)
}

func remoteAddr(conn *quic.Conn) netip.AddrPort {
	if ua, ok := conn.RemoteAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// attempt runs one pairing attempt on conn and settles its outcome.
func (w *Window) attempt(conn *quic.Conn, remote netip.AddrPort) {
	log := w.log.With("remote", remote)
	log.Info("pairing attempt started")
	w.emit(Event{Kind: AttemptStarted, Remote: remote})

	deadline := time.Now().Add(w.attemptT)
	ctx, cancel := context.WithDeadlineCause(w.ctx, deadline, ErrTimeout)
	defer cancel()

	mode, st, peer, err := w.respond(ctx, conn, deadline)
	if err == nil {
		if !w.decide(peer, nil) {
			_, code := w.ended()
			conn.CloseWithError(code, "pairing window closed")
			return
		}
		// Ta verified: the initiator knows the secret and shares our TLS
		// session. Release Tb, then give the initiator the time left to
		// read it and close the connection.
		if err := st.sendTb(); err != nil {
			log.Debug("pairing: send Tb", "err", err)
		}
		linger := time.NewTimer(tbLinger)
		select {
		case <-conn.Context().Done():
		case <-ctx.Done():
		case <-linger.C:
		}
		linger.Stop()
		conn.CloseWithError(codePaired, "paired")
		log.Info("paired", "peer", peer.Name, "id", peer.ID.Short(), "via", peer.Via)
		w.emit(Event{Kind: Paired, Remote: remote, Mode: mode, Peer: peer})
		return
	}

	// The window itself ended (expiry or Close): not the initiator's fault.
	if w.ctx.Err() != nil {
		_, code := w.ended()
		conn.CloseWithError(code, "pairing window closed")
		log.Info("pairing attempt ended with the window", "err", err)
		return
	}
	if errors.Is(context.Cause(ctx), ErrTimeout) || !time.Now().Before(deadline) {
		err = fmt.Errorf("%w: no valid proof within %v", ErrTimeout, w.attemptT)
	}
	w.mu.Lock()
	w.failures++
	failures := w.failures
	closing := failures >= MaxFailures && !w.decided
	w.mu.Unlock()
	code := failureCode(err)
	if closing {
		code = codeClosed
		w.decide(identity.Peer{}, fmt.Errorf("%w (last: %w)", ErrClosed, err))
	}
	reason := closeMessage(code)
	if code == codeWrongSecret {
		reason = triesLeftReason(MaxFailures - failures)
	}
	conn.CloseWithError(code, reason)
	// The caller reports failed attempts (AttemptFailed): for the log, a
	// detail.
	log.Debug("pairing attempt failed", "mode", mode, "err", err, "failures", failures)
	w.emit(Event{Kind: AttemptFailed, Remote: remote, Mode: mode, Err: err,
		Failures: failures, Remaining: max(0, MaxFailures-failures)})
}

func failureCode(err error) quic.ApplicationErrorCode {
	switch {
	case errors.Is(err, ErrWrongSecret):
		return codeWrongSecret
	case errors.Is(err, ErrTimeout):
		return codeTimeout
	case errors.Is(err, ErrProtocol):
		return codeProtocol
	}
	return codeCanceled
}

func closeMessage(code quic.ApplicationErrorCode) string {
	switch code {
	case codePaired:
		return "paired"
	case codeWrongSecret:
		return ErrWrongSecret.Error()
	case codeClosed:
		return ErrClosed.Error()
	case codeTimeout:
		return ErrTimeout.Error()
	case codeProtocol:
		return ErrProtocol.Error()
	case codeExpired:
		return ErrExpired.Error()
	}
	return "pairing attempt ended"
}

// respondState is what the success path needs after respond returns.
type respondState struct {
	stream *quic.Stream
	cp     *cpace.State
}

func (s *respondState) sendTb() error {
	defer s.cp.Close()
	tb, err := s.cp.Tag()
	if err != nil {
		return err
	}
	if err := writeFrame(s.stream, frameTb, tb); err != nil {
		return err
	}
	return s.stream.Close()
}

// respond runs the responder's side up to a verified Ta.
func (w *Window) respond(ctx context.Context, conn *quic.Conn, deadline time.Time) (Mode, *respondState, identity.Peer, error) {
	stream, err := conn.AcceptStream(ctx)
	if err != nil {
		return "", nil, identity.Peer{}, fmt.Errorf("accept stream: %w", err)
	}
	st := &respondState{stream: stream}
	stream.SetDeadline(deadline)
	stop := interruptOnDone(ctx, stream)
	defer stop()

	payload, err := readFrame(stream, frameStart)
	if err != nil {
		return "", st, identity.Peer{}, err
	}
	mode, msgA, err := decodeStart(payload)
	if err != nil {
		return "", st, identity.Peer{}, err
	}
	var prs []byte
	switch mode {
	case ModePIN:
		prs = w.pin.prs()
	case ModeQR:
		prs = w.code.prs()
	}
	cs := conn.ConnectionState().TLS
	fpA, err := identity.PeerID(cs)
	if err != nil {
		return mode, st, identity.Peer{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if fpA == w.dev.ID {
		return mode, st, identity.Peer{}, fmt.Errorf("%w: the other device has this device's key", ErrProtocol)
	}
	sid, err := sessionID(cs)
	if err != nil {
		return mode, st, identity.Peer{}, err
	}
	cp, msgB, err := cpace.Start(cpace.Responder, prs, channelID(mode, fpA, w.dev.ID), sid, w.adB)
	if err != nil {
		return mode, st, identity.Peer{}, err
	}
	defer func() {
		if st.cp == nil {
			cp.Close()
		}
	}()
	adA, err := cp.Finish(msgA)
	if err != nil {
		return mode, st, identity.Peer{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	ad, err := decodeAD(adA)
	if err != nil {
		return mode, st, identity.Peer{}, err
	}
	if err := writeFrame(stream, frameReply, msgB); err != nil {
		return mode, st, identity.Peer{}, err
	}
	ta, err := readFrame(stream, frameTa)
	if err != nil {
		return mode, st, identity.Peer{}, err
	}
	if err := cp.VerifyTag(ta); err != nil {
		return mode, st, identity.Peer{}, fmt.Errorf("%w: %w", ErrWrongSecret, err)
	}
	st.cp = cp
	return mode, st, identity.Peer{Name: ad.Name, ID: fpA, PairedAt: time.Now().UTC(), Via: string(mode)}, nil
}

// interruptOnDone makes blocked reads and writes on s return once ctx is
// done. The returned stop function ends the watcher and waits for it.
func interruptOnDone(ctx context.Context, s *quic.Stream) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			s.SetDeadline(time.Now())
		case <-quit:
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}
