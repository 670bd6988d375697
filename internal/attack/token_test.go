package attack

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTokenBoundToKey: a further connection must present the session's
// device key. Another key naming a running session's real token, and the
// session's own key naming a made-up token, are refused, and the chunk they
// carry is not written: the file holds the session's bytes.
func TestTokenBoundToKey(t *testing.T) {
	t.Parallel()
	r := startReceiver(t, "all")
	dev := newDevice(t)
	data := []byte("the session's own bytes\n")
	a := acceptedSession(t, r, dev, "owned.txt", int64(len(data)), true)
	evil := []byte("an intruder's bytes!!!!\n") // same length
	for name, c := range map[string]struct {
		dev   device
		token []byte
	}{
		"other-key-real-token": {newDevice(t), a.dec.Token},
		"same-key-bad-token":   {dev, random(16)},
	} {
		conn, err := dial(context.Background(), r.addr(), c.dev)
		if err != nil {
			t.Fatal(err)
		}
		u, err := conn.OpenUniStream()
		if err != nil {
			t.Fatal(err)
		}
		u.Write(append(dataHello(c.token), chunkFrame(0, 0, evil)...))
		u.Close()
		code, err := closeCode(conn, 5*time.Second)
		t.Logf("%s: closed with %d (%v)", name, code, err)
		if err == errStillOpen {
			t.Errorf("FINDING: %s: further connection not refused", name)
		}
	}
	// The session goes on and its own bytes land.
	a.deliverPlanned(t, data)
	got, err := os.ReadFile(filepath.Join(r.dir, "owned.txt"))
	if err != nil || string(got) != string(data) {
		t.Fatalf("FINDING: received %q (%v), want the session's bytes", got, err)
	}
}
