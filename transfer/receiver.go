package transfer

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Policy says which offers a receiver accepts.
type Policy int

const (
	// PolicyTrusted accepts paired devices only.
	PolicyTrusted Policy = iota
	// PolicyAsk accepts paired devices, and asks about everyone else.
	PolicyAsk
	// PolicyAll accepts every offer.
	PolicyAll
)

// DefaultPort is the UDP port a receiver listens on unless told otherwise.
const DefaultPort = 47100

const (
	maxDataStreams    = 16
	maxConns          = 256 // connections being handled at once
	maxPending        = 32  // of which still without an offer (or, for a further connection, a session)
	maxJoining        = 8   // further connections of one session, waiting for it to start or joined
	defaultMaxSession = 4
	askTimeout        = 2 * time.Minute
	rememberAccepted  = 15 * time.Minute
	pieceSize         = 128 << 10
	planTimeout       = 10 * time.Minute
	folderCheck       = 2 * time.Second // how often a session checks that its folder still exists
	// A flush (syncfs) costs about the same for 10 files as for 1,000, so
	// it takes all the complete files that are waiting, up to this many
	// (fewer where the limit on open files is low: see maxUnnamed).
	maxFlushBatch = 2048
	batchWait     = 10 * time.Millisecond // how long a finished file waits for others to share its flush
	stallTimeout  = 10 * time.Minute      // nothing from a sender whose files are not all in
	displaceAfter = 30 * time.Second      // ... or that long, when another sender needs the slot
	maxSessionID  = 64
)

// Truster answers whether a device is paired.
type Truster interface {
	Trusted(identity.DeviceID) bool
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	Device    *identity.Device
	Name      string // display name sent to senders
	Dir       string // receiving folder; created if missing
	Port      int    // UDP port; 0 picks a free one
	Overwrite bool
	Policy    Policy
	Trust     Truster
	// Ask decides an offer under PolicyAsk from an unpaired device.
	Ask func(ctx context.Context, info OfferInfo) (bool, error)
	// Events receives progress reports; it must not block for long.
	Events      func(Event)
	Logger      *slog.Logger
	MaxSessions int
}

// Receiver accepts transfer sessions and writes files into a folder.
type Receiver struct {
	cfg ReceiverConfig
	dir string
	eps []endpoint // one socket, or one per IP family where the system has no dual stack
	log *slog.Logger

	pendMu  sync.Mutex
	pending []*quic.Conn // connections that have not yet made an offer, oldest first

	mu          sync.Mutex
	sessions    map[*session]struct{}
	owners      map[string]*session  // partial file → session writing it
	byToken     map[string]*session  // running sessions by data-stream token
	endedTokens map[string]endReason // why recent sessions ended, by token
	accepted    map[string]time.Time
	nSess       int

	// Timeouts, from the constants of the same names; tests shorten them.
	offerTimeout, planTimeout, stallTimeout time.Duration
	// displaceAfter is how long a session may go with nothing from its
	// sender before a new sender may take its slot (all being taken).
	displaceAfter time.Duration
	// noTmpFiles names every partial file, as where O_TMPFILE is missing
	// (tests).
	noTmpFiles bool

	// offerBytes counts the bytes of the offers over smallOffer that are
	// held until they are decided: a flood of large offers costs a bounded
	// amount of memory (see SECURITY.md).
	offerBytes *semaphore.Weighted
	bigOffer   chan struct{} // one offer over smallOffer is decoded at a time
	asking     int           // offers waiting for the user's answer (under mu)
}

// Offers up to smallOffer bytes are read at once; larger ones share the
// offerBytes budget of offerBudget bytes (an offer larger than the budget
// takes all of it). A device the policy refuses anyway gets no more than
// refusedOffer bytes read. At most maxAsking offers wait for the user's
// answer; more are told the receiver is busy.
const (
	offerBudget  = 16 << 20
	smallOffer   = 64 << 10
	refusedOffer = 64 << 10
	maxAsking    = 4
)

// Listen opens the receiver's socket. Serve must be called to accept sessions.
func Listen(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = func(Event) {}
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = defaultMaxSession
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("receiving folder: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create receiving folder: %w", err)
	}
	eps, err := listen(cfg.Device, cfg.Port)
	if err != nil {
		return nil, err
	}
	return &Receiver{
		cfg: cfg, dir: dir, eps: eps, log: cfg.Logger,
		sessions:    make(map[*session]struct{}),
		owners:      make(map[string]*session),
		byToken:     make(map[string]*session),
		endedTokens: make(map[string]endReason),
		accepted:    make(map[string]time.Time),

		offerTimeout: offerTimeout, planTimeout: planTimeout, stallTimeout: stallTimeout,
		displaceAfter: displaceAfter,
		offerBytes:    semaphore.NewWeighted(offerBudget),
		bigOffer:      make(chan struct{}, 1),
	}, nil
}

// Port returns the UDP port the receiver listens on.
func (r *Receiver) Port() int { return r.eps[0].conn.LocalAddr().(*net.UDPAddr).Port }

// Dir returns the absolute receiving folder.
func (r *Receiver) Dir() string { return r.dir }

// Serve accepts connections until ctx is done, then closes every session
// (senders are told to retry later) and the socket. It returns nil after a
// cancellation and waits for every goroutine it started.
func (r *Receiver) Serve(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, maxConns)
	defer r.Close()
	g.Go(func() error {
		<-ctx.Done()
		for _, ep := range r.eps {
			ep.ln.Close()
		}
		return nil
	})
	r.cfg.Events(EventListening{Port: r.Port()})
	for _, ep := range r.eps {
		g.Go(func() error {
			for {
				conn, err := ep.ln.Accept(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("accept: %w", err) // ends the sessions too
				}
				select {
				case slots <- struct{}{}:
				default:
					conn.CloseWithError(codeBusy, "too many connections")
					continue
				}
				r.addPending(conn)
				g.Go(func() error {
					defer func() { <-slots }()
					defer r.dropPending(conn)
					r.handleConn(ctx, conn)
					return nil
				})
			}
		})
	}
	return g.Wait()
}

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

