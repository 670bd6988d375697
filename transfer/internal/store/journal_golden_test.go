package store

import (
	"bytes"
	"maps"
	"testing"

	"github.com/ferry-lan/ferry/internal/golden"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// TestJournalGolden checks the journal's bytes against the vectors in
// testdata/golden, whose values gen.py computed from journal.go's format
// comment without ferry's code: a journal written by one version is read
// by the next, so its bytes must not change. Each vector is checked both
// ways: the header and records encode to the journal's bytes (with the
// vector's torn or corrupt tail appended), and reading those bytes gives
// the header and the records the vector expects.
func TestJournalGolden(t *testing.T) {
	golden.Run(t, "testdata/golden", map[string]func(*testing.T, *golden.File){
		"journal_":      checkJournal,
		"partial_name_": checkPartialName,
	})
}

func checkJournal(t *testing.T, f *golden.File) {
	h := journalHeader{
		Sender: f.String("sender"),
		Path:   f.String("path"),
		Size:   f.Int("size"),
		MTime:  f.Int("mtime"),
		Chunk:  f.Int("chunk"),
	}
	journal, headerJSON := f.Hex("journal"), []byte(f.String("header-json"))
	if len(journal) < 12+len(headerJSON) || !bytes.Equal(journal[12:12+len(headerJSON)], headerJSON) {
		t.Fatal("the vector's journal does not hold its header-json after 12 bytes")
	}

	b, err := encodeJournalHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	idx, hashes := f.Indexed("record")
	for i := range idx {
		b = encodeJournalRecord(b, idx[i], hashes[i])
	}
	b = append(b, f.Hex("tail")...)
	if !bytes.Equal(b, journal) {
		t.Errorf("encoded journal\n got %x\nwant %x", b, journal)
	}

	gotH, recs, err := readJournal(bytes.NewReader(journal), f.Int("max-chunks"))
	if err != nil {
		t.Fatal(err)
	}
	if gotH != h {
		t.Errorf("readJournal header = %+v, want %+v", gotH, h)
	}
	idx, hashes = f.Indexed("read")
	want := make(map[int64][wire.HashLen]byte)
	for i := range idx {
		want[idx[i]] = hashes[i]
	}
	if !maps.Equal(recs, want) {
		t.Errorf("readJournal records = %x, want %x", recs, want)
	}
}

// checkPartialName: the partial file's name must not change between
// versions either, or an upgrade strands half-received files.
func checkPartialName(t *testing.T, f *golden.File) {
	if got, want := PartialPath([32]byte(f.Hex("sender")), f.String("path")), f.String("partial"); got != want {
		t.Errorf("PartialPath = %q, want %q", got, want)
	}
}
