package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// A journal sits next to a partial file and records which chunks are on disk
// and verified. It is append-only:
//
//	"FERRYJ01" | u32 header length | header JSON | record*
//	record = u32 chunk index | 32-byte chunk hash | u32 CRC-32C of the previous 36 bytes
//
// A record is appended only after its chunk's bytes were written and matched
// the sender's hash. A torn or corrupt tail is ignored. On resume every
// recorded chunk is read back from the partial file and hashed again: the
// journal says where to look, never what to trust.

const (
	journalMagic     = "FERRYJ01"
	journalRecordLen = 4 + wire.HashLen + 4
	maxJournalHeader = 16 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalHeader identifies what a partial file is a copy of. A partial whose
// header does not match the offered entry restarts from zero.
type journalHeader struct {
	Sender string `json:"sender"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	MTime  int64  `json:"mtime"`
	Chunk  int64  `json:"chunk"`
}

func encodeJournalHeader(h journalHeader) ([]byte, error) {
	body, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode journal header: %w", err)
	}
	if len(body) > maxJournalHeader {
		return nil, fmt.Errorf("encode journal header: %d bytes", len(body))
	}
	b := make([]byte, 0, len(journalMagic)+4+len(body))
	b = append(b, journalMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...), nil
}

func encodeJournalRecord(b []byte, idx int64, h [wire.HashLen]byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(idx))
	b = append(b, h[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// errJournal marks a journal that cannot be used; the partial restarts.
var errJournal = errors.New("unusable journal")

// readJournal parses a journal. Records whose index is not below maxChunks
// are ignored, and so is everything after the first corrupt record. It
// returns the recorded hash of each chunk index.
func readJournal(r io.Reader, maxChunks int64) (journalHeader, map[int64][wire.HashLen]byte, error) {
	var h journalHeader
	var pre [len(journalMagic) + 4]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return h, nil, fmt.Errorf("%w: short header: %v", errJournal, err)
	}
	if string(pre[:len(journalMagic)]) != journalMagic {
		return h, nil, fmt.Errorf("%w: bad magic", errJournal)
	}
	n := binary.BigEndian.Uint32(pre[len(journalMagic):])
	if n > maxJournalHeader {
		return h, nil, fmt.Errorf("%w: header of %d bytes", errJournal, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return h, nil, fmt.Errorf("%w: short header: %v", errJournal, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", errJournal, err)
	}
	recs := make(map[int64][wire.HashLen]byte)
	var rec [journalRecordLen]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			break // end, or a torn last record
		}
		if crc32.Checksum(rec[:4+wire.HashLen], castagnoli) != binary.BigEndian.Uint32(rec[4+wire.HashLen:]) {
			break
		}
		idx := int64(binary.BigEndian.Uint32(rec[:4]))
		if idx >= maxChunks {
			continue
		}
		var sum [wire.HashLen]byte
		copy(sum[:], rec[4:4+wire.HashLen])
		recs[idx] = sum
	}
	return h, recs, nil
}

// journal is the journal of one file being received.
type journal struct {
	path string // relative to the root; "" for a file of one chunk, which has none
	mu   sync.Mutex
	f    *os.File // open for appending while the file is received
}

// create writes a new journal, in the open folder dir, with header h and
// the chunks kept so far (see File.open).
func (j *journal) create(in *Incoming, dir *os.File, h journalHeader, kept []int64, hashes [][wire.HashLen]byte) error {
	b, err := encodeJournalHeader(h)
	if err != nil {
		return err
	}
	for k, i := range kept {
		b = encodeJournalRecord(b, i, hashes[k])
	}
	f, err := in.createExcl(dir, j.path)
	if err != nil {
		if cerr := safepath.CheckParents(in.root, j.path); cerr != nil {
			return fmt.Errorf("write journal for %q: %w", h.Path, cerr)
		}
		return fmt.Errorf("create journal for %q: %w", h.Path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write journal for %q: %w", h.Path, err)
	}
	j.mu.Lock()
	j.f = f
	j.mu.Unlock()
	return nil
}

// append records a verified chunk.
func (j *journal) append(idx int64, sum [wire.HashLen]byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	var b [journalRecordLen]byte
	_, err := j.f.Write(encodeJournalRecord(b[:0], idx, sum))
	return err
}

func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// remove deletes the journal of a file that is named or discarded.
func (j *journal) remove(root *os.Root) {
	if j.path != "" {
		root.Remove(j.path)
	}
}

// header is the journal header of f: what its partial file is a copy of.
func (in *Incoming) header(f *File) journalHeader {
	return journalHeader{Sender: in.opt.Sender.String(), Path: f.e.Path, Size: f.e.Size, MTime: f.e.MTime, Chunk: f.e.Chunk}
}

// JournaledChunks returns the chunks a journal records, in order.
func JournaledChunks(r io.Reader) ([]int64, error) {
	_, recs, err := readJournal(bufio.NewReader(r), wire.MaxChunksPerFile)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(recs)), nil
}
