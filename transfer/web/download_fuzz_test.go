package web

import (
	"mime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFileIndex: the index in /api/v1/dl/{i} is a plain decimal below n,
// or refused; nothing else gets through.
func FuzzFileIndex(f *testing.F) {
	for _, s := range []string{"0", "3", "-1", "03", "+1", "1e3", "../x", "4294967296", " 1", "１"} {
		f.Add(s, 4)
	}
	f.Fuzz(func(t *testing.T, v string, n int) {
		i, err := fileIndex(v, n)
		if err != nil {
			return
		}
		if i < 0 || i >= n || strconv.Itoa(i) != v {
			t.Fatalf("fileIndex(%q, %d) = %d", v, n, i)
		}
	})
}

// FuzzContentDisposition: any file name gives a one-line header that
// parses back to the name (when it is UTF-8).
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"a.txt", "b ü \"q\".txt", "x\r\ny", "%41", "\xff\xfe", "a;b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v := ContentDisposition(name)
		if strings.ContainsAny(v, "\r\n\x00") {
			t.Fatalf("%q: header with a control character: %q", name, v)
		}
		_, params, err := mime.ParseMediaType(v)
		if err != nil {
			t.Fatalf("%q: %q does not parse: %v", name, v, err)
		}
		if utf8.ValidString(name) && params["filename"] != name {
			t.Fatalf("%q: parses back as %q", name, params["filename"])
		}
	})
}

// FuzzRangeStart: never negative, never a panic.
func FuzzRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 100-199/1000", "bytes -5/10", "bytes x-1/2", "", "bytes 9223372036854775808-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if n := rangeStart(v); n < 0 {
			t.Fatalf("rangeStart(%q) = %d", v, n)
		}
	})
}
