package safepath

import (
	"unicode"
	"unicode/utf8"
)

// Display returns name in a form that is safe to print on a terminal, for
// any string, checked or not. Every rune that is not graphic (control and
// format characters such as ESC and the bidi overrides, line separators,
// private-use and unassigned code points) is written as a Go escape: \x1b
// for ASCII, \u202e or \U000e0001 above; an invalid UTF-8 byte as \xff; a
// backslash as \\, so the output stands for exactly one name.
//
// If the result is longer than max runes, Display keeps its start and end
// and puts "…" in the middle, never splitting an escape, so the result is at
// most max runes. A max of zero or less means no limit.
func Display(name string, max int) string { return display(name, max, false) }

// DisplayText is Display for text that is not one name: a message, an
// error, a text message a peer sent. It escapes what Display escapes, but
// leaves a backslash as it is, so that text escaped before (an error that
// quotes a peer's escaped reason) is not escaped twice.
func DisplayText(text string, max int) string { return display(text, max, true) }

// display is Display, or DisplayText with keepSlash.
func display(name string, max int, keepSlash bool) string {
	width, plain := 0, true
	for i := 0; i < len(name); {
		size, w, esc := nextPiece(name[i:], keepSlash)
		i += size
		width += w
		plain = plain && !esc
	}
	if max <= 0 || width <= max {
		if plain {
			return name
		}
		return string(appendPieces(make([]byte, 0, width), name, keepSlash))
	}

	// Keep as many whole pieces from each end as fit around the "…".
	headRoom := (max - 1) - (max-1)/2
	tailRoom := (max - 1) / 2
	b := make([]byte, 0, 4*max)
	i, used := 0, 0
	for i < len(name) {
		size, w, _ := nextPiece(name[i:], keepSlash)
		if used+w > headRoom {
			break
		}
		b = appendPieces(b, name[i:i+size], keepSlash)
		i += size
		used += w
	}
	for i < len(name) && width-used > tailRoom {
		size, w, _ := nextPiece(name[i:], keepSlash)
		i += size
		used += w
	}
	b = append(b, "…"...)
	return string(appendPieces(b, name[i:], keepSlash))
}

// A piece is what Display writes for one rune, or one invalid byte, of its
// input: the rune itself or one of these escapes.
type pieceKind uint8

const (
	plainRune pieceKind = iota // as is, 1 rune wide
	escByte                    // \xff for an invalid byte, 4 wide
	escSlash                   // \\, 2 wide
	escASCII                   // \x1b, 4 wide
	escBMP                     // \u202e, 6 wide
	escAstral                  // \U000e0001, 10 wide
)

// width returns how many runes wide a piece of kind k is.
func (k pieceKind) width() int {
	switch k {
	case plainRune:
		return 1
	case escSlash:
		return 2
	case escByte, escASCII:
		return 4
	case escBMP:
		return 6
	default:
		return 10
	}
}

// classify returns the first rune of s, its size in bytes, and how Display
// (DisplayText with keepSlash) writes it.
func classify(s string, keepSlash bool) (rune, int, pieceKind) {
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && size == 1:
		return r, size, escByte
	case r == '\\' && keepSlash:
		return r, size, plainRune
	case r == '\\':
		return r, size, escSlash
	case unicode.IsGraphic(r):
		return r, size, plainRune
	case r < 0x80:
		return r, size, escASCII
	case r <= 0xFFFF:
		return r, size, escBMP
	default:
		return r, size, escAstral
	}
}

// nextPiece returns how many bytes of s the first piece of Display's output
// stands for, how many runes wide that piece is, and whether it is escaped.
func nextPiece(s string, keepSlash bool) (size, width int, escaped bool) {
	_, size, kind := classify(s, keepSlash)
	return size, kind.width(), kind != plainRune
}

// appendPieces appends the Display form of s, in full, to b.
func appendPieces(b []byte, s string, keepSlash bool) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		r, size, kind := classify(s[i:], keepSlash)
		switch kind {
		case plainRune:
			b = append(b, s[i:i+size]...)
		case escByte:
			b = append(b, '\\', 'x', hex[s[i]>>4], hex[s[i]&0xf])
		case escSlash:
			b = append(b, '\\', '\\')
		case escASCII:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xf])
		case escBMP, escAstral:
			b = append(b, '\\', 'u')
			digits := 4
			if kind == escAstral {
				b[len(b)-1] = 'U'
				digits = 8
			}
			for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
				b = append(b, hex[r>>shift&0xf])
			}
		}
		i += size
	}
	return b
}
