package transfer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/zeebo/blake3"
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
	journalRecordLen = 4 + hashLen + 4
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

func encodeJournalRecord(b []byte, idx int64, h [hashLen]byte) []byte {
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
func readJournal(r io.Reader, maxChunks int64) (journalHeader, map[int64][hashLen]byte, error) {
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
	recs := make(map[int64][hashLen]byte)
	var rec [journalRecordLen]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			break // end, or a torn last record
		}
		if crc32.Checksum(rec[:4+hashLen], castagnoli) != binary.BigEndian.Uint32(rec[4+hashLen:]) {
			break
		}
		idx := int64(binary.BigEndian.Uint32(rec[:4]))
		if idx >= maxChunks {
			continue
		}
		var sum [hashLen]byte
		copy(sum[:], rec[4:4+hashLen])
		recs[idx] = sum
	}
	return h, recs, nil
}

// fileHash is a file's hash as ferry reports it: BLAKE3 over a label, the
// size and the BLAKE3 hashes of its chunks in order. Both sides compute it,
// the sender from its source and the receiver from the bytes it wrote.
func fileHash(size, chunk int64, chunks [][hashLen]byte) [hashLen]byte {
	h := blake3.New()
	var b [24]byte
	copy(b[:8], "ferryF01")
	binary.BigEndian.PutUint64(b[8:], uint64(size))
	binary.BigEndian.PutUint64(b[16:], uint64(chunk))
	h.Write(b[:])
	for i := range chunks {
		h.Write(chunks[i][:])
	}
	var out [hashLen]byte
	h.Sum(out[:0])
	return out
}

// haveDigest condenses the hashes of the chunks a receiver kept, in index
// order, so the sender can check them in one comparison.
func haveDigest(idx []int64, hashes [][hashLen]byte) []byte {
	h := blake3.New()
	var b [8]byte
	for i := range idx {
		binary.BigEndian.PutUint64(b[:], uint64(idx[i]))
		h.Write(b[:])
		h.Write(hashes[i][:])
	}
	return h.Sum(nil)
}

// rangesOf turns sorted chunk indexes into half-open ranges.
func rangesOf(idx []int64) [][2]int64 {
	var out [][2]int64
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1][1] == i {
			out[n-1][1]++
			continue
		}
		out = append(out, [2]int64{i, i + 1})
	}
	return out
}

// indexesOf expands ranges checked against a chunk count; it rejects
// overlapping, unsorted or out-of-range ranges.
func indexesOf(ranges [][2]int64, chunks int64) ([]int64, error) {
	var out []int64
	next := int64(0)
	for _, r := range ranges {
		if r[0] < next || r[1] <= r[0] || r[1] > chunks {
			return nil, protoErr("bad chunk range [%d,%d) of %d chunks", r[0], r[1], chunks)
		}
		for i := r[0]; i < r[1]; i++ {
			out = append(out, i)
		}
		next = r[1]
	}
	return out, nil
}
