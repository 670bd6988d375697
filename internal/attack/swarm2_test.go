package attack

// More of the swarm (transfer/doc.go, "Swarm"), from the spec alone, for
// what swarm_test.go does not try: a malformed swarm stream (no hello
// within 5 s, unknown frames), and a real `ferry send --to A --to B` in
// which the kit plays receiver B — a receiver that serves wrong chunks,
// claims chunks it never had (Got), and asks for what it does not need or
// what does not exist (Want) — while A is a real receiver that must end
// with the right file whatever B does.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/zeebo/blake3"
)

const (
	tHave          = 13
	tWant          = 14
	tGot           = 15
	codeSwarmBadly = 24
)

// TestSwarmMalformedStream: a swarm connection that sends no hello within
// 5 s (no stream at all, or a hello cut short), or a frame of an unknown
// type (first, or after a good hello), is closed with 24 and gets no
// data; the victim still serves the listed peer.
func TestSwarmMalformedStream(t *testing.T) {
	t.Parallel()
	v := startSwarmVictim(t)
	type play struct {
		first []byte // written on the stream; nil: no stream at all
		by    time.Duration
	}
	plays := map[string]play{
		"no stream":            {nil, 8 * time.Second},
		"hello cut short":      {append([]byte{0x20}, v.token[:7]...), 8 * time.Second},
		"unknown frame first":  {append([]byte{0x99}, v.token...), 3 * time.Second},
		"answer frame first":   {[]byte{0x22, 0, 0, 0, 0, 0}, 8 * time.Second}, // shorter than a hello: closed at 5 s
		"ask before hello":     {ask(0, 0), 8 * time.Second},
		"unknown after hello":  {append(append([]byte{0x20}, v.token...), 0x7f, 1, 2, 3), 3 * time.Second},
		"answer after hello":   {append(append([]byte{0x20}, v.token...), 0x22, 0, 0, 0, 0, 0), 3 * time.Second},
		"data hello on swarm":  {append([]byte{0x10}, v.token...), 3 * time.Second},
		"zero byte frame type": {append(append([]byte{0x20}, v.token...), 0x00), 3 * time.Second},
	}
	var wg sync.WaitGroup
	for name, p := range plays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(context.Background(), v.r.addr(), v.peer, alpnSwarm)
			if err != nil {
				t.Errorf("%s: dial: %v", name, err)
				return
			}
			defer c.CloseWithError(0, "")
			got := make(chan int64, 1)
			if p.first != nil {
				str, err := c.OpenStreamSync(context.Background())
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				str.Write(p.first)
				go func() {
					n, _ := io.Copy(io.Discard, str)
					got <- n
				}()
			} else {
				got <- 0
			}
			code, err := closeCode(c, p.by)
			t.Logf("%-22s closed with %d (%v)", name, code, err)
			if code != codeSwarmBadly {
				t.Errorf("FINDING: %s: closed with %d (%v) within %v, want %d", name, code, err, p.by, codeSwarmBadly)
			}
			select {
			case n := <-got:
				if n > 0 {
					t.Errorf("FINDING: %s: got %d bytes", name, n)
				}
			case <-time.After(2 * time.Second):
				t.Errorf("%s: the stream was not ended with the connection", name)
			}
		}()
	}
	wg.Wait()
	// Logged: a second hello on the same stream (the spec says "first",
	// not whether a second one is malformed).
	c, str := v.swarmConn(t, v.peer, v.token, append([]byte{0x20}, v.token...))
	code, err := closeCode(c, 2*time.Second)
	t.Logf("second hello: closed with %d (%v)", code, err)
	_ = str
	// The listed peer is still served.
	_, str = v.swarmConn(t, v.peer, v.token, ask(0, 1))
	str.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [6]byte
	if _, err := io.ReadFull(str, hdr[:]); err != nil || hdr[0] != 0x22 {
		t.Errorf("the listed peer is not answered after the malformed streams: %x %v", hdr, err)
	}
}

// ---------------------------------------------------------------------------
// The kit as receiver B of a real multi-receiver send

