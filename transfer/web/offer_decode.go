package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// offerRequest is the body of POST /api/v1/offer.
type offerRequest struct {
	Client string      `json:"client"` // 32 lower-case hex: the browser's own random id
	Files  []offerFile `json:"files"`
}

type offerFile struct {
	Path  string `json:"path"`  // relative, "/"-separated
	Size  int64  `json:"size"`  // bytes
	MTime int64  `json:"mtime"` // Unix milliseconds (File.lastModified)
}

// maxMTime bounds mtime so that it fits in nanoseconds (year 2262).
const maxMTime = 9_000_000_000_000

var errBadOffer = errors.New("bad offer")

// decodeOffer reads and checks an offer body (everything but the paths'
// safety, which store.Check decides).
func decodeOffer(body []byte) (offerRequest, error) {
	var req offerRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: %v", errBadOffer, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fmt.Errorf("%w: data after the JSON object", errBadOffer)
	}
	if len(req.Client) != 32 || strings.Trim(req.Client, "0123456789abcdef") != "" {
		return req, fmt.Errorf("%w: client is not 32 lower-case hex digits", errBadOffer)
	}
	if len(req.Files) == 0 {
		return req, fmt.Errorf("%w: no files", errBadOffer)
	}
	if len(req.Files) > MaxFiles {
		return req, fmt.Errorf("%w: %d files; at most %d in one offer", errBadOffer, len(req.Files), MaxFiles)
	}
	var total int64
	for i, f := range req.Files {
		switch {
		case f.Path == "":
			return req, fmt.Errorf("%w: file %d has no name", errBadOffer, i)
		case f.Size < 0:
			return req, fmt.Errorf("%w: file %d has size %d", errBadOffer, i, f.Size)
		case f.MTime < 0 || f.MTime > maxMTime:
			return req, fmt.Errorf("%w: file %d has time %d", errBadOffer, i, f.MTime)
		}
		if total += f.Size; total < 0 {
			return req, fmt.Errorf("%w: total size overflows", errBadOffer)
		}
	}
	return req, nil
}

// entries turns an offer into store entries: the files in order, then
// every folder above them (store.Check bounds the folders by the entries).
// fileEntry[i] is the entry index of file i.
func (req offerRequest) entries(chunk int64) (es []wire.Entry, fileEntry []int) {
	seen := make(map[string]bool)
	var dirs []wire.Entry
	for _, f := range req.Files {
		es = append(es, wire.Entry{Path: f.Path, Size: f.Size, Chunk: chunk, MTime: f.MTime * 1e6})
		fileEntry = append(fileEntry, len(es)-1)
		for d := path.Dir(f.Path); d != "." && d != "/" && d != "" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			dirs = append(dirs, wire.Entry{Path: d, Dir: true})
		}
	}
	return append(es, dirs...), fileEntry
}

// browserID is the device ID a browser is known by: its partial files are
// its own, so the same browser (the same client id in its local storage)
// resumes them and no other does.
func browserID(client string) identity.DeviceID {
	return identity.DeviceID(blake3.Sum256([]byte("ferry-web/1 browser\x00" + client)))
}

// webCode is the verification code both screens show for an offer:
// keyed-BLAKE3-256(K, "ferry-web/1 code\x00" ‖ bodyHash) read as a
// big-endian u64 of its first 8 bytes, mod 10^6, as "123-456".
// bodyHash is the offer body's lower-case hex BLAKE3-256 (its BODYBIND).
func webCode(key [32]byte, bodyHash string) string {
	h, _ := blake3.NewKeyed(key[:])
	h.WriteString("ferry-web/1 code\x00" + bodyHash)
	sum := h.Sum(nil)
	var v uint64
	for _, b := range sum[:8] {
		v = v<<8 | uint64(b)
	}
	v %= 1_000_000
	return fmt.Sprintf("%03d-%03d", v/1000, v%1000)
}
