package webauth

import (
	"strings"
	"testing"
)

// FuzzParseAuth feeds the header/query parsers arbitrary text: no panic,
// and what they accept has the documented form.
func FuzzParseAuth(f *testing.F) {
	f.Add("000102030405060708090a0b0c0d0e0f.65eafdfc4f96c3e0d2457d766a1ef115642b17b5dbeeb2d0de313d7ca69e26f1", "/api/v1/events?offer=7&auth=x")
	f.Add("..", "/?auth")
	f.Add("", "/a?b&auth=&auth=")
	f.Fuzz(func(t *testing.T, header, target string) {
		if n, m, err := ParseAuth(header); err == nil {
			if len(n) != 32 || len(m) != 64 || header != n+"."+m {
				t.Fatalf("accepted %q as %q.%q", header, n, m)
			}
		}
		rest, auth, err := SplitTarget(target)
		if err != nil {
			return
		}
		if auth != "" && !strings.HasPrefix(target, rest) {
			t.Fatalf("SplitTarget(%q) rest %q", target, rest)
		}
		if auth == "" && rest != target {
			t.Fatalf("SplitTarget(%q) changed a target without auth: %q", target, rest)
		}
		if _, err := Parse(header); err == nil && len(header) < 26 {
			t.Fatalf("Parse accepted %q", header)
		}
	})
}
