package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"testing"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

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
