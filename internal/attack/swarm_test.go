package attack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// The swarm (transfer/doc.go, "Swarm"): a receiver in a sender's swarm
// serves the session's verified chunks to the receivers the sender listed,
// under ALPN ferry-swarm/1. Here the attacker is the sender (which lists a
// key of its own as the other receiver) and then that other receiver, or
// someone else, and checks that everything but the listed key asking for
// verified chunks of the session within its limits gets a close with the
// documented code and nothing else.

const (
	tSwarm             = 12
	alpnSwarm          = "ferry-swarm/1"
	codeSwarmUnknown   = 20
	codeSwarmNotListed = 21
	codeSwarmRange     = 22
	codeSwarmTooMany   = 23
)

// swarmVictim is a real receiver in a swarm session of the attacker's,
// holding chunk 0 (data) of a 3-chunk file verified, and the key the
// attacker listed as the swarm's other receiver.
type swarmVictim struct {
	r     *receiver
	a     *attempt
	token []byte
	peer  device
	data  []byte
}

func startSwarmVictim(t *testing.T) *swarmVictim {
	t.Helper()
	r := startReceiver(t, "all")
	dev := newDevice(t)
	o := struct {
		offer
		Swarm bool `json:"swarm"`
	}{smallOffer("attacker", "swarm.bin", 3<<20), true}
	a := connect(t, r.addr(), dev, mustJSON(o))
	a.verify(t)
	if !a.dec.Accept {
		t.Fatalf("not accepted: %+v", a.dec)
	}
	writeFrame(a.ctl, tPlan, []byte(`{}`))
	if _, ok := r.waitEvent("session", 1, 5*time.Second); !ok {
		t.Fatal("session did not start")
	}
	v := &swarmVictim{r: r, a: a, token: random(16), peer: newDevice(t), data: random(1 << 20)}
	list := map[string]any{"token": v.token, "peers": []map[string]any{{"id": v.peer.id.String(), "addrs": []string{"127.0.0.1:9"}}}}
	if err := writeFrame(a.ctl, tSwarm, mustJSON(list)); err != nil {
		t.Fatal(err)
	}
	u, err := a.conn.OpenUniStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u.Write(dataHello(a.dec.Token))
	u.Write(chunkFrame(0, 0, v.data))
	u.Close()
	return v
}

// swarmConn connects to the victim as dev under the swarm ALPN and sends
// the hello with token, then raw.
func (v *swarmVictim) swarmConn(t *testing.T, dev device, token []byte, raw ...[]byte) (*quic.Conn, *quic.Stream) {
	t.Helper()
	c, err := dial(context.Background(), v.r.addr(), dev, alpnSwarm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseWithError(0, "") })
	str, err := c.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	str.Write(append([]byte{0x20}, token...))
	for _, b := range raw {
		str.Write(b)
	}
	return c, str
}

func ask(file, chunk uint32) []byte {
	b := []byte{0x21, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], file)
	binary.BigEndian.PutUint32(b[5:], chunk)
	return b
}

// wantClose checks that c is closed with code within 5 s.
func wantClose(t *testing.T, what string, c *quic.Conn, code int64) {
	t.Helper()
	got, err := closeCode(c, 5*time.Second)
	if got != code {
		t.Errorf("FINDING: %s: closed with %d (%v), want %d", what, got, err, code)
	}
}

// TestSwarmServesListedPeer: the listed key with the token gets chunk 0's
// bytes (once verified) and "missing" for a chunk it does not hold: the
// positive case the refusals below are measured against.
func TestSwarmServesListedPeer(t *testing.T) {
	t.Parallel()
	v := startSwarmVictim(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, str := v.swarmConn(t, v.peer, v.token, ask(0, 0), ask(0, 1))
		str.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(str)
		var hdr [6]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("FINDING: the listed peer got no answer: %v", err)
		}
		if hdr[0] != 0x22 {
			t.Fatalf("answer of type %#x", hdr[0])
		}
		if hdr[1] == 1 && time.Now().Before(deadline) { // not verified yet
			continue
		}
		if hdr[1] != 0 || binary.BigEndian.Uint32(hdr[2:]) != 1<<20 {
			t.Fatalf("answer %x for a verified chunk", hdr)
		}
		got := make([]byte, 1<<20)
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, v.data) {
			t.Fatalf("chunk 0 served wrong (%v)", err)
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil || hdr[1] != 1 || binary.BigEndian.Uint32(hdr[2:]) != 0 {
			t.Fatalf("FINDING: chunk 1, never sent, answered %x (%v), want missing", hdr, err)
		}
		return
	}
}

// TestSwarmRefusesUnlistedKey: the right token from a key the sender did
// not list: closed with 21.
func TestSwarmRefusesUnlistedKey(t *testing.T) {
	t.Parallel()
	v := startSwarmVictim(t)
	c, str := v.swarmConn(t, newDevice(t), v.token, ask(0, 0))
	wantClose(t, "unlisted key", c, codeSwarmNotListed)
	if n, _ := str.Read(make([]byte, 16)); n > 0 {
		t.Error("FINDING: an unlisted key was sent bytes")
	}
}

// TestSwarmRefusesOtherSession: the listed key naming a token of no swarm
// here (another session's, or made up): closed with 20.
func TestSwarmRefusesOtherSession(t *testing.T) {
	t.Parallel()
	v := startSwarmVictim(t)
	c, _ := v.swarmConn(t, v.peer, random(16), ask(0, 0))
	wantClose(t, "unknown token", c, codeSwarmUnknown)
}

// TestSwarmRefusesOutOfRange: a chunk of an entry that is not a file of
// the session, or past a file's end: closed with 22.
func TestSwarmRefusesOutOfRange(t *testing.T) {
	t.Parallel()
	v := startSwarmVictim(t)
	for what, a := range map[string][]byte{"entry 7": ask(7, 0), "chunk 3 of 3": ask(0, 3), "chunk 2^32-1": ask(0, 1<<32-1)} {
		c, _ := v.swarmConn(t, v.peer, v.token, a)
		wantClose(t, what, c, codeSwarmRange)
	}
}

// TestSwarmRefusesTooMuchOutstanding: asking for more than 4 MiB at once
// without reading the answers: closed with 23.
func TestSwarmRefusesTooMuchOutstanding(t *testing.T) {
	t.Parallel()
	v := startSwarmVictim(t)
	var asks []byte
	for range 40 {
		asks = append(asks, ask(0, 0)...)
	}
	c, _ := v.swarmConn(t, v.peer, v.token, asks)
	wantClose(t, "40 MiB asked at once", c, codeSwarmTooMany)
}
