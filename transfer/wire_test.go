package transfer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
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
	for _, typ := range []byte{frameOffer, frameDecision, framePlan, frameFileEnd, frameFileDone, frameError, frameDone} {
		c, _ := frameCap(typ)
		for _, n := range []uint32{uint32(c) + 1, 0xffffffff} {
			hdr := binary.BigEndian.AppendUint32([]byte{typ}, n)
			var err error
			if got := allocated(func() { _, _, err = readFrame(bytes.NewReader(hdr)) }); got > 64<<10 {
				t.Errorf("type %d, length %d: %d bytes allocated before refusing", typ, n, got)
			}
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceeds the limit") {
				t.Errorf("type %d, length %d: %v", typ, n, err)
			}
		}
	}
	// A length under the cap with no body behind it costs at most a step.
	hdr := binary.BigEndian.AppendUint32([]byte{frameOffer}, maxOfferFrame)
	var err error
	if got := allocated(func() { _, _, err = readFrame(bytes.NewReader(append(hdr, "{}"...))) }); got > 1<<20 {
		t.Errorf("a lying length cost %d bytes", got)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v", err)
	}
	for _, typ := range []byte{0, 11, frameStreamHello, frameChunk, 0xff} {
		if _, _, err := readFrame(bytes.NewReader([]byte{typ, 0, 0, 0, 0})); !errors.Is(err, ErrProtocol) {
			t.Errorf("type %#x: %v", typ, err)
		}
	}
	if _, _, err := readFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := FileEnd{File: 3, Size: 1 << 40, Hash: bytes.Repeat([]byte{7}, hashLen)}
	if err := writeFrame(&buf, frameFileEnd, in); err != nil {
		t.Fatal(err)
	}
	typ, body, err := readFrame(&buf)
	var out FileEnd
	if err == nil {
		err = decodeFrame(typ, frameFileEnd, body, &out)
	}
	if err != nil || out.File != in.File || out.Size != in.Size || !bytes.Equal(out.Hash, in.Hash) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	// writeFrame refuses what readFrame would refuse.
	big := ErrorFrame{Message: strings.Repeat("x", maxSmallFrame)}
	if err := writeFrame(io.Discard, frameError, big); err == nil {
		t.Error("writeFrame wrote a frame over its cap")
	}
}

func TestChunkHeaderRoundTrip(t *testing.T) {
	h := chunkHeader{File: 0xdeadbeef, Chunk: 7, Len: 1 << 20}
	var b [chunkHeaderLen]byte
	h.put(b[:])
	got, err := readChunkHeader(bufio.NewReader(bytes.NewReader(b[:])))
	if err != nil || got != h {
		t.Fatalf("got %+v %v", got, err)
	}
	if _, err := readChunkHeader(bufio.NewReader(bytes.NewReader(b[:5]))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("torn header: %v", err)
	}
	if _, err := readChunkHeader(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("clean end: %v", err)
	}
}

func TestPeerText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, with ünïcode": "plain text, with ünïcode",
		"\x1b[2J":                  `\x1b[2J`,
		"a\nb\tc":                  `a\nb\tc`,
		"evil\u202etxt":            `evil\u202etxt`,
		"bad \xff byte":            `bad \xff byte`,
		"zero\u200bwidth":          `zero\u200bwidth`,
		"line\u2028sep":            `line\u2028sep`,
		"\x7f\u0085":               `\x7f\u0085`,
	} {
		if got := peerText(in); got != want {
			t.Errorf("peerText(%q) = %q, want %q", in, got, want)
		}
	}
	long := peerText(strings.Repeat("\x00", 10000))
	if len(long) > 600 || !strings.HasSuffix(long, "…") {
		t.Errorf("long text: %d bytes", len(long))
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 400) // 800 bytes; byte 512 splits nothing, 511 would
	for _, in := range []string{s, "x" + s} {
		got := truncate(in)
		if !utf8.ValidString(got) || len(got) > 512+len("…") {
			t.Errorf("truncate: %d bytes, valid %v", len(got), utf8.ValidString(got))
		}
	}
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		base string
		n    int
		want string
	}{
		{"report.pdf", 0, "report.pdf"},
		{"report.pdf", 1, "report (1).pdf"},
		{"archive.tar.gz", 2, "archive (2).tar.gz"},
		{".bashrc", 1, ".bashrc (1)"},
		{"noext", 3, "noext (3)"},
		{".tar.gz", 1, ".tar (1).gz"},
		{"a.b.c", 1, "a.b (1).c"},
	} {
		if got := numbered(tc.base, tc.n); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.base, tc.n, got, tc.want)
		}
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
		got, err := indexesOf(tc.ranges, tc.chunks)
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

func TestReadJournal(t *testing.T) {
	h := journalHeader{Sender: "S", Path: "a/b.bin", Size: 3 << 20, MTime: 42, Chunk: 1 << 20}
	b, err := encodeJournalHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	s0, s1, s9 := hashOf([]byte{0}), hashOf([]byte{1}), hashOf([]byte{9})
	b = encodeJournalRecord(b, 0, s0)
	b = encodeJournalRecord(b, 9, s9) // beyond the file: ignored
	b = encodeJournalRecord(b, 1, s1)
	full := len(b)
	b = encodeJournalRecord(b, 2, s1)
	torn := b[:len(b)-3]

	got, recs, err := readJournal(bytes.NewReader(torn), 3)
	if err != nil || got != h || len(recs) != 2 || recs[0] != s0 || recs[1] != s1 {
		t.Fatalf("torn journal: %+v %v %v", got, recs, err)
	}
	corrupt := bytes.Clone(b)
	corrupt[full+10] ^= 1 // the last record's hash: its CRC fails, it is ignored
	if _, recs, _ := readJournal(bytes.NewReader(corrupt), 3); len(recs) != 2 {
		t.Errorf("corrupt record: %v", recs)
	}
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"magic":          append([]byte("FERRYJ02"), b[8:]...),
		"header-length":  append([]byte("FERRYJ01\xff\xff\xff\xff"), b[12:]...),
		"unknown-field":  append(binary.BigEndian.AppendUint32([]byte("FERRYJ01"), 8), `{"x":1}`...),
		"header-torn":    b[:20],
		"header-not-obj": append(binary.BigEndian.AppendUint32([]byte("FERRYJ01"), 2), `[]`...),
	} {
		if _, _, err := readJournal(bytes.NewReader(bad), 3); !errors.Is(err, errJournal) {
			t.Errorf("%s: %v, want errJournal", name, err)
		}
	}
}

func TestValidateOfferAccepts(t *testing.T) {
	o := Offer{Version: ProtocolVersion, Name: "n", Session: strings.Repeat("a", 32), Entries: []Entry{
		{Path: "d", Dir: true, MTime: -1},
		{Path: "d/max", Size: minChunkSize * maxChunksPerFile, Chunk: minChunkSize},
		{Path: "d/empty", Size: 0, Chunk: maxChunkSize},
		{Path: "stdin", Size: -1, Chunk: 1 << 20, Stream: true},
		{Path: "implied/x", Size: 1, Chunk: 1 << 20},
		{Path: "implied", Dir: true},
	}}
	if err := validateOffer(&o); err != nil {
		t.Fatal(err)
	}
}
