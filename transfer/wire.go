package transfer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ALPN is the TLS application protocol of a transfer connection.
const ALPN = "ferry/2"

// alpnV1 is the protocol of ferry before the verification code was made
// unforgeable. It is still negotiated, only to tell an old peer to update.
const alpnV1 = "ferry/1"

// ProtocolVersion is the version carried in an offer.
const ProtocolVersion = 2

// Control frame types (on the bidirectional control stream).
const (
	frameOffer    byte = 1  // sender → receiver: the manifest
	frameDecision byte = 2  // receiver → sender: accept or decline, and what it already has
	framePlan     byte = 3  // sender → receiver: files whose partial data must be discarded
	frameFileEnd  byte = 4  // sender → receiver: every chunk of a file is on its way; its hash
	frameFileDone byte = 5  // receiver → sender: a file is verified and under its final name
	frameError    byte = 6  // either side: a fatal error, then the connection closes
	frameDone     byte = 7  // receiver → sender: every file is delivered
	frameCommit   byte = 8  // receiver → sender: commitment to its verification nonce
	frameNonce    byte = 9  // sender → receiver: the sender's verification nonce
	frameReveal   byte = 10 // receiver → sender: the receiver's nonce, opening the commitment
)

// Data stream frame types (on unidirectional sender → receiver streams).
const (
	frameStreamHello byte = 0x10 // first frame of a data stream: the session token
	frameChunk       byte = 0x11 // one chunk: header, data, trailing hash
)

// Size caps checked before anything is allocated.
const (
	maxOfferFrame     = 32 << 20
	maxDecisionFrame  = 16 << 20
	maxSmallFrame     = 64 << 10
	maxNonceFrame     = 256
	maxEntries        = 250_000
	maxNameBytes      = 4096
	minChunkSize      = 64 << 10
	maxChunkSize      = 256 << 20
	maxChunksPerFile  = 1 << 17
	maxChunksPerOffer = 1 << 21 // bounds the receiver's per-chunk tables
	tokenLen          = 16
	hashLen           = 32
	chunkHeaderLen    = 1 + 4 + 4 + 4 // type, file, chunk, length
)

