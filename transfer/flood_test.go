package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// 100 connections that complete the handshake and then stall, under the
// default offer timeout, do not lock a real sender out: the oldest waiting
// connections are closed to make room, and the real sender is served.
func TestStalledFloodServesRealSender(t *testing.T) {
	env := newHostileEnv(t)
	mallory := newDevice(t, "mallory")
	var hs []*hostile
	for range 100 {
		h := dialHostile(t, mallory, env.r)
		h.openCtrl()
		h.raw([]byte{frameOffer}) // the offer never comes
		hs = append(hs, h)
	}
	src := filepath.Join(env.src, "real.txt")
	if err := os.WriteFile(src, []byte("served"), 0o644); err != nil {
		t.Fatal(err)
	}
	env.expect["real.txt"] = []byte("served")
	start := time.Now()
	env.good.mustSend(t, env.r, []string{src})
	if d := time.Since(start); d > offerTimeout/2 {
		t.Errorf("the real sender waited %s behind the stalled connections", d)
	}
	// Everything beyond maxPending waiting connections was closed, oldest
	// first, with a reason.
	busy := 0
	for _, h := range hs[:len(hs)-maxPending] {
		select {
		case <-h.conn.Context().Done():
			var ae *quic.ApplicationError
			if errors.As(context.Cause(h.conn.Context()), &ae) && ae.Remote && ae.ErrorCode == codeBusy {
				busy++
			}
		case <-time.After(testTimeout):
		}
	}
	if want := len(hs) - maxPending; busy != want {
		t.Errorf("%d of the oldest %d stalled connections were closed as busy", busy, want)
	}
	for _, h := range hs {
		h.close()
	}
}
