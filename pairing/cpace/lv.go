package cpace

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrMalformed is returned when a length-value string does not parse.
var ErrMalformed = errors.New("cpace: malformed length-value encoding")

// maxLVLen bounds a single length-value field when parsing. CPace fields in
// ferry are at most a few hundred bytes; the bound keeps a hostile length
// from meaning anything before it is compared with the bytes present.
const maxLVLen = 1 << 20

// AppendLV appends prepend_len(b) to dst: the LEB128 encoding of len(b),
// then b.
func AppendLV(dst, b []byte) []byte {
	n := len(b)
	for {
		if n < 128 {
			dst = append(dst, byte(n))
			break
		}
		dst = append(dst, byte(n&0x7f)|0x80)
		n >>= 7
	}
	return append(dst, b...)
}

// LVCat returns lv_cat(parts...): the concatenation of prepend_len of each
// part.
func LVCat(parts ...[]byte) []byte {
	size := 0
	for _, p := range parts {
		size += len(p) + 3
	}
	out := make([]byte, 0, size)
	for _, p := range parts {
		out = AppendLV(out, p)
	}
	return out
}

// SplitLV parses b as exactly n length-value fields, the inverse of LVCat.
// It is strict: lengths must use the shortest LEB128 form and no byte may
// follow the last field, so a string that parses has exactly one encoding.
// The returned fields alias b.
func SplitLV(b []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for i := range n {
		l, used, err := readLEB128(b)
		if err != nil {
			return nil, fmt.Errorf("%w: field %d: %w", ErrMalformed, i, err)
		}
		b = b[used:]
		if l > len(b) {
			return nil, fmt.Errorf("%w: field %d: length %d, %d bytes left", ErrMalformed, i, l, len(b))
		}
		out = append(out, b[:l:l])
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
	}
	return out, nil
}

func readLEB128(b []byte) (n, used int, err error) {
	shift := 0
	for i, c := range b {
		if shift > 21 {
			return 0, 0, errors.New("length too long")
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, 0, errors.New("length not in shortest form")
			}
			if n > maxLVLen {
				return 0, 0, fmt.Errorf("length %d over %d", n, maxLVLen)
			}
			return n, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errors.New("truncated length")
}

// lexiographicallyLarger reports whether a > b in the draft's ordering: the
// first differing byte decides, else the longer string is larger.
func lexiographicallyLarger(a, b []byte) bool {
	return bytes.Compare(a, b) > 0
}

// oCat is the draft's ordered concatenation: "oc", then the larger string,
// then the smaller. ferry only runs the initiator-responder mode; oCat and
// transcriptOC are here so the draft's symmetric-mode vectors can be checked.
func oCat(a, b []byte) []byte {
	if !lexiographicallyLarger(a, b) {
		a, b = b, a
	}
	out := append([]byte("oc"), a...)
	return append(out, b...)
}

// transcriptIR is lv_cat(Ya, ADa) || lv_cat(Yb, ADb).
func transcriptIR(ya, ada, yb, adb []byte) []byte {
	return append(LVCat(ya, ada), LVCat(yb, adb)...)
}

// transcriptOC is o_cat(lv_cat(Ya, ADa), lv_cat(Yb, ADb)).
func transcriptOC(ya, ada, yb, adb []byte) []byte {
	return oCat(LVCat(ya, ada), LVCat(yb, adb))
}
