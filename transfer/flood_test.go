package transfer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
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
		h.raw([]byte{wire.TypeOffer}) // the offer never comes
		hs = append(hs, h)
	}
	env.realSend(t, offerTimeout/2)
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

// A further data connection must name a running session of the same device.
func TestHostileDataConnection(t *testing.T) {
	env := newHostileEnv(t)
	env.run(t, "unknown-token", func(t *testing.T, h *hostile) {
		h.dataStream(make([]byte, wire.TokenLen))
		h.expectClosed(codeProtocol, "no session of this device")
	})
	env.run(t, "another-device's-token", func(t *testing.T, h *hostile) {
		h.accepted(file("x", 10))
		h.plan(wire.Plan{})
		thief := dialHostile(t, newDevice(t, "thief"), env.r)
		defer thief.close()
		thief.dataStream(h.dec.Token)
		thief.expectClosed(codeProtocol, "no session of this device")
	})
	env.run(t, "joined-connection-carries-chunks", func(t *testing.T, h *hostile) {
		data := []byte("via a second connection")
		h.accepted(file("joined.txt", int64(len(data))))
		h.plan(wire.Plan{})
		second := dialHostile(t, h.dev, env.r)
		defer second.close()
		second.chunk(second.dataStream(h.dec.Token), 0, 0, data)
		sum := fileHashOf(data)
		h.frame(wire.TypeFileEnd, wire.FileEnd{File: 0, Size: int64(len(data)), Hash: sum})
		h.expectDelivered(1)
		env.expect["joined.txt"] = data
	})
}

// One connection (Conns 1) still works.
func TestSendOneConnection(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := filepath.Join(t.TempDir(), "one.bin")
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustSend(t, r, []string{src}, func(o *SendOptions) { o.Conns = 1 })
	got, err := os.ReadFile(filepath.Join(r.Dir(), "one.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("one.bin differs (%v)", err)
	}
}
