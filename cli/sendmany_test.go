package cli

import (
	"bytes"
	"strings"
	"testing"
)

// A receiver's row marks its events: a receiver field in JSON (without
// changing the caller's map), its label before every line of text.
func TestManyRowTags(t *testing.T) {
	var buf bytes.Buffer
	b := newBoard(newOutput(&buf, &buf, false))
	r := b.add("anna\x1b[2J", "ABCD")
	orig := map[string]any{"event": "accepted"}
	m, text := r.tag(orig, "accepted\nsecond line")
	if m["receiver"] != "ABCD" || m["event"] != "accepted" {
		t.Errorf("tagged event %v", m)
	}
	if _, ok := orig["receiver"]; ok {
		t.Error("tag changed the caller's map")
	}
	want := `anna\x1b[2J: accepted` + "\n" + `anna\x1b[2J: second line`
	if text != want {
		t.Errorf("tagged text %q, want %q (the label escaped, on every line)", text, want)
	}
	if r.note != "second line" {
		t.Errorf("the row shows %q, want the last line said", r.note)
	}
}

// The live block is drawn as one line per receiver and cleared line by
// line before anything else is printed.
func TestDrawBlockClears(t *testing.T) {
	var buf bytes.Buffer
	o := newOutput(&buf, &buf, false)
	o.drawBlock([]string{"a: 10%", "b: 20%", "c: 30%"})
	if got := buf.String(); got != "a: 10%\nb: 20%\nc: 30%" {
		t.Fatalf("block %q", got)
	}
	buf.Reset()
	o.event(nil, "a line")
	if got, want := buf.String(), "\r\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2Ka line\n"; got != want {
		t.Fatalf("after the block: %q, want %q", got, want)
	}
	buf.Reset()
	o.drawBlock([]string{"a: 11%"})
	if strings.Contains(buf.String(), "\x1b[1A") {
		t.Errorf("a block drawn after a cleared one moved up: %q", buf.String())
	}
}
