package attack

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// TestReceiverRefusesBrokenVerification sends the frames of the verification
// exchange out of order, twice, or malformed to a real receiver under
// --accept all: it must never reveal (or accept) on them, must end the
// session, and must keep serving a real sender.
func TestReceiverRefusesBrokenVerification(t *testing.T) {
	r := startReceiver(t, "all")
	off := func() []byte { return mustJSON(smallOffer("attacker", "x.txt", 10)) }
	// afterCommit sends the offer, reads the Commit, then sends raw.
	afterCommit := func(raw []byte) func(t *testing.T) *attempt {
		return func(t *testing.T) *attempt {
			a := connect(t, r.addr(), newDevice(t), off())
			if typ, _, err := readFrame(a.ctl, 5*time.Second); err != nil || typ != tCommit {
				t.Fatalf("want Commit, got %d %v", typ, err)
			}
			a.ctl.Write(raw)
			return a
		}
	}
	nonce := func(n int) []byte { return frame(tNonce, valueBody(random(n))) }
	huge := make([]byte, 5)
	huge[0] = tNonce
	binary.BigEndian.PutUint32(huge[1:], 1<<31)
	bigBody := []byte(`{"value":"` + strings.Repeat("A", 300) + `"}`)

	noReveal := map[string]func(t *testing.T) *attempt{
		"nonce-before-offer": func(t *testing.T) *attempt {
			a := connect(t, r.addr(), newDevice(t), nil)
			a.ctl.Write(nonce(32))
			return a
		},
		"nonce-empty":          afterCommit(nonce(0)),
		"nonce-1-byte":         afterCommit(nonce(1)),
		"nonce-31-bytes":       afterCommit(nonce(31)),
		"nonce-33-bytes":       afterCommit(nonce(33)),
		"nonce-64-bytes":       afterCommit(nonce(64)),
		"nonce-null":           afterCommit(frame(tNonce, []byte(`{"value":null}`))),
		"nonce-missing-value":  afterCommit(frame(tNonce, []byte(`{}`))),
		"nonce-not-json":       afterCommit(frame(tNonce, []byte(`{"value":`))),
		"nonce-array":          afterCommit(frame(tNonce, []byte(`[1,2]`))),
		"nonce-over-frame-cap": afterCommit(frame(tNonce, bigBody)),
		"nonce-length-2GiB":    afterCommit(huge),
		"reveal-from-sender":   afterCommit(frame(tReveal, valueBody(random(32)))),
		"commit-from-sender":   afterCommit(frame(tCommit, valueBody(random(32)))),
		"accept-from-sender":   afterCommit(frame(tDecision, mustJSON(decision{Accept: true}))),
		"plan-before-nonce":    afterCommit(frame(tPlan, []byte(`{}`))),
		"offer-again":          afterCommit(frame(tOffer, off())),
		"unknown-type-42":      afterCommit(frame(42, []byte(`{}`))),
		"error-frame":          afterCommit(frame(tError, []byte(`{"code":1,"message":"x"}`))),
		"fileend-before-nonce": afterCommit(frame(tFileEnd, []byte(`{"file":0,"size":10}`))),
		"nonce-trailing-data":  afterCommit(frame(tNonce, append(valueBody(random(32)), []byte(`{}`)...))),
		"fin-control-stream": func(t *testing.T) *attempt {
			a := afterCommit(nil)(t)
			a.ctl.Close()
			return a
		},
	}
	t.Run("control-valid-nonce-is-revealed", func(t *testing.T) {
		a := afterCommit(nonce(32))(t)
		if got := refused(a, 5*time.Second); got != "frame:10" {
			t.Fatalf("a valid nonce got %s, want the Reveal (frame:10)", got)
		}
	})
	for name, play := range noReveal {
		t.Run(name, func(t *testing.T) {
			a := play(t)
			got := refused(a, 5*time.Second)
			t.Logf("receiver: %s", got)
			if !strings.HasPrefix(got, "decision:") && !strings.HasPrefix(got, "closed:") {
				t.Errorf("FINDING: receiver answered %s (want a refusal or a closed connection)", got)
			}
		})
	}

	// After a proper nonce the receiver reveals and accepts; a second nonce
	// (or any verification frame) then is out of place and ends the session.
	closes := map[string][]byte{
		"nonce-twice":        frame(tNonce, valueBody(random(32))),
		"reveal-after-nonce": frame(tReveal, valueBody(random(32))),
		"commit-after-nonce": frame(tCommit, valueBody(random(32))),
	}
	for name, raw := range closes {
		t.Run(name, func(t *testing.T) {
			a := connect(t, r.addr(), newDevice(t), off())
			if typ, _, err := readFrame(a.ctl, 5*time.Second); err != nil || typ != tCommit {
				t.Fatalf("want Commit, got %d %v", typ, err)
			}
			a.ctl.Write(append(frame(tNonce, valueBody(random(32))), raw...))
			for i := 0; i < 4; i++ {
				typ, _, err := readFrame(a.ctl, 5*time.Second)
				if err != nil {
					break
				}
				if typ == tDone || typ == tFileDone {
					t.Fatalf("FINDING: session went on to frame %d", typ)
				}
			}
			if _, err := closeCode(a.conn, 5*time.Second); err == errStillOpen {
				t.Errorf("FINDING: session not ended after an out-of-place frame")
			}
		})
	}

	if r.sessions() != 0 {
		t.Errorf("FINDING: receiver started %d sessions from broken exchanges", r.sessions())
	}
	d := realSenderServed(t, r, 10*time.Second)
	t.Logf("real sender served in %v after the attacks", d.Round(time.Millisecond))
}
