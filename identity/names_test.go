package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestSameName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
		why  string
	}{
		{"alice", "alice", true, "identical"},
		{"alice", "ALICE", true, "case"},
		{"my-laptop", "MY-LAPTOP", true, "case, with an m the table maps to rn"},
		{"straße", "STRAẞE", true, "sharp s"},
		{"σοφία", "ΣΟΦΊΑ", true, "Greek case"},
		{"alice", "\u0430lice", true, "Cyrillic a"},
		{"Alice", "\u0410lice", true, "Cyrillic capital A"},
		{"alice", "AIice", true, "capital I for l"},
		{"alice", "a1ice", true, "digit 1 for l"},
		{"bob", "b0b", true, "digit 0 for o"},
		{"café", "cafe\u0301", true, "decomposed é"},
		{"CAFÉ", "cafe\u0301", true, "decomposed é, other case"},
		{"my-laptop", "my\u2010laptop", true, "U+2010 hyphen"},
		{"my-laptop", "my\u2011laptop", true, "U+2011 non-breaking hyphen"},
		{"laptop", "ｌａｐｔｏｐ", true, "fullwidth"},
		{"laptop", "ＬＡＰＴＯＰ", true, "fullwidth capitals"},
		{"paypal", "𝔭𝒶ỿ𝕡𝕒ℓ", true, "mathematical letters"},
		{"alice", "alice\u3164", true, "trailing Hangul filler"},
		{"alice", "\u3164alice", true, "leading Hangul filler"},
		{"my laptop", "my\u3164laptop", true, "Hangul filler as space"},
		{"my laptop", "my\u00a0laptop", true, "no-break space"},
		{"my laptop", "my  laptop", true, "two spaces"},
		{"alice", "al\u200bice", true, "zero-width space"},
		{"alice", "ali\u00adce", true, "soft hyphen"},
		{"alice", "alice\ufe0f", true, "variation selector"},
		{"alice", "\u202ealice", true, "bidi override"},
		{"alice", "bob", false, "different"},
		{"alice", "alicia", false, "longer"},
		{"desk-1", "desk-2", false, "another digit"},
		{"cafe", "café", false, "an accent is seen"},
		{"mylaptop", "my laptop", false, "a space is seen"},
	} {
		if got := SameName(tc.a, tc.b); got != tc.same {
			t.Errorf("SameName(%q, %q) = %v, want %v (%s); keys %q, %q", tc.a, tc.b, got, tc.same, tc.why, nameKeys(tc.a), nameKeys(tc.b))
		}
		if got := SameName(tc.b, tc.a); got != tc.same {
			t.Errorf("SameName(%q, %q) = %v, want %v (%s): not symmetric", tc.b, tc.a, got, tc.same, tc.why)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, good := range []string{
		"alice", "my laptop", "Łukasz's PC", "desk-1", "👩\u200d💻 desk", "\u3164a", "東京", strings.Repeat("n", MaxNameLen),
	} {
		if err := CheckName(good); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", good, err)
		}
	}
	for _, bad := range []string{
		"", " ", "\t", "\u3164", "\u3164\u3164", "\u115f\u1160", "\uffa0", "\u2800", "\u3000",
		"\u200b\u200d", "\u00ad", "\ufe0f", "\U000e0041", "\u202e", "\u0301", " \u3164 \u200b ",
		"a\x1b", "a\x7f", "a\u0085", "a\u009b", "a\nb", "a\u2028b", "\xff", strings.Repeat("n", MaxNameLen+1),
	} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func BenchmarkSameName(b *testing.B) {
	for b.Loop() {
		SameName("Ｍy\u3164Lаptop-\u2010 ℓ", "my-laptop")
	}
}
