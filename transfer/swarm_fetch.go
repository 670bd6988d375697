package transfer

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// A receiving session's part in a swarm: what the sender announced, which
// peers hold what, fetching from them, and serving them (swarm_serve.go).

const (
	// peerSilence: a peer that answers nothing for this long while asked
	// is dropped; what it was to give comes from the sender.
	peerSilence = 3 * time.Second
	// missWait is how long a chunk announced but not yet verified at its
	// holder is asked for again there before the sender is asked.
	missWait = 10 * time.Second
	// swarmIdle: a receiver done with its own files serves the others
	// until the sender ends the swarm or nobody asked for this long.
	swarmIdle = 30 * time.Second
	// swarmTick is how often the fetcher looks for work without a nudge.
	swarmTick = 100 * time.Millisecond
	// endgame: with fewer chunks than this still to come, each chunk being
	// fetched is asked of a second holder too, if the sender knows one.
	endgame = 8
)

type chunkRef struct {
	file  int
	chunk int64
}

// announced is a chunk the sender said a peer holds.
type announced struct {
	hash    [wire.HashLen]byte
	holder  identity.DeviceID
	holders int       // how many hold it, as the sender last said
	since   time.Time // announced
	next    time.Time // not asked again before
	busy    bool      // asked, answer pending
	// The endgame: a second holder, asked too; the first answer that
	// verifies is kept, the other read past.
	alt      identity.DeviceID
	altBusy  bool
	altAsked bool // the sender was asked for a second holder
}

// doneWith notes that p answered (or failed) the ask of a.
func (a *announced) doneWith(p identity.DeviceID) {
	switch p {
	case a.alt:
		a.altBusy = false
	case a.holder:
		a.busy = false
	}
}

// failedLocked: p did not give ref. It is wanted from the sender unless
// another holder is at it, or is to be asked.
func (sw *swarmIn) failedLocked(ref chunkRef, p *swarmPeer) {
	a := sw.have[ref]
	if a == nil {
		return
	}
	a.doneWith(p.id)
	if a.alt == p.id {
		a.alt = identity.DeviceID{}
	}
	if a.busy || a.altBusy {
		return
	}
	if q := sw.peers[a.holder]; a.holder != p.id && q != nil && !q.gone {
		return
	}
	sw.wantLocked(ref)
}

type swarmIn struct {
	s    *session
	self identity.DeviceID
	// corrupt: serve chunks with a flipped byte (tests only; see
	// Receiver.swarmCorrupt).
	corrupt bool

	lastServe atomic.Int64 // when a chunk was last served (Unix ns)
	kick      chan struct{}

	mu     sync.Mutex
	token  []byte
	peers  map[identity.DeviceID]*swarmPeer
	have   map[chunkRef]*announced // announced, not yet here
	wanted map[chunkRef]bool       // asked of the sender
	wants  []chunkRef              // to ask of the sender
	alts   []chunkRef              // to ask the sender another holder of (the endgame)
	gots   []chunkRef              // fetched from peers, to tell the sender
	altOK  bool                    // the sender's Haves count holders: it knows Want's alt
}

type swarmPeer struct {
	id      identity.DeviceID
	addrs   []string
	out     int64 // bytes asked and not answered
	queue   chan chunkRef
	started bool
	gone    bool // dropped (silent, unreachable) or banned (a wrong chunk)
}

func newSwarmIn(s *session) *swarmIn {
	return &swarmIn{
		s: s, self: s.r.cfg.Device.ID, corrupt: s.r.swarmCorrupt,
		kick:  make(chan struct{}, 1),
		peers: make(map[identity.DeviceID]*swarmPeer), have: make(map[chunkRef]*announced), wanted: make(map[chunkRef]bool),
	}
}

func (sw *swarmIn) nudge() {
	select {
	case sw.kick <- struct{}{}:
	default:
	}
}

func (sw *swarmIn) tokenOf() []byte {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.token
}

