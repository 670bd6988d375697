package wire

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"
)

// frameValue returns a value of the type a control frame of type t carries.
func frameValue(t byte) any {
	switch t {
	case TypeOffer:
		return new(Offer)
	case TypeDecision:
		return new(Decision)
	case TypePlan:
		return new(Plan)
	case TypeFileEnd:
		return new(FileEnd)
	case TypeFileDone:
		return new(FileDone)
	case TypeError:
		return new(ErrorFrame)
	case TypeDone:
		return new(DoneFrame)
	case TypeCommit, TypeNonce, TypeReveal:
		return new(NonceFrame)
	case TypeSwarm:
		return new(Swarm)
	case TypeHave:
		return new(HaveChunk)
	case TypeWant, TypeGot:
		return new(WantChunk)
	}
	return nil
}

func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, body, err := ReadFrame(bytes.NewReader(data))
		if err != nil {
			// Refused only for a reason: short input, unknown type or a length over the cap.
			if len(data) >= 5 {
				c, known := FrameCap(data[0])
				n := int64(binary.BigEndian.Uint32(data[1:5]))
				if known && n <= int64(c) && int64(len(data)-5) >= n {
					t.Fatalf("a well-formed frame was refused: %v", err)
				}
			}
			return
		}
		c, known := FrameCap(typ)
		if !known || len(body) > c || !bytes.Equal(body, data[5:5+len(body)]) {
			t.Fatalf("type %d, %d bytes: not what was sent", typ, len(body))
		}
		// Decoding into any frame type must not panic; only the right one may succeed.
		for _, want := range frameTypes {
			err := DecodeFrame(typ, want, body, frameValue(want))
			var pe *PeerError
			if want != typ && err == nil {
				t.Fatalf("a frame of type %d decoded as type %d", typ, want)
			}
			if err != nil && !errors.Is(err, ErrProtocol) && !errors.As(err, &pe) {
				t.Fatalf("decode as %d: %v is neither a protocol violation nor the peer's error", want, err)
			}
		}
		// What decodes, encodes and decodes again to the same value.
		v := frameValue(typ)
		if DecodeFrame(typ, typ, body, v) != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteFrame(&buf, typ, v); err != nil {
			return // re-encoding can grow past the cap (JSON escapes "<" as \u003c)
		}
		typ2, body2, err := ReadFrame(&buf)
		v2 := frameValue(typ)
		if err != nil || typ2 != typ || DecodeFrame(typ2, typ, body2, v2) != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(v2)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the frame:\n%s\n%s", a, b)
		}
	})
}

func FuzzChunkHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		br := bufio.NewReader(r)
		pos := func() int { return len(data) - r.Len() - br.Buffered() }
		tok, err := ReadStreamHello(br)
		if err != nil {
			if len(data) >= 1+TokenLen && data[0] == TypeStreamHello {
				t.Fatalf("a good hello was refused: %v", err)
			}
			return
		}
		if data[0] != TypeStreamHello || !bytes.Equal(tok, data[1:1+TokenLen]) {
			t.Fatal("hello token is not what was sent")
		}
		for {
			start := pos()
			h, err := ReadChunkHeader(br)
			if err != nil {
				if start+ChunkHeaderLen <= len(data) && data[start] == TypeChunk {
					t.Fatalf("a whole chunk header was refused: %v", err)
				}
				return
			}
			var b [ChunkHeaderLen]byte
			h.Put(b[:])
			if !bytes.Equal(b[:], data[start:start+ChunkHeaderLen]) {
				t.Fatalf("header %+v does not put back to what was read", h)
			}
			if _, err := br.Discard(min(int(h.Len)+HashLen, br.Buffered()+r.Len())); err != nil {
				return
			}
		}
	})
}

