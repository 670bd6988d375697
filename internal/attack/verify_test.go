package attack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestKitSpeaksProtocol2 checks the kit against both real sides: the code it
// computes from the spec is the code each side prints, and a whole transfer
// from the kit's sender lands. Every other test relies on this.
func TestKitSpeaksProtocol2(t *testing.T) {
	t.Run("against-receiver", func(t *testing.T) {
		r := startReceiver(t, "all")
		data := []byte("sent by the kit\n")
		a := connect(t, r.addr(), newDevice(t), mustJSON(smallOffer("kit", "kit.txt", int64(len(data)))))
		a.verify(t)
		if !a.dec.Accept || len(a.dec.Token) != 16 {
			t.Fatalf("decision %+v", a.dec)
		}
		a.deliver(t, data)
		ev, ok := r.waitEvent("session", 1, 5*time.Second)
		if !ok || ev["code"] != a.code {
			t.Fatalf("receiver's code %v, the spec's %s", ev["code"], a.code)
		}
		got, err := os.ReadFile(filepath.Join(r.dir, "kit.txt"))
		if err != nil || string(got) != string(data) {
			t.Fatalf("received %q %v", got, err)
		}
	})
	t.Run("against-sender", func(t *testing.T) {
		f := listenFake(t, newDevice(t))
		s := sendFile(t, f.addr)
		sv := f.nextOffer(t, 10*time.Second)
		nR := random(32)
		nS := sv.commitAndReadNonce(t, commitment(nR))
		writeFrame(sv.ctl, tReveal, valueBody(nR))
		want := verificationCode(peerID(sv.conn), f.dev.id, exporter(sv.conn), sv.offerBody, nS, nR)
		ev, ok := s.waitEvent("connected", 1, 5*time.Second)
		if !ok || ev["code"] != want {
			t.Fatalf("sender's code %v, the spec's %s", ev["code"], want)
		}
		writeFrame(sv.ctl, tDecision, mustJSON(decision{Accept: true, Token: random(16), Have: []byte("[]")}))
		if typ, body, err := readFrame(sv.ctl, 5*time.Second); err != nil || typ != tPlan {
			t.Fatalf("want Plan after a proper acceptance, got %d %s %v", typ, body, err)
		}
		if _, ok := s.waitEvent("accepted", 1, 5*time.Second); !ok {
			t.Fatal("sender did not report the acceptance")
		}
	})
}

// TestMITMRelayShowsDifferentCodes puts the kit between a real sender and a
// real receiver as a relay that replays the receiver's commitment to the
// sender and forwards both nonces and the offer's exact bytes: the two
// screens must show different codes (a match has probability 10^-6), each
// the spec's code for its own connection.
func TestMITMRelayShowsDifferentCodes(t *testing.T) {
	r := startReceiver(t, "all")
	mitm := newDevice(t)
	f := listenFake(t, mitm)
	s := sendFile(t, f.addr)
	sv := f.nextOffer(t, 10*time.Second)

	up := connect(t, r.addr(), mitm, sv.offerBody) // the offer as the sender sent it
	typ, body, err := readFrame(up.ctl, 5*time.Second)
	if err != nil || typ != tCommit {
		t.Fatalf("want Commit, got %d %v", typ, err)
	}
	commitR := body
	writeFrame(sv.ctl, tCommit, commitR) // replayed to the sender
	typ, body, err = readFrame(sv.ctl, 5*time.Second)
	if err != nil || typ != tNonce {
		t.Fatalf("want Nonce, got %d %v", typ, err)
	}
	writeFrame(up.ctl, tNonce, body) // the sender's nonce to the receiver
	var nS, nR value
	json.Unmarshal(body, &nS)
	typ, body, err = readFrame(up.ctl, 5*time.Second)
	if err != nil || typ != tReveal {
		t.Fatalf("want Reveal, got %d %v", typ, err)
	}
	writeFrame(sv.ctl, tReveal, body) // it opens the replayed commitment
	json.Unmarshal(body, &nR)
	// The decision to the sender and its plan to the receiver, which then
	// reports the session with its code.
	typ, body, err = readFrame(up.ctl, 5*time.Second)
	if err != nil || typ != tDecision {
		t.Fatalf("want Decision, got %d %v", typ, err)
	}
	writeFrame(sv.ctl, tDecision, body)
	if typ, body, err = readFrame(sv.ctl, 5*time.Second); err != nil || typ != tPlan {
		t.Fatalf("want Plan, got %d %v", typ, err)
	}
	writeFrame(up.ctl, tPlan, body)

	evS, okS := s.waitEvent("connected", 1, 5*time.Second)
	evR, okR := r.waitEvent("session", 1, 5*time.Second)
	if !okS || !okR {
		t.Fatalf("codes not shown: sender %v receiver %v", evS, evR)
	}
	t.Logf("sender shows %v, receiver shows %v", evS["code"], evR["code"])
	if evS["code"] == evR["code"] {
		t.Fatalf("FINDING: a relaying man in the middle got the same code %v on both screens", evS["code"])
	}
	wantS := verificationCode(peerID(sv.conn), mitm.id, exporter(sv.conn), sv.offerBody, nS.Value, nR.Value)
	wantR := verificationCode(mitm.id, r.id, exporter(up.conn), sv.offerBody, nS.Value, nR.Value)
	if evS["code"] != wantS || evR["code"] != wantR {
		t.Fatalf("codes %v/%v, the spec's %s/%s", evS["code"], evR["code"], wantS, wantR)
	}
}