func (sw *swarmIn) listed(id identity.DeviceID) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	_, ok := sw.peers[id]
	return ok
}

func (sw *swarmIn) served() { sw.lastServe.Store(time.Now().UnixNano()) }

// read reads a verified chunk back for a peer.
func (sw *swarmIn) read(f *store.File, c int64, b []byte) error {
	if err := f.ReadVerified(c, b); err != nil {
		return err
	}
	if sw.corrupt && len(b) > 0 {
		b[len(b)/2] ^= 0xff
	}
	return nil
}

// onSwarm takes a Swarm frame: the token and the peers to fetch from.
func (sw *swarmIn) onSwarm(body []byte) error {
	var m wire.Swarm
	if err := wire.DecodeFrame(wire.TypeSwarm, wire.TypeSwarm, body, &m); err != nil {
		return err
	}
	if err := m.Check(); err != nil {
		return err
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.token != nil && string(sw.token) != string(m.Token) {
		return wire.Errorf("the swarm token changed")
	}
	sw.token = m.Token
	for _, p := range m.Peers {
		id, err := identity.ParseDeviceID(p.ID)
		if err != nil {
			return wire.Errorf("swarm peer %q: %v", p.ID, err)
		}
		if id == sw.self {
			continue
		}
		if old := sw.peers[id]; old != nil {
			old.addrs = p.Addrs
			continue
		}
		sw.peers[id] = &swarmPeer{id: id, addrs: p.Addrs, queue: make(chan chunkRef, maxOutstanding/wire.MinChunkSize+1)}
	}
	return nil
}

// onHave takes a Have frame: a chunk to fetch from its holder.
func (sw *swarmIn) onHave(body []byte) error {
	var h wire.HaveChunk
	if err := wire.DecodeFrame(wire.TypeHave, wire.TypeHave, body, &h); err != nil {
		return err
	}
	f := sw.s.file(h.File)
	if f == nil || h.Chunk < 0 || h.Chunk >= f.Chunks() || len(h.Hash) != wire.HashLen {
		return wire.Errorf("have of chunk %d of entry %d", h.Chunk, h.File)
	}
	holder, err := identity.ParseDeviceID(h.Holder)
	if err != nil {
		return wire.Errorf("have from holder %q: %v", h.Holder, err)
	}
	ref := chunkRef{h.File, h.Chunk}
	if f.Has(h.Chunk) {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	// A Have of a chunk asked of the sender: the sender sent it to another
	// receiver instead, and will not send it here.
	delete(sw.wanted, ref)
	if a := sw.have[ref]; a != nil && a.busy {
		// Being fetched: the endgame's second holder, or nothing new.
		if p := sw.peers[holder]; holder != a.holder && a.alt.IsZero() && p != nil && !p.gone {
			a.alt = holder
			sw.nudge()
		}
		return nil
	}
	a := &announced{holder: holder, holders: max(h.Holders, 1), since: time.Now()}
	sw.altOK = sw.altOK || h.Holders > 0
	copy(a.hash[:], h.Hash)
	if p := sw.peers[holder]; p == nil || p.gone {
		sw.wantLocked(ref)
	} else {
		sw.have[ref] = a
	}
	sw.nudge()
	return nil
}

// wantLocked asks the sender for ref (sent by the fetcher).
func (sw *swarmIn) wantLocked(ref chunkRef) {
	if sw.wanted[ref] {
		return
	}
	sw.wanted[ref] = true
	delete(sw.have, ref)
	sw.wants = append(sw.wants, ref)
}

// dropLocked gives up on p: what it was to give comes from the sender.
func (sw *swarmIn) dropLocked(p *swarmPeer, why string) {
	if p.gone {
		return
	}
	p.gone = true
	sw.s.r.swarmDrops.Add(1)
	sw.s.r.log.Info("swarm peer dropped", "peer", p.id.Short(), "why", why)
	for ref, a := range sw.have {
		switch {
		case a.alt == p.id:
			a.alt, a.altBusy = identity.DeviceID{}, false
		case a.holder != p.id:
		case !a.alt.IsZero(): // the second holder becomes the first
			a.holder, a.busy, a.alt, a.altBusy = a.alt, a.altBusy, identity.DeviceID{}, false
		default:
			sw.wantLocked(ref)
		}
	}
}

// run fetches announced chunks from their holders until ctx ends: the
// oldest announcements first, at most maxOutstanding bytes asked of a peer
// at once; a chunk a peer does not have yet is asked again a little later,
// and of the sender after missWait.
func (sw *swarmIn) run(ctx context.Context, g interface{ Go(func() error) }) error {
	t := time.NewTicker(swarmTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sw.kick:
		case <-t.C:
		}
		wants, starts := sw.plan(time.Now())
		for _, p := range starts {
			g.Go(func() error { return sw.fetchFrom(ctx, p) })
		}
		for _, ref := range wants {
			if err := sw.s.ctrl.send(wire.TypeWant, wire.WantChunk{File: ref.file, Chunk: ref.chunk}); err != nil {
				return err
			}
		}
		sw.mu.Lock()
		alts := sw.alts
		sw.alts = nil
		sw.mu.Unlock()
		for _, ref := range alts {
			if err := sw.s.ctrl.send(wire.TypeWant, wire.WantChunk{File: ref.file, Chunk: ref.chunk, Alt: true}); err != nil {
				return err
			}
		}
		sw.mu.Lock()
		gots := sw.gots
		sw.gots = nil
		sw.mu.Unlock()
		for _, ref := range gots {
			if err := sw.s.ctrl.send(wire.TypeGot, wire.WantChunk{File: ref.file, Chunk: ref.chunk}); err != nil {
				return err
			}
		}
	}
}

// plan hands chunks to the peers' queues, the rarest first (the fewest
// holders, then the oldest announcement), and returns the wants to send
// and the peers whose fetcher must start. In the endgame (fewer than
// endgame chunks still to come) a chunk being fetched is also asked of a
// second holder.
func (sw *swarmIn) plan(now time.Time) ([]chunkRef, []*swarmPeer) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	refs := make([]chunkRef, 0, len(sw.have))
	for ref := range sw.have {
		if sw.s.file(ref.file).Has(ref.chunk) {
			delete(sw.have, ref)
			continue
		}
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, func(x, y chunkRef) int {
		a, b := sw.have[x], sw.have[y]
		if c := cmp.Compare(a.holders, b.holders); c != 0 {
			return c
		}
		return a.since.Compare(b.since)
	})
	end := len(refs) < endgame && sw.left() < endgame
	var starts []*swarmPeer
	queue := func(ref chunkRef, id identity.DeviceID) bool {
		p := sw.peers[id]
		if p == nil || p.gone {
			return false
		}
		n := sw.s.file(ref.file).ChunkLen(ref.chunk)
		if p.out > 0 && p.out+n > maxOutstanding {
			return false
		}
		select {
		case p.queue <- ref:
		default:
			return false
		}
		p.out += n
		if !p.started {
			p.started = true
			starts = append(starts, p)
		}
		return true
	}
	for _, ref := range refs {
		a := sw.have[ref]
		if a.busy {
			if end && !a.altAsked && sw.altOK {
				a.altAsked = true
				sw.alts = append(sw.alts, ref)
			}
			if !a.alt.IsZero() && !a.altBusy && !now.Before(a.next) && queue(ref, a.alt) {
				a.altBusy = true
				sw.s.r.swarmSecond.Add(1)
			}
			continue
		}
		if a.altBusy || now.Before(a.next) {
			continue
		}
		if now.Sub(a.since) > missWait {
			sw.wantLocked(ref)
			continue
		}
		if queue(ref, a.holder) {
			a.busy = true
		}
	}
	wants := sw.wants
	sw.wants = nil
	return wants, starts
}

