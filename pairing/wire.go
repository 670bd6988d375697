package pairing

import (
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/pairing/cpace"
)

// Protocol constants; see the package documentation.
const (
	// ALPN is the TLS application protocol of a pairing connection.
	ALPN = "ferry-pair/1"
	// ProtocolVersion is the "proto" field of the associated data.
	ProtocolVersion = 1

	ciLabel        = "ferry/pair/v1"
	exporterLabel  = "EXPORTER-ferry-pair-v1"
	sidSize        = 32
	maxPayload     = 1024 // cap of a MSGa/MSGb frame payload
	maxADSize      = 512
	maxNameBytes   = 64
	frameHeaderLen = 3
)

type frameType uint8

const (
	frameStart frameType = 0x01 // A→B: lv_cat(mode, Ya, ADa)
	frameReply frameType = 0x02 // B→A: MSGb = lv_cat(Yb, ADb)
	frameTa    frameType = 0x03 // A→B: Ta
	frameTb    frameType = 0x04 // B→A: Tb
)

func (t frameType) String() string {
	switch t {
	case frameStart:
		return "start"
	case frameReply:
		return "reply"
	case frameTa:
		return "Ta"
	case frameTb:
		return "Tb"
	}
	return fmt.Sprintf("frame(0x%02x)", uint8(t))
}

// payloadCap returns the largest payload allowed for t, and whether the
// payload must be exactly that size.
func payloadCap(t frameType) (n int, exact bool) {
	switch t {
	case frameStart, frameReply:
		return maxPayload, false
	case frameTa, frameTb:
		return cpace.TagSize, true
	}
	return 0, false
}

// writeFrame writes type, big-endian uint16 length and payload in one write.
func writeFrame(w io.Writer, t frameType, payload []byte) error {
	if n, exact := payloadCap(t); len(payload) > n || exact && len(payload) != n {
		return fmt.Errorf("write %v frame: %d bytes is over the cap", t, len(payload))
	}
	buf := make([]byte, frameHeaderLen, frameHeaderLen+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint16(buf[1:], uint16(len(payload)))
	if _, err := w.Write(append(buf, payload...)); err != nil {
		return fmt.Errorf("write %v frame: %w", t, err)
	}
	return nil
}

// readFrame reads one frame, which must be of type want. The length is
// checked against the type's cap before anything is allocated.
func readFrame(r io.Reader, want frameType) ([]byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read %v frame: %w", want, err)
	}
	if got := frameType(hdr[0]); got != want {
		return nil, fmt.Errorf("%w: got a %v frame, want %v", ErrProtocol, got, want)
	}
	n := int(binary.BigEndian.Uint16(hdr[1:]))
	limit, exact := payloadCap(want)
	if n > limit || exact && n != limit {
		return nil, fmt.Errorf("%w: %v frame of %d bytes (cap %d)", ErrProtocol, want, n, limit)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("read %v frame: %w", want, err)
	}
	return payload, nil
}

// encodeStart builds the start payload: lv_cat(mode, Ya, ADa), which is
// prepend_len(mode) || MSGa.
func encodeStart(mode Mode, msgA []byte) []byte {
	return append(cpace.AppendLV(nil, []byte(mode)), msgA...)
}

// decodeStart splits a start payload into the mode and MSGa.
func decodeStart(payload []byte) (Mode, []byte, error) {
	f, err := cpace.SplitLV(payload, 3)
	if err != nil {
		return "", nil, fmt.Errorf("%w: start frame: %w", ErrProtocol, err)
	}
	mode := Mode(f[0])
	if mode != ModePIN && mode != ModeQR {
		return "", nil, fmt.Errorf("%w: unknown mode %q", ErrProtocol, f[0])
	}
	if len(f[1]) != cpace.PointSize {
		return "", nil, fmt.Errorf("%w: start frame: Y has %d bytes", ErrProtocol, len(f[1]))
	}
	return mode, payload[len(cpace.AppendLV(nil, f[0])):], nil
}

// channelID is CI = lv_cat("ferry/pair/v1", mode, "A", fpA, "B", fpB).
func channelID(mode Mode, fpA, fpB identity.DeviceID) []byte {
	return cpace.LVCat([]byte(ciLabel), []byte(mode), []byte("A"), fpA[:], []byte("B"), fpB[:])
}

// sessionID is the TLS exporter value both ends of one TLS session share.
func sessionID(cs tls.ConnectionState) ([]byte, error) {
	sid, err := cs.ExportKeyingMaterial(exporterLabel, nil, sidSize)
	if err != nil {
		return nil, fmt.Errorf("derive session id: %w", err)
	}
	return sid, nil
}

// assocData is the associated data each side sends with its CPace message.
type assocData struct {
	Name  string `json:"name"`
	Proto int    `json:"proto"`
}

func encodeAD(name string) []byte {
	b, err := json.Marshal(assocData{Name: name, Proto: ProtocolVersion})
	if err != nil {
		panic(err) // a struct of a string and an int always encodes
	}
	return b
}

// decodeAD parses and checks the peer's associated data. Unknown fields are
// ignored so later versions may add some; proto must be 1.
func decodeAD(b []byte) (assocData, error) {
	if len(b) > maxADSize {
		return assocData{}, fmt.Errorf("%w: associated data of %d bytes", ErrProtocol, len(b))
	}
	var ad assocData
	if err := json.Unmarshal(b, &ad); err != nil {
		return assocData{}, fmt.Errorf("%w: associated data: %w", ErrProtocol, err)
	}
	if ad.Proto != ProtocolVersion {
		return assocData{}, fmt.Errorf("%w: protocol version %d, want %d", ErrProtocol, ad.Proto, ProtocolVersion)
	}
	if err := checkName(ad.Name); err != nil {
		return assocData{}, fmt.Errorf("%w: peer name: %w", ErrProtocol, err)
	}
	return ad, nil
}

var errBadName = errors.New("invalid device name")

// checkName accepts a device name that is safe to show on a terminal and
// store: valid UTF-8, 1 to 64 bytes, no control, bidirectional-override or
// line-separator characters, and no space at either end.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", errBadName)
	case len(name) > maxNameBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", errBadName, len(name), maxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", errBadName)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: space at either end", errBadName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
			return fmt.Errorf("%w: character %U", errBadName, r)
		}
	}
	return nil
}
