package doctor

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The probe's bytes, from testdata/probe: each file's name says whether a
// decoder must accept it (good_*) or refuse it (fail_*).
func TestProbeVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/probe/*.hex")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b := unhex(t, string(raw))
		p, err := decodeProbe(b)
		name := filepath.Base(f)
		switch {
		case name[:5] == "good_" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case name[:5] == "good_" && !bytes.Equal(p.encode(), b):
			t.Errorf("%s: encodes back as %x", name, p.encode())
		case name[:5] == "fail_" && err == nil:
			t.Errorf("%s: accepted as %+v", name, p)
		}
	}
	// The golden probe: token 00 01 … 0f.
	var tok [16]byte
	for i := range tok {
		tok[i] = byte(i)
	}
	want := unhex(t, "46444f43 01 01 000102030405060708090a0b0c0d0e0f")
	if got := (probe{kind: kindProbe, token: tok}).encode(); !bytes.Equal(got, want) {
		t.Errorf("probe encodes as %x, want %x", got, want)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	var hi = -1
	for _, c := range s {
		var v int
		switch {
		case '0' <= c && c <= '9':
			v = int(c - '0')
		case 'a' <= c && c <= 'f':
			v = int(c-'a') + 10
		default:
			continue
		}
		if hi < 0 {
			hi = v
			continue
		}
		out = append(out, byte(hi<<4|v))
		hi = -1
	}
	return out
}

func FuzzDecodeProbe(f *testing.F) {
	f.Add((probe{kind: kindProbe}).encode())
	f.Add((probe{kind: kindEcho}).encode())
	f.Add([]byte("FDOC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProbe(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.encode(), b) {
			t.Fatalf("decoded %x as %+v, which encodes as %x", b, p, p.encode())
		}
	})
}

// FuzzClassifyResponse feeds the multicast check's reader hostile
// datagrams: it must not panic, and only a response counts.
func FuzzClassifyResponse(f *testing.F) {
	f.Add([]byte{}, "ABCD-EFGH")
	f.Add(unhexF("000084000000000100000000055f66657272790475647000056c6f63616c00000c0001"), "ABCD-EFGH")
	f.Fuzz(func(t *testing.T, b []byte, short string) {
		resp, self, ferry := classifyResponse(b, short)
		if !resp && (self || ferry) {
			t.Fatalf("not a response, but self=%v ferry=%v", self, ferry)
		}
		if self && !ferry {
			t.Fatal("self without a ferry instance")
		}
	})
}

func unhexF(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= 'a':
				v |= byte(c-'a') + 10
			default:
				v |= byte(c - '0')
			}
		}
		b[i] = v
	}
	return b
}

func TestLimiter(t *testing.T) {
	l := newLimiter(10, 3)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if !l.allow(t0) {
			t.Fatalf("answer %d of the burst refused", i)
		}
	}
	if l.allow(t0) {
		t.Fatal("a fourth answer at once was allowed")
	}
	if !l.allow(t0.Add(100 * time.Millisecond)) {
		t.Fatal("no token after 100 ms at 10/s")
	}
	if l.allow(t0.Add(100 * time.Millisecond)) {
		t.Fatal("two tokens after 100 ms at 10/s")
	}
}

// TestListener sends the listener garbage, an echo, and probes over real
// UDP on loopback: only the probes are answered, with their token, and a
// flood is cut at the rate limit.
func TestListener(t *testing.T) {
	l, err := Listen(0, nil)
	if err != nil {
		t.Skipf("cannot listen on loopback: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(l.Port()))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tok [16]byte
	tok[0] = 42
	c.Write([]byte("garbage"))
	c.Write((probe{kind: kindEcho, token: tok}).encode())
	c.Write(append((probe{kind: kindProbe, token: tok}).encode(), 0)) // one byte too long
	c.Write((probe{kind: kindProbe, token: tok}).encode())
	buf := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no echo: %v", err)
	}
	p, err := decodeProbe(buf[:n])
	if err != nil || p.kind != kindEcho || p.token != tok {
		t.Fatalf("answer %x: %+v, %v", buf[:n], p, err)
	}
	// Nothing else was answered: the next answer is to the next probe.
	tok[0] = 43
	c.Write((probe{kind: kindProbe, token: tok}).encode())
	n, err = c.Read(buf)
	if p, _ := decodeProbe(buf[:n]); err != nil || p.token != tok {
		t.Fatalf("after the garbage, answer %x (%v), want the echo of token 43", buf[:n], err)
	}
	// A flood: at most the burst (less the two spent) plus what the rate
	// refills while it lasts comes back.
	start := time.Now()
	const flood = 400
	for range flood {
		c.Write((probe{kind: kindProbe, token: tok}).encode())
	}
	took := time.Since(start)
	got := 0
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
		got++
	}
	limit := listenBurst + int(took.Seconds()*listenRate) + int(0.3*listenRate) + 1
	if got > limit || got == 0 {
		t.Errorf("%d probes in %v got %d answers, want 1..%d", flood, took, got, limit)
	}
}