// session is one accepted offer being received.
type session struct {
	// unnamed holds a token for each complete file that is not yet named:
	// each keeps a descriptor open, so their number is bounded (see
	// maxUnnamed).
	unnamed  chan struct{}
	complete atomic.Bool // the Done frame is being sent: every file is delivered
	bytes    int64       // bytes delivered, set with complete

	r      *Receiver
	conn   *quic.Conn
	ctrl   *quic.Stream
	peer   identity.DeviceID
	offer  wire.Offer
	digest []byte // of the offer's bytes: what an acceptance covers
	// releaseOffer gives back the offer's share of the receiver's memory
	// budget once it is decided.
	releaseOffer func()
	info         OfferInfo
	token        []byte
	st           *store
	files        []*recvFile // nil for folder entries
	nFiles       int
	prog         *Progress
	ready        chan *recvFile
	cancel       context.CancelCauseFunc
	ended        chan struct{}

	gctx context.Context

	start     time.Time    // when the session was admitted (set under r.mu)
	active    atomic.Int64 // when something last came from the sender, as time since start
	dataPhase atomic.Bool  // the plan is in: data flows
	pending   atomic.Int64 // files the receiver waits for the sender to complete

	ctrlMu sync.Mutex

	strMu   sync.Mutex
	g       *errgroup.Group // the session's goroutines; nil once closed
	started chan struct{}   // closed once g runs (made when the token is registered)

	endCode quic.ApplicationErrorCode // why the session ended, set before ended closes
	endMsg  string
	further int // further connections of the sender, waiting or joined (under r.mu)
	streams map[*quic.ReceiveStream]struct{}
	closed  bool
}

// track registers a data stream so that the end of the session unblocks it.
func (s *session) track(str *quic.ReceiveStream) {
	s.strMu.Lock()
	defer s.strMu.Unlock()
	if s.closed {
		str.SetReadDeadline(time.Now())
	}
	if s.streams == nil {
		s.streams = make(map[*quic.ReceiveStream]struct{})
	}
	s.streams[str] = struct{}{}
}

// untrack forgets a data stream that ended: a sender may open many.
func (s *session) untrack(str *quic.ReceiveStream) {
	s.strMu.Lock()
	defer s.strMu.Unlock()
	delete(s.streams, str)
}

// touch notes that something came from the sender.
func (s *session) touch() { s.active.Store(int64(time.Since(s.start))) }

// enqueue hands a complete file to the finalizer.
//
// The file's hash is checked and its mode and times are set here, in the
// goroutine that completed it, so that files prepare in parallel and the
// finalizer only flushes and names them.
func (s *session) enqueue(rf *recvFile) error {
	s.pending.Add(-1)
	if err := s.st.prepareFinal(rf); err != nil {
		if errors.Is(err, ErrIntegrity) || errors.Is(err, ErrProtocol) {
			s.st.discard(rf)
		}
		return s.storageErr(err)
	}
	select {
	case s.unnamed <- struct{}{}:
	case <-s.gctx.Done():
		return nil
	}
	s.ready <- rf // never blocks: it has room for every token
	return nil
}

// maxUnnamed is how many complete files a session may hold open until they
// are named: up to maxFlushBatch, and within a share of the process's limit
// on open files that leaves room for every session and their sockets.
func maxUnnamed(sessions int) int {
	limit := fdLimit()
	if limit <= 0 {
		limit = 1024
	}
	return max(32, min(maxFlushBatch, (limit-512)/(2*max(1, sessions))))
}

var errComplete = errors.New("session complete")
var errSuperseded = errors.New("superseded by a newer session from the same device")

// errStalled ends a session whose sender stopped sending while the receiver
// waited for it.
var errStalled = errors.New("sender stalled")

func (r *Receiver) handleConn(ctx context.Context, conn *quic.Conn) {
	peer, err := identity.PeerID(conn.ConnectionState().TLS)
	if err != nil {
		conn.CloseWithError(codeProtocol, "no certificate")
		return
	}
	log := r.log.With("peer", peer.Short(), "addr", conn.RemoteAddr().String())
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
		// Still pending: until it has named a running session of its
		// device, a further connection is as unproven as a new one.
		s, err := r.join(ctx, conn, peer, data, deadline)
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
		return
	}
	ctrl.SetReadDeadline(deadline)
	// A connection stays pending (the oldest are closed when too many wait)
	// until its offer is admitted or put to the user: refusals too, which
	// wait a moment for the sender to read them.
	if conn.ConnectionState().TLS.NegotiatedProtocol == wire.ALPNv1 {
		r.refuseOldSender(conn, ctrl, peer)
		return
	}
	offer, digest, release, err := r.readOffer(ctx, ctrl, peer, deadline)
	defer release()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = wire.Errorf("no offer within %s", r.offerTimeout)
	}
	s := &session{r: r, conn: conn, ctrl: ctrl, peer: peer, offer: offer, ended: make(chan struct{})}
	var ve *versionError
	switch {
	case errors.As(err, &ve):
		s.info = OfferInfo{PeerName: offer.Name, PeerID: peer}
		s.refuse(declineVersion, ve.Error())
		return
	case errors.Is(err, errNotRead):
		s.info = OfferInfo{PeerID: peer}
		s.refuse(notTrusted, notTrustedReason)
		return
	case err != nil:
		log.Info("bad offer", "err", err)
		conn.CloseWithError(codeProtocol, truncate(err.Error()))
		return
	}
	s.info = r.offerInfo(peer, &offer)
	if !s.info.Trusted && r.cfg.Policy == PolicyTrusted {
		s.refuse(notTrusted, notTrustedReason)
		return
	}
	// The verification code, still within the offer's deadline.
	code, err := s.verify(digest)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = wire.Errorf("no verification nonce within %s", r.offerTimeout)
	}
	if err != nil {
		log.Info("verification code exchange failed", "err", err)
		conn.CloseWithError(codeProtocol, truncate(err.Error()))
		return
	}
	s.info.Code = code
	s.digest = digest
	s.releaseOffer = release
	ctrl.SetReadDeadline(time.Time{})
	err = s.run(ctx, log)
	if !errors.Is(err, errComplete) && !errors.Is(err, errDeclinedHere) {
		s.endCode, s.endMsg = closeReason(ctx, err, r.dir)
	}
	r.release(s) // first: whoever waits for ended finds the slot and the files free
	close(s.ended)
	switch {
	case errors.Is(err, errComplete):
		r.cfg.Events(EventSessionEnd{Info: s.info, Files: s.nFiles, Bytes: s.bytes})
		// Let the sender read the last frames and close first: closing now
		// would let CONNECTION_CLOSE overtake them. Not even shutdown (as
		// with --once, right after this session) cuts this short.
		t := time.NewTimer(3 * time.Second)
		select {
		case <-conn.Context().Done():
		case <-t.C:
		}
		t.Stop()
		conn.CloseWithError(codeDone, "")
	case errors.Is(err, errDeclinedHere):
		// already reported and closed
	default:
		code, msg := closeReason(ctx, err, r.dir)
		log.Info("session ended", "err", err)
		conn.CloseWithError(code, msg)
		if s.prog != nil {
			r.cfg.Events(EventSessionEnd{Info: s.info, Err: err})
		}
	}
}

