package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// The hostile-peer kit: a client that completes the real QUIC and TLS
// handshake with the receiver and then speaks the protocol wrongly on
// purpose. Its writes ignore errors: a liar does not care whether the
// receiver still listens; what counts is how the receiver ends the session.

type hostile struct {
	t    testing.TB
	r    *testReceiver
	dev  *identity.Device
	tr   *quic.Transport
	udp  *net.UDPConn
	conn *quic.Conn
	ctrl *quic.Stream
	br   *bufio.Reader
	dec  wire.Decision

	sessions int // sessions the receiver had started before this one
}

func dialHostile(t testing.TB, dev *identity.Device, r *testReceiver) *hostile {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := tr.Dial(ctx, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.Port()}, clientTLS(dev, r.cfg.Device.ID), quicConfig())
	if err != nil {
		tr.Close()
		udp.Close()
		t.Fatalf("hostile dial: %v", err)
	}
	h := &hostile{t: t, r: r, dev: dev, tr: tr, udp: udp, conn: conn, sessions: count[EventSession](r)}
	t.Cleanup(h.close)
	return h
}

// progress waits for the receiver to start this session's data phase and
// returns its progress.
func (h *hostile) progress() *Progress {
	h.t.Helper()
	return sessionProgress(h.t, h.r, h.sessions)
}

func (h *hostile) close() {
	h.conn.CloseWithError(codeCanceled, "hostile peer leaves")
	h.tr.Close()
	h.udp.Close()
}

func (h *hostile) openCtrl() {
	if h.ctrl != nil {
		return
	}
	ctrl, err := h.conn.OpenStream()
	if err != nil {
		h.t.Fatalf("open control stream: %v", err)
	}
	h.ctrl, h.br = ctrl, bufio.NewReader(ctrl)
}

// raw writes bytes on the control stream.
func (h *hostile) raw(b []byte) {
	h.openCtrl()
	h.ctrl.Write(b)
}

// frame writes a control frame with a body of any JSON.
func (h *hostile) frame(t byte, v any) {
	h.openCtrl()
	wire.WriteFrame(h.ctrl, t, v)
}

// rawFrame writes a control frame with body as it is.
func (h *hostile) rawFrame(t byte, body []byte) {
	b := []byte{t, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)))
	h.raw(append(b, body...))
}

// offer sends an offer of entries and returns the decision.
func (h *hostile) offer(entries ...wire.Entry) wire.Decision {
	h.t.Helper()
	h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Name: "mallory", Session: "0123456789abcdef0123456789abcdef", Entries: entries})
	h.ctrl.SetReadDeadline(time.Now().Add(testTimeout))
	t, body, err := wire.ReadFrame(h.br)
	if err != nil {
		h.t.Fatalf("read decision: %v (%v)", err, context.Cause(h.conn.Context()))
	}
	if t == wire.TypeCommit { // the verification code exchange, done right
		h.frame(wire.TypeNonce, wire.NonceFrame{Value: wire.NewNonce()})
		if t, body, err = wire.ReadFrame(h.br); err != nil || t != wire.TypeReveal {
			h.t.Fatalf("read reveal: frame %d, %v (%v)", t, err, context.Cause(h.conn.Context()))
		}
		if t, body, err = wire.ReadFrame(h.br); err != nil {
			h.t.Fatalf("read decision: %v (%v)", err, context.Cause(h.conn.Context()))
		}
	}
	if err := wire.DecodeFrame(t, wire.TypeDecision, body, &h.dec); err != nil {
		h.t.Fatalf("decode decision: %v", err)
	}
	return h.dec
}

// accepted offers entries and fails the test unless they are accepted.
func (h *hostile) accepted(entries ...wire.Entry) {
	h.t.Helper()
	if d := h.offer(entries...); !d.Accept {
		h.t.Fatalf("offer declined: %s %s", d.Code, d.Reason)
	}
}

func (h *hostile) plan(p wire.Plan) { h.frame(wire.TypePlan, p) }

func (h *hostile) fileEnd(file int, size int64, hash []byte) {
	h.frame(wire.TypeFileEnd, wire.FileEnd{File: file, Size: size, Hash: hash})
}

// dataStream opens a data stream and presents token.
func (h *hostile) dataStream(token []byte) *quic.SendStream {
	h.t.Helper()
	str, err := h.conn.OpenUniStream()
	if err != nil {
		h.t.Fatalf("open data stream: %v", err)
	}
	str.Write(append([]byte{wire.TypeStreamHello}, token...))
	return str
}

// chunk sends one well-formed chunk.
func (h *hostile) chunk(str *quic.SendStream, file uint32, idx int64, data []byte) {
	h.rawChunk(str, wire.ChunkHeader{File: file, Chunk: uint32(idx), Len: uint32(len(data))}, data, hashOf(data))
}

func (h *hostile) rawChunk(str *quic.SendStream, hdr wire.ChunkHeader, data []byte, sum [wire.HashLen]byte) {
	var b [wire.ChunkHeaderLen]byte
	hdr.Put(b[:])
	str.Write(b[:])
	str.Write(data)
	str.Write(sum[:])
}

