package attack

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// resetRelay is a UDP relay in front of the fake receiver's transport. It
// can move the traffic to a second transport holding the same stateless
// reset key and replay a packet of the sender's there, which answers with a
// stateless reset: the way a receiver that crashed and restarted looks to
// the sender.
type resetRelay struct {
	front    *net.UDPConn
	mu       sync.Mutex
	backend  *net.UDPAddr
	backends map[string]bool
	client   *net.UDPAddr
	largest  []byte // the largest short-header packet from the sender
}

func newResetRelay(t *testing.T, backend *net.UDPAddr) *resetRelay {
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &resetRelay{front: front, backend: backend, backends: map[string]bool{backend.String(): true}}
	t.Cleanup(func() { front.Close() })
	go r.run()
	return r
}

func (r *resetRelay) addr() string { return r.front.LocalAddr().String() }

func (r *resetRelay) run() {
	buf := make([]byte, 65536)
	for {
		n, src, err := r.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.backends[src.String()] {
			if r.client != nil {
				r.front.WriteToUDP(buf[:n], r.client)
			}
		} else {
			r.client = src
			if buf[0]&0x80 == 0 && n > len(r.largest) {
				r.largest = append([]byte(nil), buf[:n]...)
			}
			r.front.WriteToUDP(buf[:n], r.backend)
		}
		r.mu.Unlock()
	}
}

// switchTo sends the sender's traffic to backend from now on and replays
// the sender's largest short-header packet there.
func (r *resetRelay) switchTo(backend *net.UDPAddr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backend = backend
	r.backends[backend.String()] = true
	if r.largest != nil {
		r.front.WriteToUDP(r.largest, backend)
	}
}

// listenFakeWithKey is listenFake on a transport with a stateless reset key.
func listenFakeWithKey(t *testing.T, dev device, key *quic.StatelessResetKey) (*fakeReceiver, *net.UDPAddr) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp, StatelessResetKey: key}
	ln, err := tr.Listen(dev.serverTLS(), quicConf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	return serveFake(dev, ln), udp.LocalAddr().(*net.UDPAddr)
}

// TestNoReconnectAfterStatelessResetBeforeAcceptance: a sender retries a
// connection lost to a stateless reset (a receiver restarted), but before
// acceptance that would let a man in the middle drop attempts whose code it
// dislikes, as with busy.
func TestNoReconnectAfterStatelessResetBeforeAcceptance(t *testing.T) {
	t.Parallel()
	dev := newDevice(t)
	var key quic.StatelessResetKey
	copy(key[:], random(32))
	f1, a1 := listenFakeWithKey(t, dev, &key)
	f2, a2 := listenFakeWithKey(t, dev, &key)
	relay := newResetRelay(t, a1)
	s := sendFile(t, relay.addr())
	sv := f1.nextOffer(t, 10*time.Second)
	sv.commitAndReadNonce(t, commitment(random(32)))
	relay.switchTo(a2) // the "restarted" receiver resets the attempt
	code := s.waitExit(10 * time.Second)
	t.Logf("sender exit %d, events %v", code, s.Events())
	if n := f2.accepted.Load(); n != 0 {
		t.Errorf("FINDING: after a stateless reset that followed its nonce the sender connected again (%d times) before any acceptance", n)
	}
	if code == -1 || !strings.Contains(fmt.Sprint(s.Events()), "stateless reset") {
		t.Errorf("the reset did not reach the sender as a reset: exit %d, %v", code, s.Events())
	}
}