var errDeclinedHere = errors.New("declined")

const (
	notTrusted       = wire.DeclineNotTrusted
	notTrustedReason = "this receiver accepts only paired devices (pair first with `ferry pair`)"
)

// refuse declines an offer and closes the connection once the sender has
// read why.
func (s *session) refuse(code wire.Decline, reason string) {
	s.r.cfg.Events(EventDeclined{Info: s.info, Reason: reason})
	s.writeCtrl(wire.TypeDecision, wire.Decision{Accept: false, Code: code, Reason: reason, Name: s.r.cfg.Name})
	s.waitClose(codeDeclined, reason)
}

// closeReason is the code and the reason with which a session's connection
// closes after err. The reason never names dir, the receiving folder: a
// receiver tells its senders nothing of its own file system.
func closeReason(ctx context.Context, err error, dir string) (quic.ApplicationErrorCode, string) {
	code, msg := closeCode(ctx, err)
	if dir != "" {
		msg = strings.ReplaceAll(msg, dir, "(the receiving folder)")
	}
	return code, msg
}

func closeCode(ctx context.Context, err error) (quic.ApplicationErrorCode, string) {
	switch {
	case ctx.Err() != nil:
		return codeShutdown, "the receiver is stopping"
	case errors.Is(err, errSuperseded):
		return codeSuperseded, err.Error()
	case errors.Is(err, ErrDiskFull):
		return codeDiskFull, truncate(err.Error())
	case errors.Is(err, ErrIntegrity):
		return codeIntegrity, truncate(err.Error())
	case errors.Is(err, ErrTargetGone):
		return codeTargetGone, truncate(err.Error())
	case errors.Is(err, ErrProtocol), errors.Is(err, safepath.ErrUnsafePath), errors.Is(err, safepath.ErrPathCollision):
		return codeProtocol, truncate(err.Error())
	}
	return codeFatal, truncate(err.Error())
}

// pathless is err without the local path an *os.PathError names, for
// errors a sender is told.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func truncate(s string) string {
	if len(s) > 512 {
		return strings.ToValidUTF8(s[:512], "") + "…"
	}
	return s
}

// errNotRead: an offer from a device the policy refuses anyway was too
// large to read for its name.
var errNotRead = errors.New("offer not read")

// versionError: the peer speaks another version of the transfer protocol.
type versionError struct{ theirs int }

func (e *versionError) Error() string {
	if e.theirs < wire.Version {
		return fmt.Sprintf("the sender runs an older version of ferry (transfer protocol %d, this receiver speaks %d): update ferry on the sending computer", e.theirs, wire.Version)
	}
	return fmt.Sprintf("the sender runs a newer version of ferry (transfer protocol %d, this receiver speaks %d): update ferry on the receiving computer", e.theirs, wire.Version)
}

// readOffer reads the offer from the control stream and returns it with
// the digest of its bytes. An offer from a device the policy refuses anyway
// is read only if it is small (for the name shown with the refusal);
// errNotRead reports that it was not read.
//
// Offers are held in memory until they are decided, so their bytes are
// counted: offers over smallOffer share a budget of maxOfferFrame bytes
// (waiting for it counts against the offer's deadline), and release gives
// the offer's share back (it may be called more than once).
func (r *Receiver) readOffer(ctx context.Context, ctrl *quic.Stream, peer identity.DeviceID, deadline time.Time) (o wire.Offer, digest []byte, release func(), err error) {
	release = func() {}
	var hdr [5]byte
	if _, err := io.ReadFull(ctrl, hdr[:]); err != nil {
		return wire.Offer{}, nil, release, wire.Unexpected(err)
	}
	if _, known := wire.FrameCap(hdr[0]); !known {
		return wire.Offer{}, nil, release, wire.Errorf("unknown control frame type %d", hdr[0])
	}
	if hdr[0] != wire.TypeOffer {
		return wire.Offer{}, nil, release, wire.Errorf("got control frame type %d, want %d (an offer)", hdr[0], wire.TypeOffer)
	}
	n := int64(binary.BigEndian.Uint32(hdr[1:]))
	if n > wire.MaxOfferFrame {
		return wire.Offer{}, nil, release, wire.Errorf("offer of %d bytes exceeds the limit of %d", n, wire.MaxOfferFrame)
	}
	trusted := r.cfg.Trust != nil && r.cfg.Trust.Trusted(peer)
	if !trusted && r.cfg.Policy == PolicyTrusted && n > refusedOffer {
		return wire.Offer{}, nil, release, errNotRead
	}
	if n > smallOffer {
		// The wait ends with the offer's deadline, as a slow read would.
		wctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		w := min(n, offerBudget) // a maximal offer takes the whole budget
		if err := r.offerBytes.Acquire(wctx, w); err != nil {
			return wire.Offer{}, nil, release, fmt.Errorf("wait to read an offer of %s: %w", HumanBytes(n), os.ErrDeadlineExceeded)
		}
		release = sync.OnceFunc(func() { r.offerBytes.Release(w) })
		// Decoding and checking cost several times the offer's bytes for a
		// moment: one large offer at a time.
		select {
		case r.bigOffer <- struct{}{}:
			defer func() { <-r.bigOffer }()
		case <-wctx.Done():
			return wire.Offer{}, nil, release, fmt.Errorf("wait to read an offer of %s: %w", HumanBytes(n), os.ErrDeadlineExceeded)
		}
	}
	offer, digest, err := wire.DecodeOffer(ctrl, n)
	if err != nil {
		return wire.Offer{}, nil, release, err
	}
	if err := validateOffer(&offer); err != nil {
		return offer, nil, release, err
	}
	return offer, digest, release, nil
}