// closedBy waits until the receiver closes the connection and returns its
// reason.
// closedByOrTimeout waits until the connection ends or d passes.
func (h *hostile) closedByOrTimeout(d time.Duration) {
	select {
	case <-h.conn.Context().Done():
	case <-time.After(d):
	}
}

func (h *hostile) closedBy() *quic.ApplicationError {
	h.t.Helper()
	select {
	case <-h.conn.Context().Done():
	case <-time.After(testTimeout):
		h.t.Fatalf("the receiver did not end the session within %s", testTimeout)
	}
	cause := context.Cause(h.conn.Context())
	var ae *quic.ApplicationError
	if !errors.As(cause, &ae) || !ae.Remote {
		h.t.Fatalf("the connection ended with %v, not closed by the receiver", cause)
	}
	return ae
}

// expectClosed checks that the receiver closed the connection with code and
// a reason that contains want.
func (h *hostile) expectClosed(code quic.ApplicationErrorCode, want string) {
	h.t.Helper()
	ae := h.closedBy()
	if ae.ErrorCode != code || !strings.Contains(ae.ErrorMessage, want) {
		h.t.Errorf("closed with code %d %q, want code %d and %q", ae.ErrorCode, ae.ErrorMessage, code, want)
	}
	if strings.ContainsFunc(ae.ErrorMessage, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x202e }) {
		h.t.Errorf("close reason carries control characters: %q", ae.ErrorMessage)
	}
}

// expectDelivered reads the receiver's reports until Done and checks the
// number of files delivered.
func (h *hostile) expectDelivered(files int) {
	h.t.Helper()
	h.ctrl.SetReadDeadline(time.Now().Add(testTimeout))
	n := 0
	for {
		t, body, err := wire.ReadFrame(h.br)
		if err != nil {
			h.t.Fatalf("read reports: %v (%v)", err, context.Cause(h.conn.Context()))
		}
		switch t {
		case wire.TypeFileDone:
			n++
		case wire.TypeDone:
			if n != files {
				h.t.Errorf("%d files delivered, want %d", n, files)
			}
			return
		default:
			h.t.Fatalf("unexpected frame %d: %s", t, body)
		}
	}
}

// hostileEnv is one receiver attacked by many hostile sessions in turn,
// each followed by a check of the folders and an honest send.
type hostileEnv struct {
	r      *testReceiver
	good   *testSender
	src    string
	out    string            // a folder outside the receiving folder
	expect map[string][]byte // final files the receiving folder may hold
	n      int
}