// senderUnderTest is a real sender connected to the fake receiver, with a
// count of the data streams it opened.
type senderUnderTest struct {
	f     *fakeReceiver
	s     *proc
	sv    *served
	uni   atomic.Int32
	plans atomic.Int32
}

func startSenderUnderTest(t *testing.T) *senderUnderTest {
	f := listenFake(t, newDevice(t))
	st := &senderUnderTest{f: f, s: sendFile(t, f.addr)}
	st.sv = f.nextOffer(t, 10*time.Second)
	go func() {
		for i := 0; i < 64; i++ {
			u, err := st.sv.conn.AcceptUniStream(st.sv.conn.Context())
			if err != nil {
				return
			}
			st.uni.Add(1)
			u.CancelRead(0)
		}
	}()
	return st
}

// drain reads the sender's control frames until it closes, counting
// plans.
func (st *senderUnderTest) drain() {
	for i := 0; i < 16; i++ {
		typ, _, err := readFrame(st.sv.ctl, 10*time.Second)
		if err != nil {
			return
		}
		if typ == tPlan {
			st.plans.Add(1)
		}
	}
}

// mustGiveUp asserts that the sender ended (non-zero), was not accepted,
// sent no plan or data, and did not connect again.
func (st *senderUnderTest) mustGiveUp(t *testing.T) {
	t.Helper()
	go st.drain()
	code := st.s.waitExit(10 * time.Second)
	if code == 0 || code == -1 {
		t.Errorf("FINDING: sender exit %d (want a non-zero exit within 10 s)", code)
	}
	if st.s.count("accepted") != 0 || st.plans.Load() != 0 || st.uni.Load() != 0 {
		t.Errorf("FINDING: sender went on: accepted events %d, plans %d, data streams %d",
			st.s.count("accepted"), st.plans.Load(), st.uni.Load())
	}
	if n := st.f.accepted.Load(); n != 1 {
		t.Errorf("FINDING: sender connected %d times before any acceptance", n)
	}
}