// swarmMode says how fake receiver B behaves.
type swarmMode struct {
	serve     string // "wrong": chunks of the right length and wrong bytes; "notyet": status 1 for everything; "silent": no answer
	gotAll    bool   // claim Got for every chunk of every file at once, before anything came
	wantBad   bool   // send Want for chunks past the file and of no file, right after the plan
	wantHeld  bool   // on every Have, Want that chunk and every chunk B already has
	gotOnHave bool   // answer every Have at once with a Got, without fetching the chunk
	// stallData: accept no data stream at all (the chunks handed to B
	// stay in flight, held by QUIC flow control)
	stallData bool
}

// fakeSwarmReceiver is receiver B: it accepts the offer, takes part in the
// swarm, reads its data streams, and serves peers by mode.
type fakeSwarmReceiver struct {
	dev  device
	ln   *quic.Listener
	addr string
	mode swarmMode

	mu        sync.Mutex
	offer     offer
	chunk     map[[2]uint32][]byte // chunks B was sent on data streams (verified)
	again     int                  // chunks B was sent on data streams a second time
	haves     int                  // Have frames B got
	asks      [][2]uint32          // what peers asked of B, in order
	swarmConn int                  // swarm connections from peers
	bannedAt  time.Time            // when B first served a wrong chunk
	lateConns int                  // swarm connections after that
	frames    map[byte]int         // control frames from the sender, by type
}

func startFakeSwarmReceiver(t *testing.T, mode swarmMode) *fakeSwarmReceiver {
	t.Helper()
	dev := newDevice(t)
	conf := dev.serverTLS("ferry/2", alpnSwarm)
	ln, err := quic.ListenAddr("127.0.0.1:0", conf, quicConf())
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSwarmReceiver{dev: dev, ln: ln, addr: ln.Addr().String(), mode: mode,
		chunk: map[[2]uint32][]byte{}, frames: map[byte]int{}}
	serveConns(t, ln, func(ctx context.Context, c *quic.Conn) {
		if c.ConnectionState().TLS.NegotiatedProtocol == alpnSwarm {
			f.serveSwarm(ctx, c)
		} else {
			f.serveSender(ctx, t, c)
		}
	})
	return f
}

// serveConns runs handle on each connection ln accepts until the test
// ends, in goroutines the test's cleanup waits for. A connection is closed
// when its handler returns or the test ends.
func serveConns(t *testing.T, ln *quic.Listener, handle func(ctx context.Context, c *quic.Conn)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			stop := context.AfterFunc(ctx, func() { c.CloseWithError(0, "") })
			wg.Go(func() {
				defer stop()
				defer c.CloseWithError(0, "")
				handle(ctx, c)
			})
		}
	})
}

// serveSender is B's side of the sender's session: verification, an
// accepting Decision in the swarm, then control frames and data streams.
func (f *fakeSwarmReceiver) serveSender(ctx context.Context, t *testing.T, c *quic.Conn) {
	// Data streams, on the control connection and on further ones (which
	// carry no control stream).
	go func() {
		for !f.mode.stallData {
			u, err := c.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			go f.readData(u)
		}
	}()
	ctl, err := c.AcceptStream(ctx)
	if err != nil {
		return
	}
	typ, body, err := readFrame(ctl, 10*time.Second)
	if err != nil || typ != tOffer {
		t.Errorf("fake B: want an offer, got %d %v", typ, err)
		return
	}
	var o struct {
		offer
		Swarm bool `json:"swarm"`
	}
	if err := json.Unmarshal(body, &o); err != nil || !o.Swarm {
		t.Errorf("fake B: offer %s (swarm %v, %v)", body, o.Swarm, err)
		return
	}
	f.mu.Lock()
	f.offer = o.offer
	f.mu.Unlock()
	nonceR := random(32)
	writeFrame(ctl, tCommit, valueBody(commitment(nonceR)))
	if typ, _, err := readFrame(ctl, 10*time.Second); err != nil || typ != tNonce {
		t.Errorf("fake B: want a nonce, got %d %v", typ, err)
		return
	}
	writeFrame(ctl, tReveal, valueBody(nonceR))
	token := random(16)
	writeFrame(ctl, tDecision, mustJSON(map[string]any{"accept": true, "token": token, "name": "fake-b", "swarm": true}))
	if typ, _, err := readFrame(ctl, 20*time.Second); err != nil || typ != tPlan {
		t.Errorf("fake B: want a plan, got %d %v", typ, err)
		return
	}
	if f.mode.gotAll || f.mode.wantBad {
		for i, e := range o.Entries {
			if e.Dir || e.Chunk == 0 {
				continue
			}
			n := (e.Size + e.Chunk - 1) / e.Chunk
			for k := int64(0); k < n; k++ {
				if f.mode.gotAll {
					writeFrame(ctl, tGot, mustJSON(map[string]any{"file": i, "chunk": k}))
				}
			}
			if f.mode.wantBad {
				for _, w := range [][2]int64{{int64(i), n}, {int64(i), 1<<32 - 1}, {int64(len(o.Entries)), 0}, {1<<32 - 1, 0}} {
					writeFrame(ctl, tWant, mustJSON(map[string]any{"file": w[0], "chunk": w[1]}))
				}
			}
		}
	}
	// Control frames until the sender closes.
	for {
		typ, body, err := readFrame(ctl, 60*time.Second)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.frames[typ]++
		if typ == tHave {
			f.haves++
		}
		f.mu.Unlock()
		if f.mode.gotOnHave && typ == tHave {
			var h struct{ File, Chunk uint32 }
			json.Unmarshal(body, &h)
			writeFrame(ctl, tGot, mustJSON(map[string]any{"file": h.File, "chunk": h.Chunk}))
		}
		if f.mode.wantHeld && typ == tHave {
			// Want what the sender just said a peer holds, and what B
			// was already sent: chunks B does not need from the sender.
			var h struct{ File, Chunk uint32 }
			json.Unmarshal(body, &h)
			writeFrame(ctl, tWant, mustJSON(map[string]any{"file": h.File, "chunk": h.Chunk}))
			f.mu.Lock()
			for k := range f.chunk {
				writeFrame(ctl, tWant, mustJSON(map[string]any{"file": k[0], "chunk": k[1]}))
			}
			f.mu.Unlock()
		}
	}
}

