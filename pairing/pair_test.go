package pairing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/syncbuf"
	"github.com/ferry-lan/ferry/pairing/cpace"
)

// These tests run real QUIC over loopback UDP between two device identities
// in temporary homes. They wait for events with deadlines, never for sleeps.

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

const eventWait = 10 * time.Second

func newDevice(t *testing.T, name string) *identity.Device {
	t.Helper()
	d, err := identity.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type recorder struct {
	ch chan Event
	t  *testing.T
}

func newRecorder(t *testing.T) *recorder { return &recorder{ch: make(chan Event, 64), t: t} }

func (r *recorder) on(e Event) {
	select {
	case r.ch <- e:
	default:
		r.t.Errorf("event buffer full; dropped %v", e.Kind)
	}
}

// next waits for the next event of kind k, skipping others.
func (r *recorder) next(k EventKind) Event {
	r.t.Helper()
	timeout := time.NewTimer(eventWait)
	defer timeout.Stop()
	for {
		select {
		case e := <-r.ch:
			if e.Kind == k {
				return e
			}
		case <-timeout.C:
			r.t.Fatalf("no %v event within %v", k, eventWait)
		}
	}
}

func openWindow(t *testing.T, dev *identity.Device, opts Options) (*Window, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	if !opts.Listen.IsValid() {
		opts.Listen = loopback
	}
	opts.OnEvent = rec.on
	w, err := Open(t.Context(), dev, "bob", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, rec
}

func waitWindow(t *testing.T, w *Window) (identity.Peer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	p, err := w.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Fatal("window did not end in time")
	}
	return p, err
}

func wrongPIN(p PIN) PIN {
	n, _ := strconv.Atoi(string(p))
	return PIN(fmt.Sprintf("%06d", (n+1)%1_000_000))
}

func TestPairByPIN(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, rec := openWindow(t, bob, Options{})

	var g errgroup.Group
	var gotByA identity.Peer
	g.Go(func() (err error) {
		gotByA, err = Pair(t.Context(), alice, "alice", []netip.AddrPort{w.Addr()}, w.PIN())
		return err
	})
	gotByB, errB := waitWindow(t, w)
	if err := g.Wait(); err != nil {
		t.Fatalf("Pair: %v", err)
	}
	if errB != nil {
		t.Fatalf("Wait: %v", errB)
	}
	if gotByA.ID != bob.ID || gotByA.Name != "bob" || gotByA.Via != "pin" || gotByA.PairedAt.IsZero() {
		t.Errorf("A paired with %+v, want bob %v via pin", gotByA, bob.ID)
	}
	if gotByB.ID != alice.ID || gotByB.Name != "alice" || gotByB.Via != "pin" {
		t.Errorf("B paired with %+v, want alice %v via pin", gotByB, alice.ID)
	}
	if e := rec.next(Paired); e.Peer.ID != alice.ID || e.Mode != ModePIN {
		t.Errorf("Paired event %+v", e)
	}

	// The PIN was single-use: the window is gone.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := Pair(ctx, alice, "alice", []netip.AddrPort{w.Addr()}, w.PIN()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("second use of the PIN: err = %v, want ErrUnreachable", err)
	}
}

func TestPairByQRCode(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, _ := openWindow(t, bob, Options{})

	code, err := ParseCode(w.Code().String())
	if err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	var gotByA identity.Peer
	g.Go(func() (err error) {
		gotByA, err = Pair(t.Context(), alice, "alice", nil, code)
		return err
	})
	gotByB, errB := waitWindow(t, w)
	if err := g.Wait(); err != nil {
		t.Fatalf("Pair: %v", err)
	}
	if errB != nil {
		t.Fatalf("Wait: %v", errB)
	}
	if gotByA.ID != bob.ID || gotByA.Via != "qr" || gotByB.ID != alice.ID || gotByB.Via != "qr" {
		t.Errorf("A got %+v, B got %+v", gotByA, gotByB)
	}
}

// A code that names another device's key is refused during the TLS
// handshake, before any attempt; the window stays usable.
func TestQRCodePinsTheDevice(t *testing.T) {
	alice, bob, mallory := newDevice(t, "alice"), newDevice(t, "bob"), newDevice(t, "mallory")
	w, rec := openWindow(t, bob, Options{})

	code := w.Code()
	code.ID = mallory.ID
	_, err := Pair(t.Context(), alice, "alice", nil, code)
	if !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("Pair with a code naming another device: err = %v, want ErrPeerMismatch", err)
	}
	t.Log(err)

	// The window saw no attempt and still pairs.
	var g errgroup.Group
	g.Go(func() error {
		_, err := Pair(t.Context(), alice, "alice", nil, w.Code())
		return err
	})
	if _, err := waitWindow(t, w); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for len(rec.ch) > 0 {
		if e := <-rec.ch; e.Kind == AttemptFailed {
			t.Errorf("unexpected failed attempt: %+v", e)
		}
	}
}

