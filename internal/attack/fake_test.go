package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// fakeReceiver is the attacker's receiver: a QUIC server on loopback that
// real `ferry send` processes connect to.
type fakeReceiver struct {
	dev      device
	ln       *quic.Listener
	addr     string
	conns    chan *quic.Conn
	accepted atomic.Int32
}

func listenFake(t *testing.T, dev device, alpn ...string) *fakeReceiver {
	t.Helper()
	ln, err := quic.ListenAddr("127.0.0.1:0", dev.serverTLS(alpn...), quicConf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return serveFake(dev, ln)
}

// serveFake accepts connections on ln into a new fakeReceiver.
func serveFake(dev device, ln *quic.Listener) *fakeReceiver {
	f := &fakeReceiver{dev: dev, ln: ln, addr: ln.Addr().String(), conns: make(chan *quic.Conn, 64)}
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			f.accepted.Add(1)
			select {
			case f.conns <- c:
			default:
				c.CloseWithError(8, "busy")
			}
		}
	}()
	return f
}

// served is one connection from a real sender to the fake receiver.
type served struct {
	conn      *quic.Conn
	ctl       *quic.Stream
	offerBody []byte
	offer     offer
}

// nextOffer waits for the next connection and reads its offer.
func (f *fakeReceiver) nextOffer(t *testing.T, d time.Duration) *served {
	t.Helper()
	s, err := f.offerWithin(d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tryNextOffer is nextOffer returning nil when no offer came.
func (f *fakeReceiver) tryNextOffer(d time.Duration) *served {
	s, _ := f.offerWithin(d)
	return s
}

func (f *fakeReceiver) offerWithin(d time.Duration) (*served, error) {
	var c *quic.Conn
	select {
	case c = <-f.conns:
	case <-time.After(d):
		return nil, fmt.Errorf("no connection from the sender within %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ctl, err := c.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("accept control stream: %v", err)
	}
	typ, body, err := readFrame(ctl, d)
	if err != nil || typ != tOffer {
		return nil, fmt.Errorf("want Offer, got %d %v", typ, err)
	}
	s := &served{conn: c, ctl: ctl, offerBody: body}
	if err := json.Unmarshal(body, &s.offer); err != nil {
		return nil, fmt.Errorf("sender's offer: %v", err)
	}
	return s, nil
}

// commitAndReadNonce sends commitValue as the Commit and reads the sender's
// Nonce.
func (s *served) commitAndReadNonce(t *testing.T, commitValue []byte) []byte {
	t.Helper()
	nS, err := s.tryCommit(commitValue)
	if err != nil {
		t.Fatal(err)
	}
	return nS
}

// tryCommit is commitAndReadNonce for a sender that may refuse the commit.
func (s *served) tryCommit(commitValue []byte) ([]byte, error) {
	if err := writeFrame(s.ctl, tCommit, valueBody(commitValue)); err != nil {
		return nil, err
	}
	typ, body, err := readFrame(s.ctl, 10*time.Second)
	if err != nil || typ != tNonce {
		return nil, fmt.Errorf("want Nonce, got %d %q %v", typ, body, err)
	}
	var v value
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return v.Value, nil
}
