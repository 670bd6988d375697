package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"unicode/utf8"
)

// A text message travels as an offer of protocol TextVersion whose text
// field describes it (TextRef), followed at once by a Text frame (type
// TypeText) whose body is the text's UTF-8 bytes, not JSON. An offer of
// text lists no entries. A receiver of protocol 2 that predates text
// refuses such an offer for its version ("update ferry on the receiving
// computer") instead of skipping a key it does not know.
const (
	TextVersion      = 3
	TypeText    byte = 11       // sender → receiver, right after a text offer: the text's bytes
	MaxText          = 64 << 10 // bytes of UTF-8
)

// TextRef is an offer's description of the text that follows it: its
// length, checked against the Text frame's before anything is allocated,
// and its SHA-256, so that the offer digest (what the verification code
// and an acceptance cover) covers the text too.
type TextRef struct {
	Size int64  `json:"size"`
	Hash []byte `json:"sha256"`
}

// NewTextRef describes text.
func NewTextRef(text string) *TextRef {
	h := sha256.Sum256([]byte(text))
	return &TextRef{Size: int64(len(text)), Hash: h[:]}
}

// CheckTextRef checks a text offer's description before its text is read.
func CheckTextRef(t *TextRef) error {
	if t.Size <= 0 || t.Size > MaxText {
		return Errorf("a text of %d bytes (1 to %d)", t.Size, MaxText)
	}
	if len(t.Hash) != sha256.Size {
		return Errorf("a text hash of %d bytes", len(t.Hash))
	}
	return nil
}

// AppendText appends the Text frame of text to buf.
func AppendText(buf []byte, text string) []byte {
	buf = append(buf, TypeText, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(len(text)))
	return append(buf, text...)
}

// ReadText reads the Text frame that follows a text offer described by
// ref (checked with CheckTextRef): its length must be ref's, checked
// before anything is allocated, its bytes must hash to ref's hash and be
// valid UTF-8.
func ReadText(r io.Reader, ref *TextRef) (string, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", Unexpected(err)
	}
	if hdr[0] != TypeText {
		return "", Errorf("got control frame type %d after a text offer, want %d (the text)", hdr[0], TypeText)
	}
	n := int64(binary.BigEndian.Uint32(hdr[1:]))
	if n != ref.Size || n > MaxText {
		return "", Errorf("a text of %d bytes, the offer said %d", n, ref.Size)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", Unexpected(err)
	}
	if h := sha256.Sum256(body); !bytes.Equal(h[:], ref.Hash) {
		return "", Errorf("the text does not match the offer's hash")
	}
	if !utf8.Valid(body) {
		return "", Errorf("the text is not valid UTF-8")
	}
	return string(body), nil
}
