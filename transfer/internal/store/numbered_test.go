package store

import "testing"

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		base string
		n    int
		want string
	}{
		{"report.pdf", 0, "report.pdf"},
		{"report.pdf", 1, "report (1).pdf"},
		{"archive.tar.gz", 2, "archive (2).tar.gz"},
		{".bashrc", 1, ".bashrc (1)"},
		{"noext", 3, "noext (3)"},
		{".tar.gz", 1, ".tar (1).gz"},
		{"a.b.c", 1, "a.b (1).c"},
	} {
		if got := numbered(tc.base, tc.n); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.base, tc.n, got, tc.want)
		}
	}
}
