package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// sendText sends text to r and returns the result.
func (s *testSender) sendText(t testing.TB, to *testReceiver, text string) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return s.send(ctx, to, nil, func(o *SendOptions) { o.Text = text })
}

func TestSendText(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	for _, text := range []string{
		"the meeting moved to room 4",
		"two\nlines\r\nand no line break at the end",
		"\x1b[2J\u202eevil\x00\x07",
		strings.Repeat("é", MaxText/2), // exactly 64 KiB
	} {
		n := count[EventText](r)
		res, err := s.sendText(t, r, text)
		if err != nil {
			t.Fatalf("send text of %d bytes: %v", len(text), err)
		}
		if res.Bytes != int64(len(text)) || res.Info.Text != text {
			t.Errorf("Result: %d bytes, text %q…; want %d", res.Bytes, res.Info.Text[:min(10, len(res.Info.Text))], len(text))
		}
		ev := r.events.waitNth(t, "text", n, func(e Event) bool { _, ok := e.(EventText); return ok }).(EventText)
		if ev.Info.Text != text || ev.Info.Bytes != int64(len(text)) || ev.Info.PeerName != "sender" || ev.Info.Code == "" {
			t.Errorf("EventText %q (%d bytes, from %q, code %q), want the text", ev.Info.Text[:min(20, len(ev.Info.Text))], ev.Info.Bytes, ev.Info.PeerName, ev.Info.Code)
		}
	}
	if n := count[EventSession](r) + count[EventSessionEnd](r); n != 0 {
		t.Errorf("a text made %d session events", n)
	}
	if files := finalFiles(t, r.Dir()); len(files) != 0 {
		t.Errorf("a text left files: %v", files)
	}
}