func (r *Receiver) offerInfo(peer identity.DeviceID, o *wire.Offer) OfferInfo {
	info := OfferInfo{PeerName: o.Name, PeerID: peer}
	for _, e := range o.Entries {
		if e.Dir {
			info.Dirs++
			continue
		}
		info.Files++
		if e.Size < 0 || info.Bytes < 0 {
			info.Bytes = -1
		} else {
			info.Bytes += e.Size
		}
		info.Paths = append(info.Paths, e.Path)
	}
	if r.cfg.Trust != nil {
		info.Trusted = r.cfg.Trust.Trusted(peer)
	}
	return info
}

// validateOffer checks everything about an offer that does not need the disk.
func validateOffer(o *wire.Offer) error {
	if o.Version != wire.Version {
		return &versionError{theirs: o.Version}
	}
	if len(o.Entries) == 0 {
		return wire.Errorf("an offer of nothing")
	}
	if len(o.Entries) > wire.MaxEntries {
		return wire.Errorf("%d entries, the limit is %d", len(o.Entries), wire.MaxEntries)
	}
	if o.Name != "" {
		// A name that shows as nothing, or as a control sequence, is
		// refused; lookalikes of paired names are the CLI's to flag.
		if err := identity.CheckName(o.Name); err != nil {
			return wire.Errorf("sender name: %v", err)
		}
	}
	if len(o.Session) > maxSessionID {
		return wire.Errorf("session ID of %d bytes", len(o.Session))
	}
	// Every folder of an offer from ferry is an entry of its own: the
	// guard's memory stays proportional to the offer's, not to the depth
	// of the paths (a path implies every folder above it).
	set := safepath.NewSetMaxFolders(len(o.Entries) + 64)
	var total, chunks int64
	streams := 0
	for i := range o.Entries {
		e := &o.Entries[i]
		if err := set.Add(e.Path, e.Dir); err != nil {
			return err
		}
		if e.Dir {
			if e.Size != 0 || e.Chunk != 0 || e.Stream {
				return wire.Errorf("folder %q has a size", e.Path)
			}
			continue
		}
		if e.Chunk < wire.MinChunkSize || e.Chunk > wire.MaxChunkSize || e.Chunk&(e.Chunk-1) != 0 {
			return wire.Errorf("%q: chunk size %d", e.Path, e.Chunk)
		}
		if e.Stream {
			if e.Size != -1 {
				return wire.Errorf("streamed %q has a size", e.Path)
			}
			if streams++; streams > 1 {
				return wire.Errorf("more than one streamed entry")
			}
			chunks += wire.MaxChunksPerFile
			continue
		}
		if e.Size < 0 || e.Size > e.Chunk*wire.MaxChunksPerFile {
			return wire.Errorf("%q: size %d", e.Path, e.Size)
		}
		if total += e.Size; total < 0 {
			return wire.Errorf("total size overflows")
		}
		if chunks += e.Chunks(); chunks > wire.MaxChunksPerOffer {
			return wire.Errorf("more than %d chunks in one offer", wire.MaxChunksPerOffer)
		}
	}
	return nil
}

// decide applies the policy to an offer.
func (s *session) decide(ctx context.Context) (bool, wire.Decline, string, error) {
	r := s.r
	if s.info.Trusted {
		return true, "", "", nil
	}
	switch r.cfg.Policy {
	case PolicyAll:
		return true, "", "", nil
	case PolicyTrusted:
		return false, notTrusted, notTrustedReason, nil
	}
	// An acceptance covers exactly the offer the user saw, from that key:
	// a reconnect sends the same bytes; anything else is asked again.
	key := s.peer.String() + "/" + hex.EncodeToString(s.digest)
	r.mu.Lock()
	when, ok := r.accepted[key]
	r.mu.Unlock()
	if ok && time.Since(when) < rememberAccepted {
		return true, "", "", nil // a reconnect of an offer the user already accepted
	}
	if r.cfg.Ask == nil {
		return false, wire.DeclineNo, "nobody is there to accept the offer", nil
	}
	r.mu.Lock()
	if r.asking >= maxAsking {
		r.mu.Unlock()
		return false, declineBusy, "the receiver is already asking about other offers; try again in a moment", nil
	}
	r.asking++
	r.mu.Unlock()
	r.dropPending(s.conn) // on the user's screen: no longer one of a flood
	defer func() {
		r.mu.Lock()
		r.asking--
		r.mu.Unlock()
	}()
	// The sender may give up while the question is on screen: the
	// question's context then ends with ErrSenderGone as its cause.
	cctx, gone := context.WithCancelCause(ctx)
	defer gone(nil)
	actx, cancel := context.WithTimeout(cctx, askTimeout)
	defer cancel()
	stop := context.AfterFunc(s.conn.Context(), func() { gone(ErrSenderGone) })
	defer stop()
	yes, err := r.cfg.Ask(actx, s.info)
	if err != nil {
		if s.conn.Context().Err() != nil {
			return false, "", "", &connLost{errors.New("the sender went away while the offer was shown")}
		}
		return false, wire.DeclineNo, "no answer in time", nil
	}
	if !yes {
		return false, wire.DeclineNo, "answered no", nil
	}
	r.mu.Lock()
	for k, t := range r.accepted {
		if time.Since(t) > rememberAccepted {
			delete(r.accepted, k)
		}
	}
	r.accepted[key] = time.Now()
	r.mu.Unlock()
	return true, "", "", nil
}

// Decline codes a sender acts on.
const (
	declineBusy    = wire.DeclineBusy
	declineVersion = wire.DeclineVersion
)

// refuseOldSender tells a sender of protocol 1 (which cannot show an
// unforgeable verification code) to update, in a decision it understands.
// Its offer is read, if small, only for the name shown on this side.
func (r *Receiver) refuseOldSender(conn *quic.Conn, ctrl *quic.Stream, peer identity.DeviceID) {
	s := &session{r: r, conn: conn, ctrl: ctrl, peer: peer, ended: make(chan struct{})}
	s.info = OfferInfo{PeerID: peer}
	var hdr [5]byte
	if _, err := io.ReadFull(ctrl, hdr[:]); err == nil && hdr[0] == wire.TypeOffer {
		if n := binary.BigEndian.Uint32(hdr[1:]); n <= refusedOffer {
			if body, err := wire.ReadLimited(ctrl, int(n)); err == nil {
				var o struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(body, &o) == nil && len(o.Name) <= 256 {
					s.info.PeerName = o.Name
				}
			}
		}
	}
	r.cfg.Events(EventDeclined{Info: s.info, Reason: (&versionError{theirs: 1}).Error()})
	reason := fmt.Sprintf("the receiver runs a newer version of ferry (transfer protocol %d): update ferry on this computer and send again", wire.Version)
	s.writeCtrl(wire.TypeDecision, wire.Decision{Accept: false, Code: declineVersion, Reason: reason, Name: r.cfg.Name})
	s.waitClose(codeDeclined, reason)
}

