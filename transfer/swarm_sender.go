package transfer

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// The sender's side of a swarm (see doc.go, "Swarm"): each chunk goes on
// the wire once, to the receiver whose data streams ask for work first
// (the one with the shortest queue), and every other receiver that needs
// it is told who holds it and its hash. A receiver's Want, a chunk whose
// holders are all gone, or a receiver that joins when no one else can
// give it a chunk, is sent directly: the sender is the holder of last
// resort.

// swarmOut is one SendMany's swarm.
type swarmOut struct {
	token []byte
	src   []source

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced whenever work may have appeared
	members []*member
	files   []*swarmFile // by entry; nil for folders
	// returning: sessions whose member left before it had everything and
	// that are reconnecting: the swarm is kept for them (the others go on
	// serving), until they join again or give up (ended).
	returning map[*sender]bool
}

// swarmFile is what the swarm knows of one file.
type swarmFile struct {
	hash    [][wire.HashLen]byte
	known   []bool      // hash known: sent to someone, or kept by someone
	holders [][]*member // who has each chunk
	seeder  []*member   // whom each chunk not yet known went to (nil: nobody yet)
	// resend: the member a chunk is being sent to again, for want of a
	// holder the others could reach; waiters: those told of it once it
	// has gone out, rather than each sent it again.
	resend  []*member
	waiters [][]*member
	nKnown  int
}

// member is one receiver's session in the swarm (one attempt of it).
type member struct {
	s      *sender
	id     identity.DeviceID
	addr   string
	ctrl   *control
	files  []*sendFile
	needs  [][]bool   // by file and chunk: still to come from the swarm
	direct []workItem // to send this member directly
	ended  []bool     // FileEnd sent
	posF   int        // the seeding cursor: no chunk before it is left to seed
	posC   int64
	active bool // connected: may serve the others
	// silent: connected, but it answered nothing for peerSilence (see
	// watch): not named as a holder, not waited for, until it is heard
	// from again.
	silent bool
	// stalled: it answers, but takes no data: chunks were handed to it
	// first and its connections carried under stallBytes for peerSilence
	// (a receiver that stopped reading its streams). Treated as silent
	// until data flows to it again.
	stalled bool
	done    bool // has everything
	seeded  int  // chunks handed to it first
	// told: the holders m was told of, by chunk; a Want is answered with
	// a holder not among them, if there is one (else the chunk itself).
	told map[chunkRef][]*member
	// outbox: control frames for m, sent by its writer; kick wakes it.
	outbox []frame
	kick   chan struct{}
}

// up reports whether m may be named as a holder and handed chunks first:
// connected and not silent.
func (m *member) up() bool { return m.active && !m.silent && !m.stalled }

// seedSlack is how many more chunks a member may have been handed first
// than the member handed the fewest: each receiver then re-serves about
// an equal share, whichever drains its streams first.
const seedSlack = 2

// mayseedLocked reports whether m may be handed another chunk first: it
// is not more than seedSlack ahead of any member still receiving that
// has something left to be handed.
func (sw *swarmOut) mayseedLocked(m *member) bool {
	for _, o := range sw.members {
		if o != m && o.up() && !o.done && o.posF < len(o.files) && m.seeded >= o.seeded+seedSlack {
			return false
		}
	}
	return true
}

func newSwarmOut(src []source) *swarmOut {
	sw := &swarmOut{token: make([]byte, wire.TokenLen), src: src, wake: make(chan struct{}), returning: make(map[*sender]bool)}
	rand.Read(sw.token)
	sw.files = make([]*swarmFile, len(src))
	for i := range src {
		if src[i].Dir || src[i].Stream {
			continue
		}
		n := src[i].Chunks()
		sw.files[i] = &swarmFile{hash: make([][wire.HashLen]byte, n), known: make([]bool, n), holders: make([][]*member, n), seeder: make([]*member, n),
			resend: make([]*member, n), waiters: make([][]*member, n)}
	}
	return sw
}

