package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// ALPNSwarm is the TLS application protocol of a connection between two
// receivers of one swarm: one re-serves verified chunks to the other.
const ALPNSwarm = "ferry-swarm/1"

// Control frames of a swarm (see transfer/doc.go, "Swarm").
const (
	TypeSwarm byte = 12 // sender → receiver: the session's swarm token and the other receivers
	TypeHave  byte = 13 // sender → receiver: a chunk, its hash and a receiver that holds it
	TypeWant  byte = 14 // receiver → sender: send this chunk directly (no peer could)
	TypeGot   byte = 15 // receiver → sender: a chunk fetched from a peer and verified: a holder now
)

// Swarm stream frames (on a bidirectional stream of a swarm connection).
const (
	TypeSwarmHello byte = 0x20 // first frame: the swarm token of the session
	TypeSwarmAsk   byte = 0x21 // one chunk asked for
	TypeSwarmChunk byte = 0x22 // the answer: a status, then the chunk
)

// Limits of a swarm.
const (
	MaxSwarmFrame   = 1 << 20
	MaxSwarmPeers   = 64
	MaxSwarmAddrs   = 8
	MaxSwarmAddrLen = 64
	SwarmAskLen     = 1 + 4 + 4
	SwarmAnswerLen  = 1 + 1 + 4
)

// Statuses of a swarm answer.
const (
	SwarmOK      byte = 0 // the chunk follows
	SwarmMissing byte = 1 // not (yet) verified here: ask again later or elsewhere
	SwarmGone    byte = 2 // verified here but no longer served (its file is closed): ask elsewhere
)

// Swarm tells a receiver the token of its swarm and the other receivers
// it may fetch from (and serve): device IDs as text, addresses
// "host:port". A later Swarm frame replaces the list.
type Swarm struct {
	Token []byte      `json:"token"`
	Peers []SwarmPeer `json:"peers"`
}

// SwarmPeer is another receiver of the swarm.
type SwarmPeer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// Check checks the frame's shape (IDs are parsed by the caller).
func (s *Swarm) Check() error {
	if len(s.Token) != TokenLen {
		return Errorf("swarm token of %d bytes", len(s.Token))
	}
	if len(s.Peers) > MaxSwarmPeers {
		return Errorf("%d swarm peers, at most %d", len(s.Peers), MaxSwarmPeers)
	}
	for _, p := range s.Peers {
		if len(p.Addrs) == 0 || len(p.Addrs) > MaxSwarmAddrs {
			return Errorf("swarm peer with %d addresses", len(p.Addrs))
		}
		for _, a := range p.Addrs {
			if len(a) > MaxSwarmAddrLen {
				return Errorf("swarm peer address of %d bytes", len(a))
			}
		}
	}
	return nil
}

// HaveChunk says that holder (a device ID of the swarm, as text) has
// chunk Chunk of entry File, whose hash is Hash: the receiver may fetch it
// there, and accepts it only if it matches Hash.
type HaveChunk struct {
	File   int    `json:"file"`
	Chunk  int64  `json:"chunk"`
	Hash   []byte `json:"hash"`
	Holder string `json:"holder"`
	// Holders is how many connected receivers the sender knows to hold
	// the chunk (0 from an older sender: read as 1). Receivers fetch the
	// rarest first.
	Holders int `json:"holders,omitempty"`
}

// WantChunk asks the sender for a chunk directly (Want), or tells it a
// chunk was fetched from a peer (Got).
type WantChunk struct {
	File  int   `json:"file"`
	Chunk int64 `json:"chunk"`
	// Alt (Want only): the endgame; name another holder of the chunk if
	// there is one, never send the chunk itself.
	Alt bool `json:"alt,omitempty"`
}

func swarmFrameCap(t byte) (int, bool) {
	switch t {
	case TypeSwarm:
		return MaxSwarmFrame, true
	case TypeHave, TypeWant, TypeGot:
		return MaxSmallFrame, true
	}
	return 0, false
}

// AppendSwarmHello appends the hello that opens a swarm stream.
func AppendSwarmHello(b, token []byte) []byte {
	return append(append(b, TypeSwarmHello), token...)
}

// ReadSwarmHello reads the hello that opens a swarm stream and returns
// its token.
func ReadSwarmHello(r io.Reader) ([]byte, error) {
	var b [1 + TokenLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("read swarm hello: %w", Unexpected(err))
	}
	if b[0] != TypeSwarmHello {
		return nil, Errorf("swarm stream starts with frame type %#x", b[0])
	}
	return b[1:], nil
}

// AppendSwarmAsk appends a request for a chunk.
func AppendSwarmAsk(b []byte, file, chunk uint32) []byte {
	b = append(b, TypeSwarmAsk)
	b = binary.BigEndian.AppendUint32(b, file)
	return binary.BigEndian.AppendUint32(b, chunk)
}

// ReadSwarmAsk reads a request for a chunk; io.EOF when the stream ended
// between requests.
func ReadSwarmAsk(r *bufio.Reader) (file, chunk uint32, err error) {
	var b [SwarmAskLen]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return 0, 0, err
	}
	if b[0] != TypeSwarmAsk {
		return 0, 0, Errorf("unknown swarm frame type %#x", b[0])
	}
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return 0, 0, fmt.Errorf("read swarm request: %w", Unexpected(err))
	}
	return binary.BigEndian.Uint32(b[1:]), binary.BigEndian.Uint32(b[5:]), nil
}

// AppendSwarmAnswer appends an answer's header: status and length of the
// chunk that follows (0 unless SwarmOK).
func AppendSwarmAnswer(b []byte, status byte, n uint32) []byte {
	b = append(b, TypeSwarmChunk, status)
	return binary.BigEndian.AppendUint32(b, n)
}

// ReadSwarmAnswer reads an answer's header. The length of an SwarmOK
// answer must be want (the asker knows the chunk's length from its offer);
// it is checked here, before anything is read into a buffer.
func ReadSwarmAnswer(r io.Reader, want uint32) (status byte, err error) {
	var b [SwarmAnswerLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("read swarm answer: %w", Unexpected(err))
	}
	if b[0] != TypeSwarmChunk {
		return 0, Errorf("swarm answer of frame type %#x", b[0])
	}
	n := binary.BigEndian.Uint32(b[2:])
	switch b[1] {
	case SwarmOK:
		if n != want {
			return 0, Errorf("swarm answer of %d bytes for a chunk of %d", n, want)
		}
	case SwarmMissing, SwarmGone:
		if n != 0 {
			return 0, Errorf("swarm answer %d with %d bytes", b[1], n)
		}
	default:
		return 0, Errorf("swarm answer status %d", b[1])
	}
	return b[1], nil
}
