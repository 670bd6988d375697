package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// A fake receiver that completes the real handshake and then answers the
// real sender with lies. Its script runs on a goroutine the test owns, so
// it reports with t.Errorf only.

type fakeSession struct {
	t     testing.TB
	conn  *quic.Conn
	ctrl  *quic.Stream
	br    *bufio.Reader
	offer wire.Offer
	token []byte
}

type fakeReceiver struct {
	dev  *identity.Device
	port int
	done chan struct{} // closed when the script and its session are over
}

// wait waits until the fake's session is over, so the test may look at
// what its script wrote.
func (f *fakeReceiver) wait(t *testing.T) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(testTimeout):
		t.Fatal("the fake receiver's session did not end")
	}
}

// startFake serves the first connection with script; others are refused.
func startFake(t *testing.T, script func(fs *fakeSession)) *fakeReceiver {
	t.Helper()
	dev := newDevice(t, "fake")
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(serverTLS(dev), quicConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		ctrl, err := conn.AcceptStream(ctx)
		if err != nil {
			t.Errorf("fake: no control stream: %v", err)
			return
		}
		fs := &fakeSession{t: t, conn: conn, ctrl: ctrl, br: bufio.NewReader(ctrl), token: randBytes(wire.TokenLen)}
		typ, body, err := wire.ReadFrame(fs.br)
		if err == nil {
			err = wire.DecodeFrame(typ, wire.TypeOffer, body, &fs.offer)
		}
		if err != nil {
			t.Errorf("fake: read offer: %v", err)
			return
		}
		if !fs.verify() {
			return
		}
		script(fs)
		select { // let the sender read what was sent and close
		case <-conn.Context().Done():
		case <-ctx.Done():
		}
	})
	t.Cleanup(func() {
		cancel()
		tr.Close() // unblocks the script's reads
		wg.Wait()
		udp.Close()
	})
	return &fakeReceiver{dev: dev, port: udp.LocalAddr().(*net.UDPAddr).Port, done: done}
}

// verify runs the receiver's side of the verification code exchange, as
// the real receiver does.
func (fs *fakeSession) verify() bool {
	mine := wire.NewNonce()
	if err := wire.WriteFrame(fs.ctrl, wire.TypeCommit, wire.NonceFrame{Value: wire.Commitment(mine)}); err != nil {
		fs.t.Errorf("fake: write commitment: %v", err)
		return false
	}
	var nf wire.NonceFrame
	typ, body, err := wire.ReadFrame(fs.br)
	if err == nil {
		err = wire.DecodeFrame(typ, wire.TypeNonce, body, &nf)
	}
	if err != nil {
		fs.t.Errorf("fake: read nonce: %v", err)
		return false
	}
	if err := wire.WriteFrame(fs.ctrl, wire.TypeReveal, wire.NonceFrame{Value: mine}); err != nil {
		fs.t.Errorf("fake: write reveal: %v", err)
		return false
	}
	return true
}

func (fs *fakeSession) decide(d wire.Decision) {
	if d.Accept && d.Token == nil {
		d.Token = fs.token
	}
	d.Name = "fake"
	if err := wire.WriteFrame(fs.ctrl, wire.TypeDecision, d); err != nil {
		fs.t.Errorf("fake: write decision: %v", err)
	}
}

func (fs *fakeSession) readPlan() (wire.Plan, bool) {
	var p wire.Plan
	typ, body, err := wire.ReadFrame(fs.br)
	if err == nil {
		err = wire.DecodeFrame(typ, wire.TypePlan, body, &p)
	}
	if err != nil {
		fs.t.Errorf("fake: read plan: %v", err)
		return p, false
	}
	return p, true
}