// wakeLocked tells every waiting scheduler to look again.
func (sw *swarmOut) wakeLocked() {
	close(sw.wake)
	sw.wake = make(chan struct{})
}

// frame is a control frame for one member, sent outside the lock.
type frame struct {
	to  *member
	t   byte
	v   any
	end *sendFile // a FileEnd: sent through the member's endFile
}

// join adds an accepted session, after its plan, to the swarm: it gets
// the list of the others (and they the new list), a Have for each chunk it
// needs that someone holds, or the chunk directly if no one else does, and
// the end of every file whose hashes are all known. What it kept from
// earlier attempts makes it a holder.
func (sw *swarmOut) join(s *sender, id identity.DeviceID, addr string, ctrl *control, files []*sendFile) (*member, error) {
	m := &member{s: s, id: id, addr: addr, ctrl: ctrl, files: files, active: true, kick: make(chan struct{}, 1),
		needs: make([][]bool, len(files)), ended: make([]bool, len(files))}
	sw.mu.Lock()
	var frames []frame
	for i, sf := range files {
		f := sw.files[i]
		if sf == nil || f == nil || sf.skip {
			continue
		}
		m.needs[i] = make([]bool, len(f.known))
		for _, c := range sf.need {
			m.needs[i][c] = true
		}
		for c := range f.known {
			if !m.needs[i][c] {
				frames = append(frames, sw.learnLocked(m, i, int64(c), sf.hashes[c])...)
			}
		}
	}
	sw.members = slices.DeleteFunc(sw.members, func(o *member) bool { return o.s == s }) // an earlier attempt
	delete(sw.returning, s)
	sw.members = append(sw.members, m)
	for i, need := range m.needs {
		f := sw.files[i]
		for c, n := range need {
			if !n || !f.known[c] {
				continue
			}
			if h := sw.holderLocked(f, c, m); h != nil {
				frames = append(frames, sw.haveFrame(m, i, int64(c), h))
			} else {
				m.direct = append(m.direct, workItem{files[i], int64(c)})
			}
		}
	}
	for i := range files {
		frames = append(frames, sw.fileEndLocked(m, i)...)
	}
	for _, o := range sw.members {
		if o.active {
			frames = append(frames, frame{to: o, t: wire.TypeSwarm, v: sw.listLocked()})
		}
	}
	// The list first: a Have names a holder from it.
	slices.SortStableFunc(frames, func(a, b frame) int {
		return boolInt(b.t == wire.TypeSwarm && b.end == nil) - boolInt(a.t == wire.TypeSwarm && a.end == nil)
	})
	sw.postLocked(frames)
	sw.wakeLocked()
	sw.mu.Unlock()
	return m, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// postLocked puts frames in their members' outboxes, in order; each
// member's writer sends them. Nobody writes a control stream but its
// writer: a goroutine that also reads one (the sender's reports) never
// waits for a receiver that may be waiting for it.
func (sw *swarmOut) postLocked(frames []frame) {
	for _, f := range frames {
		f.to.outbox = append(f.to.outbox, f)
		select {
		case f.to.kick <- struct{}{}:
		default:
		}
	}
}

// writer sends m's outbox on its control stream until ctx ends.
func (sw *swarmOut) writer(ctx context.Context, m *member) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		}
		sw.mu.Lock()
		batch := m.outbox
		m.outbox = nil
		sw.mu.Unlock()
		for _, f := range batch {
			var err error
			if f.end != nil {
				err = m.s.swarmFileEnd(f.end, m.ctrl)
			} else {
				err = m.ctrl.send(f.t, f.v)
			}
			if err != nil {
				return err
			}
		}
	}
}

