package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ALPN is the TLS application protocol of a transfer connection.
const ALPN = "ferry/2"

// alpnV1 is the protocol of ferry before the verification code was made
// unforgeable. It is still negotiated, only to tell an old peer to update.
const ALPNv1 = "ferry/1"

// ProtocolVersion is the version carried in an offer.
const Version = 2

// Control frame types (on the bidirectional control stream).
const (
	TypeOffer    byte = 1  // sender → receiver: the manifest
	TypeDecision byte = 2  // receiver → sender: accept or decline, and what it already has
	TypePlan     byte = 3  // sender → receiver: files whose partial data must be discarded
	TypeFileEnd  byte = 4  // sender → receiver: every chunk of a file is on its way; its hash
	TypeFileDone byte = 5  // receiver → sender: a file is verified and under its final name
	TypeError    byte = 6  // either side: a fatal error, then the connection closes
	TypeDone     byte = 7  // receiver → sender: every file is delivered
	TypeCommit   byte = 8  // receiver → sender: Commitment to its verification nonce
	TypeNonce    byte = 9  // sender → receiver: the sender's verification nonce
	TypeReveal   byte = 10 // receiver → sender: the receiver's nonce, opening the Commitment
)

// Data stream frame types (on unidirectional sender → receiver streams).
const (
	TypeStreamHello byte = 0x10 // first frame of a data stream: the session token
	TypeChunk       byte = 0x11 // one chunk: header, data, trailing hash
)

// Size caps checked before anything is allocated.
const (
	MaxOfferFrame     = 32 << 20
	MaxDecisionFrame  = 16 << 20
	MaxSmallFrame     = 64 << 10
	MaxNonceFrame     = 256
	MaxEntries        = 250_000
	MaxNameBytes      = 4096
	MinChunkSize      = 64 << 10
	MaxChunkSize      = 256 << 20
	MaxChunksPerFile  = 1 << 17
	MaxChunksPerOffer = 1 << 21 // bounds the receiver's per-chunk tables
	TokenLen          = 16
	HashLen           = 32
	ChunkHeaderLen    = 1 + 4 + 4 + 4 // type, file, chunk, length
)

// ErrProtocol marks a peer that broke the protocol: malformed, oversized or
// out-of-place frames.
var ErrProtocol = errors.New("protocol violation")

func Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

func FrameCap(t byte) (int, bool) {
	switch t {
	case TypeOffer:
		return MaxOfferFrame, true
	case TypeDecision:
		return MaxDecisionFrame, true
	case TypePlan:
		return MaxDecisionFrame, true
	case TypeFileEnd, TypeFileDone, TypeError, TypeDone:
		return MaxSmallFrame, true
	case TypeCommit, TypeNonce, TypeReveal:
		return MaxNonceFrame, true
	}
	return swarmFrameCap(t)
}

// Offer is the sender's manifest.
type Offer struct {
	Version int     `json:"v"`
	Name    string  `json:"name"`              // the sender's display name
	Session string  `json:"session"`           // hex digest of the manifest; a retry of the same send has the same one
	Entries []Entry `json:"entries,omitempty"` // none in a text offer
	// Text, in an offer of protocol TextVersion (and only there), says a
	// Text frame follows: a text message instead of files (message.go).
	Text *TextRef `json:"text,omitempty"`
	// Swarm: the sender sends to several receivers and can have them
	// fetch chunks from one another (see Decision.Swarm).
	Swarm bool `json:"swarm,omitempty"`
}

// Entry is one file or folder of an offer. Path is relative, "/"-separated, NFC.
type Entry struct {
	Path  string `json:"path"`
	Dir   bool   `json:"dir,omitempty"`
	Size  int64  `json:"size"`            // -1: unknown until the end (standard input)
	Chunk int64  `json:"chunk,omitempty"` // chunk size for files, a power of two
	Exec  bool   `json:"exec,omitempty"`
	// Private: the source grants nothing to group or others (mode&077 == 0);
	// the receiver keeps the copy owner-only too.
	Private bool  `json:"private,omitempty"`
	MTime   int64 `json:"mtime"` // Unix nanoseconds
	Stream  bool  `json:"stream,omitempty"`
}

// Chunks returns the number of chunks of a file of known size.
func (e *Entry) Chunks() int64 {
	if e.Dir || e.Size <= 0 {
		return 0
	}
	return (e.Size + e.Chunk - 1) / e.Chunk
}

// chunkLen returns the length of chunk i of a file of known size.
func (e *Entry) ChunkLen(i int64) int64 {
	return min(e.Chunk, e.Size-i*e.Chunk)
}