func newHostileEnv(t *testing.T, opts ...recvOption) *hostileEnv {
	r := startReceiver(t, opts...)
	env := &hostileEnv{
		r:      r,
		good:   newSender(t),
		src:    t.TempDir(),
		out:    filepath.Join(r.base, "outside"),
		expect: make(map[string][]byte),
	}
	if err := os.MkdirAll(env.out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(env.out, "precious"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	return env
}

// realSend sends a small file from the honest sender and fails the test
// unless it arrives within d: the receiver still serves real senders.
func (env *hostileEnv) realSend(t *testing.T, d time.Duration) {
	t.Helper()
	src := filepath.Join(env.src, "real.txt")
	if err := os.WriteFile(src, []byte("served"), 0o644); err != nil {
		t.Fatal(err)
	}
	env.expect["real.txt"] = []byte("served")
	start := time.Now()
	env.good.mustSend(t, env.r, []string{src})
	took := time.Since(start)
	if took > d {
		t.Errorf("the real sender waited %s behind the flood", took)
	}
	t.Logf("the real sender was served in %s", took.Round(time.Millisecond))
}

// run runs one hostile session f, from a new device each time so that no
// partial file of one case is resumed by the next, then checks that nothing appeared or
// changed outside the receiving folder, that every final file in it is one
// expected, and that an honest sender still gets a file through.
func (env *hostileEnv) run(t *testing.T, name string, f func(t *testing.T, h *hostile)) {
	t.Run(name, func(t *testing.T) {
		before := outside(listing(t, env.r.base), "recv")
		precious, _ := os.ReadFile(filepath.Join(env.out, "precious"))
		h := dialHostile(t, newDevice(t, "mallory"), env.r)
		f(t, h)
		h.close()
		env.verify(t, before, precious)
	})
}

func (env *hostileEnv) verify(t *testing.T, before map[string]string, precious []byte) {
	t.Helper()
	if after := outside(listing(t, env.r.base), "recv"); !maps.Equal(before, after) {
		t.Errorf("outside the receiving folder: before %v, after %v", before, after)
	}
	if b, _ := os.ReadFile(filepath.Join(env.out, "precious")); !bytes.Equal(b, precious) {
		t.Errorf("a file outside the receiving folder changed: %q", b)
	}
	for p, b := range finalFiles(t, env.r.Dir()) {
		want, ok := env.expect[p]
		if !ok {
			t.Errorf("unexpected file %q (%d bytes) in the receiving folder", p, len(b))
		} else if !bytes.Equal(b, want) {
			t.Errorf("%q has wrong contents", p)
		}
	}
	env.n++
	name := fmt.Sprintf("honest-%d.txt", env.n)
	data := writeFile(t, env.src, name, 1000+env.n)
	env.good.mustSend(t, env.r, []string{filepath.Join(env.src, name)})
	if got, _ := os.ReadFile(filepath.Join(env.r.Dir(), name)); !bytes.Equal(got, data) {
		t.Fatalf("the honest send after the hostile session did not arrive intact")
	}
	env.expect[name] = data
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

const kc = wire.MinChunkSize // the hostile kit's chunk size

// file is an entry of size n in chunks of kc.
func file(name string, n int64) wire.Entry {
	return wire.Entry{Path: name, Size: n, Chunk: kc, MTime: 1}
}

func dir(name string) wire.Entry { return wire.Entry{Path: name, Dir: true} }

// fileHashOf is the file hash of data in chunks of kc.
func fileHashOf(data []byte) []byte {
	var hs [][wire.HashLen]byte
	for off := 0; off < len(data); off += kc {
		hs = append(hs, hashOf(data[off:min(off+kc, len(data))]))
	}
	sum := wire.FileHash(int64(len(data)), kc, hs)
	return sum[:]
}

func TestHostileNames(t *testing.T) {
	env := newHostileEnv(t)
	abs := filepath.Join(env.out, "abs")
	long := strings.Repeat("a", 256)
	var longPath []string
	for range 21 {
		longPath = append(longPath, strings.Repeat("p", 200))
	}
	cases := []struct {
		name    string
		entries []wire.Entry
		want    string
	}{
		{"traversal", []wire.Entry{file("../x", 1)}, "unsafe path"},
		{"traversal-inside", []wire.Entry{file("a/../../x", 1)}, "unsafe path"},
		{"traversal-dir", []wire.Entry{dir(".."), file("../outside/x", 1)}, "unsafe path"},
		{"absolute", []wire.Entry{file(abs, 1)}, "absolute"},
		{"absolute-etc", []wire.Entry{file("/etc/x", 1)}, "absolute"},
		{"drive", []wire.Entry{file(`C:\x`, 1)}, "unsafe path"},
		{"drive-relative", []wire.Entry{file("c:x", 1)}, "drive"},
		{"unc", []wire.Entry{file(`\\?\C:\x`, 1)}, "backslash"},
		{"backslash", []wire.Entry{file(`..\..\x`, 1)}, "backslash"},
		{"nul", []wire.Entry{file("a\x00b", 1)}, "control"},
		{"control", []wire.Entry{file("a\x01b", 1)}, "control"},
		{"newline", []wire.Entry{file("a\nb", 1)}, "control"},
		{"ansi", []wire.Entry{file("\x1b[2Jx", 1)}, "control"},
		{"bidi", []wire.Entry{file("evil\u202etxt.exe", 1)}, "format"},
		{"non-nfc", []wire.Entry{file("e\u0301", 1)}, "NFC"},
		{"empty", []wire.Entry{file("", 1)}, "empty"},
		{"dot", []wire.Entry{file(".", 1)}, "unsafe path"},
		{"empty-component", []wire.Entry{file("a//b", 1)}, "empty component"},
		{"trailing-slash", []wire.Entry{file("a/", 1)}, "empty component"},
		{"windows-device", []wire.Entry{file("con.txt", 1)}, "device"},
		{"trailing-dot", []wire.Entry{file("x.", 1)}, "Windows strips"},
		{"case-collision", []wire.Entry{file("A", 1), file("a", 1)}, "collision"},
		{"nfc-nfd-collision", []wire.Entry{file("\u00e9", 1), file("e\u0301", 1)}, "unsafe path"},
		{"fold-collision", []wire.Entry{file("stra\u00dfe", 1), file("STRASSE", 1)}, "collision"},
		{"nested-under-file", []wire.Entry{file("a", 1), file("a/b", 1)}, "collision"},
		{"file-then-folder", []wire.Entry{file("a", 1), dir("a")}, "collision"},
		{"duplicate", []wire.Entry{file("a", 1), file("a", 1)}, "duplicate"},
		{"duplicate-folder", []wire.Entry{dir("d"), dir("d")}, "duplicate"},
		{"long-component", []wire.Entry{file(long, 1)}, "255"},
		{"long-path", []wire.Entry{file(strings.Join(longPath, "/"), 1)}, "4096"},
		{"ferry-partial", []wire.Entry{file(".ferry-abc.part", 1)}, "reserved"},
		{"ferry-journal-upper", []wire.Entry{file("d/.FERRY-x.journal", 1)}, "reserved"},
	}
	for _, tc := range cases {
		env.run(t, tc.name, func(t *testing.T, h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Name: "mallory", Entries: tc.entries})
			h.expectClosed(codeProtocol, tc.want)
		})
	}
}

// Symlinks planted in the receiving folder (by a local user, or left by an
// earlier program) are never written through.
func TestHostileSymlinks(t *testing.T) {
	env := newHostileEnv(t)
	recv := env.r.Dir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(env.out, filepath.Join(recv, "link")))
	must(os.Mkdir(filepath.Join(recv, "d"), 0o755))
	must(os.Symlink(env.out, filepath.Join(recv, "d", "deep")))
	must(os.Symlink(filepath.Join(env.out, "precious"), filepath.Join(recv, "victim.txt")))
	data := randBytes(kc + 10)

	env.run(t, "folder-entry-named-like-link", func(t *testing.T, h *hostile) {
		h.accepted(dir("link"), file("link/x", 3))
		h.plan(wire.Plan{})
		h.expectClosed(codeProtocol, "symlink")
	})
	env.run(t, "file-under-link", func(t *testing.T, h *hostile) {
		h.accepted(file("link/x", int64(len(data))))
		h.plan(wire.Plan{})
		str := h.dataStream(h.dec.Token)
		h.chunk(str, 0, 0, data[:kc])
		h.expectClosed(codeProtocol, "symlink")
	})
	env.run(t, "empty-file-under-deep-link", func(t *testing.T, h *hostile) {
		h.accepted(dir("d"), file("d/deep/x", 0))
		h.plan(wire.Plan{})
		h.fileEnd(1, 0, fileHashOf(nil))
		h.expectClosed(codeProtocol, "symlink")
	})
	env.run(t, "file-named-like-link", func(t *testing.T, h *hostile) {
		h.accepted(file("victim.txt", int64(len(data))), file("link", 3))
		h.plan(wire.Plan{})
		str := h.dataStream(h.dec.Token)
		h.chunk(str, 0, 0, data[:kc])
		h.chunk(str, 0, 1, data[kc:])
		h.chunk(str, 1, 0, []byte("abc"))
		str.Close()
		h.fileEnd(0, int64(len(data)), fileHashOf(data))
		h.fileEnd(1, 3, fileHashOf([]byte("abc")))
		h.expectDelivered(2)
		env.expect["victim (1).txt"] = data
		env.expect["link (1)"] = []byte("abc")
	})
	must(os.WriteFile(filepath.Join(recv, "plain"), []byte("a file"), 0o644))
	env.expect["plain"] = []byte("a file")
	env.run(t, "file-under-existing-file", func(t *testing.T, h *hostile) {
		h.accepted(file("plain/x", 3))
		h.plan(wire.Plan{})
		h.chunk(h.dataStream(h.dec.Token), 0, 0, []byte("abc"))
		h.expectClosed(codeProtocol, "is a file, not a directory")
	})
	env.run(t, "folder-over-existing-file", func(t *testing.T, h *hostile) {
		h.accepted(dir("plain"))
		h.plan(wire.Plan{})
		h.expectClosed(codeProtocol, "is a file, not a directory")
	})
	// The partial file's name is predictable: plant a link there.
	env.run(t, "link-at-partial-name", func(t *testing.T, h *hostile) {
		part := filepath.Join(recv, store.PartialPath(h.dev.ID, "planted.bin"))
		must(os.Symlink(filepath.Join(env.out, "precious"), part))
		must(os.Symlink(filepath.Join(env.out, "journal"), strings.TrimSuffix(part, ".part")+".journal"))
		h.accepted(file("planted.bin", int64(len(data))))
		h.plan(wire.Plan{})
		str := h.dataStream(h.dec.Token)
		h.chunk(str, 0, 0, data[:kc])
		h.expectClosed(codeProtocol, "symlink")
	})
	for _, p := range []string{"link", "d/deep", "victim.txt"} {
		if fi, err := os.Lstat(filepath.Join(recv, p)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer the planted symlink", p)
		}
	}
}