// haveFrame is a Have for m naming holder of chunk c of file, and how
// many connected receivers hold it (m fetches the rarest first); m is
// then known to have been told of holder (under the swarm's lock).
func (sw *swarmOut) haveFrame(m *member, file int, c int64, holder *member) frame {
	ref := chunkRef{file, c}
	if m.told == nil {
		m.told = make(map[chunkRef][]*member)
	}
	m.told[ref] = append(m.told[ref], holder)
	f := sw.files[file]
	n := 0
	for _, o := range f.holders[c] {
		if o.up() {
			n++
		}
	}
	return frame{to: m, t: wire.TypeHave, v: wire.HaveChunk{File: file, Chunk: c, Hash: f.hash[c][:], Holder: holder.id.String(), Holders: max(n, 1)}}
}

// listLocked is the Swarm frame: the token and every connected member.
func (sw *swarmOut) listLocked() wire.Swarm {
	l := wire.Swarm{Token: sw.token}
	for _, o := range sw.members {
		if o.active && len(l.Peers) < wire.MaxSwarmPeers {
			l.Peers = append(l.Peers, wire.SwarmPeer{ID: o.id.String(), Addrs: []string{o.addr}})
		}
	}
	return l
}

// holderLocked is a connected holder of chunk c other than m, the one with
// the fewest chunks to give (a rough shortest queue), or nil.
func (sw *swarmOut) holderLocked(f *swarmFile, c int, m *member) *member {
	var best *member
	for _, h := range f.holders[c] {
		if h != m && h.up() && (best == nil || len(h.direct) < len(best.direct)) {
			best = h
		}
	}
	return best
}

// learnLocked records that m holds chunk c of file i with hash h, and
// returns the Haves for the others that need it and the ends of files now
// fully known.
func (sw *swarmOut) learnLocked(m *member, i int, c int64, h [wire.HashLen]byte) []frame {
	f := sw.files[i]
	first := !f.known[c]
	if first {
		f.known[c], f.hash[c] = true, h
		f.nKnown++
	}
	if !slices.Contains(f.holders[c], m) {
		f.holders[c] = append(f.holders[c], m)
	}
	if m.needs[i] != nil {
		m.needs[i][c] = false
	}
	if !first {
		if f.resend[c] != m {
			return nil
		}
		f.resend[c] = nil
		var frames []frame
		for _, w := range f.waiters[c] {
			if w != m && w.active {
				frames = append(frames, sw.haveFrame(w, i, c, m))
			}
		}
		f.waiters[c] = nil
		return frames
	}
	var frames []frame
	for _, o := range sw.members {
		if o != m && o.active && o.needs[i] != nil && o.needs[i][c] {
			frames = append(frames, sw.haveFrame(o, i, c, m))
		}
	}
	if f.nKnown == len(f.known) {
		for _, o := range sw.members {
			if o.active {
				frames = append(frames, sw.fileEndLocked(o, i)...)
			}
		}
	}
	return frames
}

// fileEndLocked is m's FileEnd of file i if every hash of the file is
// known and m has not had it.
func (sw *swarmOut) fileEndLocked(m *member, i int) []frame {
	f, sf := sw.files[i], m.files[i]
	if f == nil || sf == nil || sf.skip || m.ended[i] || f.nKnown != len(f.known) {
		return nil
	}
	m.ended[i] = true
	copy(sf.hashes, f.hash)
	return []frame{{to: m, end: sf}}
}

// sent records that chunk it went on the wire to m, with its hash.
func (sw *swarmOut) sent(m *member, it workItem, sum [wire.HashLen]byte) error {
	sw.mu.Lock()
	sw.postLocked(sw.learnLocked(m, it.sf.idx, it.chunk, sum))
	sw.mu.Unlock()
	return nil
}

