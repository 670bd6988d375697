package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// FuzzSwarmStream reads what a peer sends on a swarm stream: a hello and
// requests. A request is refused only for its type or a short read, and
// what is read is what was sent.
func FuzzSwarmStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		tok, err := ReadSwarmHello(br)
		if err != nil {
			if len(data) >= 1+TokenLen && data[0] == TypeSwarmHello {
				t.Fatalf("a well-formed hello was refused: %v", err)
			}
			return
		}
		if !bytes.Equal(tok, data[1:1+TokenLen]) {
			t.Fatal("the token is not what was sent")
		}
		rest := data[1+TokenLen:]
		for len(rest) > 0 {
			file, chunk, err := ReadSwarmAsk(br)
			if err != nil {
				if rest[0] == TypeSwarmAsk && len(rest) >= SwarmAskLen {
					t.Fatalf("a well-formed request was refused: %v", err)
				}
				return
			}
			if file != binary.BigEndian.Uint32(rest[1:]) || chunk != binary.BigEndian.Uint32(rest[5:]) {
				t.Fatal("the request is not what was sent")
			}
			rest = rest[SwarmAskLen:]
		}
	})
}

// FuzzSwarmAnswer reads an answer's header for a chunk of a length the
// fuzzer picks: a length other than that one (or 0 for a miss) is refused.
func FuzzSwarmAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, want uint32, data []byte) {
		status, err := ReadSwarmAnswer(bytes.NewReader(data), want)
		if err != nil {
			return
		}
		n := binary.BigEndian.Uint32(data[2:])
		switch {
		case data[0] != TypeSwarmChunk:
			t.Fatal("a frame of another type was read as an answer")
		case status == SwarmOK && n != want, status != SwarmOK && n != 0:
			t.Fatalf("status %d with %d bytes for a chunk of %d accepted", status, n, want)
		case status != SwarmOK && status != SwarmMissing && status != SwarmGone:
			t.Fatalf("status %d accepted", status)
		}
	})
}

// FuzzSwarmFrames decodes the swarm's control frames: Check refuses every
// Swarm frame out of shape, and decoding never panics.
func FuzzSwarmFrames(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var s Swarm
		if DecodeFrame(TypeSwarm, TypeSwarm, body, &s) == nil && s.Check() == nil {
			if len(s.Token) != TokenLen || len(s.Peers) > MaxSwarmPeers {
				t.Fatalf("Check passed %d-byte token, %d peers", len(s.Token), len(s.Peers))
			}
			for _, p := range s.Peers {
				if len(p.Addrs) == 0 || len(p.Addrs) > MaxSwarmAddrs {
					t.Fatalf("Check passed a peer with %d addresses", len(p.Addrs))
				}
			}
		}
		var h HaveChunk
		DecodeFrame(TypeHave, TypeHave, body, &h)
		var w WantChunk
		DecodeFrame(TypeWant, TypeWant, body, &w)
		var anyv any
		_ = json.Unmarshal(body, &anyv)
	})
}
