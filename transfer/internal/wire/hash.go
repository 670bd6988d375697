package wire

import (
	"encoding/binary"

	"github.com/zeebo/blake3"
)

// FileHash is a file's hash as ferry reports it: BLAKE3 over "ferryF01",
// the size and the chunk size as big-endian u64, and the BLAKE3 hashes of
// its chunks in order. Both sides compute it, the sender from its source
// and the receiver from the bytes it wrote.
func FileHash(size, chunk int64, chunks [][HashLen]byte) [HashLen]byte {
	h := blake3.New()
	var b [24]byte
	copy(b[:8], "ferryF01")
	binary.BigEndian.PutUint64(b[8:], uint64(size))
	binary.BigEndian.PutUint64(b[16:], uint64(chunk))
	h.Write(b[:])
	for i := range chunks {
		h.Write(chunks[i][:])
	}
	var out [HashLen]byte
	h.Sum(out[:0])
	return out
}

// HaveDigest condenses the hashes of the chunks a receiver kept, so the
// sender can check them in one comparison: BLAKE3 over, for each kept
// chunk in index order, its index as big-endian u64 and its hash.
func HaveDigest(idx []int64, hashes [][HashLen]byte) []byte {
	h := blake3.New()
	var b [8]byte
	for i := range idx {
		binary.BigEndian.PutUint64(b[:], uint64(idx[i]))
		h.Write(b[:])
		h.Write(hashes[i][:])
	}
	return h.Sum(nil)
}

// RangesOf turns sorted chunk indexes into half-open ranges.
func RangesOf(idx []int64) [][2]int64 {
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

// IndexesOf expands ranges checked against a chunk count; it rejects
// overlapping, unsorted or out-of-range ranges.
func IndexesOf(ranges [][2]int64, chunks int64) ([]int64, error) {
	var out []int64
	next := int64(0)
	for _, r := range ranges {
		if r[0] < next || r[1] <= r[0] || r[1] > chunks {
			return nil, Errorf("bad chunk range [%d,%d) of %d chunks", r[0], r[1], chunks)
		}
		for i := r[0]; i < r[1]; i++ {
			out = append(out, i)
		}
		next = r[1]
	}
	return out, nil
}