// want queues chunk c of file i for m directly (m's Want).
func (sw *swarmOut) want(m *member, w wire.WantChunk) error {
	if w.File < 0 || w.File >= len(m.files) || m.files[w.File] == nil || sw.files[w.File] == nil ||
		w.Chunk < 0 || w.Chunk >= int64(len(sw.files[w.File].known)) {
		return wire.Errorf("want of chunk %d of entry %d", w.Chunk, w.File)
	}
	sw.mu.Lock()
	f := sw.files[w.File]
	if slices.Contains(f.holders[w.Chunk], m) {
		// m was sent it, or said Got: it holds the chunk, and wants
		// nothing from anyone.
		sw.mu.Unlock()
		return nil
	}
	if f.known[w.Chunk] {
		for _, h := range f.holders[w.Chunk] {
			if h != m && h.up() && !slices.Contains(m.told[chunkRef{w.File, w.Chunk}], h) {
				sw.postLocked([]frame{sw.haveFrame(m, w.File, w.Chunk, h)})
				sw.mu.Unlock()
				return nil
			}
		}
	}
	defer sw.mu.Unlock()
	if w.Alt { // the endgame: another holder or nothing
		return nil
	}
	if r := f.resend[w.Chunk]; r != nil && r != m && r.up() {
		// Already on its way again to another receiver: m hears of it
		// from there.
		f.waiters[w.Chunk] = append(f.waiters[w.Chunk], m)
		return nil
	}
	f.resend[w.Chunk] = m
	m.direct = append(m.direct, workItem{m.files[w.File], w.Chunk})
	sw.wakeLocked()
	return nil
}

// got records that m fetched a chunk from another receiver: m holds it
// too, and may be named to those whose holder fails them.
func (sw *swarmOut) got(m *member, g wire.WantChunk) error {
	if g.File < 0 || g.File >= len(m.files) || m.files[g.File] == nil || sw.files[g.File] == nil ||
		g.Chunk < 0 || g.Chunk >= int64(len(sw.files[g.File].known)) {
		return wire.Errorf("got of chunk %d of entry %d", g.Chunk, g.File)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	f := sw.files[g.File]
	if !f.known[g.Chunk] {
		return wire.Errorf("got of chunk %d of entry %d, which nobody was sent", g.Chunk, g.File)
	}
	if !slices.Contains(f.holders[g.Chunk], m) {
		f.holders[g.Chunk] = append(f.holders[g.Chunk], m)
	}
	if m.needs[g.File] != nil {
		m.needs[g.File][g.Chunk] = false
	}
	return nil
}

// next is m's next chunk to send: one it asked for or must have directly,
// else the next chunk nobody has had yet that m needs. ok is false when
// ctx ends.
func (sw *swarmOut) next(ctx context.Context, m *member) (workItem, bool) {
	for {
		sw.mu.Lock()
		if len(m.direct) > 0 {
			it := m.direct[0]
			m.direct = m.direct[1:]
			sw.mu.Unlock()
			return it, true
		}
		for ; m.posF < len(m.files) && sw.mayseedLocked(m); m.posF, m.posC = m.posF+1, 0 {
			f, need := sw.files[m.posF], m.needs[m.posF]
			if f == nil || need == nil {
				continue
			}
			for ; m.posC < int64(len(need)); m.posC++ {
				c := m.posC
				if need[c] && !f.known[c] && f.seeder[c] == nil {
					f.seeder[c] = m
					m.seeded++
					need[c] = false
					it := workItem{m.files[m.posF], c}
					m.posC++
					sw.wakeLocked() // the others may be waiting for m to catch up
					sw.mu.Unlock()
					return it, true
				}
			}
		}
		wake := sw.wake
		sw.mu.Unlock()
		select {
		case <-ctx.Done():
			return workItem{}, false
		case <-wake:
		}
	}
}

// leave takes m out of the swarm: its attempt ended (done: with every
// file delivered). Chunks handed to it that never went out go to whoever
// asks next; those it held are fetched elsewhere (receivers that fail to
// reach it ask the sender). A session that left before it had everything
// is returning until it joins again or ends.
func (sw *swarmOut) leave(m *member) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	m.active = false
	if !m.done && slices.Contains(sw.members, m) {
		sw.returning[m.s] = true
	}
	sw.releaseLocked(m)
	sw.wakeLocked()
}

