package cpace

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gtank/ristretto255"
)

// The files in testdata/ are the draft's own base64 JSON test-vector blocks
// for CPACE-RISTR255-SHA512 (draft-irtf-cfrg-cpace-21), decoded, one file a
// block; see testdata/README.

func loadVectors(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func hexField(t *testing.T, v map[string]any, key string) []byte {
	t.Helper()
	s, ok := v[key].(string)
	if !ok {
		t.Fatalf("vector field %q missing", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vector field %q: %v", key, err)
	}
	return b
}

func scalarLE(t *testing.T, b []byte) *ristretto255.Scalar {
	t.Helper()
	s, err := ristretto255.NewScalar().SetCanonicalBytes(b)
	if err != nil {
		t.Fatalf("scalar %x: %v", b, err)
	}
	return s
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func TestPrependLenVectors(t *testing.T) {
	v := loadVectors(t, "prepend_len.json")
	eq(t, "prepend_len(b'')", AppendLV(nil, nil), hexField(t, v, "prepend_len(b'')"))
	eq(t, "prepend_len(b'1234')", AppendLV(nil, hexField(t, v, "b'1234'")), hexField(t, v, "prepend_len(b'1234')"))
	r127, r128 := make([]byte, 127), make([]byte, 128)
	for i := range r128 {
		r128[i] = byte(i)
		if i < 127 {
			r127[i] = byte(i)
		}
	}
	eq(t, "prepend_len(range(127))", AppendLV(nil, r127), hexField(t, v, "prepend_len(bytes(range(127)))"))
	eq(t, "prepend_len(range(128))", AppendLV(nil, r128), hexField(t, v, "prepend_len(bytes(range(128)))"))
	// and back
	for _, in := range [][]byte{nil, r127, r128} {
		f, err := SplitLV(AppendLV(nil, in), 1)
		if err != nil || !bytes.Equal(f[0], in) {
			t.Errorf("SplitLV(prepend_len(%d bytes)) = %x, %v", len(in), f, err)
		}
	}
}

func TestLVCatVector(t *testing.T) {
	v := loadVectors(t, "lv_cat.json")
	parts := [][]byte{hexField(t, v, "b'1234'"), hexField(t, v, "b'5'"), {}, hexField(t, v, "b'678'")}
	want := hexField(t, v, "lv_cat(b'1234',b'5',b'',b'678')")
	eq(t, "lv_cat", LVCat(parts...), want)
	got, err := SplitLV(want, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range parts {
		eq(t, "SplitLV field", got[i], parts[i])
	}
}

func TestSplitLVStrict(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		n    int
	}{
		{"truncated length", "80", 1},
		{"non-minimal length", "8000", 1},
		{"length past end", "05414243", 1},
		{"trailing byte", "014100", 1},
		{"too few fields", "0141", 2},
		{"five-byte length", "8080808001", 1},
	} {
		b, _ := hex.DecodeString(c.in)
		if _, err := SplitLV(b, c.n); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: SplitLV(%s) err = %v, want ErrMalformed", c.name, c.in, err)
		}
	}
}

func TestOrderedConcatenationVectors(t *testing.T) {
	var lex struct {
		Cases []struct {
			Bytes1, Bytes2 string
			Larger         bool
		}
	}
	data, err := os.ReadFile("testdata/lexiographically_larger.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &lex); err != nil {
		t.Fatal(err)
	}
	for _, c := range lex.Cases {
		a, _ := hex.DecodeString(c.Bytes1)
		b, _ := hex.DecodeString(c.Bytes2)
		if got := lexiographicallyLarger(a, b); got != c.Larger {
			t.Errorf("lexiographically_larger(%x, %x) = %v, want %v", a, b, got, c.Larger)
		}
	}
	v := loadVectors(t, "o_cat.json")
	abcd, bcd, abcde := hexField(t, v, "b'ABCD'"), hexField(t, v, "b'BCD'"), hexField(t, v, "b'ABCDE'")
	eq(t, "o_cat(ABCD, BCD)", oCat(abcd, bcd), hexField(t, v, "o_cat(b'ABCD',b'BCD')"))
	eq(t, "o_cat(BCD, ABCDE)", oCat(bcd, abcde), hexField(t, v, "o_cat(b'BCD',b'ABCDE')"))
}

func TestTranscriptVectors(t *testing.T) {
	for _, c := range []struct {
		file, prefix string
		fn           func(ya, ada, yb, adb []byte) []byte
	}{
		{"transcript_ir.json", "transcript_ir", transcriptIR},
		{"transcript_oc.json", "transcript_oc", transcriptOC},
	} {
		v := loadVectors(t, c.file)
		pa, pb := hexField(t, v, "b'PartyA'"), hexField(t, v, "b'PartyB'")
		eq(t, c.prefix+"(123,PartyA,234,PartyB)",
			c.fn(hexField(t, v, "b'123'"), pa, hexField(t, v, "b'234'"), pb),
			hexField(t, v, c.prefix+"(b'123',b'PartyA',b'234',b'PartyB')"))
		eq(t, c.prefix+"(3456,PartyA,2345,PartyB)",
			c.fn(hexField(t, v, "b'3456'"), pa, hexField(t, v, "b'2345'"), pb),
			hexField(t, v, c.prefix+"(b'3456',b'PartyA',b'2345',b'PartyB')"))
	}
}

func TestCalculateGeneratorVector(t *testing.T) {
	v := loadVectors(t, "calculate_generator.json")
	prs, ci, sid := hexField(t, v, "PRS"), hexField(t, v, "CI"), hexField(t, v, "sid")
	eq(t, "DSI", []byte(dsi), hexField(t, v, "DSI"))
	if v["H.s_in_bytes"].(float64) != hashBlock {
		t.Errorf("H.s_in_bytes = %v, want %d", v["H.s_in_bytes"], hashBlock)
	}
	gs := generatorString(prs, ci, sid)
	eq(t, "generator_string", gs, hexField(t, v, "generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"))
	zpad := int(v["ZPAD length"].(float64))
	if !bytes.Equal(gs[1+len(dsi)+1+len(prs)+1:][:zpad], make([]byte, zpad)) || gs[1+len(dsi)+1+len(prs)] != byte(zpad) {
		t.Errorf("zero padding is not %d bytes", zpad)
	}
	h := sha512.Sum512(gs)
	eq(t, "hash result", h[:], hexField(t, v, "hash result"))
	eq(t, "encoded generator g", calculateGenerator(prs, ci, sid).Bytes(), hexField(t, v, "encoded generator g"))
}

func TestExchangeVectors(t *testing.T) {
	v := loadVectors(t, "exchange.json")
	prs, ci, sid := hexField(t, v, "PRS"), hexField(t, v, "CI"), hexField(t, v, "sid")
	ada, adb := hexField(t, v, "ADa"), hexField(t, v, "ADb")
	wantK := hexField(t, v, "K")

	eq(t, "g", calculateGenerator(prs, ci, sid).Bytes(), hexField(t, v, "g"))

	a, msgA := start(Initiator, prs, ci, sid, ada, scalarLE(t, hexField(t, v, "ya")))
	b, msgB := start(Responder, prs, ci, sid, adb, scalarLE(t, hexField(t, v, "yb")))
	eq(t, "Ya", a.ownY, hexField(t, v, "Ya"))
	eq(t, "Yb", b.ownY, hexField(t, v, "Yb"))
	eq(t, "MSGa", msgA, LVCat(hexField(t, v, "Ya"), ada))

	// K from both sides; scalarMultVfy is what Finish uses.
	eq(t, "scalar_mult_vfy(ya,Yb)", scalarMultVfy(scalarLE(t, hexField(t, v, "ya")), hexField(t, v, "Yb")), wantK)
	eq(t, "scalar_mult_vfy(yb,Ya)", scalarMultVfy(scalarLE(t, hexField(t, v, "yb")), hexField(t, v, "Ya")), wantK)

	tIR := transcriptIR(hexField(t, v, "Ya"), ada, hexField(t, v, "Yb"), adb)
	tOC := transcriptOC(hexField(t, v, "Ya"), ada, hexField(t, v, "Yb"), adb)
	eq(t, "ISK_IR", computeISK(sid, wantK, tIR), hexField(t, v, "ISK_IR"))
	eq(t, "ISK_SY", computeISK(sid, wantK, tOC), hexField(t, v, "ISK_SY"))
	eq(t, "sid_output_ir", sidOutput(tIR), hexField(t, v, "sid_output_ir"))
	eq(t, "sid_output_oc", sidOutput(tOC), hexField(t, v, "sid_output_oc"))

	// The full state machine on the vector's scalars agrees with the
	// vector's ISK: the tags each side computes are the HMACs under
	// SHA-512("CPaceMac" || sid || ISK_IR).
	gotADb, err := a.Finish(msgB)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ADb seen by A", gotADb, adb)
	gotADa, err := b.Finish(msgA)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ADa seen by B", gotADa, ada)
	macKey := sha512.Sum512(append(append([]byte(macLabel), sid...), hexField(t, v, "ISK_IR")...))
	ta, err := a.Tag()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Ta", ta, tag(macKey[:], msgA))
	if err := b.VerifyTag(ta); err != nil {
		t.Fatal(err)
	}
	tb, err := b.Tag()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Tb", tb, tag(macKey[:], msgB))
	if err := a.VerifyTag(tb); err != nil {
		t.Fatal(err)
	}
	ka, err := a.Key("test", 32)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.Key("test", 32)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Key", ka, kb)
	if bytes.Contains(ka, hexField(t, v, "ISK_IR")[:16]) {
		t.Error("Key leaks ISK")
	}
}

func TestScalarMultVfyVectors(t *testing.T) {
	v := loadVectors(t, "scalar_mult_vfy.json")
	valid := v["Valid"].(map[string]any)
	s := scalarLE(t, hexField(t, valid, "s"))
	X := hexField(t, valid, "X")
	p, err := ristretto255.NewElement().SetCanonicalBytes(X)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "scalar_mult(s,decode(X))", ristretto255.NewElement().ScalarMult(s, p).Bytes(), hexField(t, valid, "G.scalar_mult(s,decode(X))"))
	eq(t, "scalar_mult_vfy(s,X)", scalarMultVfy(s, X), hexField(t, valid, "G.scalar_mult_vfy(s,X)"))
	for _, k := range []string{"Invalid Y1", "Invalid Y2"} {
		if got := scalarMultVfy(s, hexField(t, v, k)); got != nil {
			t.Errorf("scalar_mult_vfy(s, %s) = %x, want the neutral element (abort)", k, got)
		}
	}
}

// A message carrying either invalid point of the draft aborts the run, from
// both roles.
func TestFinishAbortsOnInvalidPoints(t *testing.T) {
	v := loadVectors(t, "scalar_mult_vfy.json")
	for _, k := range []string{"Invalid Y1", "Invalid Y2"} {
		for _, role := range []Role{Initiator, Responder} {
			s, _, err := Start(role, []byte("pw"), []byte("ci"), []byte("sid"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Finish(LVCat(hexField(t, v, k), []byte("AD"))); !errors.Is(err, ErrInvalidPoint) {
				t.Errorf("%v, %s: Finish err = %v, want ErrInvalidPoint", role, k, err)
			}
			if _, err := s.Tag(); !errors.Is(err, ErrState) {
				t.Errorf("%v: Tag after abort: err = %v, want ErrState", role, err)
			}
		}
	}
}

type run struct {
	prs, ci, sid, ad []byte
}

// exchange runs A and B to the end and reports where it failed: "" on
// success, else the step.
func exchange(t *testing.T, ra, rb run, tamper func(step string, msg []byte) []byte) (string, error) {
	t.Helper()
	if tamper == nil {
		tamper = func(_ string, m []byte) []byte { return m }
	}
	a, msgA, err := Start(Initiator, ra.prs, ra.ci, ra.sid, ra.ad)
	if err != nil {
		t.Fatal(err)
	}
	b, msgB, err := Start(Responder, rb.prs, rb.ci, rb.sid, rb.ad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Finish(tamper("MSGa", msgA)); err != nil {
		return "B.Finish", err
	}
	if _, err := a.Finish(tamper("MSGb", msgB)); err != nil {
		return "A.Finish", err
	}
	ta, err := a.Tag()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.VerifyTag(tamper("Ta", ta)); err != nil {
		return "B.VerifyTag", err
	}
	tb, err := b.Tag()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyTag(tamper("Tb", tb)); err != nil {
		return "A.VerifyTag", err
	}
	return "", nil
}

func TestTranscriptBinding(t *testing.T) {
	base := run{prs: []byte("123456"), ci: LVCat([]byte("ci"), []byte("fpA"), []byte("fpB")), sid: []byte("sid-sid-sid"), ad: []byte(`{"name":"x"}`)}
	mod := func(f func(*run)) run { r := base; f(&r); return r }
	for _, c := range []struct {
		name   string
		a, b   run
		tamper func(string, []byte) []byte
		step   string
	}{
		{name: "same inputs pair", a: base, b: base, step: ""},
		{name: "different AD is fine", a: base, b: mod(func(r *run) { r.ad = []byte("other") }), step: ""},
		{name: "wrong password", a: base, b: mod(func(r *run) { r.prs = []byte("123457") }), step: "B.VerifyTag"},
		{name: "other channel identifier (swapped certificate)", a: base, b: mod(func(r *run) { r.ci = LVCat([]byte("ci"), []byte("fpA"), []byte("fpX")) }), step: "B.VerifyTag"},
		{name: "other session id (two TLS sessions)", a: base, b: mod(func(r *run) { r.sid = []byte("sid-other") }), step: "B.VerifyTag"},
		{name: "ADa altered in transit", a: base, b: base, step: "B.VerifyTag", tamper: func(step string, m []byte) []byte {
			if step == "MSGa" {
				y, _, _ := ParseMessage(m)
				return LVCat(y, []byte("forged"))
			}
			return m
		}},
		{name: "ADb altered in transit", a: base, b: base, step: "B.VerifyTag", tamper: func(step string, m []byte) []byte {
			if step == "MSGb" {
				y, _, _ := ParseMessage(m)
				return LVCat(y, []byte("forged"))
			}
			return m
		}},
		{name: "Ta flipped", a: base, b: base, step: "B.VerifyTag", tamper: func(step string, m []byte) []byte {
			if step == "Ta" {
				m = append([]byte(nil), m...)
				m[0] ^= 1
			}
			return m
		}},
		{name: "Tb truncated", a: base, b: base, step: "A.VerifyTag", tamper: func(step string, m []byte) []byte {
			if step == "Tb" {
				return m[:32]
			}
			return m
		}},
		{name: "malformed MSGa", a: base, b: base, step: "B.Finish", tamper: func(step string, m []byte) []byte {
			if step == "MSGa" {
				return m[:10]
			}
			return m
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			step, err := exchange(t, c.a, c.b, c.tamper)
			if step != c.step {
				t.Fatalf("failed at %q (%v), want %q", step, err, c.step)
			}
		})
	}
}

// Replaying A's first message into a new session (new sid, as a new TLS
// connection gives) fails: the recorded Ta does not verify, and nothing the
// responder sends before that lets anyone test a password offline.
func TestReplayedMessageFails(t *testing.T) {
	prs, ci := []byte("123456"), []byte("ci")
	a, msgA, _ := Start(Initiator, prs, ci, []byte("sid-1"), nil)
	b1, msgB1, _ := Start(Responder, prs, ci, []byte("sid-1"), nil)
	if _, err := b1.Finish(msgA); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Finish(msgB1); err != nil {
		t.Fatal(err)
	}
	ta, _ := a.Tag()
	if err := b1.VerifyTag(ta); err != nil {
		t.Fatalf("original session: %v", err)
	}

	// The attacker replays MSGa and Ta into a fresh session with the same
	// password but another sid.
	b2, _, _ := Start(Responder, prs, ci, []byte("sid-2"), nil)
	if _, err := b2.Finish(msgA); err != nil {
		t.Fatal(err) // the point itself is valid
	}
	if err := b2.VerifyTag(ta); !errors.Is(err, ErrBadTag) {
		t.Fatalf("replayed Ta: err = %v, want ErrBadTag", err)
	}
	if _, err := b2.Tag(); !errors.Is(err, ErrState) {
		t.Fatalf("Tb after a failed Ta: err = %v, want ErrState", err)
	}

	// Even in the same sid, a new responder state (new yb) rejects the old Ta.
	b3, _, _ := Start(Responder, prs, ci, []byte("sid-1"), nil)
	b3.Finish(msgA)
	if err := b3.VerifyTag(ta); !errors.Is(err, ErrBadTag) {
		t.Fatalf("replayed Ta, same sid: err = %v, want ErrBadTag", err)
	}
}

// A "responder" that echoes the initiator's message and then its Ta would
// pass if the initiator accepted its own Y back.
func TestReflectionRejected(t *testing.T) {
	a, msgA, _ := Start(Initiator, []byte("123456"), []byte("ci"), []byte("sid"), []byte("AD"))
	if _, err := a.Finish(msgA); !errors.Is(err, ErrReflected) {
		t.Fatalf("Finish(own message) err = %v, want ErrReflected", err)
	}
	// Y echoed with different AD is still our Y.
	a2, msgA2, _ := Start(Initiator, []byte("123456"), []byte("ci"), []byte("sid"), []byte("AD"))
	y, _, _ := ParseMessage(msgA2)
	if _, err := a2.Finish(LVCat(y, []byte("other"))); !errors.Is(err, ErrReflected) {
		t.Fatalf("Finish(own Y, other AD) err = %v, want ErrReflected", err)
	}
}

func TestStateMachine(t *testing.T) {
	a, msgA, _ := Start(Initiator, []byte("pw"), nil, nil, nil)
	b, msgB, _ := Start(Responder, []byte("pw"), nil, nil, nil)
	if _, err := a.Tag(); !errors.Is(err, ErrState) {
		t.Errorf("Tag before Finish: %v", err)
	}
	if _, err := b.Finish(msgA); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Finish(msgA); !errors.Is(err, ErrState) {
		t.Errorf("second Finish: err = %v, want ErrState", err)
	}
	// The second Finish killed b.
	if err := b.VerifyTag(make([]byte, TagSize)); !errors.Is(err, ErrState) {
		t.Errorf("VerifyTag on a killed state: %v", err)
	}

	b, msgB, _ = Start(Responder, []byte("pw"), nil, nil, nil)
	b.Finish(msgA)
	if _, err := a.Finish(msgB); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tag(); !errors.Is(err, ErrState) {
		t.Errorf("responder Tag before VerifyTag: err = %v, want ErrState", err)
	}
	if _, err := a.Key("x", 32); !errors.Is(err, ErrState) {
		t.Errorf("Key before confirmation: %v", err)
	}
	ta, _ := a.Tag()
	if _, err := a.Tag(); !errors.Is(err, ErrState) {
		t.Errorf("second Tag: %v", err)
	}
	if err := b.VerifyTag(ta); err != nil {
		t.Fatal(err)
	}
	if err := b.VerifyTag(ta); !errors.Is(err, ErrState) {
		t.Errorf("second VerifyTag: %v", err)
	}
}

func TestStartRejectsBadRole(t *testing.T) {
	if _, _, err := Start(Role(0), nil, nil, nil, nil); err == nil {
		t.Error("Start with role 0 succeeded")
	}
}

func TestScalarsAreFresh(t *testing.T) {
	_, m1, _ := Start(Initiator, []byte("pw"), nil, nil, nil)
	_, m2, _ := Start(Initiator, []byte("pw"), nil, nil, nil)
	if bytes.Equal(m1, m2) {
		t.Error("two runs produced the same Y")
	}
}
