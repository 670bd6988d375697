package transfer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Fuzz targets for every decoder of network bytes and of the journal. Seeds
// live in testdata/fuzz/<FuzzName>/; run one with
//
//	go test -run=NONE -fuzz=FuzzReadFrame -fuzztime=45s ./transfer/

// frameValue returns a value of the type a control frame of type t carries.
func frameValue(t byte) any {
	switch t {
	case frameOffer:
		return new(Offer)
	case frameDecision:
		return new(Decision)
	case framePlan:
		return new(Plan)
	case frameFileEnd:
		return new(FileEnd)
	case frameFileDone:
		return new(FileDone)
	case frameError:
		return new(ErrorFrame)
	case frameDone:
		return new(DoneFrame)
	case frameCommit, frameNonce, frameReveal:
		return new(NonceFrame)
	}
	return nil
}

var frameTypes = []byte{frameOffer, frameDecision, framePlan, frameFileEnd, frameFileDone, frameError, frameDone, frameCommit, frameNonce, frameReveal}

func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, body, err := readFrame(bytes.NewReader(data))
		if err != nil {
			// Refused only for a reason: short input, unknown type or a length over the cap.
			if len(data) >= 5 {
				c, known := frameCap(data[0])
				n := int64(binary.BigEndian.Uint32(data[1:5]))
				if known && n <= int64(c) && int64(len(data)-5) >= n {
					t.Fatalf("a well-formed frame was refused: %v", err)
				}
			}
			return
		}
		c, known := frameCap(typ)
		if !known || len(body) > c || !bytes.Equal(body, data[5:5+len(body)]) {
			t.Fatalf("type %d, %d bytes: not what was sent", typ, len(body))
		}
		// Decoding into any frame type must not panic; only the right one may succeed.
		for _, want := range frameTypes {
			err := decodeFrame(typ, want, body, frameValue(want))
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
		if decodeFrame(typ, typ, body, v) != nil {
			return
		}
		var buf bytes.Buffer
		if err := writeFrame(&buf, typ, v); err != nil {
			return // re-encoding can grow past the cap (JSON escapes "<" as \u003c)
		}
		typ2, body2, err := readFrame(&buf)
		v2 := frameValue(typ)
		if err != nil || typ2 != typ || decodeFrame(typ2, typ, body2, v2) != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(v2)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the frame:\n%s\n%s", a, b)
		}
	})
}

func FuzzValidateOffer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Offer
		if json.Unmarshal(data, &o) != nil {
			return
		}
		err := validateOffer(&o)
		if err != nil {
			var ve *versionError
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, safepath.ErrUnsafePath) && !errors.Is(err, safepath.ErrPathCollision) && !errors.As(err, &ve) {
				t.Fatalf("refused with an unclassified error: %v", err)
			}
			return
		}
		if o.Version != ProtocolVersion || len(o.Entries) == 0 || len(o.Entries) > maxEntries || len(o.Name) > 256 || len(o.Session) > maxSessionID {
			t.Fatalf("accepted a bad header: v%d, %d entries", o.Version, len(o.Entries))
		}
		set := safepath.NewSet()
		var total int64
		for _, e := range o.Entries {
			if err := safepath.Check(e.Path); err != nil {
				t.Fatalf("accepted name %q: %v", e.Path, err)
			}
			if err := set.Add(e.Path, e.Dir); err != nil {
				t.Fatalf("accepted colliding name %q: %v", e.Path, err)
			}
			if !filepath.IsLocal(e.Path) || path.Clean(e.Path) != e.Path {
				t.Fatalf("accepted non-local name %q", e.Path)
			}
			if e.Dir {
				if e.Size != 0 || e.Chunk != 0 || e.Stream || e.Chunks() != 0 {
					t.Fatalf("accepted folder %+v", e)
				}
				continue
			}
			if e.Chunk < minChunkSize || e.Chunk > maxChunkSize || e.Chunk&(e.Chunk-1) != 0 {
				t.Fatalf("accepted chunk size %d", e.Chunk)
			}
			if e.Stream {
				if e.Size != -1 {
					t.Fatalf("accepted streamed %+v", e)
				}
				continue
			}
			n := e.Chunks()
			if e.Size < 0 || n > maxChunksPerFile || (e.Size > 0) != (n > 0) {
				t.Fatalf("accepted size %d in %d chunks", e.Size, n)
			}
			if n > 0 {
				if last := e.chunkLen(n - 1); last <= 0 || last > e.Chunk || (n-1)*e.Chunk+last != e.Size {
					t.Fatalf("size %d: last chunk of %d bytes", e.Size, last)
				}
			}
			// The receiver's own names for it stay inside the folder.
			dir, base := path.Split(e.Path)
			part := path.Join(dir, ".ferry-"+partialKey([32]byte{}, e.Path)+".part")
			if !filepath.IsLocal(part) || base == "" {
				t.Fatalf("partial name %q", part)
			}
			total += e.Size
			if total < 0 {
				t.Fatal("accepted an offer whose total size overflows")
			}
		}
	})
}