// verify runs the receiver's side of the verification code exchange (see
// verify.go): commit to a nonce, take the sender's, reveal ours.
func (s *session) verify(digest []byte) (string, error) {
	ekm, err := wire.Exporter(s.conn.ConnectionState().TLS)
	if err != nil {
		return "", err
	}
	mine := wire.NewNonce()
	if err := s.writeCtrl(wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(mine)}); err != nil {
		return "", classify(err)
	}
	t, body, err := wire.ReadFrame(s.ctrl)
	if err != nil {
		if errors.Is(err, ErrProtocol) || errors.Is(err, os.ErrDeadlineExceeded) {
			return "", err
		}
		return "", classify(err)
	}
	var nf wire.NonceFrame
	if err := wire.DecodeFrame(t, wire.TypeNonce, body, &nf); err != nil {
		return "", err
	}
	if len(nf.Value) != wire.NonceLen {
		return "", wire.Errorf("verification nonce of %d bytes", len(nf.Value))
	}
	code := wire.VerificationCode(wire.SASInput{
		Sender: s.peer, Receiver: s.r.cfg.Device.ID, Exporter: ekm, Offer: digest,
		SenderNonce: nf.Value, ReceiverNonce: mine,
	})
	if err := s.writeCtrl(wire.TypeReveal, wire.NonceFrame{Value: mine}); err != nil {
		return "", classify(err)
	}
	return code, nil
}

func (s *session) run(ctx context.Context, log *slog.Logger) error {
	r := s.r
	ok, code, reason, err := s.decide(ctx)
	s.releaseOffer()
	if err != nil {
		return err
	}
	if ok && (r.admit(s) || r.displaceIdle(ctx) && r.admit(s)) {
		r.dropPending(s.conn)
	} else if ok {
		ok, code, reason = false, declineBusy, "the receiver is busy with other transfers; try again later"
	}
	if !ok {
		r.cfg.Events(EventDeclined{Info: s.info, Reason: reason})
		s.writeCtrl(wire.TypeDecision, wire.Decision{Accept: false, Code: code, Reason: reason, Name: r.cfg.Name})
		s.waitClose(codeDeclined, reason)
		return errDeclinedHere
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.cancel = cancel

	if err := os.MkdirAll(r.dir, 0o755); err != nil { // removed since the receiver started?
		return fmt.Errorf("create receiving folder: %w", pathless(err))
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return fmt.Errorf("open receiving folder: %w", pathless(err))
	}
	defer root.Close()
	s.st = &store{root: root, dir: r.dir, overwrite: r.cfg.Overwrite, sender: s.peer, noTmp: r.noTmpFiles, tmpChecked: r.noTmpFiles}
	defer s.st.close()
	s.files = make([]*recvFile, len(s.offer.Entries))
	for i, e := range s.offer.Entries {
		if !e.Dir {
			s.files[i] = s.st.newRecvFile(i, e)
			s.nFiles++
		}
	}
	if err := r.claim(ctx, s); err != nil {
		return err
	}
	defer func() {
		for _, rf := range s.files {
			if rf != nil {
				rf.closeFiles()
			}
		}
	}()

	// Resume: what do we already hold?
	var have []wire.Have
	var kept, need int64
	for _, rf := range s.files {
		if rf == nil {
			continue
		}
		idx, err := s.st.resume(rf)
		if err != nil {
			return err
		}
		if rf.existing != nil {
			have = append(have, wire.Have{File: rf.idx, Complete: true, Hash: rf.existing})
		}
		if len(idx) > 0 {
			hs := make([][wire.HashLen]byte, len(idx))
			for k, i := range idx {
				hs[k] = rf.hashes[i]
			}
			have = append(have, wire.Have{File: rf.idx, Ranges: wire.RangesOf(idx), Digest: wire.HaveDigest(idx, hs)})
		}
		kept += rf.haveLen
		if rf.e.Size > 0 {
			need += rf.e.Size - rf.haveLen
		}
	}
	if free, known := freeSpace(r.dir); known && need > 0 && free < need+(1<<20) {
		reason := fmt.Sprintf("not enough free space on the receiver: the transfer needs %s, %s is available",
			HumanBytes(need), HumanBytes(free))
		r.cfg.Events(EventDeclined{Info: s.info, Reason: reason})
		s.writeCtrl(wire.TypeDecision, wire.Decision{Accept: false, Code: wire.DeclineNoSpace, Reason: reason, Name: r.cfg.Name})
		s.waitClose(codeDeclined, reason)
		return errDeclinedHere
	}
	s.token = make([]byte, wire.TokenLen)
	rand.Read(s.token)
	// Findable from now on: the sender's further connections may arrive
	// as soon as it has the decision; join waits until the session runs.
	s.started = make(chan struct{})
	r.register(s)
	s.prog = &Progress{Total: s.info.Bytes}
	s.prog.Done.Store(kept)
	if err := s.writeCtrl(wire.TypeDecision, wire.Decision{Accept: true, Token: s.token, Name: r.cfg.Name, Have: have}); err != nil {
		return classify(err)
	}
	log.Info("accepted", "files", s.nFiles, "bytes", s.info.Bytes, "resumed", kept)

	// The plan must be in before data is taken: it may discard kept chunks.
	// The sender hashes what we kept before it answers, hence the long wait.
	s.ctrl.SetReadDeadline(time.Now().Add(r.planTimeout))
	t, body, err := wire.ReadFrame(s.ctrl)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: no plan within %s", errStalled, r.planTimeout)
	}
	if err != nil {
		return classify(err)
	}
	var plan wire.Plan
	if err := wire.DecodeFrame(t, wire.TypePlan, body, &plan); err != nil {
		return err
	}
	s.ctrl.SetReadDeadline(time.Time{})
	s.touch()
	for _, i := range plan.Restart {
		if i < 0 || i >= len(s.files) || s.files[i] == nil {
			return wire.Errorf("plan restarts entry %d", i)
		}
		s.prog.Done.Add(-s.files[i].haveLen)
		s.st.forget(s.files[i])
	}
	for _, i := range plan.Skip {
		if i < 0 || i >= len(s.files) || s.files[i] == nil || s.files[i].existing == nil || s.files[i].skip {
			return wire.Errorf("plan skips entry %d", i)
		}
		s.files[i].skip = true
		s.prog.Done.Add(s.files[i].e.Size)
	}
	for _, rf := range s.files {
		if rf != nil {
			rf.fp = newFileProgress(rf.e.Path, rf.e.Size, rf.haveLen)
			if !rf.skip {
				s.pending.Add(1)
			}
		}
	}
	if err := s.st.mkdirs(s.offer.Entries); err != nil {
		return err
	}
	r.cfg.Events(EventSession{Info: s.info, Progress: s.prog, Resumed: s.prog.Done.Load()})

	n := maxUnnamed(r.cfg.MaxSessions)
	s.unnamed = make(chan struct{}, n)
	s.ready = make(chan *recvFile, n)
	s.dataPhase.Store(true)
	g, gctx := errgroup.WithContext(ctx)
	s.gctx = gctx
	s.strMu.Lock()
	s.g = g // data connections of the sender join the session's group
	s.strMu.Unlock()
	close(s.started)
	g.Go(func() error { // unblock every read when the session ends; refuse later joins
		<-gctx.Done()
		s.ctrl.SetReadDeadline(time.Now())
		s.strMu.Lock()
		s.closed = true
		for str := range s.streams {
			str.SetReadDeadline(time.Now())
		}
		s.strMu.Unlock()
		return nil
	})
	g.Go(func() error { return s.readControl() })
	g.Go(func() error { return s.acceptData(gctx, s.conn, g) })
	g.Go(func() error { return s.finalize(gctx) })
	g.Go(func() error { return s.watchdog(gctx) })
	err = g.Wait()
	if s.complete.Load() {
		// Done is sent: whatever the sender's close did to the readers
		// after that, every file was delivered.
		return errComplete
	}
	if c := context.Cause(ctx); errors.Is(c, errSuperseded) {
		return c
	}
	return err
}

