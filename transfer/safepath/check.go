package safepath

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var (
	// ErrUnsafePath is wrapped by every error about a name that must not be
	// created, or a path on disk that must not be written through.
	ErrUnsafePath = errors.New("unsafe path")

	// ErrPathCollision is wrapped by every error about two names of one
	// transfer that would refer to the same file on some file system.
	ErrPathCollision = errors.New("path collision")
)

const (
	maxComponentBytes = 255  // NAME_MAX on Linux, macOS, NTFS (in UTF-16 units, which is no more)
	maxPathBytes      = 4096 // PATH_MAX on Linux
	maxComponents     = 64
	reservedPrefix    = ".ferry-" // the receiver's partial files and journals; matched ignoring ASCII case
	maxQuotedRunes    = 128       // how much of a name an error message quotes
)

// Check reports whether name, a relative "/"-separated path sent by a peer,
// is safe to create under the receive folder on any platform. It returns nil
// or an error wrapping [ErrUnsafePath] that names the offending component.
//
// Check rejects:
//   - the empty name, invalid UTF-8, and names over 4096 bytes;
//   - absolute names ("/etc/passwd") and any backslash ("a\\b", `\\?\C:\x`);
//   - empty components ("a//b", "a/"), and "." and ".." components;
//   - more than 64 components, or a component over 255 bytes;
//   - control characters (C0, DEL, C1), format characters (Unicode Cf:
//     bidi controls, zero-width characters, BOM), and the line and paragraph
//     separators U+2028 and U+2029;
//   - ':' anywhere ("C:", "c:foo", "file:stream"), Windows device names
//     ("CON", "nul.txt", "COM1") and components ending in '.' or ' ', which
//     Windows strips, so that a name means the same file on every receiver;
//   - components not in Unicode NFC, so that a name has only one spelling;
//   - components starting with ".ferry-" in any ASCII case.
//
// A name that passes Check is clean (path.Clean(name) == name) and local
// (filepath.IsLocal(name)) on every GOOS.
func Check(name string) error {
	if name == "" {
		return unsafePath(name, "empty name")
	}
	if len(name) > maxPathBytes {
		return unsafePath(name, fmt.Sprintf("%d bytes long, limit is %d", len(name), maxPathBytes))
	}
	if !utf8.ValidString(name) {
		return unsafePath(name, "invalid UTF-8")
	}
	if name[0] == '/' {
		return unsafePath(name, "absolute path")
	}
	if strings.IndexByte(name, '\\') >= 0 {
		return unsafePath(name, "contains a backslash")
	}
	if n := strings.Count(name, "/") + 1; n > maxComponents {
		return unsafePath(name, fmt.Sprintf("%d components, limit is %d", n, maxComponents))
	}
	first := true
	for c := range strings.SplitSeq(name, "/") {
		if reason := checkComponent(c, first); reason != "" {
			return unsafePath(name, reason)
		}
		first = false
	}
	return nil
}

// checkComponent returns why c may not be a path component, or "".
// c is valid UTF-8 and holds no '/' or '\\'.
func checkComponent(c string, first bool) string {
	switch c {
	case "":
		return "empty component"
	case ".", "..":
		return fmt.Sprintf("%q component", c)
	}
	if len(c) > maxComponentBytes {
		return fmt.Sprintf("component %s is %d bytes long, limit is %d", quote(c), len(c), maxComponentBytes)
	}
	for _, r := range c {
		if forbiddenRune(r) {
			return fmt.Sprintf("component %s contains %s character %U", quote(c), runeClass(r), r)
		}
	}
	if i := strings.IndexByte(c, ':'); i >= 0 {
		if first && i == 1 && isASCIILetter(c[0]) {
			return fmt.Sprintf("drive letter prefix %q", c[:2])
		}
		return fmt.Sprintf("component %s contains ':' (a Windows drive or stream separator)", quote(c))
	}
	if isWindowsDevice(c) {
		return fmt.Sprintf("component %s is a Windows device name", quote(c))
	}
	if last := c[len(c)-1]; last == '.' || last == ' ' {
		return fmt.Sprintf("component %s ends in %q, which Windows strips", quote(c), last)
	}
	if len(c) >= len(reservedPrefix) && strings.EqualFold(c[:len(reservedPrefix)], reservedPrefix) {
		return fmt.Sprintf("component %s uses the prefix %q reserved for ferry's own files", quote(c), reservedPrefix)
	}
	if !norm.NFC.IsNormalString(c) {
		// ASCII quoting shows the combining marks that make it so.
		return fmt.Sprintf("component %s is not in Unicode NFC", strconv.QuoteToASCII(c))
	}
	return ""
}

// forbiddenRune reports whether r may not appear in a name: it is a control
// character, or it is invisible or reorders text on screen, or it breaks a
// line.
func forbiddenRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

func runeClass(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "control"
	case unicode.Is(unicode.Cf, r):
		return "format"
	default:
		return "line separator"
	}
}

func isASCIILetter(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// isWindowsDevice reports whether Windows would open a device for c: its
// part before the first '.', without trailing spaces, is CON, PRN, AUX, NUL,
// COM0-9, LPT0-9 (also with superscript ¹²³), CONIN$ or CONOUT$, in any case.
// Windows 11 allows some of these with an extension; older versions do not,
// so we refuse them everywhere.
func isWindowsDevice(c string) bool {
	base, _, _ := strings.Cut(c, ".")
	base = strings.TrimRight(base, " ")
	for _, dev := range [...]string{"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} {
		if strings.EqualFold(base, dev) {
			return true
		}
	}
	if len(base) < 4 || !strings.EqualFold(base[:3], "COM") && !strings.EqualFold(base[:3], "LPT") {
		return false
	}
	switch base[3:] {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
		return true
	}
	return false
}

func unsafePath(name, reason string) error {
	return fmt.Errorf("name %s: %s: %w", quote(name), reason, ErrUnsafePath)
}

// quote returns s as a Go string literal, which escapes control, format and
// invalid bytes, so an error message cannot carry them to a terminal. A long
// s is cut after maxQuotedRunes runes, marked by "…" after the closing quote.
func quote(s string) string {
	n := 0
	for i := range s {
		if n == maxQuotedRunes {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}