// TestSenderRefusesBrokenVerification plays receivers that skip, reorder or
// forge the Commit/Nonce/Reveal exchange and then accept: the sender must
// refuse every one of them, send nothing, and not reconnect.
func TestSenderRefusesBrokenVerification(t *testing.T) {
	accept := func(st *senderUnderTest) {
		writeFrame(st.sv.ctl, tDecision, mustJSON(decision{Accept: true, Token: random(16), Have: []byte("[]")}))
	}
	// commitReveal commits to c, reads the nonce, reveals rv.
	// (A sender may already refuse the commitment itself.)
	commitReveal := func(t *testing.T, st *senderUnderTest, c, rv []byte) {
		st.sv.tryCommit(c)
		writeFrame(st.sv.ctl, tReveal, valueBody(rv))
	}
	cases := map[string]func(t *testing.T, st *senderUnderTest){
		"accept-without-verification": func(t *testing.T, st *senderUnderTest) { accept(st) },
		"accept-after-commit-before-reveal": func(t *testing.T, st *senderUnderTest) {
			st.sv.commitAndReadNonce(t, commitment(random(32)))
			accept(st)
		},
		"reveal-does-not-open-commit": func(t *testing.T, st *senderUnderTest) {
			commitReveal(t, st, commitment(random(32)), random(32))
			accept(st)
		},
		"reveal-31-bytes": func(t *testing.T, st *senderUnderTest) {
			n := random(31)
			commitReveal(t, st, commitment(n), n)
			accept(st)
		},
		"reveal-33-bytes": func(t *testing.T, st *senderUnderTest) {
			n := random(33)
			commitReveal(t, st, commitment(n), n)
			accept(st)
		},
		"reveal-empty": func(t *testing.T, st *senderUnderTest) {
			commitReveal(t, st, commitment(nil), nil)
			accept(st)
		},
		"commit-truncated": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			commitReveal(t, st, commitment(n)[:16], n)
			accept(st)
		},
		"commit-extended": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			commitReveal(t, st, append(commitment(n), 0), n)
			accept(st)
		},
		"reflect-sender-nonce": func(t *testing.T, st *senderUnderTest) {
			nS := st.sv.commitAndReadNonce(t, commitment(random(32)))
			writeFrame(st.sv.ctl, tReveal, valueBody(nS))
			accept(st)
		},
		"reveal-before-commit": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			writeFrame(st.sv.ctl, tReveal, valueBody(n))
			writeFrame(st.sv.ctl, tCommit, valueBody(commitment(n)))
			accept(st)
		},
		"commit-twice": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			writeFrame(st.sv.ctl, tCommit, valueBody(commitment(n)))
			commitReveal(t, st, commitment(n), n)
			accept(st)
		},
		"reveal-twice": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			commitReveal(t, st, commitment(n), n)
			writeFrame(st.sv.ctl, tReveal, valueBody(n))
			accept(st)
		},
		"nonce-frame-from-receiver": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			st.sv.commitAndReadNonce(t, commitment(n))
			writeFrame(st.sv.ctl, tNonce, valueBody(n))
			accept(st)
		},
		"plan-from-receiver": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			commitReveal(t, st, commitment(n), n)
			writeFrame(st.sv.ctl, tPlan, []byte(`{}`))
			accept(st)
		},
		"reveal-not-json": func(t *testing.T, st *senderUnderTest) {
			st.sv.commitAndReadNonce(t, commitment(random(32)))
			writeFrame(st.sv.ctl, tReveal, []byte(`{"value":`))
			accept(st)
		},
		"reveal-over-256-bytes": func(t *testing.T, st *senderUnderTest) {
			n := random(32)
			st.sv.commitAndReadNonce(t, commitment(n))
			body := valueBody(n)
			body = append(body[:len(body)-1], []byte(`,"pad":"`+strings.Repeat("x", 300)+`"}`)...)
			writeFrame(st.sv.ctl, tReveal, body)
			accept(st)
		},
	}
	// In these the reveal that opens the commitment is sent and the code
	// may be shown; in all the others no code may be.
	validReveal := map[string]bool{"reveal-twice": true, "plan-from-receiver": true, "nonce-frame-from-receiver": false}
	runSenderCases(t, cases, func(t *testing.T, name string, st *senderUnderTest) {
		if n := st.s.count("connected"); n != 0 && !validReveal[name] {
			t.Errorf("FINDING: sender showed a code (%v) without a reveal that opens the commitment", st.s.Events())
		}
	})
}

