package discovery

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

const (
	goodbyeGrace        = time.Second           // RFC 6762 §10.1
	coalesce            = 20 * time.Millisecond // lets a burst of answers arrive before events go out
	maxInstancesPerLink = 256
	maxAddrsPerHost     = 16
	maxQueue            = 4096 // events waiting for a reader that does not read
)

// EventType says what happened to a peer.
type EventType int

const (
	PeerUp      EventType = iota + 1 // a peer appeared
	PeerChanged                      // its name, addresses, port or flags changed
	PeerDown                         // it said goodbye, or stopped answering
)

func (t EventType) String() string {
	switch t {
	case PeerUp:
		return "up"
	case PeerChanged:
		return "changed"
	case PeerDown:
		return "down"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is a change in the set of peers. For PeerDown, Peer is the peer as it
// was last seen.
type Event struct {
	Type EventType
	Peer Peer
}

// A Browser keeps a live view of the ferry peers on the network.
type Browser struct {
	events <-chan Event
	cancel context.CancelFunc
	g      *errgroup.Group
	once   sync.Once
	err    error

	mu    sync.Mutex
	peers []Peer
}

// Browse starts watching the network for peers until ctx is done or Close is
// called. It fails if a named interface is unusable, no interface is, or the
// mDNS port cannot be opened.
func Browse(ctx context.Context, opts Options) (*Browser, error) {
	log := opts.logger()
	links, err := usableLinks(opts.Interfaces)
	if err != nil {
		return nil, err
	}
	socks, err := openSockets(log, wantRcvbuf)
	if err != nil {
		return nil, err
	}
	events := make(chan Event)
	b := &Browser{events: events}
	w := &watcher{
		names:   opts.Interfaces,
		log:     log,
		socks:   socks,
		tx:      socks,
		maxTTL:  recordTTL,
		rand:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		lookup:  opts.Only,
		links:   make(map[int]*linkState),
		out:     events,
		publish: b.setPeers,
	}
	if err := w.setLinks(links, true, time.Now()); err != nil {
		socks.close()
		return nil, err
	}
	log.Debug("browsing", "interfaces", names(links), "lookup", opts.Only)

	ctx, b.cancel = context.WithCancel(ctx)
	b.g, ctx = errgroup.WithContext(ctx)
	pkts := make(chan packet, 64)
	if socks.v4 != nil {
		b.g.Go(func() error { return readPackets(ctx, pkts, "IPv4", socks.from4) })
	}
	if socks.v6 != nil {
		b.g.Go(func() error { return readPackets(ctx, pkts, "IPv6", socks.from6) })
	}
	b.g.Go(func() error {
		defer socks.close() // ends the readers
		return w.run(ctx, pkts)
	})
	return b, nil
}

// Events returns the channel of peer events. It is closed when the browser
// stops. Events wait in a queue for the reader, so a slow reader delays them
// but never stalls the browser; a browser whose events are never read (one
// used only for Peers) drops the oldest beyond 4096.
func (b *Browser) Events() <-chan Event { return b.events }

// Peers returns the peers up now, by name.
func (b *Browser) Peers() []Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.peers)
}

func (b *Browser) setPeers(m map[string]Peer) {
	ps := make([]Peer, 0, len(m))
	for _, p := range m {
		ps = append(ps, p.clone())
	}
	slices.SortFunc(ps, comparePeers)
	b.mu.Lock()
	b.peers = ps
	b.mu.Unlock()
}

func comparePeers(a, b Peer) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Instance, b.Instance))
}

// Close stops the browser and returns when its goroutines have ended, with
// the error that stopped it early, if any. It is safe to call more than once.
func (b *Browser) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.err = b.g.Wait()
	})
	return b.err
}
