package webauth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/zeebo/blake3"
)

// Header is the request header that carries "<nonce>.<mac>".
const Header = "X-Ferry-Auth"

// ChunkHashHeader carries the lower-case hex BLAKE3-256 of a PATCH body.
const ChunkHashHeader = "X-Ferry-Chunk-Hash"

// QueryParam is the query parameter that carries "<nonce>.<mac>" where a
// header cannot be set; it must be the query's last parameter.
const QueryParam = "auth"

const (
	nonceHexLen = 32
	macHexLen   = 64
)

// MAC returns the lower-case hex MAC of one request under key:
// keyed-BLAKE3-256(key, "ferry-web/1\x00" ‖ method ‖ "\x00" ‖ target ‖ "\x00" ‖ nonce ‖ "\x00" ‖ bodyBind).
func MAC(key [32]byte, method, target, nonce string, bodyBind []byte) string {
	h, err := blake3.NewKeyed(key[:])
	if err != nil { // only for a key that is not 32 bytes
		panic("webauth: " + err.Error())
	}
	_, _ = h.WriteString(macContext)
	_, _ = h.WriteString(method)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(target)
	_, _ = h.Write([]byte{0})
	_, _ = h.WriteString(nonce)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(bodyBind)
	return hex.EncodeToString(h.Sum(nil))
}

// PatchBind is BODYBIND for a tus PATCH: offset ‖ "\x00" ‖ chunkHash.
func PatchBind(offset, chunkHash string) []byte {
	return []byte(offset + "\x00" + chunkHash)
}

// BodyHash is the lower-case hex BLAKE3-256 of body: a JSON POST's BODYBIND
// and the X-Ferry-Chunk-Hash of a PATCH body.
func BodyHash(body []byte) string {
	sum := blake3.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// NewNonce draws 16 random bytes as 32 lower-case hex characters.
func NewNonce() string {
	var b [nonceHexLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// Sign returns a fresh "<nonce>.<mac>" for one request under the secret.
func (s *Secret) Sign(method, target string, bodyBind []byte) string {
	nonce := NewNonce()
	return nonce + "." + MAC(s.key, method, target, nonce, bodyBind)
}

// SignURL returns target with a fresh auth parameter appended as the last
// query parameter (for GET links that cannot carry a header).
func (s *Secret) SignURL(method, target string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + QueryParam + "=" + s.Sign(method, target, nil)
}

// SignRequest sets X-Ferry-Auth on r, whose body (if any) is body. BODYBIND
// is derived as the server derives it: from Upload-Offset and
// X-Ferry-Chunk-Hash for a PATCH (the chunk hash header is set from body if
// it is missing), from body for a JSON POST.
func (s *Secret) SignRequest(r *http.Request, body []byte) {
	if r.Method == http.MethodPatch && r.Header.Get(ChunkHashHeader) == "" {
		r.Header.Set(ChunkHashHeader, BodyHash(body))
	}
	bind, _ := requestBind(r, body)
	r.Header.Set(Header, s.Sign(r.Method, r.URL.RequestURI(), bind))
}

// requestBind is the BODYBIND of r, whose body is body; needBody says
// whether the body takes part (a JSON POST).
func requestBind(r *http.Request, body []byte) (bind []byte, needBody bool) {
	switch {
	case r.Method == http.MethodPatch:
		return PatchBind(r.Header.Get("Upload-Offset"), r.Header.Get(ChunkHashHeader)), false
	case isJSONPost(r):
		return []byte(BodyHash(body)), true
	}
	return nil, false
}

func isJSONPost(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

// Errors Check returns; the middleware maps them to status codes.
var (
	ErrMissing     = errors.New("webauth: no MAC on the request")
	ErrMalformed   = errors.New("webauth: malformed MAC")
	ErrBadMAC      = errors.New("webauth: wrong MAC")
	ErrReplay      = errors.New("webauth: nonce used before")
	ErrRateLimited = errors.New("webauth: too many bad MACs from this address")
	ErrHost        = errors.New("webauth: Host header is not this server")
)

// ParseAuth splits "<nonce>.<mac>" and checks both halves' form.
func ParseAuth(v string) (nonce, mac string, err error) {
	nonce, mac, ok := strings.Cut(v, ".")
	if !ok || len(nonce) != nonceHexLen || len(mac) != macHexLen || !lowerHex(nonce) || !lowerHex(mac) {
		return "", "", ErrMalformed
	}
	return nonce, mac, nil
}

// SplitTarget takes a raw request-target and returns it without the auth
// parameter, and the parameter's value ("" when there is none). An auth
// parameter anywhere but last, or more than one, is ErrMalformed.
func SplitTarget(target string) (rest, auth string, err error) {
	path, query, hasQuery := strings.Cut(target, "?")
	if !hasQuery {
		return target, "", nil
	}
	params := strings.Split(query, "&")
	last := params[len(params)-1]
	for _, p := range params[:len(params)-1] {
		if isAuthParam(p) {
			return "", "", ErrMalformed
		}
	}
	if !isAuthParam(last) {
		return target, "", nil
	}
	if last == QueryParam || last == QueryParam+"=" {
		return "", "", ErrMalformed
	}
	auth = last[len(QueryParam)+1:]
	if len(params) == 1 {
		return path, auth, nil
	}
	return path + "?" + strings.Join(params[:len(params)-1], "&"), auth, nil
}

func isAuthParam(p string) bool {
	return strings.HasPrefix(p, QueryParam+"=") || p == QueryParam
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