// runSenderCases runs each play against its own real sender, in parallel,
// and checks that the sender gives up, then check.
func runSenderCases(t *testing.T, cases map[string]func(t *testing.T, st *senderUnderTest), check func(t *testing.T, name string, st *senderUnderTest)) {
	for name, play := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := startSenderUnderTest(t)
			play(t, st)
			st.mustGiveUp(t)
			check(t, name, st)
		})
	}
}

// TestSenderSendsNoNonceBeforeCommit: a sender that sent its nonce before
// the receiver committed would let a man in the middle choose its nonce_R
// after seeing nonce_S.
func TestSenderSendsNoNonceBeforeCommit(t *testing.T) {
	t.Parallel()
	st := startSenderUnderTest(t)
	typ, body, err := readFrame(st.sv.ctl, 1500*time.Millisecond)
	if err == nil {
		t.Fatalf("FINDING: sender sent frame %d %s before any Commit", typ, body)
	}
	n := random(32)
	nS := st.sv.commitAndReadNonce(t, commitment(n))
	if len(nS) != 32 {
		t.Fatalf("sender's nonce is %d bytes, want 32", len(nS))
	}
}

// TestNoReconnectBeforeAcceptance lets the kit learn the sender's code (it
// has the sender's nonce and its own committed one) and then drop the
// attempt in every way it can: the sender must not connect again, or a man
// in the middle could retry until the sender's code suits it. Only a busy
// answer before the commitment may bring it back, with a new code.
func TestNoReconnectBeforeAcceptance(t *testing.T) {
	type play = func(t *testing.T, st *senderUnderTest)
	afterNonce := func(then func(st *senderUnderTest, nR []byte)) play {
		return func(t *testing.T, st *senderUnderTest) {
			nR := random(32)
			st.sv.commitAndReadNonce(t, commitment(nR))
			then(st, nR)
		}
	}
	busy := mustJSON(decision{Code: "busy", Reason: "busy"})
	cases := map[string]play{
		"close-0": afterNonce(func(st *senderUnderTest, _ []byte) { st.sv.conn.CloseWithError(0, "") }),
		"close-1": afterNonce(func(st *senderUnderTest, _ []byte) { st.sv.conn.CloseWithError(1, "") }),
		"decision-busy-instead-of-reveal": afterNonce(func(st *senderUnderTest, _ []byte) {
			writeFrame(st.sv.ctl, tDecision, busy)
		}),
		"reveal-then-close-0": afterNonce(func(st *senderUnderTest, nR []byte) {
			writeFrame(st.sv.ctl, tReveal, valueBody(nR))
			st.sv.conn.CloseWithError(0, "")
		}),
		"error-frame-busy": afterNonce(func(st *senderUnderTest, _ []byte) {
			writeFrame(st.sv.ctl, tError, mustJSON(map[string]any{"code": 8, "message": "busy"}))
		}),
		"reset-control-stream": afterNonce(func(st *senderUnderTest, _ []byte) {
			st.sv.ctl.CancelWrite(8)
			st.sv.ctl.CancelRead(8)
		}),
	}
	runSenderCases(t, cases, func(t *testing.T, _ string, st *senderUnderTest) {
		if n := st.s.count("connected"); n > 1 {
			t.Errorf("FINDING: sender showed %d codes", n)
		}
	})

	// Busy after the reveal: the sender showed that attempt's code, so a
	// reconnect is seen; each new attempt must show its own code.
	for name, drop := range map[string]func(sv *served){
		"busy-after-reveal-shows-each-code":    func(sv *served) { writeFrame(sv.ctl, tDecision, busy) },
		"close-8-after-reveal-shows-each-code": func(sv *served) { sv.conn.CloseWithError(8, "busy") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := listenFake(t, newDevice(t))
			s := sendFile(t, f.addr)
			for i := 1; i <= 2; i++ {
				sv := f.tryNextOffer(10 * time.Second)
				if sv == nil {
					break // it did not reconnect: fine
				}
				nR := random(32)
				nS := sv.commitAndReadNonce(t, commitment(nR))
				writeFrame(sv.ctl, tReveal, valueBody(nR))
				want := verificationCode(peerID(sv.conn), f.dev.id, exporter(sv.conn), sv.offerBody, nS, nR)
				if ev, ok := s.waitEvent("connected", i, 5*time.Second); !ok || ev["code"] != want {
					t.Fatalf("FINDING: attempt %d's code %s not shown before it was dropped (%v)", i, want, ev)
				}
				drop(sv)
			}
		})
	}

	t.Run("busy-before-commit-reconnects-with-new-code", func(t *testing.T) {
		t.Parallel()
		st := startSenderUnderTest(t)
		writeFrame(st.sv.ctl, tDecision, busy)
		sv := st.f.nextOffer(t, 15*time.Second)
		nR := random(32)
		nS := sv.commitAndReadNonce(t, commitment(nR))
		writeFrame(sv.ctl, tReveal, valueBody(nR))
		want := verificationCode(peerID(sv.conn), st.f.dev.id, exporter(sv.conn), sv.offerBody, nS, nR)
		ev, ok := st.s.waitEvent("connected", 1, 5*time.Second)
		if !ok || ev["code"] != want {
			t.Fatalf("after busy the sender shows %v, want the new code %s", ev, want)
		}
		writeFrame(sv.ctl, tDecision, mustJSON(decision{Code: "declined", Reason: "no"}))
		if code := st.s.waitExit(10 * time.Second); code != 3 {
			t.Errorf("declined sender exit %d, want 3", code)
		}
		if n := st.f.accepted.Load(); n != 2 {
			t.Errorf("sender connected %d times, want 2", n)
		}
	})
}

