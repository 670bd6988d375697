package transfer

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

var codeRE = regexp.MustCompile(`^[0-9]{3}-[0-9]{3}$`)

// The code is fresh in every session: two sessions between the same two
// devices show different codes (before protocol 2 the code was a function
// of the two device IDs alone, which a man in the middle could grind keys
// against offline). Both screens agree within a session.
func TestCodeFreshEachSession(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(_ context.Context, info OfferInfo) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, info.Code)
			return true, nil
		}
	}))
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "a.txt", 100)
	writeFile(t, src, "b.txt", 100)
	s.mustSend(t, r, []string{filepath.Join(src, "a.txt")})
	s.mustSend(t, r, []string{filepath.Join(src, "b.txt")})
	var shown []string
	for _, e := range s.events.all() {
		if ev, ok := e.(EventConnected); ok {
			shown = append(shown, ev.Info.Code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(shown) != 2 || len(asked) != 2 {
		t.Fatalf("sender showed %v, receiver asked with %v", shown, asked)
	}
	for i := range 2 {
		if !codeRE.MatchString(shown[i]) || shown[i] != asked[i] {
			t.Errorf("session %d: sender shows %q, receiver %q", i, shown[i], asked[i])
		}
	}
	if shown[0] == shown[1] {
		t.Errorf("two sessions between the same devices show the same code %s", shown[0])
	}
}

// scripted is a receiver whose every connection runs script after the
// offer; it counts the connections the sender made.
type scripted struct {
	dev   *identity.Device
	addr  string
	conns atomic.Int32
}

func startScripted(t *testing.T, script func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, offer []byte)) *scripted {
	t.Helper()
	sr := &scripted{dev: newDevice(t, "scripted")}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(serverTLS(sr.dev), quicConfig())
	if err != nil {
		t.Fatal(err)
	}
	sr.addr = udp.LocalAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			sr.conns.Add(1)
			wg.Go(func() {
				ctrl, err := conn.AcceptStream(ctx)
				if err != nil {
					return
				}
				br := bufio.NewReader(ctrl)
				typ, body, err := wire.ReadFrame(br)
				if err != nil || typ != wire.TypeOffer {
					t.Errorf("scripted: read offer: %d %v", typ, err)
					return
				}
				script(conn, ctrl, br, body)
				select {
				case <-conn.Context().Done():
				case <-ctx.Done():
				}
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		tr.Close()
		wg.Wait()
		udp.Close()
	})
	return sr
}

func (sr *scripted) send(t *testing.T, s *testSender) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	src := t.TempDir()
	writeFile(t, src, "f.txt", 10)
	return Send(ctx, SendOptions{
		Device: s.dev, Name: "sender", Addrs: []string{sr.addr}, Expect: sr.dev.ID,
		Paths: []string{filepath.Join(src, "f.txt")}, Events: s.events.add,
		ConnectFor: 5 * time.Second, RetryFor: 5 * time.Second,
	})
}

// A receiver whose revealed nonce does not open its commitment could have
// chosen it after seeing the sender's: the sender stops, shows no code and
// does not try again.
func TestSenderChecksCommitment(t *testing.T) {
	sr := startScripted(t, func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, _ []byte) {
		wire.WriteFrame(ctrl, wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(wire.NewNonce())})
		wire.ReadFrame(br)
		wire.WriteFrame(ctrl, wire.TypeReveal, wire.NonceFrame{Value: wire.NewNonce()})
	})
	s := newSender(t)
	_, err := sr.send(t, s)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "does not open its commitment") {
		t.Fatalf("Send: %v", err)
	}
	if n := count2[EventConnected](s.events); n != 0 {
		t.Errorf("the sender showed %d codes", n)
	}
	if n := sr.conns.Load(); n != 1 {
		t.Errorf("the sender made %d connections", n)
	}
}

// A receiver accepting without the code exchange is refused.
func TestSenderNeedsVerification(t *testing.T) {
	sr := startScripted(t, func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, _ []byte) {
		wire.WriteFrame(ctrl, wire.TypeDecision, wire.Decision{Accept: true, Token: randBytes(wire.TokenLen)})
	})
	_, err := sr.send(t, newSender(t))
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "without a verification code") {
		t.Fatalf("Send: %v", err)
	}
}

// A connection lost after the code was shown and before the receiver
// decided is not reconnected unseen: a man in the middle could otherwise
// learn each code before revealing and drop the attempts that do not
// match. The sender stops with a clear error after one connection.
func TestNoReconnectBeforeAcceptance(t *testing.T) {
	s := newSender(t)
	sr := startScripted(t, func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, _ []byte) {
		mine := wire.NewNonce()
		wire.WriteFrame(ctrl, wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(mine)})
		wire.ReadFrame(br)
		wire.WriteFrame(ctrl, wire.TypeReveal, wire.NonceFrame{Value: mine})
		s.events.wait(t, "code shown", func(e Event) bool { _, ok := e.(EventConnected); return ok })
		conn.CloseWithError(codeShutdown, "gone")
	})
	_, err := sr.send(t, s)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "before it accepted") {
		t.Fatalf("Send: %v", err)
	}
	if n := sr.conns.Load(); n != 1 {
		t.Errorf("the sender made %d connections", n)
	}
	if n := count2[EventRetry](s.events); n != 0 {
		t.Errorf("%d retries", n)
	}
	if n := count2[EventConnected](s.events); n != 1 {
		t.Errorf("the sender showed %d codes, want 1", n)
	}
}

