package web

import (
	"regexp"
	"strings"
	"testing"
)

// TestPageSize: each page (its HTML and every script and style it loads)
// stays under 250 KB, as issue 14 asks of a page for phones.
func TestPageSize(t *testing.T) {
	const limit = 250_000
	ref := regexp.MustCompile(`(?:src|href)="(/[^"]+)"`)
	for _, page := range []string{"receive.html", "send.html"} {
		html, err := staticFS.ReadFile("static/" + page)
		if err != nil {
			t.Fatal(err)
		}
		total := len(html)
		for _, m := range ref.FindAllStringSubmatch(string(html), -1) {
			if strings.HasPrefix(m[1], "/api/") {
				continue // a download link, not part of the page
			}
			// the upload page serves static/ under /static/, the send page under /
			name := "static/" + strings.TrimPrefix(strings.TrimPrefix(m[1], "/static/"), "/")
			b, err := staticFS.ReadFile(name)
			if err != nil {
				t.Errorf("%s loads %s: %v", page, m[1], err)
				continue
			}
			total += len(b)
		}
		t.Logf("%s: %d bytes in all", page, total)
		if total >= limit {
			t.Errorf("%s is %d bytes with what it loads, want < %d", page, total, limit)
		}
	}
}