func TestWrongPINThreeTimesClosesWindow(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, rec := openWindow(t, bob, Options{})
	addrs := []netip.AddrPort{w.Addr()}
	bad := wrongPIN(w.PIN())

	for i := 1; i <= MaxFailures; i++ {
		_, err := Pair(t.Context(), alice, "alice", addrs, bad)
		if !errors.Is(err, ErrWrongSecret) {
			t.Fatalf("attempt %d: err = %v, want ErrWrongSecret", i, err)
		}
		if last := i == MaxFailures; errors.Is(err, ErrClosed) != last {
			t.Fatalf("attempt %d: err = %v; ErrClosed expected only on the last", i, err)
		}
		if n, ok := TriesLeft(err); i < MaxFailures && (!ok || n != MaxFailures-i) {
			t.Errorf("attempt %d: TriesLeft = %d, %v; want %d, true", i, n, ok, MaxFailures-i)
		}
		e := rec.next(AttemptFailed)
		if e.Failures != i || e.Remaining != MaxFailures-i || !errors.Is(e.Err, ErrWrongSecret) || e.Mode != ModePIN {
			t.Errorf("attempt %d: event %+v", i, e)
		}
	}
	if _, err := waitWindow(t, w); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait: err = %v, want ErrClosed", err)
	}

	// The right PIN is now refused: the window no longer listens.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := Pair(ctx, alice, "alice", addrs, w.PIN()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("right PIN after closing: err = %v, want ErrUnreachable", err)
	}
}

