package attack

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// flooder opens many QUIC connections to one receiver from one UDP socket.
type flooder struct {
	t      *testing.T
	tr     *quic.Transport
	raddr  *net.UDPAddr
	mu     sync.Mutex
	conns  []*quic.Conn
	failed atomic.Int32 // dials that failed
}

func newFlooder(t *testing.T, addr string) *flooder {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &flooder{t: t, tr: &quic.Transport{Conn: udp}, raddr: raddr}
	t.Cleanup(func() {
		for _, c := range f.all() {
			c.CloseWithError(0, "")
		}
		f.tr.Close()
		udp.Close()
	})
	return f
}

func (f *flooder) all() []*quic.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*quic.Conn(nil), f.conns...)
}

// open dials n connections, parallel at a time, each as dev() and then
// running act on it (which must not block long). It returns when all are
// dialled or ctx ends.
func (f *flooder) open(ctx context.Context, n, parallel int, dev func() device, act func(c *quic.Conn)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			d := dev()
			c, err := f.tr.Dial(dctx, f.raddr, d.clientTLS(), quicConf())
			if err != nil {
				f.failed.Add(1)
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			if act != nil {
				act(c)
			}
		}()
	}
	wg.Wait()
}

// stillOpen counts the flood's connections the receiver has not closed.
func (f *flooder) stillOpen() int {
	n := 0
	for _, c := range f.all() {
		if c.Context().Err() == nil {
			n++
		}
	}
	return n
}

// keys returns a device generator: a fresh key per connection, from a pool
// made up front so that the flood is not slowed by key generation.
func keys(t *testing.T, n int) func() device {
	pool := make([]device, n)
	for i := range pool {
		pool[i] = newDevice(t)
	}
	var next atomic.Int32
	return func() device { return pool[int(next.Add(1)-1)%n] }
}

// floodThenServe opens 300 connections doing act, then runs a real sender
// while 100 more arrive, and asserts the sender is served within 5 s and
// that the unproven connections left open are at most maxOpen.
func floodThenServe(t *testing.T, r *receiver, dev func() device, act func(c *quic.Conn), maxOpen int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	f := newFlooder(t, r.addr())
	start := time.Now()
	f.open(ctx, 300, 32, dev, act)
	flooded := time.Since(start)
	// The receiver closes the oldest unproven connections as new ones come:
	// wait (bounded) for that to settle.
	var open int
	deadline := time.Now().Add(5 * time.Second)
	for open = f.stillOpen(); open > maxOpen && time.Now().Before(deadline); open = f.stillOpen() {
		select {
		case <-time.After(50 * time.Millisecond): // polling the flood's own state
		case <-ctx.Done():
		}
	}
	t.Logf("300 connections in %v (%d dials failed), %d still open", flooded.Round(time.Millisecond), f.failed.Load(), open)
	if open > maxOpen {
		t.Errorf("FINDING: %d flood connections still open, want at most %d", open, maxOpen)
	}
	// The real sender, while 100 more flood connections arrive.
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.open(ctx, 100, 16, dev, act)
	}()
	d := realSenderServed(t, r, 5*time.Second)
	<-done
	t.Logf("real sender served in %v under the flood", d.Round(time.Millisecond))
	if !r.alive() {
		t.Fatal("receiver died")
	}
}

// TestFloodHandshakeOnly: connections that complete the handshake and then
// send nothing.
func TestFloodHandshakeOnly(t *testing.T) {
	r := startReceiver(t, "all")
	floodThenServe(t, r, keys(t, 64), nil, 32)
}

// TestFloodOfferNoNonce: connections that offer and never send the nonce.
func TestFloodOfferNoNonce(t *testing.T) {
	r := startReceiver(t, "all")
	body := mustJSON(smallOffer("flood", "f.txt", 1))
	floodThenServe(t, r, keys(t, 64), func(c *quic.Conn) {
		if s, err := c.OpenStream(); err == nil {
			writeFrame(s, tOffer, body)
		}
	}, 32)
}

// TestFloodUniStreamNoHello: connections whose first stream is
// unidirectional and says nothing (or only the hello's type byte).
func TestFloodUniStreamNoHello(t *testing.T) {
	r := startReceiver(t, "all")
	var i atomic.Int32
	floodThenServe(t, r, keys(t, 64), func(c *quic.Conn) {
		if s, err := c.OpenUniStream(); err == nil {
			if i.Add(1)%2 == 0 {
				s.Write([]byte{0x10})
			} else {
				s.Write(nil)
			}
		}
	}, 32)
}

// TestFloodUnknownToken: further connections naming a token of no session.
func TestFloodUnknownToken(t *testing.T) {
	r := startReceiver(t, "all")
	floodThenServe(t, r, keys(t, 64), func(c *quic.Conn) { join(c, random(16)) }, 32)
}

// join opens a data stream naming token and leaves it open.
func join(c *quic.Conn, token []byte) {
	if s, err := c.OpenUniStream(); err == nil {
		s.Write(dataHello(token))
	}
}

// TestFloodJoinWaitingSession: the attacker holds an accepted session that
// has not started (no plan yet) and opens 300 further connections with its
// key naming the session's real token: at most 8 may wait for it.
func TestFloodJoinWaitingSession(t *testing.T) {
	r := startReceiver(t, "all")
	dev := newDevice(t)
	a := acceptedSession(t, r, dev, "j.txt", 3, false)
	floodThenServe(t, r, func() device { return dev }, func(c *quic.Conn) { join(c, a.dec.Token) }, 8)
}

// TestFloodJoinRunningSession: as TestFloodJoinWaitingSession, but the
// session has its plan and runs. A sender opens up to 3 further
// connections (doc.go), and a receiver must keep serving real senders
// (SECURITY.md), so 300 joins must not fill the receiver's 256 connections:
// at most 3 joined plus 32 unproven may stay.
func TestFloodJoinRunningSession(t *testing.T) {
	r := startReceiver(t, "all")
	dev := newDevice(t)
	a := acceptedSession(t, r, dev, "j.txt", 3, true)
	floodThenServe(t, r, func() device { return dev }, func(c *quic.Conn) { join(c, a.dec.Token) }, 3+32)
}

// TestFloodOldProtocol: connections that negotiate ferry/1 and say nothing.
func TestFloodOldProtocol(t *testing.T) {
	r := startReceiver(t, "all")
	pool := keys(t, 64)
	floodThenServe(t, r, func() device { d := pool(); d.alpn = "ferry/1"; return d }, nil, 32)
}