// readData reads a data stream: 0x10 token, then chunk frames.
func (f *fakeSwarmReceiver) readData(u *quic.ReceiveStream) {
	br := bufio.NewReader(u)
	var hello [17]byte
	if _, err := io.ReadFull(br, hello[:]); err != nil || hello[0] != 0x10 {
		return
	}
	for {
		var h [13]byte
		if _, err := io.ReadFull(br, h[:]); err != nil || h[0] != 0x11 {
			return
		}
		file, ck, n := binary.BigEndian.Uint32(h[1:]), binary.BigEndian.Uint32(h[5:]), binary.BigEndian.Uint32(h[9:])
		b := make([]byte, int(n)+32)
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		if s := blake3.Sum256(b[:n]); bytes.Equal(s[:], b[n:]) {
			f.mu.Lock()
			if _, ok := f.chunk[[2]uint32{file, ck}]; ok {
				f.again++
			}
			f.chunk[[2]uint32{file, ck}] = b[:n]
			f.mu.Unlock()
		}
	}
}

// serveSwarm answers a peer's asks by mode.
func (f *fakeSwarmReceiver) serveSwarm(ctx context.Context, c *quic.Conn) {
	f.mu.Lock()
	f.swarmConn++
	if !f.bannedAt.IsZero() {
		f.lateConns++
	}
	f.mu.Unlock()
	swarmAsks(ctx, c, func(str *quic.Stream, file, ck uint32) bool {
		f.mu.Lock()
		f.asks = append(f.asks, [2]uint32{file, ck})
		var size, csize int64
		if int(file) < len(f.offer.Entries) {
			size, csize = f.offer.Entries[file].Size, f.offer.Entries[file].Chunk
		}
		f.mu.Unlock()
		switch f.mode.serve {
		case "notyet":
			str.Write([]byte{0x22, 1, 0, 0, 0, 0})
		case "wrong":
			n := min(csize, size-int64(ck)*csize)
			if n <= 0 {
				return false
			}
			ans := make([]byte, 6, 6+n)
			ans[0] = 0x22
			binary.BigEndian.PutUint32(ans[2:], uint32(n))
			str.Write(append(ans, random(int(n))...))
			f.mu.Lock()
			if f.bannedAt.IsZero() {
				f.bannedAt = time.Now()
			}
			f.mu.Unlock()
		}
		return true // "silent": no answer
	})
}