// With --overwrite a symlink under the final name is not replaced or
// followed either: the file takes the next free name.
func TestHostileSymlinkOverwrite(t *testing.T) {
	env := newHostileEnv(t, withConfig(func(c *ReceiverConfig) { c.Overwrite = true }))
	if err := os.Symlink(filepath.Join(env.out, "precious"), filepath.Join(env.r.Dir(), "victim.txt")); err != nil {
		t.Fatal(err)
	}
	env.expect["victim (1).txt"] = []byte("pwn")
	env.run(t, "overwrite-link", func(t *testing.T, h *hostile) {
		h.accepted(file("victim.txt", 3))
		h.plan(wire.Plan{})
		str := h.dataStream(h.dec.Token)
		h.chunk(str, 0, 0, []byte("pwn"))
		h.fileEnd(0, 3, fileHashOf([]byte("pwn")))
		h.expectDelivered(1)
	})
	if fi, err := os.Lstat(filepath.Join(env.r.Dir(), "victim.txt")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("victim.txt is no longer the planted symlink")
	}
	if got, err := os.ReadFile(filepath.Join(env.r.Dir(), "victim (1).txt")); err != nil || string(got) != "pwn" {
		t.Errorf("victim (1).txt: %q, %v", got, err)
	}
}

// Sizes, indexes and hashes that lie.
func TestHostileData(t *testing.T) {
	env := newHostileEnv(t)
	const size = 2*kc + 100 // three chunks
	data := randBytes(size)
	c0, c1, c2 := data[:kc], data[kc:2*kc], data[2*kc:]
	one := file("f", size)

	// start opens a session for entries with one data stream.
	start := func(h *hostile, entries ...wire.Entry) *quic.SendStream {
		h.accepted(entries...)
		h.plan(wire.Plan{})
		return h.dataStream(h.dec.Token)
	}
	cases := []struct {
		name string
		f    func(h *hostile)
		code quic.ApplicationErrorCode
		want string
	}{
		{"negative-size", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{file("f", -5)}})
		}, codeProtocol, "size -5"},
		{"size-beyond-chunk-limit", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{file("f", kc*wire.MaxChunksPerFile+1)}})
		}, codeProtocol, "size"},
		{"chunk-size-not-power-of-two", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{{Path: "f", Size: 10, Chunk: kc + 1}}})
		}, codeProtocol, "chunk size"},
		{"folder-with-size", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{{Path: "d", Dir: true, Size: 10}}})
		}, codeProtocol, "has a size"},
		{"total-overflow", func(h *hostile) {
			var es []wire.Entry
			for i := range 40000 {
				es = append(es, wire.Entry{Path: fmt.Sprint(i), Size: wire.MaxChunkSize * wire.MaxChunksPerFile, Chunk: wire.MaxChunkSize})
			}
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: es})
		}, codeProtocol, "chunks in one offer"}, // the chunk cap trips long before int64 could overflow
		{"chunk-longer-than-declared", func(h *hostile) {
			str := start(h, one)
			h.rawChunk(str, wire.ChunkHeader{Len: kc + 1}, append(c0, 'x'), hashOf(append(c0, 'x')))
		}, codeProtocol, "chunk 0 of 65537 bytes"},
		{"chunk-shorter-than-declared", func(h *hostile) {
			str := start(h, one)
			h.rawChunk(str, wire.ChunkHeader{Len: kc - 1}, c0[:kc-1], hashOf(c0[:kc-1]))
		}, codeProtocol, "chunk 0 of 65535 bytes"},
		{"data-ends-inside-chunk", func(h *hostile) {
			str := start(h, one)
			var b [wire.ChunkHeaderLen]byte
			wire.ChunkHeader{Len: kc}.Put(b[:])
			str.Write(b[:])
			str.Write(c0[:100])
			str.Close()
		}, codeProtocol, "ends inside"},
		{"data-ends-inside-header", func(h *hostile) {
			str := start(h, one)
			str.Write([]byte{wire.TypeChunk, 0, 0})
			str.Close()
		}, codeProtocol, "ends inside"},
		{"last-chunk-too-long", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 0, 2, data[2*kc-50:])
		}, codeProtocol, "chunk 2"},
		{"chunk-index-beyond-end", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 0, 3, c2)
		}, codeProtocol, "chunk 3"},
		{"chunk-index-huge", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 0, 0xffffffff, c2)
		}, codeProtocol, "chunk 4294967295"},
		{"chunk-for-folder", func(h *hostile) {
			str := start(h, dir("d"), file("d/f", size))
			h.chunk(str, 0, 0, c0)
		}, codeProtocol, "not a file"},
		{"chunk-for-missing-entry", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 7, 0, c0)
		}, codeProtocol, "entry 7"},
		{"chunk-hash-wrong", func(h *hostile) {
			str := start(h, one)
			h.rawChunk(str, wire.ChunkHeader{Len: kc}, c0, hashOf(c1))
		}, codeIntegrity, "does not match its hash"},
		{"chunk-twice", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 0, 1, c1)
			h.chunk(str, 0, 1, c1)
		}, codeProtocol, "sent twice"},
		{"chunk-twice-on-two-streams", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 0, 1, c1)
			h.chunk(h.dataStream(h.dec.Token), 0, 1, c1)
		}, codeProtocol, "sent twice"},
		{"file-end-size-mismatch", func(h *hostile) {
			start(h, one)
			h.fileEnd(0, size+1, fileHashOf(data))
		}, codeProtocol, "ends at"},
		{"file-end-hash-wrong", func(h *hostile) {
			str := start(h, one)
			h.chunk(str, 0, 0, c0)
			h.chunk(str, 0, 1, c1)
			h.chunk(str, 0, 2, c2)
			h.fileEnd(0, size, fileHashOf(data[1:]))
		}, codeIntegrity, "file hash mismatch"},
		{"file-end-hash-short", func(h *hostile) {
			start(h, one)
			h.fileEnd(0, size, []byte{1, 2, 3})
		}, codeProtocol, "hash of 3 bytes"},
		{"file-end-for-folder", func(h *hostile) {
			start(h, dir("d"), file("d/f", 1))
			h.fileEnd(0, 0, fileHashOf(nil))
		}, codeProtocol, "not a file"},
		{"file-end-out-of-range", func(h *hostile) {
			start(h, one)
			h.fileEnd(-1, 0, fileHashOf(nil))
		}, codeProtocol, "entry -1"},
		{"file-end-twice", func(h *hostile) {
			start(h, one)
			h.fileEnd(0, size, fileHashOf(data))
			h.fileEnd(0, size, fileHashOf(data))
		}, codeProtocol, "second end"},
		{"streamed-short-middle-chunk", func(h *hostile) {
			str := start(h, wire.Entry{Path: "s", Size: -1, Chunk: kc, Stream: true})
			h.chunk(str, 0, 0, c0[:100])
			h.chunk(str, 0, 1, c1[:100])
			p := h.progress()
			waitUntil(h.t, "both chunks verified", func() bool { return p.Done.Load() >= 200 })
			h.fileEnd(0, kc+100, fileHashOf(nil))
		}, codeProtocol, "chunk 0 has 100 bytes"},
		{"streamed-end-before-chunks", func(h *hostile) {
			str := start(h, wire.Entry{Path: "s", Size: -1, Chunk: kc, Stream: true})
			h.chunk(str, 0, 0, c0)
			h.chunk(str, 0, 1, c1[:10])
			p := h.progress()
			waitUntil(h.t, "both chunks verified", func() bool { return p.Done.Load() >= kc+10 })
			h.fileEnd(0, 10, fileHashOf(c1[:10]))
		}, codeProtocol, "beyond its end"},
		{"streamed-chunk-index-too-big", func(h *hostile) {
			str := start(h, wire.Entry{Path: "s", Size: -1, Chunk: kc, Stream: true})
			h.chunk(str, 0, wire.MaxChunksPerFile, c0[:1])
		}, codeProtocol, "streamed"},
		{"streamed-empty-chunk", func(h *hostile) {
			str := start(h, wire.Entry{Path: "s", Size: -1, Chunk: kc, Stream: true})
			h.chunk(str, 0, 0, nil)
		}, codeProtocol, "0 bytes"},
		{"streamed-negative-end", func(h *hostile) {
			start(h, wire.Entry{Path: "s", Size: -1, Chunk: kc, Stream: true})
			h.fileEnd(0, -1, fileHashOf(nil))
		}, codeProtocol, "ends at size -1"},
		{"streamed-with-size", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{{Path: "s", Size: 5, Chunk: kc, Stream: true}}})
		}, codeProtocol, "has a size"},
		{"plan-restarts-folder", func(h *hostile) {
			h.accepted(dir("d"))
			h.plan(wire.Plan{Restart: []int{0}})
		}, codeProtocol, "restarts entry 0"},
		{"plan-restarts-out-of-range", func(h *hostile) {
			h.accepted(one)
			h.plan(wire.Plan{Restart: []int{1 << 30}})
		}, codeProtocol, "restarts entry"},
		{"plan-skips-unknown", func(h *hostile) {
			h.accepted(one)
			h.plan(wire.Plan{Skip: []int{0}})
		}, codeProtocol, "skips entry 0"},
	}
	for _, tc := range cases {
		env.run(t, tc.name, func(t *testing.T, h *hostile) {
			tc.f(h)
			h.expectClosed(tc.code, tc.want)
		})
	}

	env.run(t, "chunks-reordered-on-two-streams", func(t *testing.T, h *hostile) {
		str := start(h, file("in-any-order", size))
		h.chunk(str, 0, 2, c2)
		h.fileEnd(0, size, fileHashOf(data))
		h.chunk(h.dataStream(h.dec.Token), 0, 0, c0)
		h.chunk(str, 0, 1, c1)
		h.expectDelivered(1)
		env.expect["in-any-order"] = data
	})
	env.run(t, "empty-file-and-folder", func(t *testing.T, h *hostile) {
		h.accepted(dir("e"), file("e/empty", 0))
		h.plan(wire.Plan{})
		h.fileEnd(1, 0, fileHashOf(nil))
		h.expectDelivered(1)
		env.expect["e/empty"] = []byte{}
	})
	env.run(t, "huge-size-beyond-free-space", func(t *testing.T, h *hostile) {
		d := h.offer(wire.Entry{Path: "huge", Size: 1 << 40, Chunk: 1 << 24, MTime: 1})
		if d.Accept || d.Code != "no-space" || !strings.Contains(d.Reason, "free space") {
			t.Errorf("decision %+v, want a refusal for lack of space", d)
		}
		if strings.Contains(d.Reason, env.r.Dir()) {
			t.Errorf("the refusal names the receiver's folder: %q", d.Reason)
		}
	})
}