func TestWindowExpires(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, rec := openWindow(t, bob, Options{Timeout: 300 * time.Millisecond})
	if _, err := waitWindow(t, w); !errors.Is(err, ErrExpired) {
		t.Fatalf("Wait: err = %v, want ErrExpired", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := Pair(ctx, alice, "alice", []netip.AddrPort{w.Addr()}, w.PIN()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("PIN after expiry: err = %v, want ErrUnreachable", err)
	}
	for len(rec.ch) > 0 {
		if e := <-rec.ch; e.Kind != AttemptStarted {
			t.Errorf("unexpected event %+v", e)
		}
	}
}

// An attempt in progress when the window expires is told so, and the
// expiry does not count as a failed attempt.
func TestExpiryDuringAttempt(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, rec := openWindow(t, bob, Options{})
	conn, _ := startRaw(t, alice, w, ModePIN, w.PIN())
	rec.next(AttemptStarted)

	w.cancel(ErrExpired) // what the window's deadline does, without waiting for it
	if _, err := waitWindow(t, w); !errors.Is(err, ErrExpired) {
		t.Fatalf("Wait: err = %v, want ErrExpired", err)
	}
	if code := closeCode(t, conn); code != codeExpired {
		t.Errorf("attempt in progress closed with %#x, want codeExpired", code)
	}
	for len(rec.ch) > 0 {
		if e := <-rec.ch; e.Kind == AttemptFailed {
			t.Errorf("expiry counted as a failed attempt: %+v", e)
		}
	}
}

func TestConcurrentAttemptIsBusy(t *testing.T) {
	alice, bob, carol := newDevice(t, "alice"), newDevice(t, "bob"), newDevice(t, "carol")
	w, rec := openWindow(t, bob, Options{})

	// Carol connects and holds the attempt.
	conn, _ := dialRaw(t, carol, w.Addr())
	rec.next(AttemptStarted)

	_, err := Pair(t.Context(), alice, "alice", []netip.AddrPort{w.Addr()}, w.PIN())
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("concurrent Pair: err = %v, want ErrBusy", err)
	}
	rec.next(AttemptBusy)

	// Carol gives up: that counts as a failure, and frees the window.
	conn.CloseWithError(codeCanceled, "")
	if e := rec.next(AttemptFailed); e.Failures != 1 {
		t.Errorf("failed event %+v", e)
	}
	var g errgroup.Group
	g.Go(func() error {
		_, err := Pair(t.Context(), alice, "alice", []netip.AddrPort{w.Addr()}, w.PIN())
		return err
	})
	if p, err := waitWindow(t, w); err != nil || p.ID != alice.ID {
		t.Fatalf("Wait = %+v, %v", p, err)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A device that connects and never finishes is cut off at the attempt
// deadline, and that counts as a failed attempt.
func TestStalledPeerIsCutOff(t *testing.T) {
	alice, bob, carol := newDevice(t, "alice"), newDevice(t, "bob"), newDevice(t, "carol")
	w, rec := openWindow(t, bob, Options{AttemptTimeout: 1500 * time.Millisecond})

	for i, stall := range []string{"after connecting", "after MSGa (B sent MSGb)"} {
		var conn *quic.Conn
		if i == 0 {
			conn, _ = dialRaw(t, carol, w.Addr())
		} else {
			var s *quic.Stream
			conn, s = startRaw(t, carol, w, ModePIN, w.PIN())
			if _, err := readFrame(s, frameReply); err != nil {
				t.Fatalf("read MSGb: %v", err)
			}
		}
		e := rec.next(AttemptFailed)
		if e.Failures != i+1 || !errors.Is(e.Err, ErrTimeout) {
			t.Errorf("stall %s: event %+v, want a timeout failure #%d", stall, e, i+1)
		}
		if code := closeCode(t, conn); code != codeTimeout {
			t.Errorf("stall %s: closed with %#x, want codeTimeout", stall, code)
		}
	}

	// One failure left: the right PIN still pairs.
	var g errgroup.Group
	g.Go(func() error {
		_, err := Pair(t.Context(), alice, "alice", []netip.AddrPort{w.Addr()}, w.PIN())
		return err
	})
	if _, err := waitWindow(t, w); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A recorded MSGa and Ta, valid for the right PIN and even for alice's own
// key, are useless in a new TLS session: the session id differs.
func TestReplayedMessagesRejected(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, rec := openWindow(t, bob, Options{})

	// What an eavesdropper could have recorded from an earlier session
	// between the same two devices with the same PIN.
	oldSID := []byte("an earlier TLS session's exporter")[:sidSize]
	ci := channelID(ModePIN, alice.ID, bob.ID)
	a, msgA, _ := cpace.Start(cpace.Initiator, w.PIN().prs(), ci, oldSID, encodeAD("alice"))
	b, msgB, _ := cpace.Start(cpace.Responder, w.PIN().prs(), ci, oldSID, encodeAD("bob"))
	b.Finish(msgA)
	a.Finish(msgB)
	oldTa, _ := a.Tag()

	conn, s := dialRaw(t, alice, w.Addr())
	if err := writeFrame(s, frameStart, encodeStart(ModePIN, msgA)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(s, frameReply); err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(s, frameTa, oldTa); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(s, frameTb); err == nil {
		t.Fatal("the window sent Tb for a replayed Ta")
	}
	if code := closeCode(t, conn); code != codeWrongSecret {
		t.Errorf("closed with %#x, want codeWrongSecret", code)
	}
	if e := rec.next(AttemptFailed); !errors.Is(e.Err, ErrWrongSecret) {
		t.Errorf("event %+v", e)
	}
}

// A fake window that reflects the initiator's own messages must not pass
// for one that knows the PIN.
func TestReflectingWindowRejected(t *testing.T) {
	alice, mallory := newDevice(t, "alice"), newDevice(t, "mallory")
	tr, ln := listenRaw(t, mallory)
	defer tr.Close()

	var g errgroup.Group
	g.Go(func() error {
		conn, err := ln.Accept(t.Context())
		if err != nil {
			return err
		}
		s, err := conn.AcceptStream(t.Context())
		if err != nil {
			return err
		}
		p, err := readFrame(s, frameStart)
		if err != nil {
			return err
		}
		_, msgA, err := decodeStart(p)
		if err != nil {
			return err
		}
		if err := writeFrame(s, frameReply, msgA); err != nil {
			return err
		}
		ta, err := readFrame(s, frameTa)
		if err != nil {
			<-conn.Context().Done() // alice aborted before Ta: good
			return nil
		}
		return writeFrame(s, frameTb, ta)
	})
	_, err := Pair(t.Context(), alice, "alice", []netip.AddrPort{addrPort(ln.Addr())}, PIN("123456"))
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("Pair with a reflecting window: err = %v, want ErrProtocol", err)
	}
	t.Log(err)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsAttempt(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	w, rec := openWindow(t, bob, Options{})
	conn, _ := dialRaw(t, alice, w.Addr())
	rec.next(AttemptStarted)
	w.Close()
	if _, err := w.Wait(t.Context()); err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrExpired) {
		t.Errorf("Wait after Close: %v", err)
	}
	if code := closeCode(t, conn); code != codeCanceled {
		t.Errorf("attempt closed with %#x, want codeCanceled", code)
	}
}

func TestOpenAndPairArguments(t *testing.T) {
	bob := newDevice(t, "bob")
	if _, err := Open(t.Context(), bob, "bob", Options{}); err == nil {
		t.Error("Open on all addresses without Hosts succeeded")
	}
	if _, err := Open(t.Context(), bob, "bad\x1bname", Options{Listen: loopback}); err == nil {
		t.Error("Open with a control character in the name succeeded")
	}
	w, err := Open(t.Context(), bob, "bob", Options{Hosts: []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("fd00::1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	text := w.Code().String()
	want := fmt.Sprintf("FERRY:1/192.0.2.7:%d,[FD00::1]:%d/", w.Addr().Port(), w.Addr().Port())
	if text[:len(want)] != want {
		t.Errorf("code %q does not start with %q", text, want)
	}
	if len(w.PIN()) != 6 {
		t.Errorf("PIN %q", w.PIN())
	}
	if _, err := Pair(t.Context(), bob, "bob", nil, PIN("123456")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Pair with a PIN and no address: %v", err)
	}
	if _, err := Pair(t.Context(), bob, "bob", nil, Code{ID: bob.ID, Secret: "short"}); !errors.Is(err, ErrBadCode) {
		t.Errorf("Pair with a bad code: %v", err)
	}
}

// Raw peers for misbehaving on purpose.

func clientTLS(dev *identity.Device) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{dev.Cert},
		InsecureSkipVerify: true,
		NextProtos:         []string{ALPN},
		ServerName:         "ferry",
	}
}

func dialRaw(t *testing.T, dev *identity.Device, addr netip.AddrPort) (*quic.Conn, *quic.Stream) {
	t.Helper()
	conn, err := quic.DialAddr(t.Context(), addr.String(), clientTLS(dev), &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(codeCanceled, "test over") })
	s, err := conn.OpenStreamSync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return conn, s
}

// startRaw connects and sends a valid start frame for secret.
func startRaw(t *testing.T, dev *identity.Device, w *Window, mode Mode, secret Secret) (*quic.Conn, *quic.Stream) {
	t.Helper()
	conn, s := dialRaw(t, dev, w.Addr())
	cs := conn.ConnectionState().TLS
	sid, err := sessionID(cs)
	if err != nil {
		t.Fatal(err)
	}
	cp, msgA, err := cpace.Start(cpace.Initiator, secret.prs(), channelID(mode, dev.ID, w.dev.ID), sid, encodeAD("carol"))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := writeFrame(s, frameStart, encodeStart(mode, msgA)); err != nil {
		t.Fatal(err)
	}
	return conn, s
}

// closeCode waits for conn to be closed by the peer and returns the code.
func closeCode(t *testing.T, conn *quic.Conn) quic.ApplicationErrorCode {
	t.Helper()
	select {
	case <-conn.Context().Done():
	case <-time.After(eventWait):
		t.Fatal("connection not closed in time")
	}
	code, ok := remoteCode(context.Cause(conn.Context()))
	if !ok {
		t.Fatalf("connection ended by %v, not by the peer's application", context.Cause(conn.Context()))
	}
	return code
}

func listenRaw(t *testing.T, dev *identity.Device) (*quic.Transport, *quic.Listener) {
	t.Helper()
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(serverTLS(dev), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr, ln
}

func addrPort(a net.Addr) netip.AddrPort { return a.(*net.UDPAddr).AddrPort() }

// Diagnostics never carry the PIN or the QR secret.
func TestLogsKeepSecrets(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, _ := openWindow(t, bob, Options{Logger: log})
	log.Info("showing", "pin", w.PIN(), "code", w.Code())
	_, err := Pair(t.Context(), alice, "alice", []netip.AddrPort{w.Addr()}, wrongPIN(w.PIN()))
	if !errors.Is(err, ErrWrongSecret) {
		t.Fatal(err)
	}
	var g errgroup.Group
	g.Go(func() error {
		_, err := Pair(t.Context(), alice, "alice", nil, w.Code())
		return err
	})
	if _, err := waitWindow(t, w); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "paired") {
		t.Errorf("log lacks the outcome:\n%s", out)
	}
	for _, secret := range []string{string(w.PIN()), w.Code().Secret} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret:\n%s", out)
		}
	}
}