// swarmAsks accepts a peer's swarm stream on c, reads its hello and calls
// ask for each ask (file, chunk) that follows, with the stream to answer
// on, until the stream ends, something else comes, or ask returns false.
func swarmAsks(ctx context.Context, c *quic.Conn, ask func(str *quic.Stream, file, chunk uint32) bool) {
	str, err := c.AcceptStream(ctx)
	if err != nil {
		return
	}
	br := bufio.NewReader(str)
	var hello [17]byte
	if _, err := io.ReadFull(br, hello[:]); err != nil {
		return
	}
	for {
		var a [9]byte
		if _, err := io.ReadFull(br, a[:]); err != nil || a[0] != 0x21 {
			return
		}
		if !ask(str, binary.BigEndian.Uint32(a[1:]), binary.BigEndian.Uint32(a[5:])) {
			return
		}
	}
}

// asksNotHeld is how many of the peers' asks were for chunks B was never
// sent.
func (f *fakeSwarmReceiver) asksNotHeld() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.asks {
		if _, ok := f.chunk[k]; !ok {
			n++
		}
	}
	return n
}

func (f *fakeSwarmReceiver) stats() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("B was sent %d chunks, got %d Haves, %d swarm connections (%d after its first wrong chunk), %d asks %v, frames %v",
		len(f.chunk), f.haves, f.swarmConn, f.lateConns, len(f.asks), f.asks, f.frames)
}

// swarmSend runs a real receiver A, the fake B and a real `ferry send
// --to A --to B` of one file of size bytes, and returns once A has the
// file (checked byte for byte) or d passed.
func swarmSend(t *testing.T, mode swarmMode, size int, d time.Duration) (*receiver, *fakeSwarmReceiver, *proc) {
	t.Helper()
	a, b, s, err := trySwarmSend(t, mode, size, d)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, s
}

// trySwarmSend is swarmSend returning an error ("FINDING: …") when A does
// not get the right file within d.
func trySwarmSend(t *testing.T, mode swarmMode, size int, d time.Duration) (*receiver, *fakeSwarmReceiver, *proc, error) {
	t.Helper()
	var verbose []string
	if os.Getenv("ATTACK_VERBOSE") != "" {
		verbose = []string{"-v"}
	}
	a := startReceiver(t, "all", verbose...)
	b := startFakeSwarmReceiver(t, mode)
	data := random(size)
	src := filepath.Join(t.TempDir(), "swarm-file.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startProc(t, "sender", append(verbose, "--json", "--home", t.TempDir(), "--name", "real-sender", "send",
		"--to", a.addr(), "--to", b.addr, src)...)
	start := time.Now()
	ev, ok := a.waitEvent("file", 1, d)
	t.Logf("A's file after %v; %s", time.Since(start).Round(time.Millisecond), b.stats())
	if !ok {
		var last any
		for _, ev := range a.Events() {
			if ev["event"] == "progress" {
				last = ev["bytes"]
			}
		}
		return a, b, s, fmt.Errorf("FINDING: receiver A did not get its file within %v (it has %v of %d bytes)", d, last, size)
	}
	p, _ := ev["path"].(string)
	if !filepath.IsAbs(p) {
		p = filepath.Join(a.dir, p)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		return a, b, s, fmt.Errorf("FINDING: A's file is not the sender's (%d bytes, %v)", len(got), err)
	}
	if !a.alive() || (!s.alive() && s.waitExit(0) == 2) {
		return a, b, s, fmt.Errorf("FINDING: a process died: A alive %v, sender exit %d", a.alive(), s.waitExit(0))
	}
	return a, b, s, nil
}

// TestSwarmWrongChunkFromPeer: B serves every chunk A asks of it with the
// right length and wrong bytes. A must refuse them (they do not match the
// sender's Have), ban B for the session (no new swarm connection to it)
// and get those chunks from the sender: its file is right.
func TestSwarmWrongChunkFromPeer(t *testing.T) {
	t.Parallel()
	_, b, _ := swarmSend(t, swarmMode{serve: "wrong"}, 8<<20, 30*time.Second)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.asks) == 0 {
		t.Logf("A asked B for nothing: the sender gave B no chunk first (%d chunks on B's data streams)", len(b.chunk))
	}
	if b.lateConns > 0 {
		t.Errorf("FINDING: A connected to B %d times after B served a wrong chunk (banned for the session)", b.lateConns)
	}
}