// endReason is how a session ended, for its late data connections.
type endReason struct {
	peer identity.DeviceID
	code quic.ApplicationErrorCode
	msg  string
}

// sessionEnded: a data connection arrived for a session that has ended.
type sessionEnded struct{ endReason }

func (e *sessionEnded) Error() string { return "session ended: " + e.msg }

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
		s.track(first)
		defer s.untrack(first)
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

// claim takes ownership of the session's partial files. A session of the
// same sender still holding one of them is a leftover of an attempt that
// broke (the sender reconnected before the old connection timed out): it is
// cancelled, and claim waits until it has let go.
func (r *Receiver) claim(ctx context.Context, s *session) error {
	for {
		r.mu.Lock()
		var old *session
		for _, rf := range s.files {
			if rf == nil {
				continue
			}
			if o := r.owners[rf.part]; o != nil && o != s {
				old = o
				break
			}
		}
		if old == nil {
			for _, rf := range s.files {
				if rf != nil {
					r.owners[rf.part] = s
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

func (s *session) writeCtrl(t byte, v any) error {
	b, err := wire.AppendFrame(nil, t, v)
	if err != nil {
		return err
	}
	return s.writeFrames(b)
}

// writeFrames writes encoded control frames in pieces of at most 64 KiB,
// each with its own deadline, so that a long run of frames is held to the
// same pace as a single one.
func (s *session) writeFrames(b []byte) error {
	s.ctrlMu.Lock()
	defer s.ctrlMu.Unlock()
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		s.ctrl.SetWriteDeadline(time.Now().Add(idleTimeout))
		if _, err := s.ctrl.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// watchdog ends the session when the receiver waits for the sender's files
// and nothing has come for stallTimeout. QUIC keep-alives hold a silent
// connection open, so without it a sender that stops without closing would
// keep its session, and a session slot, for ever.
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
		if err := s.st.stillThere(); err != nil {
			return err
		}
		idle := time.Since(s.start) - time.Duration(s.active.Load())
		if idle >= limit {
			return fmt.Errorf("%w: nothing arrived for %s", errStalled, limit)
		}
		t.Reset(min(limit-idle, folderCheck))
	}
}

// waitClose waits briefly for the sender to close after a refusal, so the
// decision frame is delivered, then closes.
func (s *session) waitClose(code quic.ApplicationErrorCode, msg string) {
	select {
	case <-s.conn.Context().Done():
	case <-time.After(2 * time.Second):
	}
	s.conn.CloseWithError(code, truncate(msg))
}

// readControl takes FileEnd frames from the sender.
func (s *session) readControl() error {
	br := bufio.NewReader(s.ctrl)
	for {
		t, body, err := wire.ReadFrame(br)
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return err
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return wire.Errorf("the sender closed the control stream")
			}
			return classify(err)
		}
		s.touch()
		var fe wire.FileEnd
		if err := wire.DecodeFrame(t, wire.TypeFileEnd, body, &fe); err != nil {
			return err
		}
		if fe.File < 0 || fe.File >= len(s.files) || s.files[fe.File] == nil {
			return wire.Errorf("end of entry %d, which is not a file", fe.File)
		}
		if len(fe.Hash) != wire.HashLen {
			return wire.Errorf("file hash of %d bytes", len(fe.Hash))
		}
		rf := s.files[fe.File]
		rf.mu.Lock()
		if rf.skip {
			rf.mu.Unlock()
			return wire.Errorf("end of %q, which the plan skips", rf.e.Path)
		}
		if rf.end != nil {
			rf.mu.Unlock()
			return wire.Errorf("second end of %q", rf.e.Path)
		}
		if rf.e.Stream {
			if err := rf.checkStreamEnd(fe.Size); err != nil {
				rf.mu.Unlock()
				return err
			}
		} else if fe.Size != rf.e.Size {
			rf.mu.Unlock()
			return wire.Errorf("%q ends at %d bytes, offered as %d", rf.e.Path, fe.Size, rf.e.Size)
		}
		rf.end = &fe
		ready := rf.complete()
		if ready {
			rf.finalizing = true
		}
		rf.mu.Unlock()
		if ready {
			if err := s.enqueue(rf); err != nil {
				return err
			}
		}
	}
}

// checkStreamEnd fixes the chunk count of a streamed entry once its size is
// known. Called with rf.mu held.
func (rf *recvFile) checkStreamEnd(size int64) error {
	if size < 0 || size > rf.e.Chunk*wire.MaxChunksPerFile {
		return wire.Errorf("streamed %q ends at size %d", rf.e.Path, size)
	}
	n := (size + rf.e.Chunk - 1) / rf.e.Chunk
	if int64(len(rf.have)) > n {
		return wire.Errorf("streamed %q has chunks beyond its end", rf.e.Path)
	}
	for int64(len(rf.have)) < n {
		rf.grow()
	}
	rf.e.Size = size
	for i := int64(0); i < n; i++ {
		if (rf.have[i] || rf.inflight[i]) && rf.lens[i] != rf.e.ChunkLen(i) {
			return wire.Errorf("streamed %q: chunk %d has %d bytes, want %d", rf.e.Path, i, rf.lens[i], rf.e.ChunkLen(i))
		}
	}
	return nil
}

func (rf *recvFile) grow() {
	rf.have = append(rf.have, false)
	rf.inflight = append(rf.inflight, false)
	rf.hashes = append(rf.hashes, [wire.HashLen]byte{})
	rf.lens = append(rf.lens, 0)
}

// acceptData takes the sender's data streams.
func (s *session) acceptData(ctx context.Context, conn *quic.Conn, g *errgroup.Group) error {
	for {
		str, err := conn.AcceptUniStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return classify(err)
		}
		g.Go(func() error { return s.readData(ctx, str) })
	}
}

// readData receives the chunks of one data stream.
func (s *session) readData(ctx context.Context, str *quic.ReceiveStream) error {
	// No CancelRead when this returns: the connection closes right after
	// with the reason, and a STOP_SENDING ahead of it would make the sender
	// take a disk-full or integrity error for a lost connection and retry.
	s.track(str)
	defer s.untrack(str)
	br := bufio.NewReaderSize(str, 64<<10)
	tok, err := wire.ReadStreamHello(br)
	if err != nil {
		return streamErr(err)
	}
	if subtle.ConstantTimeCompare(tok, s.token) != 1 {
		return wire.Errorf("data stream with a wrong session token")
	}
	return s.readChunks(ctx, br)
}

// readChunks receives chunks until the stream ends.
func (s *session) readChunks(ctx context.Context, br *bufio.Reader) error {
	buf := make([]byte, pieceSize)
	for {
		if ctx.Err() != nil {
			return nil
		}
		h, err := wire.ReadChunkHeader(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamErr(err)
		}
		s.touch()
		if err := s.readChunk(br, h, buf); err != nil {
			return err
		}
	}
}

// streamErr classifies an error reading a data stream: a stream that ends
// in the middle of a frame broke the protocol (a peer that goes away resets
// its streams or closes the connection instead).
func streamErr(err error) error {
	switch {
	case errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return wire.Errorf("a data stream ends inside a frame")
	}
	return classify(err)
}

func (s *session) readChunk(br *bufio.Reader, h wire.ChunkHeader, buf []byte) error {
	if int(h.File) >= len(s.files) || s.files[h.File] == nil {
		return wire.Errorf("chunk for entry %d, which is not a file", h.File)
	}
	rf := s.files[h.File]
	idx := int64(h.Chunk)
	length := int64(h.Len)
	rf.mu.Lock()
	if rf.skip {
		rf.mu.Unlock()
		return wire.Errorf("chunk %d of %q, which the plan skips", idx, rf.e.Path)
	}
	if rf.done || rf.finalizing {
		rf.mu.Unlock()
		return wire.Errorf("chunk %d of %q after its end", idx, rf.e.Path)
	}
	if rf.e.Stream && rf.end == nil {
		if idx >= wire.MaxChunksPerFile || length > rf.e.Chunk || length == 0 {
			rf.mu.Unlock()
			return wire.Errorf("chunk %d of %d bytes for streamed %q", idx, length, rf.e.Path)
		}
		for int64(len(rf.have)) <= idx {
			rf.grow()
		}
	} else if idx >= int64(len(rf.have)) || length != rf.e.ChunkLen(idx) {
		rf.mu.Unlock()
		return wire.Errorf("chunk %d of %d bytes for %q (%d bytes in chunks of %d)", idx, length, rf.e.Path, rf.e.Size, rf.e.Chunk)
	}
	if rf.have[idx] || rf.inflight[idx] {
		rf.mu.Unlock()
		return wire.Errorf("chunk %d of %q sent twice", idx, rf.e.Path)
	}
	if err := s.st.open(rf); err != nil {
		rf.mu.Unlock()
		return s.storageErr(err)
	}
	rf.inflight[idx] = true
	if rf.e.Stream {
		rf.lens[idx] = length
	}
	f := rf.f
	rf.mu.Unlock()

	hasher := blake3.New()
	off := idx * rf.e.Chunk
	for left := length; left > 0; {
		n := min(int64(len(buf)), left)
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return streamErr(wire.Unexpected(err))
		}
		s.touch()
		hasher.Write(buf[:n])
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return s.storageErr(fmt.Errorf("write %q: %w", rf.e.Path, err))
		}
		off += n
		left -= n
		s.prog.Wire.Add(n)
		if rf.fp != nil {
			rf.fp.Done.Add(n)
			s.prog.cur.Store(rf.fp)
		}
	}
	var trailer [wire.HashLen]byte
	if _, err := io.ReadFull(br, trailer[:]); err != nil {
		return streamErr(wire.Unexpected(err))
	}
	var sum [wire.HashLen]byte
	hasher.Sum(sum[:0])
	if sum != trailer {
		return fmt.Errorf("%w: chunk %d of %q does not match its hash", ErrIntegrity, idx, rf.e.Path)
	}
	if !rf.tmp {
		writeBehind(f, idx*rf.e.Chunk, length)
	}
	rf.mu.Lock()
	rf.inflight[idx] = false
	rf.have[idx] = true
	rf.hashes[idx] = sum
	rf.nHave++
	rf.haveLen += length
	err := rf.record(idx, sum)
	ready := err == nil && rf.complete()
	if ready {
		rf.finalizing = true
	}
	rf.mu.Unlock()
	if err != nil {
		return s.storageErr(err)
	}
	s.prog.Done.Add(length)
	if ready {
		return s.enqueue(rf)
	}
	return nil
}

