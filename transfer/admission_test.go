package transfer

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// An acceptance covers exactly the offer the user saw. After "hello.txt"
// was accepted, the same sender offering something else under the same
// session string is asked about again (before, it was written with no
// question); the same offer again is not.
func TestAcceptanceCoversOnlyTheOffer(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(_ context.Context, info OfferInfo) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, strings.Join(info.Paths, ","))
			return len(asked) == 1, nil // yes to the first question only
		}
	}))
	mallory := newDevice(t, "mallory")
	h1 := dialHostile(t, mallory, r)
	h1.accepted(file("hello.txt", 5))
	h1.close()

	h2 := dialHostile(t, mallory, r)
	payload := wire.Entry{Path: "not-what-you-accepted/payload.sh", Size: 5, Chunk: kc, Exec: true, MTime: 1}
	if d := h2.offer(dir("not-what-you-accepted"), payload); d.Accept {
		t.Fatal("a different offer under the same session string was accepted")
	}
	h2.close()

	h3 := dialHostile(t, mallory, r) // a reconnect of what was accepted
	h3.accepted(file("hello.txt", 5))
	h3.close()

	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 || asked[1] != payload.Path {
		t.Errorf("questions asked: %q", asked)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "not-what-you-accepted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused offer left %v", err)
	}
}

// A receiver that accepts and then never reads makes the sender give up
// after its stall timeout, resumably (exit 5), instead of waiting for
// ever while keep-alives hold the connection.
func TestSenderGivesUpOnStalledReceiver(t *testing.T) {
	for _, tc := range []struct {
		name string
		take func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader)
	}{
		{"never-reads", func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader) {
			<-conn.Context().Done() // data streams are never accepted
		}},
		{"never-confirms", func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader) {
			str, err := conn.AcceptUniStream(context.Background())
			if err != nil {
				return
			}
			buf := make([]byte, 64<<10)
			for { // takes every byte and the file's end, confirms nothing
				if _, err := str.Read(buf); err != nil {
					break
				}
			}
			<-conn.Context().Done()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := startScripted(t, func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, _ []byte) {
				mine := wire.NewNonce()
				wire.WriteFrame(ctrl, wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(mine)})
				wire.ReadFrame(br)
				wire.WriteFrame(ctrl, wire.TypeReveal, wire.NonceFrame{Value: mine})
				wire.WriteFrame(ctrl, wire.TypeDecision, wire.Decision{Accept: true, Token: randBytes(wire.TokenLen), Name: "staller"})
				wire.ReadFrame(br) // the plan
				tc.take(conn, ctrl, br)
			})
			src := t.TempDir()
			writeFile(t, src, "big.bin", 8<<20)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			start := time.Now()
			_, err := Send(ctx, SendOptions{
				Device: newDevice(t, "sender"), Name: "sender", Addrs: []string{sr.addr}, Expect: sr.dev.ID,
				Paths: []string{filepath.Join(src, "big.bin")}, Streams: 1, Conns: 1,
				StallTimeout: time.Second, RetryFor: 5 * time.Second,
			})
			if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "took no data and confirmed nothing") {
				t.Fatalf("Send: %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("gave up after %s", d)
			}
		})
	}
}

// 300 connections whose first stream is a data stream with no hello do not
// lock a real sender out: they stay counted as waiting (the oldest are
// closed to make room) instead of each holding a connection slot until
// its deadline.
func TestDataStreamFloodServesRealSender(t *testing.T) {
	env := newHostileEnv(t)
	mallory := newDevice(t, "mallory")
	var hs []*hostile
	for range 300 {
		h := dialHostile(t, mallory, env.r)
		str, err := h.conn.OpenUniStream()
		if err != nil {
			t.Fatal(err)
		}
		str.Write([]byte{wire.TypeStreamHello}) // the token never comes
		hs = append(hs, h)
	}
	env.realSend(t, 3*time.Second)
	open := 0
	for _, h := range hs {
		if h.conn.Context().Err() == nil {
			open++
		}
	}
	if open > maxPending {
		t.Errorf("%d flooding connections still held, want at most %d", open, maxPending)
	}
	for _, h := range hs {
		h.close()
	}
}

// An accepted session that never sends its plan cannot hold the
// receiver's connections: at most maxJoining further connections naming
// its token wait for it, the rest are closed as busy at once, and a real
// sender is served.
func TestJoinFloodBounded(t *testing.T) {
	env := newHostileEnv(t, withConfig(func(c *ReceiverConfig) { c.MaxSessions = 8 }))
	mallory := newDevice(t, "mallory")
	h := dialHostile(t, mallory, env.r)
	h.accepted(file("x", 10)) // and no plan
	var joiners []*hostile
	for range 40 {
		j := dialHostile(t, mallory, env.r)
		j.dataStream(h.dec.Token)
		joiners = append(joiners, j)
	}
	closed := closings(joiners)
	expectBusy(t, closed, len(joiners)-maxJoining)
	env.realSend(t, 3*time.Second)
	select { // the ones waiting for the session are still open
	case <-closed:
		t.Errorf("more than %d surplus connections were closed", len(joiners)-maxJoining)
	default:
	}
	for _, j := range joiners {
		j.close()
	}
	h.close()
}