// TestSwarmLyingHolder: B claims with Got to hold chunks it never had —
// every chunk, right after the plan, or each chunk a Have names, at once,
// without fetching it — and answers every ask "not yet". Does the sender
// point A at B for chunks it never gave B (logged), and does A still end
// with the right file (asserted: "has still not verified the chunk 10 s
// after the Have" sends A to the sender)?
func TestSwarmLyingHolder(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]swarmMode{
		"got-everything-at-once": {serve: "notyet", gotAll: true},
		"got-on-every-have":      {serve: "notyet", gotOnHave: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, b, s := swarmSend(t, mode, 8<<20, 40*time.Second)
			t.Logf("A asked B %d times for chunks the sender never gave B", b.asksNotHeld())
			logSenderVerdict(t, s)
		})
	}
}

// logSenderVerdict logs how the sender ended with B.
func logSenderVerdict(t *testing.T, s *proc) {
	t.Helper()
	code := s.waitExit(2 * time.Second) // -1: still running (B never finishes)
	var failed []any
	for _, ev := range s.Events() {
		if ev["event"] == "failed" {
			failed = append(failed, ev["message"])
		}
	}
	t.Logf("sender exit %d, failed: %v", code, failed)
	if code == 2 || code == -2 {
		t.Errorf("FINDING: the sender exited %d: %s", code, s.Stderr())
	}
}

// TestSwarmSilentHolder: B takes its share from the sender and then
// answers no ask at all: A drops it after 3 s and gets everything.
func TestSwarmSilentHolder(t *testing.T) {
	t.Parallel()
	swarmSend(t, swarmMode{serve: "silent"}, 8<<20, 30*time.Second)
}

// TestSwarmBadWants: B sends Want for chunks past the file's end and of
// entries that do not exist, and for chunks it already has or that a peer
// holds, and Got for chunks it never had. Neither the sender nor A may
// fail for it: A ends with the right file, the sender does not crash.
func TestSwarmBadWants(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]swarmMode{
		"wants-and-gots":       {serve: "notyet", gotAll: true, wantBad: true},
		"wants-past-the-file":  {serve: "notyet", wantBad: true},
		"wants-of-held-chunks": {serve: "notyet", wantHeld: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, b, s := swarmSend(t, mode, 8<<20, 40*time.Second)
			logSenderVerdict(t, s)
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.again > 0 {
				// A Want of a chunk B was sent: the sender holds B for
				// its holder and has nothing to send.
				t.Errorf("FINDING: B was sent %d chunks a second time for its Wants of chunks it holds", b.again)
			}
		})
	}
}

// TestSwarmStalledMember: B accepts the send and takes part in the swarm
// but never reads a data stream: the chunks the sender hands B first stay
// in flight, and A is told B holds them. B answers A "not yet". A must
// still end with the right file (B never verifies them: 10 s after the
// Have, A wants them from the sender), however long B's streams stay
// stuck.
func TestSwarmStalledMember(t *testing.T) {
	t.Parallel()
	d := 15 * time.Second                             // past the 10 s a Have's holder has to verify the chunk
	if s := os.Getenv("ATTACK_STALL_WAIT"); s != "" { // to measure how long A is held up
		d, _ = time.ParseDuration(s)
	}
	start := time.Now()
	_, b, _, err := trySwarmSend(t, swarmMode{serve: "notyet", stallData: true}, 8<<20, d)
	if err != nil {
		t.Errorf("%v after %v, %s: one swarm member that stops reading its data streams holds up every other receiver (no receiver is handed more than 2 chunks first beyond the one handed the fewest, and the chunks stuck in B's streams never \"go out\", so A gets neither them nor a Have)", err, time.Since(start).Round(time.Second), b.stats())
	}
}