// ended says that session s will not join again (its run returned).
func (sw *swarmOut) ended(s *sender) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	delete(sw.returning, s)
	sw.wakeLocked()
}

// releaseLocked gives what m was to do to the others: the chunks handed
// to it first that have not gone out are handed again, and a chunk being
// sent again to it for others that wait goes to the next of them.
func (sw *swarmOut) releaseLocked(m *member) {
	for i, f := range sw.files {
		if f == nil {
			continue
		}
		for c, sd := range f.seeder {
			if sd == m && !f.known[c] {
				f.seeder[c] = nil
			}
		}
		for c, r := range f.resend {
			if r != m {
				continue
			}
			f.resend[c] = nil
			for len(f.waiters[c]) > 0 { // the next waiter still connected has it sent instead
				w := f.waiters[c][0]
				f.waiters[c] = f.waiters[c][1:]
				if w.up() && w != m {
					f.resend[c] = w
					w.direct = append(w.direct, workItem{w.files[i], int64(c)})
					break
				}
			}
		}
	}
	for _, o := range sw.members {
		o.posF, o.posC = 0, 0
	}
}

// probeAfter: a member the sender has heard nothing from for this long
// is sent its list again (see watch).
const probeAfter = time.Second

// watch follows what m's connections receive, until ctx ends. A member
// not heard from for probeAfter is sent the Swarm list again: a frame that
// asks for an acknowledgement, and large enough that a restarted receiver
// answers it with a stateless reset (QUIC's keep-alive PING is too small
// for one, RFC 9000 §10.3), so its session reconnects at once. A member
// that still answers nothing peerSilence after it was last heard from is
// silent for the swarm (see silence); it is taken back as soon as it is
// heard from again. The session itself goes on: whether to give up on
// the receiver is the watchdog's and QUIC's idle timeout's to decide.
//
// A member that answers but takes no data — chunks were handed to it
// first, and its connections carried less than stallBytes in peerSilence
// — is stalled (a receiver that stopped reading its streams): it is
// treated as silent until data flows to it again, so that it holds
// nobody up.
func (sw *swarmOut) watch(ctx context.Context, m *member, conns []*quic.Conn) error {
	t := time.NewTicker(swarmWatchTick)
	defer t.Stop()
	var heard uint64
	last, probed := time.Now(), false
	var flowed uint64      // bytes sent at flowedAt
	flowedAt := time.Now() // when m last took stallBytes, or was handed nothing
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return nil
		case now = <-t.C:
		}
		var n, sent uint64
		for _, c := range conns {
			st := c.ConnectionStats()
			n += st.PacketsReceived
			sent += st.BytesSent
		}
		switch {
		case sent-flowed >= stallBytes:
			flowed, flowedAt = sent, now
			sw.flowing(m)
		case !sw.handedOut(m):
			flowedAt = now
		case now.Sub(flowedAt) >= peerSilence:
			sw.stall(m, now.Sub(flowedAt))
		}
		if n != heard {
			heard, last, probed = n, now, false
			sw.heard(m)
			continue
		}
		quiet := now.Sub(last)
		if quiet >= probeAfter && !probed {
			probed = true
			sw.mu.Lock()
			sw.postLocked([]frame{{to: m, t: wire.TypeSwarm, v: sw.listLocked()}})
			sw.mu.Unlock()
		}
		if quiet >= peerSilence {
			sw.silence(m, quiet)
		}
	}
}

// swarmWatchTick is how often watch looks at a member's connections.
const swarmWatchTick = 200 * time.Millisecond

// stallBytes: a member handed chunks that takes less than this in
// peerSilence is stalled (see watch). A chunk is 1 MiB or more; probes and
// acknowledgements are far less.
const stallBytes = 64 << 10

