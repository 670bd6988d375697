package webauth

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Limits of the verifier.
const (
	// NonceMemory is how many accepted nonces are remembered for replay checks.
	NonceMemory = 65536
	// BadPerMinute is how many bad MACs from one address in a minute make
	// every later request from it get 429 for the rest of that minute.
	BadPerMinute = 20
	// MaxJSONBody caps the body of a JSON POST the middleware reads to
	// compute its BODYBIND.
	MaxJSONBody = 16 << 20
	// maxAddrs bounds the per-address failure table; addresses past it
	// share one bucket.
	maxAddrs = 4096
)

// Options configures a Verifier.
type Options struct {
	// Hosts are the Host header values the server answers to: its own
	// "ADDR:PORT" (IPv6 as "[ADDR]:PORT"). Empty means the Host check is
	// off (only for tests that set hosts later with SetHosts).
	Hosts []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives one line per refused request; slog.Default when nil.
	Log *slog.Logger
}

// Verifier checks requests against one Secret. It is safe for concurrent use.
type Verifier struct {
	key [32]byte
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex // guards everything below; no I/O is done under it
	hosts  map[string]bool
	seen   map[string]struct{}
	ring   []string // the last NonceMemory nonces, oldest at ringAt
	ringAt int
	window time.Time // start of the current rate window (a minute)
	bad    map[string]int
}

// Verifier returns a verifier for requests made with this secret.
func (s *Secret) Verifier(o Options) *Verifier {
	v := &Verifier{
		key:  s.key,
		now:  o.Now,
		log:  o.Log,
		seen: make(map[string]struct{}),
		bad:  make(map[string]int),
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.SetHosts(o.Hosts)
	return v
}

// SetHosts replaces the accepted Host header values.
func (v *Verifier) SetHosts(hosts []string) {
	m := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		m[strings.ToLower(h)] = true
	}
	v.mu.Lock()
	v.hosts = m
	v.mu.Unlock()
}

// CheckHost refuses a request whose Host header is not one of the server's
// own addresses (ErrHost).
func (v *Verifier) CheckHost(r *http.Request) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.hosts) == 0 || v.hosts[strings.ToLower(r.Host)] {
		return nil
	}
	return ErrHost
}

// Check verifies r's MAC with the given BODYBIND (see the package comment)
// and remembers its nonce. It does not read r's body or check its Host.
// A failure is counted against r's source address; ErrRateLimited comes
// back, before any MAC is looked at, while the address is over the limit.
func (v *Verifier) Check(r *http.Request, bodyBind []byte) error {
	addr := sourceAddr(r)
	if v.limited(addr) {
		return ErrRateLimited
	}
	err := v.check(r, bodyBind)
	if err != nil {
		v.fail(addr)
	}
	return err
}

func (v *Verifier) check(r *http.Request, bodyBind []byte) error {
	target, qauth, err := SplitTarget(r.RequestURI)
	if err != nil {
		return err
	}
	auth := r.Header.Get(Header)
	if auth == "" {
		auth = qauth
	}
	if auth == "" {
		return ErrMissing
	}
	nonce, mac, err := ParseAuth(auth)
	if err != nil {
		return err
	}
	want := MAC(v.key, r.Method, target, nonce, bodyBind)
	if subtle.ConstantTimeCompare([]byte(want), []byte(mac)) != 1 {
		return ErrBadMAC
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, dup := v.seen[nonce]; dup {
		return ErrReplay
	}
	if len(v.ring) < NonceMemory {
		v.ring = append(v.ring, nonce)
	} else {
		delete(v.seen, v.ring[v.ringAt])
		v.ring[v.ringAt] = nonce
		v.ringAt = (v.ringAt + 1) % NonceMemory
	}
	v.seen[nonce] = struct{}{}
	return nil
}

// roll starts a new rate window when a minute has passed. v.mu is held.
func (v *Verifier) roll() {
	now := v.now()
	if now.Sub(v.window) >= time.Minute || now.Before(v.window) {
		v.window = now
		clear(v.bad)
	}
}

func (v *Verifier) limited(addr string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.roll()
	return v.bad[v.bucket(addr)] >= BadPerMinute
}

func (v *Verifier) fail(addr string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.roll()
	v.bad[v.bucket(addr)]++
}

// bucket maps addr to its key in v.bad, sharing one key past maxAddrs.
func (v *Verifier) bucket(addr string) string {
	if _, ok := v.bad[addr]; ok || len(v.bad) < maxAddrs {
		return addr
	}
	return "overflow"
}

func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Status maps an error of CheckHost or Check to an HTTP status.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrHost):
		return http.StatusMisdirectedRequest
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, errTooBig):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnauthorized
}

var errTooBig = errors.New("webauth: JSON body too large")

// Refuse writes err's status with a short plain-text reason.
func Refuse(w http.ResponseWriter, err error) {
	code := Status(err)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `FerryMAC realm="ferry-web/1"`)
	}
	http.Error(w, err.Error(), code)
}

// HostOnly wraps next with the Host check alone (for the page and its
// static files, which a browser fetches before it knows the key).
func (v *Verifier) HostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := v.CheckHost(r); err != nil {
			v.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Require wraps next with the Host check and the MAC check. It derives
// BODYBIND as the package comment says; for a JSON POST it reads the body
// (at most MaxJSONBody bytes) and hands next an identical copy. For a PATCH
// it binds the X-Ferry-Chunk-Hash header, which must be present; checking
// the body against that hash is next's job (see CheckChunk).
func (v *Verifier) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := v.CheckHost(r); err != nil {
			v.refuse(w, r, err)
			return
		}
		addr := sourceAddr(r)
		if v.limited(addr) {
			v.refuse(w, r, ErrRateLimited)
			return
		}
		var body []byte
		if isJSONPost(r) {
			b, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONBody+1))
			if err != nil {
				http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
				return
			}
			if len(b) > MaxJSONBody {
				v.refuse(w, r, errTooBig)
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		if r.Method == http.MethodPatch && !validHash(r.Header.Get(ChunkHashHeader)) {
			v.fail(addr)
			v.refuse(w, r, fmt.Errorf("%w: %s missing or not 64 lower-case hex digits", ErrMalformed, ChunkHashHeader))
			return
		}
		bind, _ := requestBind(r, body)
		if err := v.Check(r, bind); err != nil {
			v.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func validHash(h string) bool { return len(h) == macHexLen && lowerHex(h) }

func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, err error) {
	// The path only: a query may carry an auth parameter, and no secret
	// ever reaches a log.
	v.log.Info("web request refused", "from", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "err", err)
	Refuse(w, err)
}

// ErrChunkHash is CheckChunk's error for a body that does not match its
// X-Ferry-Chunk-Hash.
var ErrChunkHash = errors.New("webauth: body does not match X-Ferry-Chunk-Hash")

// CheckChunk compares body's BLAKE3-256 with the request's
// X-Ferry-Chunk-Hash (bound by the MAC).
func CheckChunk(r *http.Request, body []byte) error {
	if subtle.ConstantTimeCompare([]byte(BodyHash(body)), []byte(r.Header.Get(ChunkHashHeader))) != 1 {
		return ErrChunkHash
	}
	return nil
}