// A man in the middle between a real sender and a real receiver completes
// a session with each, with the best it can do: learn the sender's code
// first, then relay the sender's nonce to the receiver. Both screens show
// a code (the attempt is seen), and the codes differ.
func TestMITMRelayShowsDifferentCodes(t *testing.T) {
	asked := make(chan string, 1)
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(_ context.Context, info OfferInfo) (bool, error) {
			asked <- info.Code
			return false, nil // the user compares and declines
		}
	}))
	m2 := newDevice(t, "mallory-as-sender")
	myID := make(chan identity.DeviceID, 1) // the attacker's own, towards the sender
	predictions := make(chan [2]string, 1)  // what the attacker knows each side shows
	sr := startScripted(t, func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, offer []byte) {
		// Towards the sender: commit, take its nonce: the sender's code is
		// now known to the attacker, before it reveals.
		mine := wire.NewNonce()
		wire.WriteFrame(ctrl, wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(mine)})
		var ns wire.NonceFrame
		if typ, body, err := wire.ReadFrame(br); err != nil || wire.DecodeFrame(typ, wire.TypeNonce, body, &ns) != nil {
			t.Errorf("mitm: no nonce from the sender: %v", err)
			return
		}
		ekm1, _ := wire.Exporter(conn.ConnectionState().TLS)
		sender, _ := identity.PeerID(conn.ConnectionState().TLS)
		var predicted [2]string
		predicted[0] = wire.VerificationCode(wire.SASInput{Sender: sender, Receiver: <-myID, Exporter: ekm1, Offer: wire.OfferDigest(offer), SenderNonce: ns.Value, ReceiverNonce: mine})
		// Towards the receiver: the same offer; a nonce sent before the
		// receiver's is known (here the sender's).
		h := dialHostile(t, m2, r)
		h.rawFrame(wire.TypeOffer, offer)
		h.ctrl.SetReadDeadline(time.Now().Add(testTimeout))
		var commit, nr wire.NonceFrame
		if typ, body, err := wire.ReadFrame(h.br); err != nil || wire.DecodeFrame(typ, wire.TypeCommit, body, &commit) != nil {
			t.Errorf("mitm: no commitment from the receiver: %v", err)
			return
		}
		h.frame(wire.TypeNonce, ns)
		if typ, body, err := wire.ReadFrame(h.br); err != nil || wire.DecodeFrame(typ, wire.TypeReveal, body, &nr) != nil {
			t.Errorf("mitm: no reveal from the receiver: %v", err)
			return
		}
		ekm2, _ := wire.Exporter(h.conn.ConnectionState().TLS)
		predicted[1] = wire.VerificationCode(wire.SASInput{Sender: m2.ID, Receiver: r.cfg.Device.ID, Exporter: ekm2, Offer: wire.OfferDigest(offer), SenderNonce: ns.Value, ReceiverNonce: nr.Value})
		predictions <- predicted
		wire.WriteFrame(ctrl, wire.TypeReveal, wire.NonceFrame{Value: mine})
		// The receiver's decision, relayed.
		if typ, body, err := wire.ReadFrame(h.br); err == nil && typ == wire.TypeDecision {
			ctrl.Write(append(binary.BigEndian.AppendUint32([]byte{wire.TypeDecision}, uint32(len(body))), body...))
		}
	})
	myID <- sr.dev.ID
	s := newSender(t)
	_, err := sr.send(t, s)
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("Send: %v", err)
	}
	var shown string
	for _, e := range s.events.all() {
		if ev, ok := e.(EventConnected); ok {
			shown = ev.Info.Code
		}
	}
	var receiverCode string
	select {
	case receiverCode = <-asked:
	default:
		t.Fatal("the receiver never asked: the attempt went unseen")
	}
	var predicted [2]string
	select {
	case predicted = <-predictions:
	case <-time.After(testTimeout):
		t.Fatal("the attacker never completed both exchanges")
	}
	if shown != predicted[0] || receiverCode != predicted[1] {
		t.Fatalf("the attacker did not complete both sessions: shown %q/%q, predicted %q", shown, receiverCode, predicted)
	}
	if shown == receiverCode {
		t.Errorf("both screens show %s through a man in the middle", shown)
	}
	if n := sr.conns.Load(); n != 1 {
		t.Errorf("the sender made %d connections", n)
	}
}

