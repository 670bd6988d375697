package attack

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestOldSenderToldToUpdate connects as a protocol 1 sender (ALPN ferry/1
// only): the receiver must answer the offer with a refusing Decision of code
// "version" whose reason says to update ferry, and keep serving.
func TestOldSenderToldToUpdate(t *testing.T) {
	t.Parallel()
	r := startReceiver(t, "all")
	for _, v := range []int{1, 2} { // an old offer, and a v2 offer on the old ALPN
		c, err := dial(context.Background(), r.addr(), newDevice(t), "ferry/1")
		if err != nil {
			t.Fatalf("receiver refuses ALPN ferry/1 at the handshake: %v", err)
		}
		if p := c.ConnectionState().TLS.NegotiatedProtocol; p != "ferry/1" {
			t.Fatalf("negotiated %q", p)
		}
		ctl, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		o := smallOffer("old", "x.txt", 3)
		o.V = v
		writeFrame(ctl, tOffer, mustJSON(o))
		typ, body, err := readFrame(ctl, 5*time.Second)
		if err != nil || typ != tDecision {
			t.Fatalf("v%d offer on ferry/1: want a Decision, got %d %v", v, typ, err)
		}
		var dec decision
		json.Unmarshal(body, &dec)
		t.Logf("v%d offer on ferry/1: %s", v, body)
		if dec.Accept || dec.Code != "version" || !strings.Contains(strings.ToLower(dec.Reason), "update ferry") {
			t.Errorf("FINDING: old sender got %s, want accept false, code version, a reason saying \"update ferry\"", body)
		}
		c.CloseWithError(0, "")
	}
	// Both offered: protocol 2 wins. An unknown one alone: no handshake.
	c, err := dial(context.Background(), r.addr(), newDevice(t), "ferry/1", "ferry/2")
	if err != nil || c.ConnectionState().TLS.NegotiatedProtocol != "ferry/2" {
		t.Errorf("offering ferry/1 and ferry/2: %v", err)
	}
	if c, err := dial(context.Background(), r.addr(), newDevice(t), "ferry/3"); err == nil {
		t.Errorf("FINDING: handshake with ALPN ferry/3 succeeded (%q)", c.ConnectionState().TLS.NegotiatedProtocol)
	}
	if !r.alive() {
		t.Fatal("receiver died")
	}
	realSenderServed(t, r, 10*time.Second)
}

// TestOldReceiverToldToUpdate runs a real sender against a receiver that
// speaks only ALPN ferry/1: the sender must fail with a clear "update ferry"
// and close with code 11 (version). The receiver listens early (it gets the
// connection before its side of the handshake is done): the sender closes
// as soon as its own side is done, and a close that overtakes its Finished
// reaches the receiver as QUIC's APPLICATION_ERROR, without code or reason
// (RFC 9000 §10.2.3), which counts as the sender's close too.
func TestOldReceiverToldToUpdate(t *testing.T) {
	t.Parallel()
	dev := newDevice(t)
	ln, err := quic.ListenAddrEarly("127.0.0.1:0", dev.serverTLS("ferry/1"), quicConf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	conns := make(chan *quic.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			accepted.Add(1)
			select {
			case conns <- c:
			default:
				c.CloseWithError(8, "busy")
			}
		}
	}()
	s := sendFile(t, ln.Addr().String())
	select {
	case conn := <-conns:
		code, err := closeCode(conn, 10*time.Second)
		var te *quic.TransportError
		duringHandshake := errors.As(err, &te) && te.ErrorCode == quic.ApplicationErrorErrorCode
		if code != 11 && !duringHandshake {
			t.Errorf("sender closed the ferry/1 connection with %d (%v), want 11 (version)", code, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sender did not connect")
	}
	code := s.waitExit(10 * time.Second)
	out := strings.ToLower(s.Stderr() + " " + strings.TrimSpace(strings.Join(eventTexts(s), " ")))
	t.Logf("sender exit %d: %s", code, out)
	if code == 0 || code == -1 {
		t.Errorf("sender exit %d, want non-zero", code)
	}
	if !strings.Contains(out, "update ferry") {
		t.Errorf("FINDING: sender's message does not say \"update ferry\": %s", out)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("sender connected %d times to an old receiver", n)
	}
}

// eventTexts returns the messages of a process's events.
func eventTexts(p *proc) []string {
	var out []string
	for _, ev := range p.Events() {
		for _, k := range []string{"message", "reason"} {
			if s, ok := ev[k].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