// left counts the chunks still to come, up to endgame: for each file
// still receiving, its bytes not yet verified in whole chunks, the last
// short chunk counted as one.
func (sw *swarmIn) left() int {
	n := int64(0)
	for _, f := range sw.s.files {
		if f == nil || f.Skipped() {
			continue
		}
		size, c := f.Size(), f.ChunkLen(0)
		if size <= 0 || c <= 0 {
			continue
		}
		n += (size - f.Verified() + c - 1) / c
		if n >= endgame {
			return endgame
		}
	}
	return int(n)
}

// fetchFrom connects to p and asks it for what plan queues for it, until
// ctx ends or p is dropped. It fails the session only for a local error
// (a full disk); whatever p does wrong drops or bans p.
func (sw *swarmIn) fetchFrom(ctx context.Context, p *swarmPeer) error {
	conn, str, err := sw.dial(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			sw.mu.Lock()
			sw.dropLocked(p, "unreachable: "+err.Error())
			sw.mu.Unlock()
			sw.nudge()
		}
		return nil
	}
	defer conn.CloseWithError(codeDone, "")
	pending := make(chan chunkRef, cap(p.queue)+1)
	errc := make(chan error, 1)
	go func() { errc <- sw.answers(ctx, p, str, pending) }() // ends when pending closes or the stream fails
	bw := bufio.NewWriter(str)
	var werr error
	var lost []chunkRef // taken from the queue, never asked
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			errc <- err
			break loop
		case ref := <-p.queue:
			select { // the reader may have ended: then nobody drains pending
			case pending <- ref:
			case err := <-errc:
				errc <- err
				lost = append(lost, ref)
				break loop
			case <-ctx.Done():
				break loop
			}
			bw.Write(wire.AppendSwarmAsk(nil, uint32(ref.file), uint32(ref.chunk)))
			if len(p.queue) == 0 {
				if werr = bw.Flush(); werr != nil {
					break loop
				}
			}
		}
	}
	close(pending)
	str.CancelWrite(0)
	conn.CloseWithError(codeDone, "")
	err = <-errc
	var local *localErr
	if errors.As(err, &local) {
		return local.err
	}
	if ctx.Err() == nil {
		sw.mu.Lock()
		why := "gone"
		if err != nil {
			why = err.Error()
		} else if werr != nil {
			why = werr.Error()
		}
		sw.dropLocked(p, why)
		// What was asked and not answered, or queued, goes to the sender
		// (or to another holder, in the endgame).
		for _, ref := range lost {
			sw.failedLocked(ref, p)
		}
		for ref := range pending {
			sw.failedLocked(ref, p)
		}
		for {
			select {
			case ref := <-p.queue:
				sw.failedLocked(ref, p)
				continue
			default:
			}
			break
		}
		sw.mu.Unlock()
		sw.nudge()
	}
	return nil
}