func (s *session) storageErr(err error) error {
	if isNoSpace(err) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	if errors.Is(err, os.ErrNotExist) {
		if e := s.st.stillThere(); e != nil {
			return e
		}
	}
	return err
}

// finalize flushes and names complete files. Files that become complete
// together are flushed with one syncfs instead of an fsync each, and while
// one batch is being named and reported, the next one is flushed.
func (s *session) finalize(ctx context.Context) error {
	done := 0
	if s.nFiles == 0 {
		return s.finish()
	}
	var skipped []*recvFile
	for _, rf := range s.files {
		if rf == nil || !rf.skip {
			continue
		}
		rf.mu.Lock()
		rf.done = true
		rf.end = &wire.FileEnd{File: rf.idx, Size: rf.e.Size, Hash: rf.existing}
		rf.mu.Unlock()
		// A partial copy left beside it (say, by a receiver killed between
		// the rename and the journal's removal) is stale: drop it.
		s.st.discard(rf)
		skipped = append(skipped, rf)
	}
	if len(skipped) > 0 {
		if err := s.delivered(skipped, func(rf *recvFile) string { return path.Join(rf.parent, rf.base) }); err != nil {
			return err
		}
		done += len(skipped)
	}
	if done == s.nFiles {
		return s.finish()
	}
	flushed := make(chan []*recvFile, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.flush(gctx, s.nFiles-done, flushed) })
	g.Go(func() error { // name and report each flushed batch
		for {
			var batch []*recvFile
			select {
			case batch = <-flushed:
			case <-gctx.Done():
				return nil
			}
			names, err := s.nameAll(batch)
			if err != nil {
				return err
			}
			if err := s.delivered(batch, func(rf *recvFile) string { return names[rf] }); err != nil {
				return err
			}
			if done += len(batch); done == s.nFiles {
				return s.finish()
			}
		}
	})
	return g.Wait()
}