// count2 counts the events of type E in l.
func count2[E Event](l *eventLog) int {
	n := 0
	for _, e := range l.all() {
		if _, ok := e.(E); ok {
			n++
		}
	}
	return n
}

// A sender of protocol 1 (ALPN ferry/1) is told, in a decision it
// understands, to update; the receiver's user is told why it was refused.
func TestOldSenderToldToUpdate(t *testing.T) {
	r := startReceiver(t)
	dev := newDevice(t, "old")
	tr, _ := loopbackTransport(t)
	tlsConf := clientTLS(dev, r.cfg.Device.ID)
	tlsConf.NextProtos = []string{wire.ALPNv1}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := tr.Dial(ctx, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.Port()}, tlsConf, quicConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What ferry 1 sends: its offer, then it waits for the decision.
	wire.WriteFrame(ctrl, wire.TypeOffer, wire.Offer{Version: 1, Name: "old-laptop", Entries: []wire.Entry{file("a", 1)}})
	ctrl.SetReadDeadline(time.Now().Add(testTimeout))
	typ, body, err := wire.ReadFrame(bufio.NewReader(ctrl))
	var d wire.Decision
	if err != nil || wire.DecodeFrame(typ, wire.TypeDecision, body, &d) != nil {
		t.Fatalf("no decision: %v", err)
	}
	if d.Accept || d.Code != wire.DeclineVersion || !strings.Contains(d.Reason, "update ferry on this computer") {
		t.Errorf("decision %+v", d)
	}
	ev := r.events.wait(t, "declined", func(e Event) bool { _, ok := e.(EventDeclined); return ok }).(EventDeclined)
	if ev.Info.PeerName != "old-laptop" || !strings.Contains(ev.Reason, "older version of ferry") || !strings.Contains(ev.Reason, "update ferry") {
		t.Errorf("receiver was told %+v", ev)
	}
}

// A receiver of protocol 1 (which negotiates only ferry/1) gets no offer;
// the sender says which side to update instead of a cryptic failure.
func TestOldReceiverToldToUpdate(t *testing.T) {
	dev := newDevice(t, "old-receiver")
	tr, udp := loopbackTransport(t)
	tlsConf := serverTLS(dev)
	tlsConf.NextProtos = []string{wire.ALPNv1}
	// An early listener hands over the connection before the handshake
	// completes on this side: the sender closes as soon as it is done on its
	// side, and a close that overtakes its Finished would otherwise end a
	// connection Accept never returns (then nothing here saw it).
	ln, err := tr.ListenEarly(tlsConf, quicConfig())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			closed <- err
			return
		}
		<-conn.Context().Done()
		closed <- context.Cause(conn.Context())
	}()
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "f", 10)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err = Send(ctx, SendOptions{Device: s.dev, Addrs: []string{udp.LocalAddr().String()}, Expect: dev.ID, Paths: []string{filepath.Join(src, "f")}})
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "update ferry on the receiving computer") {
		t.Fatalf("Send: %v", err)
	}
	select {
	case cause := <-closed:
		var ae *quic.ApplicationError
		var te *quic.TransportError
		switch {
		case errors.As(cause, &ae):
			if ae.ErrorCode != codeVersion || !strings.Contains(ae.ErrorMessage, "update ferry") {
				t.Errorf("the old receiver saw %v", ae)
			}
		case errors.As(cause, &te) && te.ErrorCode == quic.ApplicationErrorErrorCode:
			// The close came before this side's handshake was done: QUIC
			// then carries an application's close as APPLICATION_ERROR,
			// without its code and reason (RFC 9000 §10.2.3).
			t.Logf("closed during the handshake: %v", te)
		default:
			t.Errorf("the old receiver's connection ended by %v, want the sender's close", cause)
		}
	case <-time.After(testTimeout):
		t.Fatal("the connection was not closed")
	}
}

// loopbackTransport is a QUIC endpoint on a free loopback port, closed when
// the test ends.
func loopbackTransport(t *testing.T) (*quic.Transport, *net.UDPConn) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() {
		tr.Close()
		udp.Close()
	})
	return tr, udp
}

// Once the sender's nonce is out, whoever holds the other end knows the
// code; a close then, even as busy, ends the command instead of a new
// attempt that would show another code.
func TestNoReconnectAfterNonce(t *testing.T) {
	sr := startScripted(t, func(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, _ []byte) {
		wire.WriteFrame(ctrl, wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(wire.NewNonce())})
		wire.ReadFrame(br)
		conn.CloseWithError(codeBusy, "busy, try again")
	})
	s := newSender(t)
	_, err := sr.send(t, s)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "in the middle of the verification code exchange") {
		t.Fatalf("Send: %v", err)
	}
	if n := sr.conns.Load(); n != 1 {
		t.Errorf("the sender made %d connections", n)
	}
	if n := count2[EventConnected](s.events); n != 0 {
		t.Errorf("%d codes shown", n)
	}
}