// errNotServed: a peer no longer serves a chunk ("not any more"): it is
// fetched elsewhere, and the peer is kept.
var errNotServed = errors.New("chunk not served any more")

// localErr wraps an error of this receiver's own (its store), which ends
// the session, from the peer's faults, which end only the peer.
type localErr struct{ err error }

func (e *localErr) Error() string { return e.err.Error() }

// answers reads p's answers to the asks in pending, in order, into the
// store; each must match the hash the sender announced.
func (sw *swarmIn) answers(ctx context.Context, p *swarmPeer, str *quic.Stream, pending <-chan chunkRef) error {
	br := bufio.NewReaderSize(str, 64<<10)
	buf := make([]byte, pieceSize)
	for ref := range pending {
		err := sw.answer(br, p, ref, str, buf)
		sw.mu.Lock()
		f := sw.s.file(ref.file)
		p.out -= f.ChunkLen(ref.chunk)
		if a := sw.have[ref]; a != nil {
			if err != nil {
				sw.failedLocked(ref, p)
			} else {
				a.doneWith(p.id)
			}
		}
		sw.mu.Unlock()
		sw.nudge()
		if err != nil && !errors.Is(err, errNotServed) {
			return err
		}
	}
	return nil
}

// answer reads one answer.
func (sw *swarmIn) answer(br *bufio.Reader, p *swarmPeer, ref chunkRef, str *quic.Stream, buf []byte) error {
	f := sw.s.file(ref.file)
	n := f.ChunkLen(ref.chunk)
	str.SetReadDeadline(time.Now().Add(peerSilence))
	status, err := wire.ReadSwarmAnswer(br, uint32(n))
	if err != nil {
		return err
	}
	sw.mu.Lock()
	a := sw.have[ref]
	sw.mu.Unlock()
	if status == wire.SwarmMissing || status == wire.SwarmGone {
		sw.mu.Lock()
		switch {
		case a == nil:
		case status == wire.SwarmGone:
			sw.mu.Unlock()
			return errNotServed
		default:
			a.next = time.Now().Add(200 * time.Millisecond)
		}
		sw.mu.Unlock()
		return nil
	}
	c, berr := f.Begin(ref.chunk, n)
	if berr != nil && !errors.Is(berr, ErrProtocol) {
		return &localErr{berr}
	}
	if berr != nil || a == nil { // here already, or being written: read past it
		_, err := io.CopyN(io.Discard, br, n)
		return err
	}
	for left := n; left > 0; {
		k := min(int64(len(buf)), left)
		str.SetReadDeadline(time.Now().Add(peerSilence))
		if _, err := io.ReadFull(br, buf[:k]); err != nil {
			c.Abort()
			return err
		}
		if err := c.Write(buf[:k]); err != nil {
			c.Abort()
			return &localErr{err}
		}
		left -= k
	}
	ready, err := c.Commit(a.hash)
	if errors.Is(err, store.ErrIntegrity) {
		c.Abort()
		sw.s.r.swarmBans.Add(1)
		return fmt.Errorf("banned: chunk %d of entry %d does not match the hash the sender announced", ref.chunk, ref.file)
	}
	if err != nil {
		return &localErr{err}
	}
	sw.s.touch()
	sw.s.prog.Done.Add(n)
	sw.s.prog.Wire.Add(n)
	sw.mu.Lock()
	delete(sw.have, ref)
	sw.gots = append(sw.gots, ref)
	sw.mu.Unlock()
	sw.nudge()
	if ready {
		if err := sw.s.enqueue(f); err != nil {
			return &localErr{err}
		}
	}
	return nil
}

