package safepath

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCheckGood(t *testing.T) {
	comp255 := strings.Repeat("a", 255)
	good := []string{
		"a",
		"report (1).pdf",
		".bashrc",
		"home/.bashrc",
		".config/app/settings.json",
		"a b/c d",
		"Ünïcödé/日本語.txt",
		"emoji 🎉.png",
		"한국어", // NFC Hangul syllables
		"straße",
		"a\u00a0b",                // no-break space is a space
		"\ue000private",           // private use: shown escaped, allowed
		"..foo", "foo..bar", ".x", // dots that are not "." or ".."
		"~", "-rf", "$HOME", "`id`", "a?b*", "<b>.html", "100%",
		"ferry-notes.txt", ".ferry", "x.ferry-y", "dir/ferry-", // not the reserved prefix
		"CONSOLE", "COM10", "LPT", "nul_", "con-artist.txt", "auxiliary", // not devices
		comp255,
		strings.Repeat("é", 127) + "a", // 255 bytes of mostly two-byte runes
		strings.Repeat("d/", 63) + "f", // 64 components
		strings.Repeat(comp255+"/", 15) + "x/" + strings.Repeat("c", 254), // 4096 bytes
	}
	if n := len(good[len(good)-1]); n != maxPathBytes {
		t.Fatalf("longest good name is %d bytes, want %d", n, maxPathBytes)
	}
	for _, name := range good {
		if err := Check(name); err != nil {
			t.Errorf("Check(%q) = %v, want nil", name, err)
		}
	}
}

func TestCheckBad(t *testing.T) {
	comp256 := strings.Repeat("a", 256)
	bad := map[string][]string{
		"empty":          {""},
		"invalid UTF-8":  {"\xff", "a/\xc3", "caf\xe9", "\xc0\xaf", "\xed\xa0\x80" /* surrogate */, "a\xf4\x90\x80\x80" /* > U+10FFFF */},
		"absolute":       {"/", "/etc/passwd", "//server/share", "/a/b"},
		"backslash":      {`a\b`, `..\..\x`, `\\?\C:\x`, `\\server\share\x`, `\`, `a\`, `C:\x`},
		"drive letter":   {"C:", "c:foo", "C:/Windows", "z:", "c:"},
		"colon":          {"a:b", "file.txt:stream", "x/y::$DATA", ":", "dir/C:"},
		"empty part":     {"a//b", "a/", "a/b/", "a///"},
		"dot parts":      {".", "..", "../x", "a/..", "a/../b", "a/.", "./a", "a/./b", "../../../../etc/passwd"},
		"NUL":            {"\x00", "a\x00b", "a.txt\x00.jpg"},
		"C0":             {"\x1b[2Jx", "a\nb", "a\rb", "\t", "x\x07", "\x1b]0;title\x07"},
		"DEL":            {"a\x7fb"},
		"C1":             {"\u0080", "\u0085", "a\u009b2J", "\u009f"},
		"bidi":           {"a\u202eb", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "a\u061cb", "\u200e", "\u200f"},
		"invisible":      {"a\u200bb", "\u200c", "\u200d", "\ufeffa", "soft\u00adhyphen", "a\u2060b", "tag\U000e0041"},
		"line separator": {"a\u2028b", "a\u2029b"},
		"too long":       {comp256, "x/" + comp256, strings.Repeat("a/", 2048) + "b", strings.Repeat("é", 128)},
		"too deep":       {strings.Repeat("d/", 64) + "f"},
		"not NFC":        {"e\u0301", "A\u030a", "\u1100\u1161" /* Hangul jamo */, "dir/re\u0301sume\u0301", "\u212b" /* ANGSTROM SIGN */},
		"ferry prefix":   {".ferry-partial", "a/.ferry-journal", ".FERRY-x", ".Ferry-", ".ferry-/x"},
		"device":         {"CON", "con", "con.txt", "dir/NUL", "aux ", "AUX .x", "COM1", "com9.log", "LPT1", "COM0", "COM¹", "lpt³.txt", "CONIN$", "conout$", "PRN.tar.gz"},
		"trailing dot":   {"a.", "a..", "...", "dir./x", "a ", "dir /x", " "},
	}
	for class, names := range bad {
		for _, name := range names {
			err := Check(name)
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("%s: Check(%q) = %v, want ErrUnsafePath", class, name, err)
				continue
			}
			if errors.Is(err, ErrPathCollision) {
				t.Errorf("%s: Check(%q) = %v, also wraps ErrPathCollision", class, name, err)
			}
			assertPrintable(t, err.Error())
		}
	}
}

// TestCheckRunes checks every code point the brief names, and that any Cc or
// Cf rune is refused wherever it is.
func TestCheckRunes(t *testing.T) {
	var named []rune
	for r := rune(0); r <= 0x1f; r++ {
		named = append(named, r)
	}
	for r := rune(0x7f); r <= 0x9f; r++ {
		named = append(named, r)
	}
	for _, rg := range [][2]rune{{0x200b, 0x200f}, {0x202a, 0x202e}, {0x2066, 0x2069}, {0xfeff, 0xfeff}, {0x061c, 0x061c}} {
		for r := rg[0]; r <= rg[1]; r++ {
			named = append(named, r)
		}
	}
	for _, r := range named {
		for _, name := range []string{string(r), "a" + string(r), string(r) + "a", "d/a" + string(r) + "b"} {
			if err := Check(name); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Check(%q) = %v, want ErrUnsafePath", name, err)
			}
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			if err := Check("x" + string(r)); err == nil {
				t.Errorf("Check(%q) = nil", "x"+string(r))
			}
		}
	}
}

func TestCheckMessages(t *testing.T) {
	for name, want := range map[string]string{
		"a/../b":      `name "a/../b": ".." component: unsafe path`,
		"\x1b[2Jx":    `name "\x1b[2Jx": component "\x1b[2Jx" contains control character U+001B: unsafe path`,
		"x/a\u202eb":  `name "x/a\u202eb": component "a\u202eb" contains format character U+202E: unsafe path`,
		"C:/x":        `name "C:/x": drive letter prefix "C:": unsafe path`,
		`a\b`:         `name "a\\b": contains a backslash: unsafe path`,
		"d/.ferry-p":  `name "d/.ferry-p": component ".ferry-p" uses the prefix ".ferry-" reserved for ferry's own files: unsafe path`,
		"caf\xe9":     `name "caf\xe9": invalid UTF-8: unsafe path`,
		"e\u0301":     "name \"e\u0301\": component \"e\\u0301\" is not in Unicode NFC: unsafe path",
		"dir/con.txt": `name "dir/con.txt": component "con.txt" is a Windows device name: unsafe path`,
	} {
		if got := Check(name).Error(); got != want {
			t.Errorf("Check(%q):\n got %s\nwant %s", name, got, want)
		}
	}
	// A very long name is cut in the message.
	long := strings.Repeat("\x1b", 5000)
	msg := Check(long).Error()
	if len(msg) > 1000 || !strings.Contains(msg, `"…: `) {
		t.Errorf("message for a 5000-byte name is %d bytes: %.200s", len(msg), msg)
	}
}

// assertPrintable fails if s holds a rune a terminal would act on or hide.
func assertPrintable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if forbiddenRune(r) {
			t.Errorf("%q contains %U", s, r)
			return
		}
	}
}
