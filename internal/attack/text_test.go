package attack

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Text messages, as transfer/doc.go ("Text messages") specifies them: an
// offer of protocol 3 with text {size, sha256} and no entries, then a Text
// frame (type 11) of the raw bytes.

const tText = 11

func textOfferBody(v int, size int, hash []byte, extra string) []byte {
	return []byte(`{"v":` + strconv.Itoa(v) + `,"name":"mallory","session":"00","text":{"size":` + strconv.Itoa(size) + `,"sha256":"` +
		b64(hash) + `"}` + extra + `}`)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// TestHostileTexts sends malformed text offers to a real receiver under
// --accept all: each is refused (a refusing Decision or a closed
// connection, never a Commit), nothing of it is shown, the receiver stays
// up and serves a real sender after. A well-formed one, as control, is
// shown as sent.
func TestHostileTexts(t *testing.T) {
	t.Parallel()
	r := startReceiver(t, "all")

	// Control: a text as doc.go describes it is verified, accepted without
	// a token, and shown byte for byte.
	good := "from the attack kit\r\n\x1b[2J"
	a := connect(t, r.addr(), newDevice(t), textOfferBody(3, len(good), sum([]byte(good)), ""))
	writeFrame(a.ctl, tText, []byte(good))
	a.verify(t)
	if !a.dec.Accept || len(a.dec.Token) != 0 {
		t.Fatalf("well-formed text: decision %+v, want an acceptance without a token", a.dec)
	}
	ev, ok := r.waitEvent("text", 1, 10*time.Second)
	if !ok || ev["text"] != good {
		t.Fatalf("well-formed text: text event %v, want the text as sent", ev)
	}

	big := []byte(strings.Repeat("x", 64<<10+1))
	hello := []byte("hello")
	cases := map[string]struct {
		offer []byte
		text  []byte // sent as a Text frame after the offer, if not nil
		raw   []byte // sent as it is after the offer, if not nil
	}{
		"over-64KiB":          {offer: textOfferBody(3, len(big), sum(big), ""), text: big},
		"frame-length-4GiB":   {offer: textOfferBody(3, 5, sum(hello), ""), raw: []byte{tText, 0xff, 0xff, 0xff, 0xff}},
		"frame-longer":        {offer: textOfferBody(3, 5, sum(hello), ""), text: []byte("hello!")},
		"frame-shorter":       {offer: textOfferBody(3, 5, sum(hello), ""), text: []byte("hell")},
		"text-and-files":      {offer: textOfferBody(3, 5, sum(hello), `,"entries":[{"path":"x.txt","size":3,"chunk":1048576}]`), text: hello},
		"text-in-protocol-2":  {offer: textOfferBody(2, 5, sum(hello), `,"entries":[{"path":"x.txt","size":3,"chunk":1048576}]`), text: hello},
		"not-utf8":            {offer: textOfferBody(3, 3, sum([]byte("a\xffb")), ""), text: []byte("a\xffb")},
		"hash-mismatch":       {offer: textOfferBody(3, 5, sum([]byte("jello")), ""), text: hello},
		"empty":               {offer: textOfferBody(3, 0, sum(nil), ""), text: []byte{}},
		"size-negative":       {offer: textOfferBody(3, -1, sum(hello), ""), text: hello},
		"no-text-frame":       {offer: textOfferBody(3, 5, sum(hello), ""), raw: frame(tNonce, valueBody(random(32)))},
		"offer-frame-instead": {offer: textOfferBody(3, 5, sum(hello), ""), raw: frame(tOffer, textOfferBody(3, 5, sum(hello), ""))},
		"text-key-twice":      {offer: textOfferBody(3, 5, sum(hello), `,"Text":{"size":5,"sha256":"`+b64(sum(hello))+`"}`), text: hello},
	}
	for name, c := range cases {
		a := connect(t, r.addr(), newDevice(t), c.offer)
		switch {
		case c.text != nil:
			writeFrame(a.ctl, tText, c.text)
		case c.raw != nil:
			a.ctl.Write(c.raw)
		}
		got := refused(a, 5*time.Second)
		t.Logf("%-20s %s", name, got)
		if !strings.HasPrefix(got, "decision:") && !strings.HasPrefix(got, "closed:") {
			t.Errorf("FINDING: text offer %s: receiver answered %s, want a refusal", name, got)
		}
		a.conn.CloseWithError(0, "")
		if !r.alive() {
			t.Fatalf("receiver died on text offer %s", name)
		}
	}
	if n := r.count("text"); n != 1 {
		t.Errorf("FINDING: the receiver showed %d texts, want only the well-formed one", n)
	}
	realSenderServed(t, r, 10*time.Second)
}

// TestTextToOldReceiver: a real `ferry send --text` against a receiver of
// protocol 2 from before text messages, which (as doc.go says it does with
// any version it does not speak) refuses the offer of protocol 3 with a
// Decision of code "version": the sender exits 1 and says to update ferry
// on the receiving computer; the text was never in a file offer.
func TestTextToOldReceiver(t *testing.T) {
	t.Parallel()
	f := listenFake(t, newDevice(t))
	s := startProc(t, "sender", "--json", "--home", t.TempDir(), "--name", "real-sender", "send", "--to", f.addr, "--text", "hello, old friend")
	o := f.nextOffer(t, 10*time.Second)
	if o.offer.V != 3 || len(o.offer.Entries) != 0 {
		t.Errorf("FINDING: a text went as an offer of protocol %d with %d entries, want 3 and none: %s", o.offer.V, len(o.offer.Entries), o.offerBody)
	}
	// What a receiver of protocol 2 answers (transfer/receiver_offer.go before texts).
	writeFrame(o.ctl, tDecision, mustJSON(decision{Code: "version", Name: "old",
		Reason: "the sender runs a newer version of ferry (transfer protocol 3, this receiver speaks 2): update ferry on the receiving computer"}))
	code := s.waitExit(10 * time.Second)
	out := strings.Join(eventTexts(s), " ")
	if code != 1 || !strings.Contains(out, "update ferry on the receiving computer") {
		t.Errorf("sender exit %d, %q; want 1 and to update ferry on the receiving computer", code, out)
	}
}