// dial connects to p on one of its addresses, its key pinned, from this
// receiver's own socket, and opens the swarm stream.
func (sw *swarmIn) dial(ctx context.Context, p *swarmPeer) (*quic.Conn, *quic.Stream, error) {
	sw.mu.Lock()
	addrs, tok := p.addrs, sw.token
	sw.mu.Unlock()
	// A peer that does not complete a handshake within peerSilence is
	// as silent as one that stops answering.
	dctx, cancel := context.WithTimeout(ctx, peerSilence)
	defer cancel()
	var errs []error
	for _, a := range addrs {
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := sw.s.r.transportFor(ua).Dial(dctx, ua, swarmClientTLS(sw.s.r.cfg.Device, p.id), quicConfig())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		str, err := conn.OpenStreamSync(dctx)
		if err != nil {
			conn.CloseWithError(codeDone, "")
			errs = append(errs, err)
			continue
		}
		if _, err := str.Write(wire.AppendSwarmHello(nil, tok)); err != nil {
			conn.CloseWithError(codeDone, "")
			errs = append(errs, err)
			continue
		}
		return conn, str, nil
	}
	return nil, nil, fmt.Errorf("connect to swarm peer %s: %w", p.id.Short(), errors.Join(errs...))
}

// linger serves the swarm after this receiver has everything: until the
// sender ends the swarm (closes the connection), nobody asked for
// swarmIdle, or ctx ends.
func (sw *swarmIn) linger(ctx context.Context) {
	sw.served() // counts from now
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sw.s.conn.Context().Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, sw.lastServe.Load())) >= swarmIdle {
				return
			}
		}
	}
}