// Frames that break the format.
func TestHostileFrames(t *testing.T) {
	env := newHostileEnv(t)
	one := file("f", 10)
	start := func(h *hostile) {
		h.accepted(one)
		h.plan(wire.Plan{})
	}
	cases := []struct {
		name string
		f    func(h *hostile)
		code quic.ApplicationErrorCode
		want string
	}{
		{"offer-length-4GiB", func(h *hostile) { h.raw([]byte{wire.TypeOffer, 0xff, 0xff, 0xff, 0xff}) }, codeProtocol, "exceeds the limit"},
		{"offer-length-over-cap", func(h *hostile) {
			h.raw(binary.BigEndian.AppendUint32([]byte{wire.TypeOffer}, wire.MaxOfferFrame+1))
		}, codeProtocol, "exceeds the limit"},
		{"unknown-frame-type", func(h *hostile) { h.rawFrame(0x42, []byte("{}")) }, codeProtocol, "unknown control frame type 66"},
		{"done-instead-of-offer", func(h *hostile) { h.frame(wire.TypeDone, wire.DoneFrame{}) }, codeProtocol, "want 1"},
		{"malformed-offer", func(h *hostile) { h.rawFrame(wire.TypeOffer, []byte(`{"v":1,"entries":[{"path":`)) }, codeProtocol, "malformed"},
		{"offer-wrong-types", func(h *hostile) { h.rawFrame(wire.TypeOffer, []byte(`{"v":1,"entries":[{"path":7}]}`)) }, codeProtocol, "malformed"},
		{"offer-version-3", func(h *hostile) { h.frame(wire.TypeOffer, wire.Offer{Version: 3, Entries: []wire.Entry{one}}) }, codeDeclined, "newer version of ferry (transfer protocol 3"},
		{"offer-version-1", func(h *hostile) { h.frame(wire.TypeOffer, wire.Offer{Version: 1, Entries: []wire.Entry{one}}) }, codeDeclined, "older version of ferry (transfer protocol 1"},
		{"offer-no-entries-null", func(h *hostile) { h.rawFrame(wire.TypeOffer, []byte(`null`)) }, codeDeclined, "transfer protocol 0"},
		{"offer-no-entries", func(h *hostile) { h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version}) }, codeProtocol, "an offer of nothing"},
		{"offer-long-session", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Session: strings.Repeat("s", 1000), Entries: []wire.Entry{one}})
		}, codeProtocol, "session"},
		{"offer-long-name", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Name: strings.Repeat("n", 300), Entries: []wire.Entry{one}})
		}, codeProtocol, "sender name"},
		{"offer-entry-key-twice", func(h *hostile) {
			h.rawFrame(wire.TypeOffer, []byte(`{"v":2,"entries":[{"path":"x","size":3,"SIZE":5,"chunk":65536}]}`))
		}, codeProtocol, `gives "size" twice`},
		{"offer-key-twice", func(h *hostile) {
			h.rawFrame(wire.TypeOffer, []byte(`{"v":2,"name":"a","Name":"b","entries":[{"path":"x","size":3,"chunk":65536}]}`))
		}, codeProtocol, `"name" given twice`},
		{"offer-invisible-name", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Name: "\u3164\u3164", Entries: []wire.Entry{one}})
		}, codeProtocol, "no visible character"},
		{"nonce-short", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{one}})
			h.frame(wire.TypeNonce, wire.NonceFrame{Value: []byte("short")})
		}, codeProtocol, "verification nonce of 5 bytes"},
		{"plan-instead-of-nonce", func(h *hostile) {
			h.frame(wire.TypeOffer, wire.Offer{Version: wire.Version, Entries: []wire.Entry{one}})
			h.frame(wire.TypePlan, wire.Plan{})
		}, codeProtocol, "got control frame type 3, want 9"},
		{"error-frame-with-escapes", func(h *hostile) {
			start(h)
			h.frame(wire.TypeError, wire.ErrorFrame{Code: "x", Message: "\x1b[2J\x1b[1Aall good\u202e"})
		}, codeFatal, `peer: \x1b[2J`},
		{"plan-length-over-cap", func(h *hostile) {
			h.accepted(one)
			h.raw(binary.BigEndian.AppendUint32([]byte{wire.TypePlan}, wire.MaxDecisionFrame+1))
		}, codeProtocol, "exceeds the limit"},
		{"file-end-length-over-cap", func(h *hostile) {
			start(h)
			h.raw(binary.BigEndian.AppendUint32([]byte{wire.TypeFileEnd}, wire.MaxSmallFrame+1))
		}, codeProtocol, "exceeds the limit"},
		{"unknown-frame-after-plan", func(h *hostile) {
			start(h)
			h.rawFrame(0xee, nil)
		}, codeProtocol, "unknown control frame type 238"},
		{"offer-after-plan", func(h *hostile) {
			start(h)
			h.frame(wire.TypeOffer, wire.Offer{Version: 1})
		}, codeProtocol, "want 4"},
		{"control-stream-closed", func(h *hostile) {
			start(h)
			h.ctrl.Close()
		}, codeProtocol, "control stream"},
		{"data-stream-wrong-token", func(h *hostile) {
			start(h)
			h.dataStream(randBytes(wire.TokenLen))
		}, codeProtocol, "wrong session token"},
		{"data-stream-without-hello", func(h *hostile) {
			start(h)
			str, _ := h.conn.OpenUniStream()
			h.chunk(str, 0, 0, []byte("0123456789"))
		}, codeProtocol, "data stream starts with frame type 0x11"},
		{"data-stream-short-hello", func(h *hostile) {
			start(h)
			str, _ := h.conn.OpenUniStream()
			str.Write([]byte{wire.TypeStreamHello, 1, 2})
			str.Close()
		}, codeProtocol, "ends inside"},
		{"unknown-data-frame", func(h *hostile) {
			start(h)
			str := h.dataStream(h.dec.Token)
			str.Write([]byte{0x99, 1, 2, 3})
		}, codeProtocol, "unknown data frame type 0x99"},
		{"data-before-plan-then-bad-plan", func(h *hostile) {
			h.accepted(one)
			str := h.dataStream(h.dec.Token)
			h.chunk(str, 0, 0, []byte("0123456789"))
			h.rawFrame(wire.TypePlan, []byte("[]"))
		}, codeProtocol, "malformed frame type 3"},
	}
	for _, tc := range cases {
		env.run(t, tc.name, func(t *testing.T, h *hostile) {
			tc.f(h)
			h.expectClosed(tc.code, tc.want)
		})
	}
}