// Decision is the receiver's answer to an offer.
type Decision struct {
	Accept bool    `json:"accept"`
	Code   Decline `json:"code,omitempty"` // why an offer was refused
	Reason string  `json:"reason,omitempty"`
	Token  []byte  `json:"token,omitempty"` // data streams present it
	Name   string  `json:"name,omitempty"`  // the receiver's display name
	Have   []Have  `json:"have,omitempty"`  // verified chunks kept from earlier attempts
	// Swarm: the receiver takes part in the sender's swarm (only in answer
	// to an offer with Swarm): it takes Swarm, Have frames and fetches
	// chunks from the other receivers.
	Swarm bool `json:"swarm,omitempty"`
}

// Decline says why a receiver refused an offer; a sender acts on it.
type Decline string

// The decline codes.
const (
	DeclineNo         Decline = "declined"    // the user or the policy said no
	DeclineNotTrusted Decline = "not-trusted" // only paired devices are accepted
	DeclineBusy       Decline = "busy"        // no room now: try again later
	DeclineNoSpace    Decline = "no-space"    // not enough free space for the offer
	DeclineVersion    Decline = "version"     // the two sides speak different protocol versions
)

// Have lists the verified chunks of one file that the receiver kept, as
// half-open ranges of chunk indexes, and a digest of their hashes so the
// sender can check them against its source without moving the data.
//
// Complete instead says the receiving folder already holds a file under the
// entry's final name with the same size and modification time, whose file
// hash is Hash: if the source hashes the same, the sender skips it.
type Have struct {
	File     int        `json:"file"`
	Ranges   [][2]int64 `json:"ranges,omitempty"`
	Digest   []byte     `json:"digest,omitempty"`
	Complete bool       `json:"complete,omitempty"`
	Hash     []byte     `json:"hash,omitempty"`
}

// Plan tells the receiver which partial files to discard before data flows:
// their kept chunks do not match the source any more.
type Plan struct {
	Restart []int `json:"restart,omitempty"`
	Skip    []int `json:"skip,omitempty"` // files the receiver already has, complete
}

// NonceFrame carries a Commitment (Commit) or a nonce (Nonce, Reveal) of
// the verification code exchange (see verify.go).
type NonceFrame struct {
	Value []byte `json:"value"`
}

// FileEnd says every chunk of a file has been written to the data streams.
type FileEnd struct {
	File int    `json:"file"`
	Size int64  `json:"size"` // the final size (needed for streamed entries)
	Hash []byte `json:"hash"` // the file hash (see FileHash)
}

// FileDone reports a file verified and renamed to its final name.
type FileDone struct {
	File int    `json:"file"`
	Name string `json:"name"` // the final path relative to the receiving folder
}

// ErrorFrame carries a fatal error to the peer.
type ErrorFrame struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DoneFrame ends a session that delivered every file.
type DoneFrame struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// WriteFrame writes one control frame: type, 4-byte big-endian length, JSON.
func WriteFrame(w io.Writer, t byte, v any) error {
	buf, err := AppendFrame(nil, t, v)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// AppendFrame appends one encoded control frame to buf, so that several can
// go out in one write.
func AppendFrame(buf []byte, t byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return buf, fmt.Errorf("encode frame %d: %w", t, err)
	}
	if c, _ := FrameCap(t); len(body) > c {
		return buf, fmt.Errorf("encode frame %d: %d bytes exceeds the limit of %d", t, len(body), c)
	}
	buf = append(buf, t, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(len(body)))
	return append(buf, body...), nil
}

// ReadFrame reads one control frame and returns its type and body. The length
// is checked against the type's cap before any allocation, and the body is
// read incrementally so a lying length costs the liar the bytes, not us.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	c, ok := FrameCap(hdr[0])
	if !ok {
		return 0, nil, Errorf("unknown control frame type %d", hdr[0])
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if int64(n) > int64(c) {
		return 0, nil, Errorf("control frame type %d of %d bytes exceeds the limit of %d", hdr[0], n, c)
	}
	body, err := ReadLimited(r, int(n))
	if err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

func ReadLimited(r io.Reader, n int) ([]byte, error) {
	const step = 64 << 10
	body := make([]byte, 0, min(n, step))
	for len(body) < n {
		k := min(n-len(body), step)
		start := len(body)
		body = append(body, make([]byte, k)...)
		if _, err := io.ReadFull(r, body[start:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return body, nil
}

// DecodeFrame unmarshals a control frame body of the expected type.
func DecodeFrame(t, want byte, body []byte, v any) error {
	if t != want {
		if t == TypeError {
			var ef ErrorFrame
			if err := json.Unmarshal(body, &ef); err != nil {
				return Errorf("malformed error frame: %v", err)
			}
			return &PeerError{Code: ef.Code, Message: ef.Message}
		}
		return Errorf("got control frame type %d, want %d", t, want)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return Errorf("malformed frame type %d: %v", t, err)
	}
	return nil
}

// PeerError is an error the peer reported in an error frame.
type PeerError struct {
	Code    string
	Message string
}

func (e *PeerError) Error() string { return "peer: " + PeerText(e.Message) }

func Unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
