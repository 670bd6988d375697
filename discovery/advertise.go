package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
	"golang.org/x/sync/errgroup"
)

// pollInterval is how often an Advertisement checks its interfaces, and a
// Browser its interfaces.
const pollInterval = 2 * time.Second

// Options configures Advertise, Browse, List and Find. The zero value uses
// every usable interface and logs nothing.
type Options struct {
	// Interfaces restricts mDNS to the named interfaces. Each must be up,
	// multicast-capable, not loopback and have an IP address, or the call
	// fails with an *InterfaceError. Empty means every usable interface.
	Interfaces []string

	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger

	// Only narrows whom a browser asks (see Lookup); the zero value asks
	// everyone. Advertise ignores it.
	Only Lookup
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// An Advertisement publishes a Service until it is closed.
type Advertisement struct {
	instance string
	log      *slog.Logger
	cancel   context.CancelFunc
	g        *errgroup.Group
	flags    chan flagsRequest
	done     chan struct{} // closed when the loop has ended
	once     sync.Once
	err      error
}

type flagsRequest struct {
	flags map[string]string
	errc  chan error
}

// Advertise publishes svc on the chosen interfaces and keeps it published,
// re-announcing when the interfaces or their addresses change, until ctx is
// done or Close is called; both send the goodbye. It fails if svc is invalid,
// a named interface is unusable, or the first registration fails.
func Advertise(ctx context.Context, svc Service, opts Options) (*Advertisement, error) {
	if err := svc.validate(); err != nil {
		return nil, err
	}
	links, err := usableLinks(opts.Interfaces)
	if err != nil {
		return nil, err
	}
	log := opts.logger().With("instance", svc.Instance())
	srv, err := register(svc, links)
	if err != nil {
		return nil, err
	}
	log.Debug("advertising", "interfaces", names(links), "port", svc.Port)

	ctx, cancel := context.WithCancel(ctx)
	g, ctx := errgroup.WithContext(ctx)
	a := &Advertisement{
		instance: svc.Instance(),
		log:      log,
		cancel:   cancel,
		g:        g,
		flags:    make(chan flagsRequest),
		done:     make(chan struct{}),
	}
	ad := &advertiser{svc: svc, names: opts.Interfaces, log: log, srv: srv, links: links}
	g.Go(func() error {
		defer close(a.done)
		return ad.run(ctx, a.flags)
	})
	return a, nil
}

// Instance returns the DNS-SD instance label, e.g. "alpha ABCD-EFGH".
func (a *Advertisement) Instance() string { return a.instance }

// SetFlags replaces the extra TXT flags and announces the change (the
// advertisement is withdrawn and registered again, which browsers of this
// package report as a change, not a departure).
func (a *Advertisement) SetFlags(ctx context.Context, flags map[string]string) error {
	if err := checkFlags(flags); err != nil {
		return err
	}
	req := flagsRequest{flags: flags, errc: make(chan error, 1)}
	select {
	case a.flags <- req:
	case <-a.done:
		return errors.New("advertisement closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close sends the goodbye and returns when the advertisement has stopped.
// It is safe to call more than once.
func (a *Advertisement) Close() error {
	a.once.Do(func() {
		a.cancel()
		a.err = a.g.Wait()
	})
	return a.err
}

// advertiser is the state owned by an Advertisement's goroutine.
type advertiser struct {
	svc     Service
	names   []string // Options.Interfaces
	log     *slog.Logger
	srv     *zeroconf.Server // nil while no interface is usable
	links   []link           // what srv was registered on
	lastErr string           // the last interface error logged
}

func (ad *advertiser) run(ctx context.Context, flags <-chan flagsRequest) error {
	defer ad.stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case req := <-flags:
			ad.svc.Flags = maps.Clone(req.flags)
			ad.log.Debug("flags changed; registering again", "flags", req.flags)
			req.errc <- ad.reregister(ad.links)
		case <-tick.C:
			links, err := usableLinks(ad.names)
			if msg := errText(err); msg != ad.lastErr {
				ad.lastErr = msg
				if err != nil {
					ad.log.Warn("interface check", "err", err)
				}
			}
			if linksEqual(links, ad.links) && (ad.srv != nil || len(links) == 0) {
				continue
			}
			ad.log.Debug("interfaces changed; registering again", "interfaces", names(links))
			if err := ad.reregister(links); err != nil {
				ad.log.Warn("advertise", "err", err)
			}
		}
	}
}

// reregister withdraws the advertisement (sending the goodbye) and registers
// it on links. The flags decide the subtypes (pairSubtype), which the
// library cannot change in place, so a change of flags registers again too.
func (ad *advertiser) reregister(links []link) error {
	ad.stop()
	ad.links = links
	if len(links) == 0 {
		return ErrNoInterface
	}
	srv, err := register(ad.svc, links)
	if err != nil {
		return err
	}
	ad.srv = srv
	return nil
}

func (ad *advertiser) stop() {
	if ad.srv != nil {
		ad.srv.Shutdown() // sends the goodbye, closes the sockets, waits for its receivers
		ad.srv = nil
		ad.log.Debug("advertisement withdrawn")
	}
}

// register starts a zeroconf server (the fork in third_party/zeroconf) for
// svc on links. It answers as RFC 6762 asks of a responder that many
// browsers query (see doc.go), with the TTLs of records.go, and lists the
// instance under the subtypes of subtypes.
//
// The server is given no addresses: it then answers each query with the
// addresses of the interface the query came in on, which the kernel tells it,
// and announces on each interface with that interface's addresses. A fixed
// address list would be sent on every interface (grandcat/zeroconf#43). On
// Windows the library cannot learn the interface of a query, so there the
// list is fixed after all.
func register(svc Service, links []link) (*zeroconf.Server, error) {
	ifaces := make([]net.Interface, len(links))
	var ips []string
	for i, l := range links {
		ifaces[i] = l.iface
		if runtime.GOOS == "windows" {
			for _, a := range l.advertised() {
				ips = append(ips, a.String())
			}
		}
	}
	txt := svc.txt()
	for i := range txt {
		txt[i] = escapeTXT(txt[i])
	}
	service := strings.Join(append([]string{serviceType}, svc.subtypes()...), ",")
	srv, err := zeroconf.RegisterProxyWithOptions(escapeLabel(svc.Instance()), service, domain, svc.Port,
		svc.hostLabel(), ips, txt, ifaces, zeroconf.ServerOptions{SharedTTL: ptrTTL, UniqueTTL: recordTTL})
	if err != nil {
		return nil, fmt.Errorf("register mDNS service on %v: %w", names(links), err)
	}
	return srv, nil
}

// pairFlag is the flag of a receiver whose pairing window is open ("pair=1",
// set by the CLI); such a receiver is also listed under pairSubtype.
const pairFlag = "pair"

// subtypes are the subtype labels s is listed under (records.go): its
// name's and its device ID's, and pairSubtype while it accepts pairing.
func (s Service) subtypes() []string {
	st := []string{nameSubtype(s.Name), idSubtype(s.ID)}
	if s.Flags[pairFlag] == "1" {
		st = append(st, pairSubtype)
	}
	return st
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
