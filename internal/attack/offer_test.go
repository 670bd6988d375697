package attack

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileOffers returns offers the receiver must refuse, each with pad
// appended to its entry list (pad is "" or more entries, to push an offer
// over 64 KiB, where it is decoded as it arrives).
func hostileOffers(pad string) (good []byte, bad, lenient map[string][]byte) {
	const sess = `"00112233445566778899aabbccddeeff"`
	ent := `[{"path":"x.txt","size":3,"chunk":1048576}` + pad + `]`
	entries := func(first string) string { return `[` + first + pad + `]` }
	obj := func(fields string) []byte { return []byte("{" + fields + "}") }
	head := `"v":2,"name":"n","session":` + sess + `,"entries":`
	g := head + ent
	bad = map[string][]byte{
		"entries-empty":      obj(head + `[]`),
		"entries-null":       obj(head + `null`),
		"entries-missing":    obj(`"v":2,"name":"n","session":` + sess),
		"entries-object":     obj(head + `{}`),
		"version-0":          obj(`"v":0,"name":"n","session":` + sess + `,"entries":` + ent),
		"version-1":          obj(`"v":1,"name":"n","session":` + sess + `,"entries":` + ent),
		"version-3":          obj(`"v":3,"name":"n","session":` + sess + `,"entries":` + ent),
		"version-missing":    obj(`"name":"n","session":` + sess + `,"entries":` + ent),
		"version-last":       obj(`"name":"n","session":` + sess + `,"entries":` + ent + `,"v":3`),
		"version-string":     obj(`"v":"2","name":"n","session":` + sess + `,"entries":` + ent),
		"version-2.5":        obj(`"v":2.5,"name":"n","session":` + sess + `,"entries":` + ent),
		"name-hangul-filler": obj(`"v":2,"name":"\u3164","session":` + sess + `,"entries":` + ent),
		"name-braille-blank": obj(`"v":2,"name":"\u2800\u2800","session":` + sess + `,"entries":` + ent),
		"name-zero-width":    obj(`"v":2,"name":"\u200b\u200d","session":` + sess + `,"entries":` + ent),
		"name-64-bytes":      obj(`"v":2,"name":"` + strings.Repeat("a", 64) + `","session":` + sess + `,"entries":` + ent),
		"name-escape":        obj(`"v":2,"name":"\u001b[2Jx","session":` + sess + `,"entries":` + ent),
		"name-line-sep":      obj(`"v":2,"name":"a\u2028b","session":` + sess + `,"entries":` + ent),
		"name-number":        obj(`"v":2,"name":7,"session":` + sess + `,"entries":` + ent),
		"name-after-entries": obj(`"v":2,"session":` + sess + `,"entries":` + ent + `,"name":"\u3164"`),
		"dup-key-v":          obj(g + `,"v":3`),
		"dup-key-name":       obj(g + `,"name":"\u3164"`),
		"dup-key-entries":    obj(g + `,"entries":[]`),
		"dup-key-name-valid": obj(g + `,"name":"other"`),
		"dup-key-entries-ok": obj(g + `,"entries":[{"path":"y.txt","size":3,"chunk":1048576}]`),
		"dup-key-Name-case":  obj(g + `,"NAME":"other"`),
		"dup-key-Entries":    obj(g + `,"Entries":[{"path":"y.txt","size":3,"chunk":1048576}]`),
		"dup-key-in-entry":   obj(head + entries(`{"path":"x.txt","path":"y.txt","size":3,"chunk":1048576}`)),
		"dup-size-in-entry":  obj(head + entries(`{"path":"x.txt","size":3,"size":5,"chunk":1048576}`)),
		"trailing-object":    append(obj(g), []byte(`{}`)...),
		"trailing-garbage":   append(obj(g), 'x'),
		"trailing-nul":       append(obj(g), 0),
		"two-values":         append(obj(g), []byte(` {"v":2}`)...),
		"array":              []byte(`[` + ent + `]`),
		"string":             []byte(`"offer"`),
		"null":               []byte(`null`),
		"number":             []byte(`2`),
		"true":               []byte(`true`),
		"empty-body":         {},
		"truncated":          obj(g)[:len(g)/2],
		"entry-dotdot":       obj(head + entries(`{"path":"../x","size":1,"chunk":1048576}`)),
		"entry-absolute":     obj(head + entries(`{"path":"/etc/x","size":1,"chunk":1048576}`)),
		"entry-ferry-name":   obj(head + entries(`{"path":".ferry-x.part","size":1,"chunk":1048576}`)),
		"entry-chunk-3":      obj(head + entries(`{"path":"x","size":1,"chunk":3}`)),
		"entry-size-neg":     obj(head + entries(`{"path":"x","size":-5,"chunk":1048576}`)),
		"entry-case-twins":   obj(head + entries(`{"path":"A","size":1,"chunk":1048576},{"path":"a","size":1,"chunk":1048576}`)),
		"entry-under-file":   obj(head + entries(`{"path":"f","size":1,"chunk":1048576},{"path":"f/g","size":1,"chunk":1048576}`)),
	}
	// Not required by the spec, but worth knowing: JSON that a strict parser
	// would refuse or read otherwise. Logged, not asserted.
	lenient = map[string][]byte{
		"name-invalid-utf8": []byte("{\"v\":2,\"name\":\"a\xff\xfe\",\"session\":" + sess + ",\"entries\":" + ent + "}"),
		"keys-in-caps":      obj(`"V":2,"NAME":"n","Session":` + sess + `,"Entries":` + ent),
		"unknown-field":     obj(g + `,"evil":1`),
		"session-not-hex":   obj(`"v":2,"name":"n","session":"zz","entries":` + ent),
		"session-missing":   obj(`"v":2,"name":"n","entries":` + ent),
	}
	return obj(g), bad, lenient
}

