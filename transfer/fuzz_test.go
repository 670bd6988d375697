package transfer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"path"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Fuzz targets for every decoder of network bytes and of the journal. Seeds
// live in testdata/fuzz/<FuzzName>/; run one with
//
//	go test -run=NONE -fuzz=FuzzReadFrame -fuzztime=45s ./transfer/

func FuzzValidateOffer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var o wire.Offer
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
		if o.Version != wire.Version || len(o.Entries) == 0 || len(o.Entries) > wire.MaxEntries || len(o.Name) > 256 || len(o.Session) > maxSessionID {
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
			if e.Chunk < wire.MinChunkSize || e.Chunk > wire.MaxChunkSize || e.Chunk&(e.Chunk-1) != 0 {
				t.Fatalf("accepted chunk size %d", e.Chunk)
			}
			if e.Stream {
				if e.Size != -1 {
					t.Fatalf("accepted streamed %+v", e)
				}
				continue
			}
			n := e.Chunks()
			if e.Size < 0 || n > wire.MaxChunksPerFile || (e.Size > 0) != (n > 0) {
				t.Fatalf("accepted size %d in %d chunks", e.Size, n)
			}
			if n > 0 {
				if last := e.ChunkLen(n - 1); last <= 0 || last > e.Chunk || (n-1)*e.Chunk+last != e.Size {
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
		want := make(map[int64][wire.HashLen]byte)
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
