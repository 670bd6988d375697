package transfer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/ferry-lan/ferry/identity"
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
	// NoSwarm: answer a sender's swarm offer as an ordinary one (fetch
	// nothing from other receivers, serve them nothing).
	NoSwarm bool
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
	// swarmCorrupt makes this receiver serve its swarm peers chunks with a
	// flipped byte: a hostile peer, for tests only (never set outside
	// them: no option reaches it).
	swarmCorrupt bool
	// swarmBans counts the swarm peers this receiver banned for a wrong
	// chunk (tests read it).
	swarmBans atomic.Int64
	// swarmDrops counts the swarm peers this receiver dropped (silent,
	// unreachable or banned): tests read it.
	swarmDrops atomic.Int64
	// swarmSecond counts the chunks asked of a second holder in the
	// endgame (tests read it).
	swarmSecond atomic.Int64

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