// namers is how many files of a batch are named at once: each rename or
// link mostly waits for the file system, which serves several in parallel.
const namers = 4

// nameAll gives each flushed file of a batch its final name and returns the
// names.
func (s *session) nameAll(batch []*recvFile) (map[*recvFile]string, error) {
	names := make([]string, len(batch))
	var next atomic.Int64
	var g errgroup.Group
	for range min(namers, len(batch)) {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < len(batch); i = int(next.Add(1) - 1) {
				rf := batch[i]
				name, err := s.st.rename(rf)
				rf.closeFiles()
				<-s.unnamed
				if err != nil {
					return s.storageErr(err)
				}
				s.st.removeJournal(rf)
				rf.mu.Lock()
				rf.done = true
				rf.mu.Unlock()
				names[i] = name
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m := make(map[*recvFile]string, len(batch))
	for i, rf := range batch {
		m[rf] = names[i]
	}
	return m, nil
}

// flush collects the next want complete files in batches, flushes each
// batch to disk and passes it on.
func (s *session) flush(ctx context.Context, want int, out chan<- []*recvFile) error {
	dirFile, err := s.st.root.Open(".")
	if err != nil {
		return fmt.Errorf("open receiving folder: %w", err)
	}
	defer dirFile.Close()
	for want > 0 {
		batch := make([]*recvFile, 0, cap(s.ready))
		select {
		case rf := <-s.ready:
			batch = append(batch, rf)
		case <-ctx.Done():
			return nil
		}
		// Small files finish in quick succession: wait a moment for more,
		// so that one flush serves many.
		t := time.NewTimer(batchWait)
	more:
		for len(batch) < cap(batch) && len(batch) < want {
			select {
			case rf := <-s.ready:
				batch = append(batch, rf)
			case <-t.C:
				break more
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		t.Stop()
		if err := s.st.stillThere(); err != nil {
			return err
		}
		if len(batch) == 1 {
			if err := batch[0].f.Sync(); err != nil {
				return s.storageErr(fmt.Errorf("flush %q: %w", batch[0].e.Path, err))
			}
		} else if err := syncFS(dirFile); err != nil {
			for _, rf := range batch {
				if err := rf.f.Sync(); err != nil {
					return s.storageErr(fmt.Errorf("flush %q: %w", rf.e.Path, err))
				}
			}
		}
		want -= len(batch)
		select {
		case out <- batch:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// delivered reports files under their final names to the user and, in one
// write, to the sender.
func (s *session) delivered(files []*recvFile, name func(*recvFile) string) error {
	var frames []byte
	for _, rf := range files {
		n := name(rf)
		s.r.cfg.Events(EventFile{Path: filepath.Join(s.r.dir, filepath.FromSlash(n)), Name: n, Size: rf.end.Size, Hash: hex.EncodeToString(rf.end.Hash), Existing: rf.skip})
		var err error
		if frames, err = wire.AppendFrame(frames, wire.TypeFileDone, wire.FileDone{File: rf.idx, Name: n}); err != nil {
			return err
		}
	}
	if err := s.writeFrames(frames); err != nil {
		return classify(err)
	}
	return nil
}

// finish sets folder times, deepest first (creating files inside a folder
// changes its time), and tells the sender everything arrived.
func (s *session) finish() error {
	dirs := slices.DeleteFunc(slices.Clone(s.offer.Entries), func(e wire.Entry) bool { return !e.Dir })
	slices.SortFunc(dirs, func(a, b wire.Entry) int { return len(b.Path) - len(a.Path) })
	for _, e := range dirs {
		if e.MTime != 0 {
			t := time.Unix(0, e.MTime)
			if err := safepath.CheckParents(s.st.root, e.Path); err == nil {
				s.st.root.Chtimes(e.Path, t, t)
			}
		}
	}
	var bytes int64
	for _, rf := range s.files {
		if rf != nil {
			bytes += rf.end.Size
		}
	}
	s.bytes = bytes
	s.complete.Store(true)
	if err := s.writeCtrl(wire.TypeDone, wire.DoneFrame{Files: s.nFiles, Bytes: bytes}); err != nil {
		return classify(err)
	}
	return errComplete
}

// HumanBytes formats a byte count for people: "1.5 GiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
