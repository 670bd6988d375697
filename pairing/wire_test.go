package pairing

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/pairing/cpace"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, c := range []struct {
		t       frameType
		payload []byte
	}{
		{frameStart, bytes.Repeat([]byte{1}, maxPayload)},
		{frameReply, nil},
		{frameTa, make([]byte, cpace.TagSize)},
		{frameTb, bytes.Repeat([]byte{7}, cpace.TagSize)},
	} {
		var buf bytes.Buffer
		if err := writeFrame(&buf, c.t, c.payload); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(&buf, c.t)
		if err != nil || !bytes.Equal(got, c.payload) || buf.Len() != 0 {
			t.Errorf("%v: got %d bytes, %v", c.t, len(got), err)
		}
	}
}

func TestFrameCaps(t *testing.T) {
	if err := writeFrame(io.Discard, frameStart, make([]byte, maxPayload+1)); err == nil {
		t.Error("wrote an oversized start frame")
	}
	if err := writeFrame(io.Discard, frameTa, make([]byte, 63)); err == nil {
		t.Error("wrote a short Ta frame")
	}
	hdr := func(t frameType, n uint16) []byte {
		b := []byte{byte(t), 0, 0}
		binary.BigEndian.PutUint16(b[1:], n)
		return b
	}
	for _, c := range []struct {
		name string
		in   []byte
		want frameType
	}{
		{"over cap", hdr(frameStart, maxPayload+1), frameStart},
		{"max length", hdr(frameReply, 0xffff), frameReply},
		{"short tag", hdr(frameTa, 63), frameTa},
		{"long tag", hdr(frameTb, 65), frameTb},
		{"wrong type", hdr(frameTb, 64), frameTa},
		{"unknown type", hdr(0x7f, 1), frameStart},
	} {
		// A reader that fails the test if more than the header is read: the
		// cap is checked before anything else is read or allocated.
		r := io.MultiReader(bytes.NewReader(c.in), failReader{t})
		if _, err := readFrame(r, c.want); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", c.name, err)
		}
	}
	if _, err := readFrame(bytes.NewReader(hdr(frameTa, 64)[:2]), frameTa); err == nil || errors.Is(err, ErrProtocol) {
		t.Errorf("truncated header: err = %v, want an I/O error", err)
	}
}

type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("read past a rejected header")
	return 0, io.EOF
}

func TestDecodeStart(t *testing.T) {
	y := make([]byte, cpace.PointSize)
	msgA := cpace.LVCat(y, []byte(`{"name":"a","proto":1}`))
	mode, got, err := decodeStart(encodeStart(ModeQR, msgA))
	if err != nil || mode != ModeQR || !bytes.Equal(got, msgA) {
		t.Fatalf("decodeStart = %q, %x, %v", mode, got, err)
	}
	for name, p := range map[string][]byte{
		"unknown mode": cpace.LVCat([]byte("PIN"), y, nil),
		"short Y":      cpace.LVCat([]byte("pin"), y[:31], nil),
		"extra field":  cpace.LVCat([]byte("pin"), y, nil, nil),
		"empty":        nil,
	} {
		if _, _, err := decodeStart(p); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", name, err)
		}
	}
}