// Peers that stop talking are cut off by the receiver's timeouts, even
// though their QUIC stacks keep the connection alive.
func TestHostileStalls(t *testing.T) {
	const short = 300 * time.Millisecond
	env := newHostileEnv(t, withTimeouts(short, short, short))
	cases := []struct {
		name string
		f    func(h *hostile)
		code quic.ApplicationErrorCode
		want string
	}{
		{"no-offer", func(h *hostile) {}, codeProtocol, "no offer"},
		{"half-an-offer", func(h *hostile) {
			h.raw([]byte{wire.TypeOffer, 0, 0, 1, 0, '{'})
		}, codeProtocol, "no offer"},
		{"no-plan", func(h *hostile) {
			h.accepted(file("f", 10))
		}, codeFatal, "no plan"},
		{"data-streams-never-send", func(h *hostile) {
			h.accepted(file("f", 10), file("g", 10))
			h.plan(wire.Plan{})
			for range 3 {
				h.dataStream(h.dec.Token)
			}
		}, codeFatal, "nothing arrived"},
		{"silent-after-half-a-chunk", func(h *hostile) {
			h.accepted(file("f", 10))
			h.plan(wire.Plan{})
			str := h.dataStream(h.dec.Token)
			var b [wire.ChunkHeaderLen]byte
			wire.ChunkHeader{Len: 10}.Put(b[:])
			str.Write(append(b[:], "01234"...))
		}, codeFatal, "nothing arrived"},
		{"no-file-end", func(h *hostile) {
			h.accepted(file("f", 10))
			h.plan(wire.Plan{})
			h.chunk(h.dataStream(h.dec.Token), 0, 0, []byte("0123456789"))
		}, codeFatal, "nothing arrived"},
	}
	for _, tc := range cases {
		env.run(t, tc.name, func(t *testing.T, h *hostile) {
			start := time.Now()
			tc.f(h)
			h.expectClosed(tc.code, tc.want)
			if d := time.Since(start); d > 10*short {
				t.Errorf("cut off after %s, the timeout is %s", d, short)
			}
		})
	}
}