// handedOut reports whether chunks were handed to m first, or are being
// sent to it again for others, and have not gone out.
func (sw *swarmOut) handedOut(m *member) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, f := range sw.files {
		if f == nil {
			continue
		}
		for c := range f.seeder {
			if f.seeder[c] == m && !f.known[c] || f.resend[c] == m {
				return true
			}
		}
	}
	return false
}

// silence takes m out of the swarm's scheduling while it answers
// nothing: it is no longer named as a holder (receivers that need what
// only it held want it, and the sender sends it to one of them, who
// serves the others), no longer waited for when chunks are handed out
// first, and what it was handed first and has not sent goes to others.
func (sw *swarmOut) silence(m *member, quiet time.Duration) {
	sw.mark(m, &m.silent, true, "swarm: receiver silent", "for", quiet.Round(time.Millisecond))
}

// heard takes a silent m back: it was heard from.
func (sw *swarmOut) heard(m *member) {
	sw.mark(m, &m.silent, false, "swarm: receiver heard from again")
}

// stall takes m out of the swarm's scheduling as silence does, while it
// takes no data.
func (sw *swarmOut) stall(m *member, quiet time.Duration) {
	sw.mark(m, &m.stalled, true, "swarm: receiver takes no data", "for", quiet.Round(time.Millisecond))
}

// flowing takes a stalled m back: data flows to it again.
func (sw *swarmOut) flowing(m *member) {
	sw.mark(m, &m.stalled, false, "swarm: receiver takes data again")
}

// mark sets one of m's flags that keep it out of the scheduling (silent,
// stalled) to on, and logs msg if that changed it. Set, what m was
// handed goes to others; cleared, every member looks again for chunks
// to be handed.
func (sw *swarmOut) mark(m *member, flag *bool, on bool, msg string, args ...any) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if *flag == on || on && !m.active {
		return
	}
	*flag = on
	m.s.log.Info(msg, args...)
	if on {
		sw.releaseLocked(m)
	} else {
		for _, o := range sw.members {
			o.posF, o.posC = 0, 0
		}
	}
	sw.wakeLocked()
}

// finished marks m as having everything; it keeps serving the others.
func (sw *swarmOut) finished(m *member) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	m.done = true
	sw.wakeLocked()
}

// waitEnd waits until no member is still receiving (connected and not
// done), ctx ends, or limit passes: then the swarm is over for a member
// that is done, and its connection may close.
func (sw *swarmOut) waitEnd(ctx context.Context, limit time.Duration) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		sw.mu.Lock()
		busy := len(sw.returning) > 0 || slices.ContainsFunc(sw.members, func(o *member) bool { return o.active && !o.done })
		wake := sw.wake
		sw.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-wake:
		}
	}
}

// swarmFileEnd sends a FileEnd in a swarm: as endFile, but the source
// stays open (the receiver may still want chunks of it directly).
func (s *sender) swarmFileEnd(sf *sendFile, ctrl *control) error {
	fi, err := os.Stat(sf.src.abs)
	if err != nil {
		return fmt.Errorf("read %s: %w", sf.src.abs, err)
	}
	if fi.Size() != sf.src.Size || fi.ModTime().UnixNano() != sf.src.MTime {
		return fmt.Errorf("%w: %s; send it again when it is complete", ErrSourceChanged, sf.src.abs)
	}
	sum := wire.FileHash(sf.src.Size, sf.src.Chunk, sf.hashes)
	return ctrl.send(wire.TypeFileEnd, wire.FileEnd{File: sf.idx, Size: sf.src.Size, Hash: sum[:]})
}

// swarmSchedule feeds work with m's chunks until ctx ends.
func (s *sender) swarmSchedule(ctx context.Context, m *member, work chan<- workItem) error {
	defer close(work)
	for {
		it, ok := s.sw.next(ctx, m)
		if !ok {
			return nil
		}
		select {
		case work <- it:
		case <-ctx.Done():
			return nil
		}
	}
}