func TestAssociatedData(t *testing.T) {
	ad, err := decodeAD(encodeAD("Anna's laptop 📎"))
	if err != nil || ad.Name != "Anna's laptop 📎" || ad.Proto != 1 {
		t.Fatalf("decodeAD = %+v, %v", ad, err)
	}
	if _, err := decodeAD([]byte(`{"name":"x","proto":1,"later":true}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
	for _, in := range []string{
		`{"name":"x","proto":2}`,
		`{"name":"x"}`,
		`{"name":"","proto":1}`,
		`{"name":"a\u001b[31mred","proto":1}`,
		`{"name":"evil\u202egnp.exe","proto":1}`,
		`{"name":"line\u2028break","proto":1}`,
		`{"name":" padded","proto":1}`,
		`{"name":"` + strings.Repeat("x", 65) + `","proto":1}`,
		`{"name":"x","proto":1}garbage`,
		`[1]`,
		`{"name":"x","proto":1,` + strings.Repeat(" ", maxADSize) + `}`,
	} {
		if _, err := decodeAD([]byte(in)); !errors.Is(err, ErrProtocol) {
			t.Errorf("decodeAD(%.40q) err = %v, want ErrProtocol", in, err)
		}
	}
	if err := checkName("bad\xffutf8"); err == nil {
		t.Error("invalid UTF-8 name accepted")
	}
}

// The transcript binds the secret, the mode, both certificates and the TLS
// session. Each case runs CPace as pairing does, with what each side would
// compute, and must fail unless both sides agree on all of them.
func TestTranscriptBindsSecretModeCertificatesAndSession(t *testing.T) {
	var fpA, fpB, fpM identity.DeviceID
	rand.Read(fpA[:])
	rand.Read(fpB[:])
	rand.Read(fpM[:])
	sid1, sid2 := make([]byte, sidSize), make([]byte, sidSize)
	rand.Read(sid1)
	rand.Read(sid2)
	type side struct {
		secret   Secret
		mode     Mode
		fpA, fpB identity.DeviceID
		sid      []byte
	}
	code := Code{ID: fpB, Secret: "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
	honest := side{PIN("123456"), ModePIN, fpA, fpB, sid1}
	for _, c := range []struct {
		name string
		a, b side
		ok   bool
	}{
		{"same everything", honest, honest, true},
		{"QR mode", side{code, ModeQR, fpA, fpB, sid1}, side{code, ModeQR, fpA, fpB, sid1}, true},
		{"wrong PIN", side{PIN("123457"), ModePIN, fpA, fpB, sid1}, honest, false},
		// A man in the middle terminates A's TLS with its own key (A sees
		// fpM as the responder) and opens its own session to B (B sees fpM
		// as the initiator): the sides disagree on certificates and sid.
		{"MITM: swapped responder certificate", side{PIN("123456"), ModePIN, fpA, fpM, sid1}, side{PIN("123456"), ModePIN, fpM, fpB, sid2}, false},
		{"swapped certificate, same sid", side{PIN("123456"), ModePIN, fpA, fpM, sid1}, honest, false},
		{"other TLS session", side{PIN("123456"), ModePIN, fpA, fpB, sid2}, honest, false},
		{"roles swapped", side{PIN("123456"), ModePIN, fpB, fpA, sid1}, honest, false},
		{"mode confusion, same secret text", side{PIN("123456"), ModeQR, fpA, fpB, sid1}, honest, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, msgA, _ := cpace.Start(cpace.Initiator, c.a.secret.prs(), channelID(c.a.mode, c.a.fpA, c.a.fpB), c.a.sid, encodeAD("a"))
			b, msgB, _ := cpace.Start(cpace.Responder, c.b.secret.prs(), channelID(c.b.mode, c.b.fpA, c.b.fpB), c.b.sid, encodeAD("b"))
			if _, err := b.Finish(msgA); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Finish(msgB); err != nil {
				t.Fatal(err)
			}
			ta, _ := a.Tag()
			err := b.VerifyTag(ta)
			if c.ok != (err == nil) {
				t.Fatalf("B.VerifyTag(Ta) = %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				if _, err := b.Tag(); err == nil {
					t.Fatal("B released Tb after a bad Ta")
				}
				return
			}
			tb, _ := b.Tag()
			if err := a.VerifyTag(tb); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChannelIDLayout(t *testing.T) {
	var fpA, fpB identity.DeviceID
	fpA[0], fpB[0] = 0xaa, 0xbb
	got := channelID(ModePIN, fpA, fpB)
	want := append([]byte("\x0dferry/pair/v1\x03pin\x01A\x20"), fpA[:]...)
	want = append(append(want, "\x01B\x20"...), fpB[:]...)
	if !bytes.Equal(got, want) {
		t.Errorf("CI = %x\nwant %x", got, want)
	}
}

func FuzzReadFrame(f *testing.F) {
	y := make([]byte, cpace.PointSize)
	var buf bytes.Buffer
	writeFrame(&buf, frameStart, encodeStart(ModePIN, cpace.LVCat(y, encodeAD("alice"))))
	f.Add(buf.Bytes())
	buf.Reset()
	writeFrame(&buf, frameReply, cpace.LVCat(y, encodeAD("bob")))
	f.Add(buf.Bytes())
	buf.Reset()
	writeFrame(&buf, frameTa, make([]byte, cpace.TagSize))
	f.Add(buf.Bytes())
	f.Add([]byte{0x01, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		want := frameType(data[0])
		r := bytes.NewReader(data)
		p, err := readFrame(r, want)
		if err != nil {
			return
		}
		limit, exact := payloadCap(want)
		if len(p) > limit || exact && len(p) != limit {
			t.Fatalf("accepted %d bytes for %v", len(p), want)
		}
		// What was read re-encodes to the bytes consumed.
		var out bytes.Buffer
		if err := writeFrame(&out, want, p); err != nil {
			t.Fatal(err)
		}
		consumed := data[:len(data)-r.Len()]
		if !bytes.Equal(out.Bytes(), consumed) {
			t.Fatalf("re-encoded %x, consumed %x", out.Bytes(), consumed)
		}
		switch want {
		case frameStart:
			mode, msgA, err := decodeStart(p)
			if err != nil {
				return
			}
			if !bytes.Equal(encodeStart(mode, msgA), p) {
				t.Fatal("start payload does not re-encode")
			}
			if _, ad, err := cpace.ParseMessage(msgA); err == nil {
				decodeAD(ad)
			}
		case frameReply:
			if _, ad, err := cpace.ParseMessage(p); err == nil {
				decodeAD(ad)
			}
		}
	})
}