// A client without a certificate does not get past the handshake.
func TestNoClientCertificate(t *testing.T) {
	r := startReceiver(t)
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()
	conf := clientTLS(newDevice(t, "anon"), r.cfg.Device.ID)
	conf.Certificates = nil
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := tr.Dial(ctx, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.Port()}, conf, quicConfig())
	if err == nil {
		// TLS 1.3: the client may finish before the server refuses.
		select {
		case <-conn.Context().Done():
		case <-time.After(testTimeout):
			t.Fatal("a client without a certificate kept its connection")
		}
		_, err = conn.AcceptStream(ctx)
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

// Many connections that never speak do not keep an honest sender out for
// longer than the offer timeout.
func TestHostileManyIdleConnections(t *testing.T) {
	env := newHostileEnv(t, withTimeouts(500*time.Millisecond, 0, 0))
	t.Run("idle", func(t *testing.T) {
		before := outside(listing(t, env.r.base), "recv")
		var hs []*hostile
		for range 8 {
			hs = append(hs, dialHostile(t, newDevice(t, "mallory"), env.r))
		}
		for _, h := range hs {
			h.openCtrl()
			h.raw([]byte{wire.TypeOffer}) // the stream exists, the offer never comes
		}
		for _, h := range hs {
			h.expectClosed(codeProtocol, "no offer")
		}
		env.verify(t, before, []byte("keep me"))
	})
}

// A file the plan skips (the receiver has it) takes no data and no end.
func TestHostileSkippedFile(t *testing.T) {
	env := newHostileEnv(t)
	have := []byte("already here")
	p := filepath.Join(env.r.Dir(), "same.txt")
	if err := os.WriteFile(p, have, 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	os.Chtimes(p, mtime, mtime)
	env.expect["same.txt"] = have
	same := wire.Entry{Path: "same.txt", Size: int64(len(have)), Chunk: kc, MTime: mtime.UnixNano()}
	other := file("other", 10) // keeps the session waiting for data

	skipped := func(h *hostile) {
		h.t.Helper()
		h.accepted(same, other)
		if len(h.dec.Have) != 1 || !h.dec.Have[0].Complete || !bytes.Equal(h.dec.Have[0].Hash, fileHashOf(have)) {
			h.t.Fatalf("have %+v, want file 0 complete", h.dec.Have)
		}
		h.plan(wire.Plan{Skip: []int{0}})
	}
	env.run(t, "chunk-for-skipped-file", func(t *testing.T, h *hostile) {
		skipped(h)
		h.chunk(h.dataStream(h.dec.Token), 0, 0, []byte("overwrite me"))
		h.expectClosed(codeProtocol, "which the plan skips")
	})
	env.run(t, "end-of-skipped-file", func(t *testing.T, h *hostile) {
		skipped(h)
		h.fileEnd(0, int64(len(have)), fileHashOf(have))
		h.expectClosed(codeProtocol, "which the plan skips")
	})
	env.run(t, "skip-twice", func(t *testing.T, h *hostile) {
		h.accepted(same, other)
		h.plan(wire.Plan{Skip: []int{0, 0}})
		h.expectClosed(codeProtocol, "plan skips entry 0")
	})
	env.run(t, "skip-then-complete-the-rest", func(t *testing.T, h *hostile) {
		skipped(h)
		h.chunk(h.dataStream(h.dec.Token), 1, 0, []byte("0123456789"))
		h.fileEnd(1, 10, fileHashOf([]byte("0123456789")))
		h.expectDelivered(2)
		env.expect["other"] = []byte("0123456789")
	})
}