func FuzzReadJournal(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, name string, size, mtime, chunk int64, recs []byte) {
		// Any bytes: no panic, and only chunks below the limit come back.
		const limit = 4096
		if _, got, err := readJournal(bytes.NewReader(data), limit); err == nil {
			for i := range got {
				if i < 0 || i >= limit {
					t.Fatalf("chunk %d beyond the limit", i)
				}
			}
		} else if !errors.Is(err, errJournal) {
			t.Fatalf("unclassified error: %v", err)
		}

		// A journal written by encodeJournal* reads back, torn tail and all.
		if !utf8.ValidString(name) {
			return // JSON would change it; real paths passed safepath.Check
		}
		h := journalHeader{Sender: "SENDER", Path: name, Size: size, MTime: mtime, Chunk: chunk}
		b, err := encodeJournalHeader(h)
		if err != nil {
			return // a header over the limit
		}
		want := make(map[int64][hashLen]byte)
		for len(recs) >= 3 {
			idx := int64(binary.BigEndian.Uint16(recs)) % (limit + 100) // some beyond the limit
			sum := hashOf(recs[:3])
			b = encodeJournalRecord(b, idx, sum)
			if idx < limit {
				want[idx] = sum
			}
			recs = recs[3:]
		}
		b = append(b, recs...) // a torn record
		got, gotRecs, err := readJournal(bytes.NewReader(b), limit)
		if err != nil || got != h || !maps.Equal(gotRecs, want) {
			t.Fatalf("round trip: %+v, %d records, %v; want %+v, %d records", got, len(gotRecs), err, h, len(want))
		}
	})
}

func FuzzChunkHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		br := bufio.NewReader(r)
		pos := func() int { return len(data) - r.Len() - br.Buffered() }
		tok, err := readStreamHello(br)
		if err != nil {
			if len(data) >= 1+tokenLen && data[0] == frameStreamHello {
				t.Fatalf("a good hello was refused: %v", err)
			}
			return
		}
		if data[0] != frameStreamHello || !bytes.Equal(tok, data[1:1+tokenLen]) {
			t.Fatal("hello token is not what was sent")
		}
		for {
			start := pos()
			h, err := readChunkHeader(br)
			if err != nil {
				if start+chunkHeaderLen <= len(data) && data[start] == frameChunk {
					t.Fatalf("a whole chunk header was refused: %v", err)
				}
				return
			}
			var b [chunkHeaderLen]byte
			h.put(b[:])
			if !bytes.Equal(b[:], data[start:start+chunkHeaderLen]) {
				t.Fatalf("header %+v does not put back to what was read", h)
			}
			if _, err := br.Discard(min(int(h.Len)+hashLen, br.Buffered()+r.Len())); err != nil {
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
		idx, err := indexesOf(ranges, n)
		if err == nil {
			var want int64
			for _, r := range ranges {
				want += r[1] - r[0]
			}
			if int64(len(idx)) != want {
				t.Fatalf("%v: %d indexes, want %d", ranges, len(idx), want)
			}
			checkIndexes(t, idx, n)
			merged := rangesOf(idx)
			back, err := indexesOf(merged, n)
			if err != nil || !slices.Equal(back, idx) || len(merged) > len(ranges) {
				t.Fatalf("%v → %v → %v: %v", ranges, merged, back, err)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatalf("unclassified error: %v", err)
		}

		// Any set of indexes: rangesOf is minimal and indexesOf inverts it.
		if n == 0 {
			return
		}
		seen := make(map[int64]bool)
		for b := data; len(b) >= 2; b = b[2:] {
			seen[int64(binary.BigEndian.Uint16(b))%n] = true
		}
		set := slices.Sorted(maps.Keys(seen))
		rs := rangesOf(set)
		for i := 1; i < len(rs); i++ {
			if rs[i][0] <= rs[i-1][1] {
				t.Fatalf("ranges %v are not merged", rs)
			}
		}
		back, err := indexesOf(rs, n)
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

// decodeOffer, the receiver's streaming decoder, agrees with
// encoding/json on every offer it accepts, and its digest is of the bytes.
func FuzzDecodeOffer(f *testing.F) {
	f.Add([]byte(`{"v":2,"name":"a","entries":[{"path":"x","size":1,"chunk":65536}]}`))
	f.Add([]byte(`{"v":2,"entries":[{"path":"x"}],"v":3}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"V":2,"Entries":null} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, digest, err := decodeOffer(bytes.NewReader(data), int64(len(data)))
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
		if !bytes.Equal(digest, offerDigest(data)) {
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
