package safepath

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDisplay(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		want string
	}{
		{"report (1).pdf", 0, "report (1).pdf"},
		{"Ünïcödé 日本語 🎉", 0, "Ünïcödé 日本語 🎉"},
		{"\x1b[1A\r\x1b[2Kok.txt", 0, `\x1b[1A\x0d\x1b[2Kok.txt`},
		{"a\nb\tc\x00d\x7f", 0, `a\x0ab\x09c\x00d\x7f`},
		{"invoice_\u202efdp.exe", 0, `invoice_\u202efdp.exe`},
		{"\u009b2J", 0, `\u009b2J`},
		{"a\u200bb\ufeff\u061c\u2066\u2028", 0, `a\u200bb\ufeff\u061c\u2066\u2028`},
		{"tag\U000e0041", 0, `tag\U000e0041`},
		{"\ue000", 0, `\ue000`}, // private use
		{"caf\xe9 \xff", 0, `caf\xe9 \xff`},
		{"real \uFFFD", 0, "real \uFFFD"},
		{`C:\x`, 0, `C:\\x`},
		{`\x1b`, 0, `\\x1b`}, // a literal backslash cannot pose as an escape
		{"", 10, ""},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcde…hijk"},
		{"abcdefghijk", 1, "…"},
		{"abcdefghijk", 2, "a…"},
		{"日本語日本語日本語", 5, "日本…本語"},
		// An escape is never split: "\x1b" is 4 runes wide.
		{"\x1b\x1b\x1b\x1b\x1b", 10, `\x1b…\x1b`},
		{"ab\x1bcdefgh", 5, "ab…gh"},
	} {
		got := Display(tc.name, tc.max)
		if got != tc.want {
			t.Errorf("Display(%q, %d) = %q, want %q", tc.name, tc.max, got, tc.want)
		}
		assertPrintable(t, got)
		if tc.max > 0 && utf8.RuneCountInString(got) > tc.max {
			t.Errorf("Display(%q, %d) = %q, longer than %d", tc.name, tc.max, got, tc.max)
		}
	}
}

func TestDisplayLong(t *testing.T) {
	name := strings.Repeat("a", 1000) + "\u202e" + strings.Repeat("b", 1000) + ".exe"
	got := Display(name, 60)
	if utf8.RuneCountInString(got) != 60 || !strings.HasPrefix(got, "aaaa") || !strings.HasSuffix(got, "bbb.exe") || !strings.Contains(got, "…") {
		t.Errorf("Display = %q", got)
	}
}

// DisplayText escapes what Display escapes, cuts as Display cuts, and
// leaves a backslash as it is.
func TestDisplayText(t *testing.T) {
	for _, tc := range []struct {
		text string
		max  int
		want string
	}{
		{`C:\x`, 0, `C:\x`},
		{`peer: \x1b[2J (escaped before)`, 0, `peer: \x1b[2J (escaped before)`},
		{"a\nb\tc\x1b[2J\u202e\xff\\", 0, `a\x0ab\x09c\x1b[2J\u202e\xff\`},
		{`\\\\\\\\\\\\`, 5, `\\…\\`},
		{"ab\x1bcdefgh", 5, "ab…gh"},
	} {
		got := DisplayText(tc.text, tc.max)
		if got != tc.want {
			t.Errorf("DisplayText(%q, %d) = %q, want %q", tc.text, tc.max, got, tc.want)
		}
		assertPrintable(t, got)
		if d := Display(tc.text, tc.max); strings.ReplaceAll(d, `\\`, `\`) != got && !strings.Contains(tc.text, `\`) {
			t.Errorf("DisplayText(%q) = %q differs from Display's %q", tc.text, got, d)
		}
	}
}
