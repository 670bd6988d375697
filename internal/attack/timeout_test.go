package attack

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestUnprovenCutOffAt20s: the offer and the nonce must be in within 20 s
// of the handshake. Connections that say nothing, stop after the offer, or
// trickle their offer or nonce a byte at a time must be closed by then
// (checked at 25 s), and a real sender is served meanwhile.
func TestUnprovenCutOffAt20s(t *testing.T) {
	t.Parallel()
	r := startReceiver(t, "all")
	ctx, cancel := context.WithTimeout(context.Background(), 27*time.Second)
	defer cancel()
	trickle := func(s *quic.Stream, b []byte) {
		for _, c := range b {
			if _, err := s.Write([]byte{c}); err != nil || ctx.Err() != nil {
				return
			}
			select {
			case <-time.After(100 * time.Millisecond): // the attack's pace
			case <-ctx.Done():
				return
			}
		}
	}
	offerBody := mustJSON(smallOffer("slow", "s.txt", 1))
	plays := map[string]func(c *quic.Conn){
		"handshake-only": func(c *quic.Conn) {},
		"offer-no-nonce": func(c *quic.Conn) {
			s, err := c.OpenStreamSync(ctx)
			if err != nil {
				return
			}
			writeFrame(s, tOffer, offerBody)
		},
		"offer-trickled": func(c *quic.Conn) {
			s, err := c.OpenStreamSync(ctx)
			if err != nil {
				return
			}
			trickle(s, frame(tOffer, append(bytes.Repeat([]byte(" "), 300), offerBody...)))
		},
		"nonce-trickled": func(c *quic.Conn) {
			s, err := c.OpenStreamSync(ctx)
			if err != nil {
				return
			}
			writeFrame(s, tOffer, offerBody)
			readFrame(s, 5*time.Second)
			trickle(s, frame(tNonce, append(bytes.Repeat([]byte(" "), 160), valueBody(random(32))...)))
		},
		"old-protocol-silent": nil,
	}
	start := time.Now()
	var wg sync.WaitGroup
	for name, play := range plays {
		wg.Add(1)
		dev := newDevice(t)
		go func() {
			defer wg.Done()
			if play == nil {
				dev.alpn = "ferry/1"
				play = func(c *quic.Conn) {}
			}
			c, err := dial(ctx, r.addr(), dev)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer c.CloseWithError(0, "")
			go play(c)
			_, err = closeCode(c, 25*time.Second)
			t.Logf("%s: closed after %v: %v", name, time.Since(start).Round(100*time.Millisecond), err)
			if err == errStillOpen {
				t.Errorf("FINDING: %s: connection still open after 25 s", name)
			}
		}()
	}
	realSenderServed(t, r, 10*time.Second)
	wg.Wait()
}