// receive takes the single data stream of a send with Streams 1 into buf
// and checks every chunk against its hash. It returns the chunks received.
func (fs *fakeSession) receive(e wire.Entry, buf []byte) ([]int64, bool) {
	str, err := fs.conn.AcceptUniStream(context.Background())
	if err != nil {
		fs.t.Errorf("fake: accept data stream: %v", err)
		return nil, false
	}
	br := bufio.NewReader(str)
	tok, err := wire.ReadStreamHello(br)
	if err != nil || !bytes.Equal(tok, fs.token) {
		fs.t.Errorf("fake: data stream hello: %v", err)
		return nil, false
	}
	var got []int64
	for {
		h, err := wire.ReadChunkHeader(br)
		if errors.Is(err, io.EOF) {
			return got, true
		}
		if err != nil {
			fs.t.Errorf("fake: chunk header: %v", err)
			return nil, false
		}
		i := int64(h.Chunk)
		if h.File != 0 || i >= e.Chunks() || int64(h.Len) != e.ChunkLen(i) {
			fs.t.Errorf("fake: the sender sent a bad chunk header %+v", h)
			return nil, false
		}
		data := buf[i*e.Chunk : i*e.Chunk+int64(h.Len)]
		var sum [wire.HashLen]byte
		if _, err := io.ReadFull(br, data); err != nil {
			fs.t.Errorf("fake: chunk data: %v", err)
			return nil, false
		}
		if _, err := io.ReadFull(br, sum[:]); err != nil || sum != hashOf(data) {
			fs.t.Errorf("fake: chunk %d: bad hash (%v)", i, err)
			return nil, false
		}
		got = append(got, i)
	}
}

// finish reads the file's end, checks its hash over buf, and reports the
// file delivered and the session done.
func (fs *fakeSession) finish(e wire.Entry, buf []byte) {
	var fe wire.FileEnd
	typ, body, err := wire.ReadFrame(fs.br)
	if err == nil {
		err = wire.DecodeFrame(typ, wire.TypeFileEnd, body, &fe)
	}
	if err != nil {
		fs.t.Errorf("fake: read file end: %v", err)
		return
	}
	var hs [][wire.HashLen]byte
	for i := range e.Chunks() {
		hs = append(hs, hashOf(buf[i*e.Chunk:i*e.Chunk+e.ChunkLen(i)]))
	}
	if sum := wire.FileHash(e.Size, e.Chunk, hs); fe.Size != e.Size || !bytes.Equal(fe.Hash, sum[:]) {
		fs.t.Errorf("fake: file end %+v does not match the data", fe)
	}
	wire.WriteFrame(fs.ctrl, wire.TypeFileDone, wire.FileDone{File: 0, Name: e.Path})
	wire.WriteFrame(fs.ctrl, wire.TypeDone, wire.DoneFrame{Files: 1, Bytes: e.Size})
}

// sendToFake sends paths to the fake receiver.
func sendToFake(t *testing.T, f *fakeReceiver, paths []string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return Send(ctx, SendOptions{
		Device:     newDevice(t, "sender"),
		Addrs:      []string{"127.0.0.1:" + strconv.Itoa(f.port)},
		Expect:     f.dev.ID,
		Paths:      paths,
		Streams:    1,
		ConnectFor: 2 * time.Second,
		RetryFor:   100 * time.Millisecond,
	})
}

