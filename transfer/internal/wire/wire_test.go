package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestReadFrameLimits(t *testing.T) {
	for _, typ := range []byte{TypeOffer, TypeDecision, TypePlan, TypeFileEnd, TypeFileDone, TypeError, TypeDone} {
		c, _ := FrameCap(typ)
		for _, n := range []uint32{uint32(c) + 1, 0xffffffff} {
			hdr := binary.BigEndian.AppendUint32([]byte{typ}, n)
			var err error
			if got := allocated(func() { _, _, err = ReadFrame(bytes.NewReader(hdr)) }); got > 64<<10 {
				t.Errorf("type %d, length %d: %d bytes allocated before refusing", typ, n, got)
			}
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceeds the limit") {
				t.Errorf("type %d, length %d: %v", typ, n, err)
			}
		}
	}
	// A length under the cap with no body behind it costs at most a step.
	hdr := binary.BigEndian.AppendUint32([]byte{TypeOffer}, MaxOfferFrame)
	var err error
	if got := allocated(func() { _, _, err = ReadFrame(bytes.NewReader(append(hdr, "{}"...))) }); got > 1<<20 {
		t.Errorf("a lying length cost %d bytes", got)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v", err)
	}
	for _, typ := range []byte{0, 11, TypeStreamHello, TypeChunk, 0xff} {
		if _, _, err := ReadFrame(bytes.NewReader([]byte{typ, 0, 0, 0, 0})); !errors.Is(err, ErrProtocol) {
			t.Errorf("type %#x: %v", typ, err)
		}
	}
	if _, _, err := ReadFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := FileEnd{File: 3, Size: 1 << 40, Hash: bytes.Repeat([]byte{7}, HashLen)}
	if err := WriteFrame(&buf, TypeFileEnd, in); err != nil {
		t.Fatal(err)
	}
	typ, body, err := ReadFrame(&buf)
	var out FileEnd
	if err == nil {
		err = DecodeFrame(typ, TypeFileEnd, body, &out)
	}
	if err != nil || out.File != in.File || out.Size != in.Size || !bytes.Equal(out.Hash, in.Hash) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	// WriteFrame refuses what ReadFrame would refuse.
	big := ErrorFrame{Message: strings.Repeat("x", MaxSmallFrame)}
	if err := WriteFrame(io.Discard, TypeError, big); err == nil {
		t.Error("writeFrame wrote a frame over its cap")
	}
}

func TestChunkHeaderRoundTrip(t *testing.T) {
	h := ChunkHeader{File: 0xdeadbeef, Chunk: 7, Len: 1 << 20}
	var b [ChunkHeaderLen]byte
	h.Put(b[:])
	got, err := ReadChunkHeader(bufio.NewReader(bytes.NewReader(b[:])))
	if err != nil || got != h {
		t.Fatalf("got %+v %v", got, err)
	}
	if _, err := ReadChunkHeader(bufio.NewReader(bytes.NewReader(b[:5]))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("torn header: %v", err)
	}
	if _, err := ReadChunkHeader(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("clean end: %v", err)
	}
}

func TestPeerText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, with ünïcode": "plain text, with ünïcode",
		"\x1b[2J":                  `\x1b[2J`,
		"a\nb\tc":                  `a\x0ab\x09c`,
		`C:\dir, \x1b as text`:     `C:\dir, \x1b as text`,
		"evil\u202etxt":            `evil\u202etxt`,
		"bad \xff byte":            `bad \xff byte`,
		"zero\u200bwidth":          `zero\u200bwidth`,
		"line\u2028sep":            `line\u2028sep`,
		"\x7f\u0085":               `\x7f\u0085`,
	} {
		if got := PeerText(in); got != want {
			t.Errorf("peerText(%q) = %q, want %q", in, got, want)
		}
	}
	long := PeerText(strings.Repeat("\x00", 10000))
	if len([]rune(long)) > 512 || !strings.Contains(long, "…") || !strings.HasPrefix(long, `\x00`) {
		t.Errorf("long text: %d bytes", len(long))
	}
}

func TestIndexesOf(t *testing.T) {
	for _, tc := range []struct {
		ranges [][2]int64
		chunks int64
		want   []int64
		ok     bool
	}{
		{nil, 0, nil, true},
		{[][2]int64{{0, 3}}, 3, []int64{0, 1, 2}, true},
		{[][2]int64{{0, 1}, {2, 4}}, 4, []int64{0, 2, 3}, true},
		{[][2]int64{{0, 1}, {1, 2}}, 4, []int64{0, 1}, true}, // adjacent is fine
		{[][2]int64{{0, 4}}, 3, nil, false},
		{[][2]int64{{1, 1}}, 3, nil, false},
		{[][2]int64{{2, 1}}, 3, nil, false},
		{[][2]int64{{-1, 1}}, 3, nil, false},
		{[][2]int64{{1, 2}, {0, 1}}, 3, nil, false},
		{[][2]int64{{0, 2}, {1, 3}}, 3, nil, false},
		{[][2]int64{{0, 1 << 62}}, 3, nil, false},
	} {
		got, err := IndexesOf(tc.ranges, tc.chunks)
		if (err == nil) != tc.ok || !slicesEqual(got, tc.want) {
			t.Errorf("indexesOf(%v, %d) = %v, %v", tc.ranges, tc.chunks, got, err)
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("error %v is not a protocol violation", err)
		}
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
