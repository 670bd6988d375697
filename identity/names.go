package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// MaxNameLen is the longest device name, in bytes.
const MaxNameLen = 63

// ErrBadName is returned for a device name that cannot be used.
var ErrBadName = errors.New("unusable device name")

// CheckName reports whether name can be a device name: valid UTF-8, at most
// MaxNameLen bytes, no control characters or line separators, and at least
// one visible character. A name made only of spaces, fillers (U+3164
// HANGUL FILLER and its kin, U+2800 BRAILLE PATTERN BLANK), format and other
// default-ignorable characters shows as nothing, so it is refused. It is
// pure and cheap: one pass over at most MaxNameLen bytes.
func CheckName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: longer than %d bytes", ErrBadName, name, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w %q: not valid UTF-8", ErrBadName, name)
	}
	visible := false
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w %q: it contains a control character", ErrBadName, name)
		}
		visible = visible || isVisible(r)
	}
	if !visible {
		return fmt.Errorf("%w %q: it has no visible character", ErrBadName, name)
	}
	return nil
}

// SameName reports whether two device names look alike, to warn when a
// stranger uses a name like a paired device's. It compares skeletons as
// Unicode TR39 defines them for confusable detection (section 4), ignoring
// case and what shows as nothing. Each name is first prepared:
//
//   - NFKC, which folds width and compatibility forms (fullwidth ｌ is l);
//   - blanks (white space and the fillers that show as space) become one
//     space, none at the ends; format and other default-ignorable
//     characters, which show as nothing, are dropped.
//
// Then two keys are compared; the names look alike if either matches:
//
//   - fold(skeleton(fold(name))): case first, so ALICE meets alice and
//     MY-LAPTOP meets my-laptop (the table maps m, not M, to rn);
//   - fold(skeleton(fold(skeleton(name)))): lookalikes first, so AIice
//     (capital I) meets alice (the table maps I, not i, to l).
//
// skeleton is TR39's: NFD, each character mapped by Unicode's confusables
// table (Cyrillic а is a, U+2010 is -, ỿ is y), NFD again; fold maps each
// character to the lower case of its upper case. One key cannot do both: a
// name can look like two names that do not look alike.
func SameName(a, b string) bool {
	ka, kb := nameKeys(a), nameKeys(b)
	return ka[0] == kb[0] || ka[1] == kb[1]
}

// nameKeys returns the two keys SameName compares.
func nameKeys(name string) [2]string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFKC.String(name) {
		switch {
		case isBlank(r):
			space = b.Len() > 0
		case isIgnorable(r):
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	p := b.String()
	fold := func(s string) string { return strings.Map(foldCase, s) }
	return [2]string{
		fold(confusables.Skeleton(fold(p))),
		fold(confusables.Skeleton(fold(confusables.Skeleton(p)))),
	}
}

// isBlank: a character that shows as empty space.
func isBlank(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0', // Hangul fillers
		'\u2800': // Braille pattern blank
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r)
}

// isIgnorable: a character that shows as nothing (format characters such
// as zero-width spaces, joiners and bidi controls; variation selectors;
// the other default-ignorable code points).
func isIgnorable(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// isVisible: a letter, digit, punctuation mark or symbol that leaves ink.
func isVisible(r rune) bool {
	return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S) && !isBlank(r) && !isIgnorable(r)
}

// foldCase maps r to the lower case of its upper case, the same for every
// case of a letter (ſ, s and S are s; ς, σ and Σ are σ).
func foldCase(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }
