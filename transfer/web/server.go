package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	tushandler "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	expslog "golang.org/x/exp/slog"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// Limits of the web receiver (see SECURITY.md).
const (
	MaxBrowsers      = 4      // browsers with an offer or upload at once
	MaxAsking        = 1      // offers waiting for the user's answer
	MaxFiles         = 10_000 // files per offer
	DefaultChunkSize = 4 << 20
	netTimeout       = 30 * time.Second
	browserIdle      = 2 * time.Minute  // a browser with nothing moving frees its place
	offerIdle        = 10 * time.Minute // an offer with nothing moving is closed (its partials stay)
	askTimeout       = 2 * time.Minute
	rememberAccepted = 15 * time.Minute
	maxDataRequests  = 8 // PATCH requests being written at once
)

// Config configures a web receiver.
type Config struct {
	Dir    string          // receiving folder
	Secret *webauth.Secret // the run's secret (the URL's fragment)
	// Hosts are the server's own "ADDR:PORT" values (IPv6 bracketed): any
	// other Host header is refused. SetHosts may set them later.
	Hosts     []string
	Policy    transfer.Policy
	Ask       func(ctx context.Context, info transfer.OfferInfo) (bool, error)
	Events    func(transfer.Event) // must not block for long
	Logger    *slog.Logger
	Overwrite bool
	ChunkSize int64 // a power of two; DefaultChunkSize when 0
	// NoTmpFiles names every partial file (tests; see store.Options).
	NoTmpFiles bool

	wrap func(http.Handler) http.Handler // tests: around the whole site
}

// Server is the web receiver: the page, the offer API and tus uploads.
type Server struct {
	cfg   Config
	dir   string
	log   *slog.Logger
	auth  *webauth.Verifier
	tus   *tushandler.UnroutedHandler
	tusMW http.Handler // tusd's middleware around tusFile
	mux   http.Handler
	data  chan struct{} // a token per PATCH being written

	mu       sync.Mutex // guards the maps below and asking; no I/O under it
	offers   map[string]*offer
	browsers map[string]time.Time // "addr/client" → last request
	accepted map[string]time.Time // "peer/digest" → when the user said yes
	asking   int
}

// New makes a web receiver. Nothing listens until Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Secret == nil {
		return nil, errors.New("web: no secret")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = func(transfer.Event) {}
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("web: receiving folder: %w", err)
	}
	s := &Server{
		cfg: cfg, dir: dir, log: cfg.Logger,
		data:     make(chan struct{}, maxDataRequests),
		offers:   make(map[string]*offer),
		browsers: make(map[string]time.Time),
		accepted: make(map[string]time.Time),
	}
	s.auth = cfg.Secret.Verifier(webauth.Options{Hosts: cfg.Hosts, Log: cfg.Logger})
	composer := tushandler.NewStoreComposer()
	composer.UseCore(tusStore{s})
	memorylocker.New().UseIn(composer)
	s.tus, err = tushandler.NewUnroutedHandler(tushandler.Config{
		StoreComposer:        composer,
		BasePath:             filesPath,
		MaxSize:              0,
		DisableDownload:      true,
		DisableTermination:   true,
		DisableConcatenation: true,
		Cors:                 &tushandler.CorsConfig{Disable: true},
		NetworkTimeout:       netTimeout,
		AcquireLockTimeout:   10 * time.Second,
		Logger:               expslog.New(expslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("web: tus handler: %w", err)
	}
	s.tusMW = s.tus.Middleware(http.HandlerFunc(s.tusFile))
	s.mux = s.routes()
	return s, nil
}

// SetHosts replaces the Host header values the server answers to.
func (s *Server) SetHosts(hosts []string) { s.auth.SetHosts(hosts) }

// Dir is the receiving folder, absolute.
func (s *Server) Dir() string { return s.dir }

// Handler is the whole site (for tests that run their own http.Server).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers HTTP on the listeners until ctx ends, then closes every
// offer (partial files and journals stay for a later attempt).
func (s *Server) Serve(ctx context.Context, ls []net.Listener) error {
	h := s.mux
	if s.cfg.wrap != nil {
		h = s.cfg.wrap(h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: netTimeout,
		IdleTimeout:       netTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range ls {
		g.Go(func() error {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("web: serve %s: %w", l.Addr(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				if err := srv.Shutdown(sctx); err != nil {
					srv.Close()
				}
				return nil
			case now := <-t.C:
				s.sweep(now)
			}
		}
	})
	err := g.Wait()
	s.closeAll()
	return err
}

// sweep forgets idle browsers and closes idle offers.
func (s *Server) sweep(now time.Time) {
	var idle []*offer
	s.mu.Lock()
	for k, t := range s.browsers {
		if now.Sub(t) > browserIdle {
			delete(s.browsers, k)
		}
	}
	for k, t := range s.accepted {
		if now.Sub(t) > rememberAccepted {
			delete(s.accepted, k)
		}
	}
	for id, o := range s.offers {
		if now.Sub(o.lastUse()) > offerIdle {
			delete(s.offers, id)
			idle = append(idle, o)
		}
	}
	s.mu.Unlock()
	for _, o := range idle {
		o.close(errors.New("nothing from the browser for 10 minutes"))
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	all := make([]*offer, 0, len(s.offers))
	for id, o := range s.offers {
		all = append(all, o)
		delete(s.offers, id)
	}
	s.mu.Unlock()
	for _, o := range all {
		o.close(errors.New("the receiver stopped"))
	}
}

// browser admits a request from the browser key ("addr/client"): one
// already known, or a new one while fewer than MaxBrowsers are.
func (s *Server) browser(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if _, ok := s.browsers[key]; !ok && len(s.browsers) >= MaxBrowsers {
		for k, t := range s.browsers {
			if now.Sub(t) > browserIdle {
				delete(s.browsers, k)
			}
		}
		if len(s.browsers) >= MaxBrowsers {
			return false
		}
	}
	s.browsers[key] = now
	return true
}

// seen notes a request from an admitted browser: uploading keeps its place.
func (s *Server) seen(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.browsers[key]; ok {
		s.browsers[key] = time.Now()
	}
}

func (s *Server) offer(id string) *offer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offers[id]
}