// Refusals wait a moment for the sender to read them; 300 connections
// that draw one at once (here an offer of another protocol version) stay
// counted as waiting, oldest closed first, and a real sender is served.
func TestRefusalFloodServesRealSender(t *testing.T) {
	env := newHostileEnv(t)
	mallory := newDevice(t, "mallory")
	var hs []*hostile
	for range 300 {
		h := dialHostile(t, mallory, env.r)
		h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version + 1, Entries: []wire.Entry{file("x", 1)}})
		hs = append(hs, h)
	}
	env.realSend(t, 3*time.Second)
	for _, h := range hs {
		h.close()
	}
}

// Sessions accepted (here under --accept all) that then send nothing cannot
// hold every session slot: once one has been idle for displaceAfter, a new
// sender takes its slot and the idle one is closed as busy.
func TestIdleSessionDisplaced(t *testing.T) {
	env := newHostileEnv(t, withConfig(func(c *ReceiverConfig) { c.MaxSessions = 2 }), func(_ *ReceiverConfig, r *Receiver) {
		if r != nil {
			r.displaceAfter = 300 * time.Millisecond
		}
	})
	var idle []*hostile
	for range 2 {
		h := dialHostile(t, newDevice(t, "mallory"), env.r)
		h.accepted(file("x", 10)) // and then no plan, nothing
		idle = append(idle, h)
	}
	env.realSend(t, testTimeout)
	displaced := 0
	for _, h := range idle {
		if h.conn.Context().Err() != nil {
			var ae *quic.ApplicationError
			if errors.As(context.Cause(h.conn.Context()), &ae) && ae.ErrorCode == codeBusy && strings.Contains(ae.ErrorMessage, "another sender waited") {
				displaced++
			}
		}
		h.close()
	}
	if displaced != 1 {
		t.Errorf("%d idle sessions displaced, want 1", displaced)
	}
}

// Ctrl-C while the receiver's user decides ends the sender's wait at once,
// and the receiver's question goes away with ErrSenderGone as its cause;
// nothing is accepted afterwards.
func TestCancelWhileAsked(t *testing.T) {
	asked := make(chan struct{})
	cause := make(chan error, 1)
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(ctx context.Context, _ OfferInfo) (bool, error) {
			close(asked)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return true, nil // a late yes must not start anything
		}
	}))
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "f.txt", 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.send(ctx, r, []string{filepath.Join(src, "f.txt")})
		done <- err
	}()
	select {
	case <-asked:
	case <-time.After(testTimeout):
		t.Fatal("never asked")
	}
	cancel() // Ctrl-C
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Second):
		t.Fatal("the sender still waits 1 s after Ctrl-C")
	}
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("Send: %v", err)
	}
	select {
	case c := <-cause:
		if !errors.Is(c, ErrSenderGone) {
			t.Errorf("the question ended with %v, want ErrSenderGone", c)
		}
	case <-time.After(testTimeout):
		t.Fatal("the question stayed on screen")
	}
	if n := count[EventSession](r); n != 0 {
		t.Errorf("%d sessions started", n)
	}
}

// Further connections of a running session are bounded too: a sender (any
// stranger under --accept all) naming its own token from 40 connections
// keeps at most maxJoining, and a real sender is served.
func TestJoinFloodRunningSession(t *testing.T) {
	env := newHostileEnv(t)
	mallory := newDevice(t, "mallory")
	h := dialHostile(t, mallory, env.r)
	h.accepted(file("x", 10))
	h.plan(wire.Plan{})
	h.progress() // the session runs
	var joiners []*hostile
	for range 40 {
		j := dialHostile(t, mallory, env.r)
		j.dataStream(h.dec.Token)
		joiners = append(joiners, j)
	}
	expectBusy(t, closings(joiners), len(joiners)-maxJoining)
	env.realSend(t, 3*time.Second)
	for _, j := range joiners {
		j.close()
	}
	h.close()
}

// closings reports each connection's end on the returned channel: true
// when the receiver closed it as busy.
func closings(hs []*hostile) <-chan bool {
	closed := make(chan bool, len(hs))
	for _, h := range hs {
		go func() {
			<-h.conn.Context().Done()
			var ae *quic.ApplicationError
			closed <- errors.As(context.Cause(h.conn.Context()), &ae) && ae.Remote && ae.ErrorCode == codeBusy
		}()
	}
	return closed
}

// expectBusy waits until want of the connections behind closed were
// closed as busy, and fails on any closed otherwise.
func expectBusy(t *testing.T, closed <-chan bool, want int) {
	t.Helper()
	deadline := time.After(testTimeout)
	for busy := 0; busy < want; {
		select {
		case b := <-closed:
			if !b {
				t.Fatalf("a further connection was closed, but not as busy: after %d busy", busy)
			}
			busy++
		case <-deadline:
			t.Fatalf("%d of %d surplus connections were closed as busy", busy, want)
		}
	}
}