func TestHostileReceiver(t *testing.T) {
	src := t.TempDir()
	const size = 3*mib + 5 // four chunks of 1 MiB
	data := writeFile(t, src, "f.bin", size)
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	p := filepath.Join(src, "f.bin")

	chunkHashes := func(idx ...int64) [][wire.HashLen]byte {
		var hs [][wire.HashLen]byte
		for _, i := range idx {
			hs = append(hs, hashOf(data[i*mib:min((i+1)*mib, size)]))
		}
		return hs
	}
	lies := []struct {
		name  string
		paths []string
		have  []wire.Have
		token []byte
		want  string
	}{
		{"range-beyond-end", nil, []wire.Have{{File: 0, Ranges: [][2]int64{{0, 99}}, Digest: randBytes(32)}}, nil, "bad chunk range"},
		{"range-overlap", nil, []wire.Have{{File: 0, Ranges: [][2]int64{{0, 2}, {1, 3}}}}, nil, "bad chunk range"},
		{"range-unsorted", nil, []wire.Have{{File: 0, Ranges: [][2]int64{{2, 3}, {0, 1}}}}, nil, "bad chunk range"},
		{"range-empty", nil, []wire.Have{{File: 0, Ranges: [][2]int64{{1, 1}}}}, nil, "bad chunk range"},
		{"range-negative", nil, []wire.Have{{File: 0, Ranges: [][2]int64{{-1, 1}}}}, nil, "bad chunk range"},
		{"file-out-of-range", nil, []wire.Have{{File: 5, Ranges: [][2]int64{{0, 1}}}}, nil, "entry 5"},
		{"file-negative", nil, []wire.Have{{File: -1, Complete: true, Hash: randBytes(32)}}, nil, "entry -1"},
		{"have-for-folder", []string{filepath.Join(src, "d"), p}, []wire.Have{{File: 0, Ranges: [][2]int64{{0, 1}}}}, nil, "entry 0"},
		{"have-twice", nil, []wire.Have{{File: 0, Ranges: [][2]int64{{0, 1}}}, {File: 0, Ranges: [][2]int64{{1, 2}}}}, nil, "entry 0"},
		{"complete-hash-short", nil, []wire.Have{{File: 0, Complete: true, Hash: []byte{1}}}, nil, "hash of 1 bytes"},
		{"token-short", nil, nil, []byte{1, 2, 3}, "token of 3 bytes"},
	}
	for _, tc := range lies {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, func(fs *fakeSession) {
				fs.decide(wire.Decision{Accept: true, Have: tc.have, Token: tc.token})
			})
			paths := tc.paths
			if paths == nil {
				paths = []string{p}
			}
			_, err := sendToFake(t, f, paths)
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Send: %v, want a protocol violation about %q", err, tc.want)
			}
		})
	}

	t.Run("wrong-digest-restarts-the-file", func(t *testing.T) {
		buf := make([]byte, size)
		copy(buf, bytes.Repeat([]byte{0xee}, 2*mib)) // what the liar "kept"
		f := startFake(t, func(fs *fakeSession) {
			fs.decide(wire.Decision{Accept: true, Have: []wire.Have{{File: 0, Ranges: [][2]int64{{0, 2}}, Digest: randBytes(32)}}})
			plan, ok := fs.readPlan()
			if !ok {
				return
			}
			if !slices.Equal(plan.Restart, []int{0}) {
				t.Errorf("plan %+v, want file 0 restarted", plan)
			}
			e := fs.offer.Entries[0]
			if got, ok := fs.receive(e, buf); !ok || len(got) != 4 {
				t.Errorf("received chunks %v, want all four", got)
			}
			fs.finish(e, buf)
		})
		res, err := sendToFake(t, f, []string{p})
		if err != nil || res.BytesSent != size {
			t.Fatalf("Send: %+v %v, want the whole file sent", res, err)
		}
		f.wait(t)
		if !bytes.Equal(buf, data) {
			t.Error("the receiver's copy is not the source")
		}
	})

	t.Run("right-digest-resumes", func(t *testing.T) {
		buf := make([]byte, size)
		copy(buf, data[:mib])
		copy(buf[2*mib:], data[2*mib:3*mib])
		f := startFake(t, func(fs *fakeSession) {
			fs.decide(wire.Decision{Accept: true, Have: []wire.Have{{File: 0, Ranges: [][2]int64{{0, 1}, {2, 3}},
				Digest: wire.HaveDigest([]int64{0, 2}, chunkHashes(0, 2))}}})
			plan, ok := fs.readPlan()
			if !ok {
				return
			}
			if len(plan.Restart) != 0 || len(plan.Skip) != 0 {
				t.Errorf("plan %+v, want nothing restarted", plan)
			}
			e := fs.offer.Entries[0]
			if got, ok := fs.receive(e, buf); !ok || !slices.Equal(got, []int64{1, 3}) {
				t.Errorf("received chunks %v, want 1 and 3", got)
			}
			fs.finish(e, buf)
		})
		res, err := sendToFake(t, f, []string{p})
		if err != nil || res.BytesSent != mib+5 {
			t.Fatalf("Send: %+v %v, want %d bytes sent", res, err, mib+5)
		}
		f.wait(t)
		if !bytes.Equal(buf, data) {
			t.Error("the receiver's copy is not the source")
		}
	})

	t.Run("complete-with-wrong-hash-is-sent", func(t *testing.T) {
		buf := make([]byte, size)
		f := startFake(t, func(fs *fakeSession) {
			fs.decide(wire.Decision{Accept: true, Have: []wire.Have{{File: 0, Complete: true, Hash: randBytes(32)}}})
			plan, ok := fs.readPlan()
			if !ok {
				return
			}
			if len(plan.Skip) != 0 {
				t.Errorf("plan %+v skips a file whose hash differs", plan)
			}
			e := fs.offer.Entries[0]
			fs.receive(e, buf)
			fs.finish(e, buf)
		})
		res, err := sendToFake(t, f, []string{p})
		f.wait(t)
		if err != nil || res.BytesSent != size || !bytes.Equal(buf, data) {
			t.Fatalf("Send: %+v %v, want the whole file sent intact", res, err)
		}
	})

	t.Run("file-done-out-of-range", func(t *testing.T) {
		f := startFake(t, func(fs *fakeSession) {
			fs.decide(wire.Decision{Accept: true})
			if _, ok := fs.readPlan(); ok {
				wire.WriteFrame(fs.ctrl, wire.TypeFileDone, wire.FileDone{File: 9})
			}
		})
		if _, err := sendToFake(t, f, []string{p}); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Send: %v, want ErrProtocol", err)
		}
	})

	t.Run("decision-oversized", func(t *testing.T) {
		f := startFake(t, func(fs *fakeSession) {
			fs.ctrl.Write([]byte{wire.TypeDecision, 0xff, 0xff, 0xff, 0xff})
		})
		if _, err := sendToFake(t, f, []string{p}); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceeds") {
			t.Fatalf("Send: %v, want ErrProtocol", err)
		}
	})

	t.Run("second-decision", func(t *testing.T) {
		f := startFake(t, func(fs *fakeSession) {
			fs.decide(wire.Decision{Accept: true})
			if _, ok := fs.readPlan(); ok {
				fs.decide(wire.Decision{Accept: true})
			}
		})
		if _, err := sendToFake(t, f, []string{p}); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Send: %v, want ErrProtocol", err)
		}
	})

	// Text from the receiver never reaches the sender's terminal raw.
	evil := "\x1b[2J\x1b]0;pwned\x07\u202eok\xff"
	clean := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("Send succeeded")
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\x1b\x07\u202e") || !strings.Contains(msg, `\x1b[2J`) {
			t.Errorf("error text not escaped: %q", msg)
		}
	}
	t.Run("decline-reason-with-escapes", func(t *testing.T) {
		f := startFake(t, func(fs *fakeSession) {
			fs.decide(wire.Decision{Accept: false, Code: "declined", Reason: evil})
		})
		_, err := sendToFake(t, f, []string{p})
		if !errors.Is(err, ErrDeclined) {
			t.Fatalf("Send: %v, want ErrDeclined", err)
		}
		clean(t, err)
	})
	t.Run("close-reason-with-escapes", func(t *testing.T) {
		f := startFake(t, func(fs *fakeSession) {
			fs.conn.CloseWithError(codeFatal, evil)
		})
		_, err := sendToFake(t, f, []string{p})
		clean(t, err)
	})
	t.Run("error-frame-with-escapes", func(t *testing.T) {
		f := startFake(t, func(fs *fakeSession) {
			wire.WriteFrame(fs.ctrl, wire.TypeError, wire.ErrorFrame{Code: "x", Message: evil})
		})
		_, err := sendToFake(t, f, []string{p})
		var pe *wire.PeerError
		if !errors.As(err, &pe) {
			t.Fatalf("Send: %v, want a PeerError", err)
		}
		clean(t, err)
	})
}
