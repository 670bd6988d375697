package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

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