func TestSendTextRefusedBeforeConnecting(t *testing.T) {
	s := newSender(t)
	for _, tc := range []struct{ name, text, want string }{
		{"over-64KiB", strings.Repeat("x", MaxText+1), "the limit is 65536"},
		{"not-utf8", "a\xffb", "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing listens at the address: the error must come before
			// any dialling (which would fail as unreachable).
			_, err := Send(context.Background(), SendOptions{Device: s.dev, Addrs: []string{"127.0.0.1:9"}, Text: tc.text, ConnectFor: time.Second})
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrUnreachable) {
				t.Errorf("Send = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	_, err := Send(context.Background(), SendOptions{Device: s.dev, Addrs: []string{"127.0.0.1:9"}, Text: "x", Paths: []string{"f"}})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("Send of text and paths = %v, want a refusal", err)
	}
}

func TestSendTextDeclined(t *testing.T) {
	asked := make(chan OfferInfo, 1)
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(_ context.Context, info OfferInfo) (bool, error) { asked <- info; return false, nil }
	}))
	s := newSender(t)
	_, err := s.sendText(t, r, "no thanks\n")
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("send = %v, want ErrDeclined", err)
	}
	if info := <-asked; info.Text != "no thanks\n" || info.Bytes != 10 || info.Code == "" {
		t.Errorf("asked about %+v, want the text with its size and a code", info)
	}
	if n := count[EventText](r); n != 0 {
		t.Errorf("a declined text was reported %d times", n)
	}

	// Accepted texts are not remembered as accepted offers of files are:
	// the same text again is asked about again.
	yes := make(chan OfferInfo, 2)
	ask := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		c.Policy = PolicyAsk
		c.Ask = func(_ context.Context, info OfferInfo) (bool, error) { yes <- info; return true, nil }
	}))
	for i := range 2 {
		if _, err := s.sendText(t, ask, "once more"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if len(yes) != 2 || count[EventText](ask) != 2 {
		t.Errorf("the same text sent twice was asked about %d times and shown %d times, want 2 and 2", len(yes), count[EventText](ask))
	}

	trusted := startReceiver(t, withConfig(func(c *ReceiverConfig) { c.Policy = PolicyTrusted }))
	if _, err := s.sendText(t, trusted, "hi"); !errors.Is(err, ErrDeclined) || !strings.Contains(err.Error(), "paired") {
		t.Fatalf("send to --accept trusted = %v, want declined as not paired", err)
	}
	if n := count[EventText](trusted); n != 0 {
		t.Errorf("an unpaired sender's text was reported %d times", n)
	}
}

// textOffer is a text offer's frame for text, with ref (nil: the text's own).
func textOffer(text string, ref *wire.TextRef, entries ...wire.Entry) []byte {
	if ref == nil {
		ref = wire.NewTextRef(text)
	}
	b, err := wire.AppendFrame(nil, wire.TypeOffer, wire.Offer{Version: wire.TextVersion, Name: "mallory", Text: ref, Entries: entries})
	if err != nil {
		panic(err)
	}
	return b
}

// A hostile sender's text offers: each is refused before the text is
// shown or asked about, and the receiver serves real senders after.
func TestHostileText(t *testing.T) {
	env := newHostileEnv(t)
	big := strings.Repeat("x", MaxText+1)
	bigHash := sha256.Sum256([]byte(big))
	cases := []struct {
		name string
		f    func(h *hostile)
		want string
	}{
		{"text-over-64KiB", func(h *hostile) {
			h.raw(textOffer(big, &wire.TextRef{Size: int64(len(big)), Hash: bigHash[:]}))
			h.raw(wire.AppendText(nil, big))
		}, "a text of 65537 bytes"},
		{"text-frame-over-64KiB", func(h *hostile) {
			// The offer says 5 bytes; the frame's length is checked
			// against it before anything is allocated.
			h.raw(textOffer("hello", nil))
			h.raw(binary.BigEndian.AppendUint32([]byte{wire.TypeText}, 0xffffffff))
		}, "a text of 4294967295 bytes, the offer said 5"},
		{"text-and-files", func(h *hostile) {
			h.raw(textOffer("hi", nil, file("f", 10)))
			h.raw(wire.AppendText(nil, "hi"))
		}, "a text offer that also lists 1 entries"},
		{"text-in-protocol-2", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Text: wire.NewTextRef("hi"), Entries: []wire.Entry{file("f", 10)}})
			h.raw(wire.AppendText(nil, "hi"))
		}, "a text in an offer of protocol 2"},
		{"text-not-utf8", func(h *hostile) {
			h.raw(textOffer("a\xffb", nil))
			h.raw(wire.AppendText(nil, "a\xffb"))
		}, "not valid UTF-8"},
		{"text-wrong-hash", func(h *hostile) {
			h.raw(textOffer("hello", nil))
			h.raw(wire.AppendText(nil, "jello"))
		}, "does not match"},
		{"text-empty", func(h *hostile) {
			h.raw(textOffer("", nil))
			h.raw(wire.AppendText(nil, ""))
		}, "a text of 0 bytes"},
		{"text-missing", func(h *hostile) {
			h.raw(textOffer("hello", nil))
			h.frame(wire.TypeNonce, wire.NonceFrame{Value: wire.NewNonce()})
		}, "got control frame type 9 after a text offer"},
		{"text-short-hash", func(h *hostile) {
			h.raw(textOffer("hello", &wire.TextRef{Size: 5, Hash: []byte{1}}))
			h.raw(wire.AppendText(nil, "hello"))
		}, "a text hash of 1 bytes"},
		{"text-frame-later", func(h *hostile) {
			h.accepted(file("f", 10))
			h.plan(wire.Plan{})
			h.raw(wire.AppendText(nil, "hello"))
		}, "unknown control frame type 11"},
	}
	for _, tc := range cases {
		env.run(t, tc.name, func(t *testing.T, h *hostile) {
			tc.f(h)
			h.expectClosed(codeProtocol, tc.want)
		})
	}
	if n := count[EventText](env.r); n != 0 {
		t.Errorf("%d hostile texts were shown", n)
	}
	env.realSend(t, testTimeout)
}
