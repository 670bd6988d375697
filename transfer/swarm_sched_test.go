package transfer

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// The sender's swarm scheduling, without the network: members joined
// with a file of four chunks, their control frames read from their
// outboxes.

type schedSwarm struct {
	sw *swarmOut
	ms []*member
}

func newSchedSwarm(t *testing.T, n int) *schedSwarm {
	t.Helper()
	src := []source{{Entry: wire.Entry{Path: "f.bin", Size: 4 * mib, Chunk: mib}}}
	ss := &schedSwarm{sw: newSwarmOut(src)}
	for range n {
		s := &sender{log: slog.New(slog.DiscardHandler)}
		sf := &sendFile{src: &src[0], need: []int64{0, 1, 2, 3}, hashes: make([][wire.HashLen]byte, 4)}
		m, err := ss.sw.join(s, newDevice(t, "r").ID, "127.0.0.1:1", nil, []*sendFile{sf})
		if err != nil {
			t.Fatal(err)
		}
		ss.ms = append(ss.ms, m)
	}
	return ss
}

// haves takes m's outbox and returns the Haves in it.
func (ss *schedSwarm) haves(m *member) []wire.HaveChunk {
	ss.sw.mu.Lock()
	defer ss.sw.mu.Unlock()
	var out []wire.HaveChunk
	for _, f := range m.outbox {
		if h, ok := f.v.(wire.HaveChunk); ok {
			out = append(out, h)
		}
	}
	m.outbox = nil
	return out
}

// next is m's next chunk to send, or -1 if it has none now.
func (ss *schedSwarm) next(t *testing.T, m *member) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	it, ok := ss.sw.next(ctx, m)
	if !ok {
		return -1
	}
	return it.chunk
}

func holderOf(t *testing.T, hs []wire.HaveChunk, c int64) (identity.DeviceID, int) {
	t.Helper()
	for _, h := range hs {
		if h.Chunk == c {
			id, err := identity.ParseDeviceID(h.Holder)
			if err != nil {
				t.Fatal(err)
			}
			return id, h.Holders
		}
	}
	t.Fatalf("no Have of chunk %d in %v", c, hs)
	return identity.DeviceID{}, 0
}

// A silent member is named in no further Have, a chunk only it held is
// sent to one receiver that wants it and announced from there to the
// others, and what it was handed first and never sent goes to another.
func TestSwarmOutSilentMember(t *testing.T) {
	ss := newSchedSwarm(t, 3)
	a, b, c := ss.ms[0], ss.ms[1], ss.ms[2]
	if got := ss.next(t, a); got != 0 {
		t.Fatalf("a was handed chunk %d first, want 0", got)
	}
	ss.sw.sent(a, workItem{a.files[0], 0}, [wire.HashLen]byte{1})
	if id, n := holderOf(t, ss.haves(b), 0); id != a.id || n != 1 {
		t.Fatalf("b was told chunk 0 is at %s (%d holders), want a (1)", id.Short(), n)
	}
	ss.haves(c)
	if got := ss.next(t, a); got != 1 { // handed, never sent
		t.Fatalf("a was handed chunk %d second, want 1", got)
	}
	ss.sw.silence(a, peerSilence)
	// b and c fail to reach a and want chunk 0: one of them is sent it,
	// the other is told of it once it has gone out.
	if err := ss.sw.want(b, wire.WantChunk{File: 0, Chunk: 0}); err != nil {
		t.Fatal(err)
	}
	if err := ss.sw.want(c, wire.WantChunk{File: 0, Chunk: 0}); err != nil {
		t.Fatal(err)
	}
	if got := ss.next(t, b); got != 0 {
		t.Fatalf("b's next chunk is %d, want 0 (a chunk only the silent a held)", got)
	}
	if got := ss.next(t, c); got != 1 {
		t.Fatalf("c's next chunk is %d, want 1 (handed to the silent a, never sent)", got)
	}
	ss.sw.sent(b, workItem{b.files[0], 0}, [wire.HashLen]byte{1})
	if id, _ := holderOf(t, ss.haves(c), 0); id != b.id {
		t.Fatalf("c was told chunk 0 is at %s, want b", id.Short())
	}
	// a comes back: it is a holder again.
	ss.sw.heard(a)
	ss.sw.mu.Lock()
	up := a.up()
	ss.sw.mu.Unlock()
	if !up {
		t.Fatal("a heard from again is not taken back")
	}
}

// A Want with alt (the endgame) is answered with another holder the
// receiver was not told of, or not at all: never with the chunk.
func TestSwarmOutWantAlt(t *testing.T) {
	ss := newSchedSwarm(t, 3)
	a, b, c := ss.ms[0], ss.ms[1], ss.ms[2]
	if got := ss.next(t, a); got != 0 {
		t.Fatalf("a was handed chunk %d first, want 0", got)
	}
	ss.sw.sent(a, workItem{a.files[0], 0}, [wire.HashLen]byte{1})
	ss.haves(b)
	ss.haves(c)
	alt := wire.WantChunk{File: 0, Chunk: 0, Alt: true}
	if err := ss.sw.want(c, alt); err != nil {
		t.Fatal(err)
	}
	if hs := ss.haves(c); len(hs) != 0 {
		t.Fatalf("c was told %v, with no other holder than a", hs)
	}
	if err := ss.sw.got(b, wire.WantChunk{File: 0, Chunk: 0}); err != nil {
		t.Fatal(err)
	}
	if err := ss.sw.want(c, alt); err != nil {
		t.Fatal(err)
	}
	if id, n := holderOf(t, ss.haves(c), 0); id != b.id || n != 2 {
		t.Fatalf("c's second holder is %s (%d holders), want b (2)", id.Short(), n)
	}
	if err := ss.sw.want(c, alt); err != nil {
		t.Fatal(err)
	}
	ss.sw.mu.Lock()
	direct := len(c.direct)
	ss.sw.mu.Unlock()
	if hs := ss.haves(c); len(hs) != 0 || direct != 0 {
		t.Fatalf("a third alt want got %v and %d chunks to send: want nothing", hs, direct)
	}
}
