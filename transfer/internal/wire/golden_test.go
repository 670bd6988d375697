package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/golden"
)

// TestGolden checks the wire format against the vectors in testdata/golden,
// whose values gen.py computed from transfer/doc.go without ferry's code:
// a change of any byte that goes over the wire, or of a hash both sides
// compare, fails here even when both ends of a round trip still agree.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata/golden", map[string]func(*testing.T, *golden.File){
		"filehash_":      checkFileHash,
		"havedigest_":    checkHaveDigest,
		"frame_":         checkFrame,
		"stream_hello":   checkStreamHello,
		"chunk_header":   checkChunkHeader,
		"chunk_frame":    checkChunkFrame,
		"commitment_":    checkCommitment,
		"code_":          checkCode,
		"protocol_names": checkProtocolNames,
		"text_frame":     checkTextFrame,
	})
	for name := range goldenFrames {
		if _, err := os.Stat(filepath.Join("testdata/golden", name)); err != nil {
			t.Errorf("goldenFrames has a value for %s: %v", name, err)
		}
	}
}

// goldenFrames are the values the frame vectors encode, by file name.
var goldenFrames = map[string]any{
	"frame_offer.txt": &Offer{
		Version: 2,
		Name:    "Zoë's laptop",
		Session: "00112233445566778899aabbccddeeff",
		Entries: []Entry{
			{Path: "photos", Dir: true, MTime: 1767225600000000000},
			{Path: "photos/a.bin", Size: 150000, Chunk: 65536, Private: true, MTime: 1767225600123456789},
			{Path: "photos/run.sh", Size: 13, Chunk: 65536, Exec: true, MTime: 1767225600000000001},
			{Path: "notes.txt", Size: -1, Chunk: 4 << 20, Stream: true},
		},
	},
	"frame_offer_text.txt": &Offer{
		Version: 3,
		Name:    "Zoë's laptop",
		Session: "f20892a9cf948d2626a844405f8a1910",
		Text:    &TextRef{Size: 57, Hash: unhex("f20892a9cf948d2626a844405f8a19100b68ccb830ca2915abe3ec491bb3f356")},
	},
	"frame_decision_accept.txt": &Decision{
		Accept: true,
		Token:  unhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
		Name:   "Desk",
		Have: []Have{
			{File: 1, Ranges: [][2]int64{{0, 1}, {2, 3}}, Digest: unhex("b5fe943bfb1e678a4f40af77a810b2a4d2ff9092d0b6d92782c173be56ea45c6")},
			{File: 2, Complete: true, Hash: unhex("9b6fa5c4d96eb2a25e31d6a459bfb18ec330bfa2fbc9cda1bb2414fdf86d2bbd")},
		},
	},
	"frame_decision_refusal.txt": &Decision{Code: "declined", Reason: "not now", Name: "Desk"},
	"frame_plan.txt":             &Plan{Restart: []int{1}, Skip: []int{2}},
	"frame_fileend.txt":          &FileEnd{File: 1, Size: 150000, Hash: unhex("59f16b4436c1e61bfca21340b33feb50eedcc2ef7d3bab84a8e7368cc97e29b0")},
	"frame_filedone.txt":         &FileDone{File: 1, Name: "photos/a (1).bin"},
	"frame_error.txt":            &ErrorFrame{Code: "internal", Message: "disk on fire"},
	"frame_done.txt":             &DoneFrame{Files: 3, Bytes: 150013},
	"frame_commit.txt":           &NonceFrame{Value: unhex("26835068bc48d6fe875d6f83dfb2f945c500c045249b525383a20f94833d615f")},
	"frame_nonce.txt":            &NonceFrame{Value: unhex("132f2de07f75afe41ce56a18f40f0cb47ad7b0ba75979b4fc38442e19feb31cf")},
	"frame_reveal.txt":           &NonceFrame{Value: unhex("1c3846a6f8887174b5d42c7dc554b706ff1c8271a3f282d162ecb83b47b6b263")},
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// pattern returns n bytes, byte i being i mod 251.
func pattern(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func checkFileHash(t *testing.T, f *golden.File) {
	size, chunk := f.Int("size"), f.Int("chunk")
	hashes := f.Hashes("chunk-hash")
	var data []byte
	switch {
	case f.Has("data"):
		data = f.Hex("data")
	case f.Has("pattern-bytes"):
		data = pattern(f.Int("pattern-bytes"))
	}
	if data != nil || size == 0 {
		if int64(len(data)) != size {
			t.Fatalf("data has %d bytes, size says %d", len(data), size)
		}
		e := Entry{Size: size, Chunk: chunk}
		if e.Chunks() != int64(len(hashes)) {
			t.Fatalf("Chunks() = %d, the vector lists %d chunk hashes", e.Chunks(), len(hashes))
		}
		for i := range hashes {
			c := data[int64(i)*chunk:][:e.ChunkLen(int64(i))]
			if got := blake3.Sum256(c); got != hashes[i] {
				t.Errorf("chunk %d: BLAKE3-256 = %x, want %x", i, got, hashes[i])
			}
		}
	}
	if got, want := FileHash(size, chunk, hashes), f.Hash("file-hash"); got != want {
		t.Errorf("FileHash = %x, want %x", got, want)
	}
}

func checkHaveDigest(t *testing.T, f *golden.File) {
	idx, hashes := f.Indexed("kept")
	if got, want := HaveDigest(idx, hashes), f.Hex("digest"); !bytes.Equal(got, want) {
		t.Errorf("HaveDigest = %x, want %x", got, want)
	}
}

func checkFrame(t *testing.T, f *golden.File) {
	want, ok := goldenFrames[f.Name()]
	if !ok {
		t.Fatal("no value in goldenFrames for this vector")
	}
	typ := byte(f.Int("type"))
	prefix, body := f.Hex("prefix"), []byte(f.String("body"))
	if len(prefix) != 5 || prefix[0] != typ || binary.BigEndian.Uint32(prefix[1:]) != uint32(len(body)) {
		t.Fatalf("the vector's prefix %x is not type %d and the body's length %d", prefix, typ, len(body))
	}
	frame := append(prefix, body...)

	got, err := AppendFrame([]byte("x"), typ, want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[1:], frame) || got[0] != 'x' {
		t.Errorf("AppendFrame:\n got %x\n%s\nwant %x\n%s", got[1:6], got[6:], frame[:5], frame[5:])
	}

	r := bytes.NewReader(frame)
	gt, gbody, err := ReadFrame(r)
	if err != nil || gt != typ || !bytes.Equal(gbody, body) || r.Len() != 0 {
		t.Fatalf("ReadFrame = %d, %q, %v with %d bytes left; want %d and the body", gt, gbody, err, r.Len(), typ)
	}
	v := reflect.New(reflect.TypeOf(want).Elem()).Interface()
	if err := DecodeFrame(gt, typ, gbody, v); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("DecodeFrame = %+v, want %+v", v, want)
	}

	if typ == TypeOffer {
		digest := f.Hex("offer-digest")
		o, d, err := DecodeOffer(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&o, want) {
			t.Errorf("DecodeOffer = %+v, want %+v", o, want)
		}
		if !bytes.Equal(d, digest) || !bytes.Equal(OfferDigest(body), digest) {
			t.Errorf("offer digest: DecodeOffer %x, OfferDigest %x, want %x", d, OfferDigest(body), digest)
		}
	}
}

func checkStreamHello(t *testing.T, f *golden.File) {
	token, stream := f.Hex("token"), f.Hex("stream")
	if got := append([]byte{TypeStreamHello}, token...); !bytes.Equal(got, stream) || len(token) != TokenLen {
		t.Errorf("hello = %x, want %x (token of %d bytes, want %d)", got, stream, len(token), TokenLen)
	}
	r := bytes.NewReader(stream)
	got, err := ReadStreamHello(r)
	if err != nil || !bytes.Equal(got, token) || r.Len() != 0 {
		t.Errorf("ReadStreamHello = %x, %v with %d bytes left; want %x", got, err, r.Len(), token)
	}
}

func checkChunkHeader(t *testing.T, f *golden.File) {
	want := ChunkHeader{File: uint32(f.Int("file")), Chunk: uint32(f.Int("chunk")), Len: uint32(f.Int("length"))}
	b := f.Hex("header")
	var got [ChunkHeaderLen]byte
	want.Put(got[:])
	if !bytes.Equal(got[:], b) {
		t.Errorf("ChunkHeader.Put = %x, want %x", got, b)
	}
	h, err := ReadChunkHeader(bufio.NewReader(bytes.NewReader(b)))
	if err != nil || h != want {
		t.Errorf("ReadChunkHeader = %+v, %v; want %+v", h, err, want)
	}
}

func checkChunkFrame(t *testing.T, f *golden.File) {
	data, frame := f.Hex("data"), f.Hex("frame")
	hdr := ChunkHeader{File: uint32(f.Int("file")), Chunk: uint32(f.Int("chunk")), Len: uint32(len(data))}
	var b [ChunkHeaderLen]byte
	hdr.Put(b[:])
	sum := blake3.Sum256(data)
	if got := append(append(b[:], data...), sum[:]...); !bytes.Equal(got, frame) {
		t.Errorf("chunk frame = %x, want %x", got, frame)
	}
	r := bufio.NewReader(bytes.NewReader(frame))
	h, err := ReadChunkHeader(r)
	if err != nil || h != hdr {
		t.Fatalf("ReadChunkHeader = %+v, %v; want %+v", h, err, hdr)
	}
	body := make([]byte, h.Len)
	var trailer [HashLen]byte
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, trailer[:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, data) || trailer != blake3.Sum256(body) {
		t.Errorf("read back %x with trailer %x", body, trailer)
	}
	if _, err := ReadChunkHeader(r); !errors.Is(err, io.EOF) {
		t.Errorf("after the frame: %v, want io.EOF", err)
	}
}

func checkCommitment(t *testing.T, f *golden.File) {
	nonce, want := f.Hex("nonce"), f.Hex("commitment")
	if got := Commitment(nonce); !bytes.Equal(got, want) {
		t.Errorf("Commitment = %x, want %x", got, want)
	}
	if !CheckCommitment(want, nonce) {
		t.Error("CheckCommitment refuses the vector")
	}
}

func checkCode(t *testing.T, f *golden.File) {
	in := SASInput{
		Sender:        identity.DeviceID(f.Hash("sender")),
		Receiver:      identity.DeviceID(f.Hash("receiver")),
		Exporter:      f.Hex("exporter"),
		Offer:         f.Hex("offer"),
		SenderNonce:   f.Hex("sender-nonce"),
		ReceiverNonce: f.Hex("receiver-nonce"),
	}
	if got, want := VerificationCode(in), f.String("code"); got != want {
		t.Errorf("VerificationCode = %s, want %s", got, want)
	}
}

func checkProtocolNames(t *testing.T, f *golden.File) {
	for _, c := range []struct{ key, got string }{
		{"alpn", ALPN},
		{"alpn-previous", ALPNv1},
		{"exporter-label", exporterLabel},
		{"exporter-length", strconv.Itoa(exporterLen)},
	} {
		if want := f.String(c.key); c.got != want {
			t.Errorf("%s = %q, want %q", c.key, c.got, want)
		}
	}
}

func checkTextFrame(t *testing.T, f *golden.File) {
	prefix, text, sum := f.Hex("prefix"), f.Hex("text"), f.Hex("sha256")
	ref := NewTextRef(string(text))
	if !bytes.Equal(ref.Hash, sum) || ref.Size != int64(len(text)) {
		t.Errorf("NewTextRef = %d bytes, %x; want %d, %x", ref.Size, ref.Hash, len(text), sum)
	}
	frame := append(prefix, text...)
	if got := AppendText([]byte("x"), string(text)); !bytes.Equal(got[1:], frame) || got[0] != 'x' {
		t.Errorf("AppendText = %x, want %x", got[1:], frame)
	}
	r := bytes.NewReader(frame)
	if got, err := ReadText(r, ref); err != nil || got != string(text) || r.Len() != 0 {
		t.Errorf("ReadText = %q, %v with %d bytes left; want the text", got, err, r.Len())
	}
}