// TestSwarmHaveOutOfRange: the kit is the sender of a swarm session to a
// real receiver, and the receivers' other member (a swarm server of its
// own). A good Have makes the receiver fetch that chunk from the member and
// say Got; Haves of a chunk past the file's end, of an entry that does not
// exist, or naming a holder the sender never listed must not make it fetch
// (or accept) anything: the member is never asked for them, and the file
// ends as exactly the sender's bytes.
func TestSwarmHaveOutOfRange(t *testing.T) {
	t.Parallel()
	r := startReceiver(t, "all")
	peer := newDevice(t)
	token := random(16)
	const C = 1 << 20
	data := random(3 * C)
	chunkOf := func(k int) []byte { return data[k*C : (k+1)*C] }
	hashOf := func(b []byte) []byte { s := blake3.Sum256(b); return s[:] }
	// The member: serves whatever is asked with bytes that match what
	// the kit announced (so a fetch would succeed), and records the asks.
	var mu sync.Mutex
	var asks [][2]uint32
	serve := map[[2]uint32][]byte{{0, 1}: chunkOf(1), {0, 3}: random(C), {7, 0}: random(C), {0, 1<<32 - 1}: random(C)}
	ln, err := quic.ListenAddr("127.0.0.1:0", peer.serverTLS(alpnSwarm), quicConf())
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, func(ctx context.Context, c *quic.Conn) {
		swarmAsks(ctx, c, func(str *quic.Stream, file, chunk uint32) bool {
			k := [2]uint32{file, chunk}
			mu.Lock()
			asks = append(asks, k)
			mu.Unlock()
			b, ok := serve[k]
			if !ok {
				str.Write([]byte{0x22, 2, 0, 0, 0, 0})
				return true
			}
			h := []byte{0x22, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(h[2:], uint32(len(b)))
			str.Write(append(h, b...))
			return true
		})
	})
	hashOf1 := hashOf(chunkOf(1))
	stranger := newDevice(t)
	cases := map[string]struct {
		file, chunk uint32
		hash        []byte
		holder      string
	}{
		"chunk past the end":   {0, 3, hashOf(serve[[2]uint32{0, 3}]), peer.id.String()},
		"entry 7":              {7, 0, hashOf(serve[[2]uint32{7, 0}]), peer.id.String()},
		"chunk 2^32-1":         {0, 1<<32 - 1, hashOf(serve[[2]uint32{0, 1<<32 - 1}]), peer.id.String()},
		"unlisted holder":      {0, 2, hashOf(chunkOf(2)), stranger.id.String()},
		"holder not an id":     {0, 2, hashOf(chunkOf(2)), "\x1b[2J not an id"},
		"hash of 16 bytes":     {0, 2, hashOf(chunkOf(2))[:16], peer.id.String()},
		"no hash":              {0, 2, nil, peer.id.String()},
		"chunk it already has": {0, 1, hashOf1, peer.id.String()},
	}
	for name, c := range cases {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			mu.Lock()
			asks = nil
			mu.Unlock()
			o := struct {
				offer
				Swarm bool `json:"swarm"`
			}{smallOffer("attacker", "have.bin", 3*C), true}
			a := connect(t, r.addr(), newDevice(t), mustJSON(o))
			a.verify(t)
			if !a.dec.Accept {
				t.Fatalf("not accepted: %+v", a.dec)
			}
			writeFrame(a.ctl, tPlan, []byte(`{}`))
			writeFrame(a.ctl, tSwarm, mustJSON(map[string]any{"token": token,
				"peers": []map[string]any{{"id": peer.id.String(), "addrs": []string{ln.Addr().String()}}}}))
			have := func(file, chunk uint32, hash []byte, holder string) {
				writeFrame(a.ctl, tHave, mustJSON(map[string]any{"file": file, "chunk": chunk, "hash": hash, "holder": holder}))
			}
			// Control: a good Have of chunk 1 is fetched from the member
			// and Got.
			have(0, 1, hashOf1, peer.id.String())
			typ, body, err := readFrame(a.ctl, 10*time.Second)
			if err != nil || typ != tGot {
				t.Fatalf("a good Have: the receiver answered %d %s %v, want Got", typ, body, err)
			}
			have(c.file, c.chunk, c.hash, c.holder)
			// End the session, or go on; wait a moment for asks.
			typ, body, err = readFrame(a.ctl, 2*time.Second)
			var ne net.Error
			ended := err != nil && !(errors.As(err, &ne) && ne.Timeout())
			t.Logf("after the Have: frame %d %s, err %v (session ended: %v)", typ, body, err, ended)
			mu.Lock()
			for _, k := range asks {
				if k != [2]uint32{0, 1} && k != [2]uint32{0, 2} {
					t.Errorf("FINDING: the receiver asked the member for chunk %d of entry %d, past its offer", k[1], k[0])
				}
				if k == [2]uint32{0, 1} && c.chunk == 1 {
					t.Logf("the receiver asked again for the chunk it has")
				}
			}
			mu.Unlock()
			if ended {
				return
			}
			// Chunks 0 and 2 from the sender, FileEnd: the file must be
			// exactly the sender's 3 MiB.
			u, err := a.conn.OpenUniStreamSync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			u.Write(dataHello(a.dec.Token))
			u.Write(chunkFrame(0, 0, chunkOf(0)))
			if c.chunk != 2 || typ == tWant { // the receiver wanted chunk 2 at once
				u.Write(chunkFrame(0, 2, chunkOf(2)))
			}
			u.Close()
			writeFrame(a.ctl, tFileEnd, mustJSON(map[string]any{"file": 0, "size": len(data), "hash": fileHash(data, C)}))
			for {
				typ, body, err := readFrame(a.ctl, 10*time.Second)
				if err != nil {
					t.Fatalf("the session did not finish: %v", err)
				}
				if typ == tWant && c.chunk == 2 {
					// Chunk 2 from the sender, as the spec says a
					// receiver asks when the holder is not in the list.
					u, _ := a.conn.OpenUniStreamSync(context.Background())
					u.Write(dataHello(a.dec.Token))
					u.Write(chunkFrame(0, 2, chunkOf(2)))
					u.Close()
					continue
				}
				if typ == tDone {
					break
				}
				t.Logf("frame %d %s", typ, body)
			}
			dir, _ := os.ReadDir(r.dir)
			for _, e := range dir {
				if e.Name() == "have.bin" || strings.HasPrefix(e.Name(), "have (") {
					if got, err := os.ReadFile(filepath.Join(r.dir, e.Name())); err != nil || !bytes.Equal(got, data) {
						t.Errorf("FINDING: %s is not the sender's 3 MiB (%d bytes, %v)", e.Name(), len(got), err)
					}
				}
			}
		})
	}
	realSenderServed(t, r, 10*time.Second)
}