// TestNoUnseenCodeGrinding is the attack the busy exception opens if it is
// honoured after the nonce: the kit, as the receiver, learns the sender's
// code from each attempt (its own nonce is committed, the sender's arrives)
// and closes the attempts whose code does not suit it with code 8 (busy).
// If the sender reconnects, the attacker draws a fresh sender code per
// attempt without the sender ever showing the dropped ones, and can stop at
// the one that matches the code the real receiver shows. Bounded to 300
// attempts and 15 s.
func TestNoUnseenCodeGrinding(t *testing.T) {
	t.Parallel()
	f := listenFake(t, newDevice(t))
	s := sendFile(t, f.addr)
	start := time.Now()
	codes := map[string]bool{}
	attempts := 0
	for attempts < grindAttempts && time.Since(start) < grindTime {
		var sv *served
		select {
		case <-s.done:
		default:
			sv = f.tryNextOffer(5 * time.Second)
		}
		if sv == nil {
			break
		}
		nR := random(32)
		nS, err := sv.tryCommit(commitment(nR))
		if err != nil {
			break
		}
		attempts++
		codes[verificationCode(peerID(sv.conn), f.dev.id, exporter(sv.conn), sv.offerBody, nS, nR)] = true
		sv.conn.CloseWithError(8, "busy") // this code does not suit the attacker
	}
	elapsed := time.Since(start)
	s.kill()
	t.Logf("%d attempts in %v, %d distinct sender codes learned, %d shown by the sender",
		attempts, elapsed.Round(time.Millisecond), len(codes), s.count("connected"))
	if attempts > 1 {
		t.Errorf("FINDING: closing with code 8 (busy) after the sender's nonce makes it reconnect: "+
			"the attacker drew %d sender codes in %v and dropped them unseen (%d shown); "+
			"doc.go: a sender never reconnects before the receiver has accepted (the busy exception "+
			"must not apply once the nonce is sent)", attempts, elapsed.Round(time.Millisecond), s.count("connected"))
	}
}

// Bounds of TestNoUnseenCodeGrinding (raise them to measure how many codes
// one sender run gives away).
var (
	grindAttempts = 3
	grindTime     = 90 * time.Second
)
