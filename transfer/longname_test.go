package transfer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file whose name has the full 255 bytes arrives twice (changed in
// between): the second copy gets a shortened numbered name instead of
// failing the session with "file name too long".
func TestLongNameReceivedTwice(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	name := strings.Repeat("é", 125) + "a.txt" // 255 bytes
	p := filepath.Join(src, name)
	writeFile(t, src, name, 1000)
	s.mustSend(t, r, []string{p})
	sameFile(t, p, filepath.Join(r.Dir(), name))

	writeFile(t, src, name, 2000)
	s.mustSend(t, r, []string{p})
	want := strings.Repeat("é", 123) + " (1).txt" // the stem cut to fit 255 bytes, between characters
	sameFile(t, p, filepath.Join(r.Dir(), want))
	if fi, err := os.Stat(filepath.Join(r.Dir(), name)); err != nil || fi.Size() != 1000 {
		t.Errorf("the first copy: %v", err)
	}
}