func FuzzIndexesOf(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, chunks uint16) {
		n := int64(chunks)
		// Arbitrary ranges: refused, or expanded into sorted, distinct, in-range indexes.
		var ranges [][2]int64
		for b := data; len(b) >= 16; b = b[16:] {
			ranges = append(ranges, [2]int64{int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))})
		}
		idx, err := IndexesOf(ranges, n)
		if err == nil {
			var want int64
			for _, r := range ranges {
				want += r[1] - r[0]
			}
			if int64(len(idx)) != want {
				t.Fatalf("%v: %d indexes, want %d", ranges, len(idx), want)
			}
			checkIndexes(t, idx, n)
			merged := RangesOf(idx)
			back, err := IndexesOf(merged, n)
			if err != nil || !slices.Equal(back, idx) || len(merged) > len(ranges) {
				t.Fatalf("%v → %v → %v: %v", ranges, merged, back, err)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatalf("unclassified error: %v", err)
		}

		// Any set of indexes: RangesOf is minimal and IndexesOf inverts it.
		if n == 0 {
			return
		}
		seen := make(map[int64]bool)
		for b := data; len(b) >= 2; b = b[2:] {
			seen[int64(binary.BigEndian.Uint16(b))%n] = true
		}
		set := slices.Sorted(maps.Keys(seen))
		rs := RangesOf(set)
		for i := 1; i < len(rs); i++ {
			if rs[i][0] <= rs[i-1][1] {
				t.Fatalf("ranges %v are not merged", rs)
			}
		}
		back, err := IndexesOf(rs, n)
		if err != nil || !slices.Equal(back, set) {
			t.Fatalf("%v → %v → %v: %v", set, rs, back, err)
		}
	})
}

func checkIndexes(t *testing.T, idx []int64, n int64) {
	t.Helper()
	for i, c := range idx {
		if c < 0 || c >= n || (i > 0 && c <= idx[i-1]) {
			t.Fatalf("indexes %v: bad at %d", idx, i)
		}
	}
}

// DecodeOffer, the receiver's streaming decoder, agrees with
// encoding/json on every offer it accepts, and its digest is of the bytes.
func FuzzDecodeOffer(f *testing.F) {
	f.Add([]byte(`{"v":2,"name":"a","entries":[{"path":"x","size":1,"chunk":65536}]}`))
	f.Add([]byte(`{"v":2,"entries":[{"path":"x"}],"v":3}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"V":2,"Entries":null} `))
	f.Add([]byte(`{"v":3,"name":"a","text":{"size":5,"sha256":"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}}`))
	f.Add([]byte(`{"v":3,"text":{"size":5,"SIZE":6,"sha256":""},"Text":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, digest, err := DecodeOffer(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		var want Offer
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decodeOffer accepted what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(normEntries(o), normEntries(want)) {
			t.Fatalf("decoded %+v, encoding/json %+v", o, want)
		}
		if !bytes.Equal(digest, OfferDigest(data)) {
			t.Fatal("digest is not of the bytes")
		}
	})
}

func normEntries(o Offer) Offer {
	if len(o.Entries) == 0 {
		o.Entries = nil
	}
	return o
}

var frameTypes = []byte{TypeOffer, TypeDecision, TypePlan, TypeFileEnd, TypeFileDone, TypeError, TypeDone, TypeCommit, TypeNonce, TypeReveal, TypeSwarm, TypeHave, TypeWant, TypeGot}

// ReadText, the receiver's reader of the Text frame after a text offer
// that announced size bytes hashing to the SHA-256 of want: it accepts
// exactly a frame of that length whose bytes hash so and are UTF-8, and
// refuses anything else as a protocol violation or a short read.
func FuzzReadText(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, size uint32, want []byte) {
		sum := sha256.Sum256(want)
		ref := &TextRef{Size: int64(size), Hash: sum[:]}
		if CheckTextRef(ref) != nil {
			return // the receiver checks the offer's description first
		}
		text, err := ReadText(bytes.NewReader(data), ref)
		wellFormed := len(data) >= 5 && data[0] == TypeText && binary.BigEndian.Uint32(data[1:5]) == size &&
			int64(len(data)-5) >= int64(size) && bytes.Equal(data[5:5+int(size)], want) && utf8.Valid(want)
		if err != nil {
			if wellFormed {
				t.Fatalf("a well-formed text was refused: %v", err)
			}
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if !wellFormed || text != string(want) {
			t.Fatalf("accepted %q from %q (size %d)", text, data, size)
		}
	})
}
