package store

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A numbered name ("name (1).ext") of a long name is shortened to fit in
// 255 bytes: the stem loses its end, at a boundary between characters
// (never between a letter and its combining marks), and the extension
// stays where it has room.
func TestNumberedFitsNameMax(t *testing.T) {
	long := func(stem string, total int, ext string) string {
		for len(stem)+len(ext) < total {
			stem += "a"
		}
		return stem + ext
	}
	for _, tc := range []struct {
		name string
		base string
		n    int
		stem string // the start of the base that the shortened name keeps
		ext  string // what follows the number
	}{
		{"ascii", long("", 255, ".txt"), 1, strings.Repeat("a", 247), ".txt"},
		{"fits-exactly", long("", 251, ".txt"), 1, strings.Repeat("a", 247), ".txt"},
		{"no-cut-needed", long("", 240, ".txt"), 1, strings.Repeat("a", 236), ".txt"},
		{"big-number", long("", 255, ".txt"), 9999, strings.Repeat("a", 244), ".txt"},
		{"double-ext", long("", 255, ".tar.gz"), 12, strings.Repeat("a", 243), ".tar.gz"},
		// 2-byte letters: byte 247 is inside one.
		{"utf8", strings.Repeat("é", 125) + "a.txt", 1, strings.Repeat("é", 123), ".txt"},
		// x + U+0301 (no precomposed form), 3 bytes: the cut keeps pairs.
		{"combining", long(strings.Repeat("x\u0301", 83), 255, ".txt"), 1, strings.Repeat("x\u0301", 82), ".txt"},
		// 4-byte characters.
		{"emoji", strings.Repeat("🙂", 62) + "ab.md", 1, strings.Repeat("🙂", 62), ".md"},
		// An extension with no room left for a stem is cut as part of it.
		{"huge-ext", "a." + strings.Repeat("b", 253), 1, "a." + strings.Repeat("b", 249), ""},
		{"no-ext", strings.Repeat("ж", 127) + "z", 3, strings.Repeat("ж", 125), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.base) > 255 {
				t.Fatalf("bad case: base of %d bytes", len(tc.base))
			}
			got := numbered(tc.base, tc.n)
			suffix := " (" + strconv.Itoa(tc.n) + ")" + tc.ext
			if want := tc.stem + suffix; got != want {
				t.Errorf("numbered(%d bytes, %d) = %q (%d bytes), want %q", len(tc.base), tc.n, got, len(got), want)
			}
			if len(got) > 255 || !utf8.ValidString(got) || !norm.NFC.IsNormalString(got) {
				t.Errorf("%q: %d bytes, valid UTF-8 %v, NFC %v", got, len(got), utf8.ValidString(got), norm.NFC.IsNormalString(got))
			}
			stem := strings.TrimSuffix(got, suffix)
			if !strings.HasPrefix(tc.base, stem) {
				return // reported above
			}
			if r, _ := utf8.DecodeRuneInString(tc.base[len(stem):]); unicode.Is(unicode.M, r) {
				t.Errorf("%q: the cut separates a letter from its mark %U", got, r)
			}
		})
	}
}