// TestHostileOffers sends malformed offers to a real receiver under --accept
// all, small and over 64 KiB: each must be refused (a refusing Decision or
// a closed connection, never a Commit), the receiver must stay up and serve
// a real sender after.
func TestHostileOffers(t *testing.T) {
	t.Parallel()
	r := startReceiver(t, "all")
	var pad strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&pad, `,{"path":"pad/%05d","size":0,"chunk":65536}`, i)
	}
	for _, size := range []struct{ name, pad string }{{"small", ""}, {"over-64KiB", pad.String()}} {
		t.Run(size.name, func(t *testing.T) {
			good, bad, lenient := hostileOffers(size.pad)
			// Control: the well-formed offer gets a Commit, or every case
			// would pass on a receiver that refused everything.
			a := connect(t, r.addr(), newDevice(t), good)
			if typ, _, err := readFrame(a.ctl, 5*time.Second); err != nil || typ != tCommit {
				t.Fatalf("well-formed offer (%d bytes): got %d %v, want a Commit", len(good), typ, err)
			}
			a.conn.CloseWithError(0, "")
			for name, body := range bad {
				a := connect(t, r.addr(), newDevice(t), body)
				got := refused(a, 5*time.Second)
				t.Logf("%-20s %s", name, got)
				if !strings.HasPrefix(got, "decision:") && !strings.HasPrefix(got, "closed:") {
					t.Errorf("FINDING: offer %s (%d bytes): receiver answered %s, want a refusal", name, len(body), got)
				}
				a.conn.CloseWithError(0, "")
				if !r.alive() {
					t.Fatalf("receiver died on offer %s", name)
				}
			}
			for name, body := range lenient {
				a := connect(t, r.addr(), newDevice(t), body)
				t.Logf("lenient %-18s %s", name, refused(a, 5*time.Second))
				a.conn.CloseWithError(0, "")
			}
		})
	}
	realSenderServed(t, r, 10*time.Second)
}
