package doctor

import (
	"errors"
	"time"
)

// The doctor's probe (see doc.go): a fixed 22-byte datagram.
const (
	probeMagic   = "FDOC"
	probeVersion = 1
	probeLen     = 4 + 1 + 1 + 16

	kindProbe = 1 // from `doctor --peer` to `doctor --listen`
	kindEcho  = 2 // the answer, with the same token
)

// errBadProbe is any datagram that is not a well-formed probe or echo.
var errBadProbe = errors.New("not a ferry doctor datagram")

// A probe is one decoded datagram.
type probe struct {
	kind  byte
	token [16]byte
}

func (p probe) encode() []byte {
	b := make([]byte, 0, probeLen)
	b = append(b, probeMagic...)
	b = append(b, probeVersion, p.kind)
	return append(b, p.token[:]...)
}

// decodeProbe accepts exactly a probe or an echo of this version.
func decodeProbe(b []byte) (probe, error) {
	if len(b) != probeLen || string(b[:4]) != probeMagic || b[4] != probeVersion {
		return probe{}, errBadProbe
	}
	p := probe{kind: b[5]}
	if p.kind != kindProbe && p.kind != kindEcho {
		return probe{}, errBadProbe
	}
	copy(p.token[:], b[6:])
	return p, nil
}

// A limiter is a token bucket: rate answers a second, up to burst at once.
// It is used by one goroutine.
type limiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, tokens: burst}
}

// allow takes a token at now, if there is one.
func (l *limiter) allow(now time.Time) bool {
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