// ErrProtocol marks a peer that broke the protocol: malformed, oversized or
// out-of-place frames.
var ErrProtocol = errors.New("protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

func frameCap(t byte) (int, bool) {
	switch t {
	case frameOffer:
		return maxOfferFrame, true
	case frameDecision:
		return maxDecisionFrame, true
	case framePlan:
		return maxDecisionFrame, true
	case frameFileEnd, frameFileDone, frameError, frameDone:
		return maxSmallFrame, true
	case frameCommit, frameNonce, frameReveal:
		return maxNonceFrame, true
	}
	return 0, false
}

// Offer is the sender's manifest.
type Offer struct {
	Version int     `json:"v"`
	Name    string  `json:"name"`    // the sender's display name
	Session string  `json:"session"` // hex digest of the manifest; a retry of the same send has the same one
	Entries []Entry `json:"entries"`
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
func (e *Entry) chunkLen(i int64) int64 {
	return min(e.Chunk, e.Size-i*e.Chunk)
}

// Decision is the receiver's answer to an offer.
type Decision struct {
	Accept bool   `json:"accept"`
	Code   string `json:"code,omitempty"` // declined, not-trusted, busy, no-space, invalid
	Reason string `json:"reason,omitempty"`
	Token  []byte `json:"token,omitempty"` // data streams present it
	Name   string `json:"name,omitempty"`  // the receiver's display name
	Have   []Have `json:"have,omitempty"`  // verified chunks kept from earlier attempts
}

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

// NonceFrame carries a commitment (Commit) or a nonce (Nonce, Reveal) of
// the verification code exchange (see verify.go).
type NonceFrame struct {
	Value []byte `json:"value"`
}

// FileEnd says every chunk of a file has been written to the data streams.
type FileEnd struct {
	File int    `json:"file"`
	Size int64  `json:"size"` // the final size (needed for streamed entries)
	Hash []byte `json:"hash"` // the file hash (see fileHash)
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

// writeFrame writes one control frame: type, 4-byte big-endian length, JSON.
func writeFrame(w io.Writer, t byte, v any) error {
	buf, err := appendFrame(nil, t, v)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// appendFrame appends one encoded control frame to buf, so that several can
// go out in one write.
func appendFrame(buf []byte, t byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return buf, fmt.Errorf("encode frame %d: %w", t, err)
	}
	if c, _ := frameCap(t); len(body) > c {
		return buf, fmt.Errorf("encode frame %d: %d bytes exceeds the limit of %d", t, len(body), c)
	}
	buf = append(buf, t, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(len(body)))
	return append(buf, body...), nil
}

// readFrame reads one control frame and returns its type and body. The length
// is checked against the type's cap before any allocation, and the body is
// read incrementally so a lying length costs the liar the bytes, not us.
func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	c, ok := frameCap(hdr[0])
	if !ok {
		return 0, nil, protoErr("unknown control frame type %d", hdr[0])
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if int64(n) > int64(c) {
		return 0, nil, protoErr("control frame type %d of %d bytes exceeds the limit of %d", hdr[0], n, c)
	}
	body, err := readLimited(r, int(n))
	if err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

func readLimited(r io.Reader, n int) ([]byte, error) {
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

// decodeFrame unmarshals a control frame body of the expected type.
func decodeFrame(t, want byte, body []byte, v any) error {
	if t != want {
		if t == frameError {
			var ef ErrorFrame
			if err := json.Unmarshal(body, &ef); err != nil {
				return protoErr("malformed error frame: %v", err)
			}
			return &PeerError{Code: ef.Code, Message: ef.Message}
		}
		return protoErr("got control frame type %d, want %d", t, want)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return protoErr("malformed frame type %d: %v", t, err)
	}
	return nil
}

// PeerError is an error the peer reported in an error frame.
type PeerError struct {
	Code    string
	Message string
}

func (e *PeerError) Error() string { return "peer: " + peerText(e.Message) }

// chunkHeader precedes a chunk's data on a data stream.
type chunkHeader struct {
	File  uint32
	Chunk uint32
	Len   uint32
}

func (h chunkHeader) put(b []byte) {
	b[0] = frameChunk
	binary.BigEndian.PutUint32(b[1:], h.File)
	binary.BigEndian.PutUint32(b[5:], h.Chunk)
	binary.BigEndian.PutUint32(b[9:], h.Len)
}

// readChunkHeader reads the next chunk header of a data stream. It returns
// io.EOF at a clean end of stream.
func readChunkHeader(r *bufio.Reader) (chunkHeader, error) {
	var b [chunkHeaderLen]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return chunkHeader{}, err // io.EOF: the stream ended between chunks
	}
	if b[0] != frameChunk {
		return chunkHeader{}, protoErr("unknown data frame type %#x", b[0])
	}
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return chunkHeader{}, fmt.Errorf("read chunk header: %w", unexpected(err))
	}
	return chunkHeader{
		File:  binary.BigEndian.Uint32(b[1:]),
		Chunk: binary.BigEndian.Uint32(b[5:]),
		Len:   binary.BigEndian.Uint32(b[9:]),
	}, nil
}

// readStreamHello reads the token that opens a data stream.
func readStreamHello(r io.Reader) ([]byte, error) {
	var b [1 + tokenLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("read data stream hello: %w", unexpected(err))
	}
	if b[0] != frameStreamHello {
		return nil, protoErr("data stream starts with frame type %#x", b[0])
	}
	return b[1:], nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeOffer decodes an offer frame's body of n bytes from r as it
// arrives, entry by entry, and returns it with the digest of its bytes
// (offerDigest). Unlike reading the whole body first, it never holds the
// body and its decoded form at once: a large offer costs about its
// decoded entries. Keys match as encoding/json matches them (exactly, or
// else case-insensitively); unknown keys are skipped; a key given twice,
// or anything after the object, breaks the protocol.
func decodeOffer(r io.Reader, n int64) (Offer, []byte, error) {
	h := sha256.New()
	lr := &io.LimitedReader{R: r, N: n}
	dec := json.NewDecoder(io.TeeReader(lr, h))
	var o Offer
	fail := func(err error) (Offer, []byte, error) {
		switch {
		case errors.Is(err, ErrProtocol):
			return Offer{}, nil, err
		case isSyntax(err):
			return Offer{}, nil, protoErr("malformed frame type %d: %v", frameOffer, err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			if lr.N == 0 {
				return Offer{}, nil, protoErr("malformed frame type %d: the offer ends early", frameOffer)
			}
			return Offer{}, nil, io.ErrUnexpectedEOF // the stream ended early
		}
		return Offer{}, nil, err // reading the stream failed
	}
	tok, err := dec.Token()
	if err != nil {
		return fail(err)
	}
	switch tok {
	case nil: // null: an empty offer, refused later for its version
	case json.Delim('{'):
		seen := make(map[string]bool, 4)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			key, _ := tok.(string)
			field := offerField(key)
			if field != "" {
				if seen[field] {
					return Offer{}, nil, protoErr("offer key %q given twice", field)
				}
				seen[field] = true
			}
			switch field {
			case "v":
				err = dec.Decode(&o.Version)
			case "name":
				err = dec.Decode(&o.Name)
			case "session":
				err = dec.Decode(&o.Session)
			case "entries":
				err = decodeEntries(dec, &o, n)
			default:
				var skip json.RawMessage
				err = dec.Decode(&skip)
			}
			if err != nil {
				return fail(err)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			return fail(err)
		}
	default:
		return Offer{}, nil, protoErr("malformed frame type %d: an offer is a JSON object", frameOffer)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return Offer{}, nil, protoErr("malformed frame type %d: data after the offer", frameOffer)
		}
		return fail(err)
	}
	if lr.N > 0 { // only white space can be left; it is part of the digest
		if _, err := io.Copy(io.Discard, io.TeeReader(lr, h)); err != nil {
			return fail(err)
		}
		if lr.N > 0 {
			return Offer{}, nil, io.ErrUnexpectedEOF
		}
	}
	return o, h.Sum(nil), nil
}

// offerField maps a JSON key to the Offer field it sets, as encoding/json
// would: exactly, else ignoring case.
func offerField(key string) string {
	for _, f := range []string{"v", "name", "session", "entries"} {
		if key == f || strings.EqualFold(key, f) {
			return f
		}
	}
	return ""
}

// decodeEntries decodes the entries array one entry at a time, refusing
// more than maxEntries before decoding them.
func decodeEntries(dec *json.Decoder, o *Offer, n int64) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null
	}
	if tok != json.Delim('[') {
		return protoErr("malformed frame type %d: entries is not an array", frameOffer)
	}
	// The smallest useful entry, {"path":"a","size":0,"chunk":65536,"mtime":0},
	// takes 45 bytes: sized for that, the slice does not grow by doubling.
	o.Entries = make([]Entry, 0, min(n/45+1, maxEntries+1))
	for dec.More() {
		if len(o.Entries) == maxEntries {
			return protoErr("more than %d entries", maxEntries)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := onceEach(raw, "path", "dir", "size", "chunk", "exec", "private", "mtime", "stream"); err != nil {
			return err
		}
		o.Entries = append(o.Entries, Entry{})
		if err := json.Unmarshal(raw, &o.Entries[len(o.Entries)-1]); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing bracket
	return err
}

// onceEach checks that the JSON object raw gives none of fields twice (as
// encoding/json matches keys: exactly, else ignoring case): the question
// and the transfer read the same decoded value, but a name given twice is
// still a lie.
func onceEach(raw []byte, fields ...string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: json.Unmarshal says why
	}
	var seen uint32
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		for i, f := range fields {
			if key == f || strings.EqualFold(key, f) {
				if seen&(1<<i) != 0 {
					return protoErr("an offer entry gives %q twice", f)
				}
				seen |= 1 << i
				break
			}
		}
		if err := skipValue(dec); err != nil {
			return nil
		}
	}
	return nil
}

// skipValue reads past the next JSON value without decoding it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}