// TestSwarmLateJoinerAndLiar: A (real) and B (the kit) accept at once, C
// (real, --accept ask) only once A has everything; B has claimed with Got
// every chunk it was told A holds, without fetching any, and answers no
// ask. "A receiver that joins later gets a Have for each chunk it needs
// that a connected receiver holds": does the sender name B, the liar, to
// C (logged), and does C still end with the right file (asserted: B
// answers nothing for 3 s, is dropped, and C gets the chunks elsewhere)?
func TestSwarmLateJoinerAndLiar(t *testing.T) {
	t.Parallel()
	a := startReceiver(t, "all")
	b := startFakeSwarmReceiver(t, swarmMode{serve: "silent", gotOnHave: true})
	cDir := t.TempDir()
	c := startAskReceiverIn(t, "late-receiver", cDir)
	data := random(8 << 20)
	src := filepath.Join(t.TempDir(), "late.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	startProc(t, "sender", "--json", "--home", t.TempDir(), "--name", "real-sender", "send",
		"--to", a.addr(), "--to", b.addr, "--to", c.addr(), src)
	if _, ok := a.waitEvent("file", 1, 20*time.Second); !ok {
		t.Fatalf("A did not get its file: %v", a.Events())
	}
	if c.waitMatch(question, 1, 10*time.Second) == nil {
		t.Fatalf("C was not asked: %q", c.text())
	}
	b.mu.Lock()
	gotFromA := b.haves
	b.mu.Unlock()
	t.Logf("before C joins: B has claimed %d chunks it was told A holds", gotFromA)
	joined := time.Now()
	io.WriteString(c.stdin, "y\r")
	var got []byte
	for time.Since(joined) < 30*time.Second {
		if b, err := os.ReadFile(filepath.Join(cDir, "late.bin")); err == nil && len(b) == len(data) {
			got = b
			break
		}
		time.Sleep(100 * time.Millisecond) // C's terminal has no file event to wait on
	}
	t.Logf("C's file after %v; %s", time.Since(joined).Round(100*time.Millisecond), b.stats())
	if !bytes.Equal(got, data) {
		t.Fatalf("FINDING: C did not get the right file within 30 s of joining (%d bytes): %q", len(got), c.text())
	}
	t.Logf("C asked B %d times for chunks B only claimed (Got) and never had", b.asksNotHeld())
}
