// Package cpace implements CPace, the CFRG's balanced password-authenticated
// key exchange (draft-irtf-cfrg-cpace-21), cipher suite CPACE-RISTR255-SHA512,
// in the initiator-responder setting, followed by explicit key confirmation.
//
// The group arithmetic, encoding and point validation are those of
// github.com/gtank/ristretto255; this package only composes them as the draft
// specifies:
//
//	generator_string = lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid)
//	    DSI = "CPaceRistretto255", len_zpad = max(0, 128 - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI)))
//	g   = ristretto255 one-way map (FromUniformBytes) of SHA-512(generator_string)
//	y   = a uniformly random scalar (64 random bytes reduced mod the group order)
//	Y   = encode(y·g); the message is MSG = lv_cat(Y, AD)
//	K   = encode(y·decode(Y_peer)); abort if Y_peer does not decode or K is the identity
//	ISK = SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb))
//
// Key confirmation, after the draft's recommendation and ferry's pairing
// design:
//
//	mac_key = SHA-512("CPaceMac" || sid || ISK)
//	Ta = HMAC-SHA512(mac_key, lv_cat(Ya, ADa))
//	Tb = HMAC-SHA512(mac_key, lv_cat(Yb, ADb))
//
// The initiator sends Ta first; the responder releases Tb only after Ta
// verified ([State.Tag] enforces this). Because Ta and Tb differ only in the
// message they cover, a peer that echoes our own Y back is rejected
// ([ErrReflected]); otherwise an attacker could reflect the initiator's
// message and then its Ta and pass as a responder without the password.
//
// K and ISK never leave the package. After both tags are settled the caller
// may derive keys with [State.Key], HKDF-SHA512 over ISK with sid as salt.
package cpace

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/gtank/ristretto255"
)

const (
	dsi       = "CPaceRistretto255"
	dsiISK    = "CPaceRistretto255_ISK"
	macLabel  = "CPaceMac"
	sidOutDSI = "CPaceSidOutput"
	hashBlock = 128 // SHA-512 input block size, H.s_in_bytes

	// PointSize is the size of an encoded ristretto255 element, Y.
	PointSize = 32
	// TagSize is the size of a key-confirmation tag, Ta or Tb.
	TagSize = sha512.Size
)

var (
	// ErrInvalidPoint means the peer's Y does not decode to a group element,
	// or the shared point is the identity: the draft's abort.
	ErrInvalidPoint = errors.New("cpace: invalid or neutral point from peer")
	// ErrReflected means the peer's Y equals ours: a reflected message.
	ErrReflected = errors.New("cpace: peer sent our own message back")
	// ErrBadTag means the peer's key-confirmation tag is wrong: it used
	// another password, channel identifier, session id or transcript.
	ErrBadTag = errors.New("cpace: key confirmation failed")
	// ErrState means a method was called out of order or twice, or after a
	// failure; the state is then unusable.
	ErrState = errors.New("cpace: call out of order")
)

// Role is a party's role in the initiator-responder setting.
type Role uint8

const (
	Initiator Role = 1 // sends MSGa first and proves first (Ta)
	Responder Role = 2 // answers with MSGb and proves second (Tb)
)

func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

type stage uint8

const (
	started   stage = iota // Start done; Finish next
	finished               // ISK known; tags next
	confirmed              // peer's tag verified
	dead                   // failed or misused
)

// State is one party's side of one CPace run. It is not safe for
// concurrent use. A State is single-use: each method succeeds at most once.
type State struct {
	role  Role
	sid   []byte
	y     *ristretto255.Scalar
	own   []byte // own message, lv_cat(Y, AD)
	ownY  []byte
	stage stage

	tagOwn, tagPeer []byte
	tagSent         bool
	prk             []byte // HKDF-Extract(salt=sid, ISK)
}

// Start begins a run: it derives the generator from the password-related
// string prs, the channel identifier ci and the session id sid, draws a
// secret scalar and returns the state and the message lv_cat(Y, ad) to send.
func Start(role Role, prs, ci, sid, ad []byte) (*State, []byte, error) {
	if role != Initiator && role != Responder {
		return nil, nil, fmt.Errorf("cpace: bad role %v", role)
	}
	var seed [64]byte
	y := ristretto255.NewScalar()
	zero := ristretto255.NewScalar()
	for y.Equal(zero) == 1 { // a zero scalar has probability 2^-252
		rand.Read(seed[:])
		if _, err := y.SetUniformBytes(seed[:]); err != nil {
			return nil, nil, fmt.Errorf("cpace: sample scalar: %w", err)
		}
	}
	clear(seed[:])
	s, msg := start(role, prs, ci, sid, ad, y)
	return s, msg, nil
}

// start is Start with a given scalar, for the draft's test vectors.
func start(role Role, prs, ci, sid, ad []byte, y *ristretto255.Scalar) (*State, []byte) {
	g := calculateGenerator(prs, ci, sid)
	Y := ristretto255.NewElement().ScalarMult(y, g).Bytes()
	msg := LVCat(Y, ad)
	return &State{
		role: role,
		sid:  append([]byte(nil), sid...),
		y:    y,
		own:  msg,
		ownY: Y,
	}, append([]byte(nil), msg...)
}

// generatorString is the draft's generator_string(DSI, PRS, CI, sid, 128).
func generatorString(prs, ci, sid []byte) []byte {
	zpad := max(0, hashBlock-1-len(AppendLV(nil, prs))-len(AppendLV(nil, []byte(dsi))))
	return LVCat([]byte(dsi), prs, make([]byte, zpad), ci, sid)
}

// calculateGenerator maps the generator string to a group element.
func calculateGenerator(prs, ci, sid []byte) *ristretto255.Element {
	gs := generatorString(prs, ci, sid)
	h := sha512.Sum512(gs)
	clear(gs)
	g := ristretto255.NewElement().FromUniformBytes(h[:])
	clear(h[:])
	return g
}

// scalarMultVfy is the draft's scalar_mult_vfy: y·decode(X), or nil when X
// does not decode or the product is the neutral element.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) []byte {
	X, err := ristretto255.NewElement().SetCanonicalBytes(x)
	if err != nil {
		return nil
	}
	K := ristretto255.NewElement().ScalarMult(y, X)
	if K.Equal(ristretto255.NewIdentityElement()) == 1 {
		return nil
	}
	return K.Bytes()
}

// computeISK is SHA-512(lv_cat(DSI_ISK, sid, K) || transcript).
func computeISK(sid, k, transcript []byte) []byte {
	h := sha512.New()
	h.Write(LVCat([]byte(dsiISK), sid, k))
	h.Write(transcript)
	return h.Sum(nil)
}

// sidOutput is the draft's optional session id output,
// SHA-512("CPaceSidOutput" || transcript). ferry does not use it; the
// draft's vectors for it are checked.
func sidOutput(transcript []byte) []byte {
	h := sha512.Sum512(append([]byte(sidOutDSI), transcript...))
	return h[:]
}

// ParseMessage splits a CPace message lv_cat(Y, AD) into Y and AD. It checks
// the layout only, not that Y is a valid point.
func ParseMessage(msg []byte) (y, ad []byte, err error) {
	f, err := SplitLV(msg, 2)
	if err != nil {
		return nil, nil, err
	}
	if len(f[0]) != PointSize {
		return nil, nil, fmt.Errorf("%w: Y has %d bytes, want %d", ErrMalformed, len(f[0]), PointSize)
	}
	return f[0], f[1], nil
}

// Finish takes the peer's message lv_cat(Y, AD), computes the shared secret
// and returns the peer's AD. It aborts on a malformed message, an invalid or
// neutral point, or a reflected Y. A second call fails with ErrState.
func (s *State) Finish(peerMsg []byte) (peerAD []byte, err error) {
	if s.stage != started {
		s.kill()
		return nil, fmt.Errorf("%w: Finish called twice", ErrState)
	}
	defer func() {
		if err != nil {
			s.kill()
		}
	}()
	peerY, ad, err := ParseMessage(peerMsg)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(peerY, s.ownY) == 1 {
		return nil, ErrReflected
	}
	k := scalarMultVfy(s.y, peerY)
	s.y.Zero()
	if k == nil {
		return nil, ErrInvalidPoint
	}
	msgA, msgB := s.own, peerMsg
	if s.role == Responder {
		msgA, msgB = peerMsg, s.own
	}
	isk := computeISK(s.sid, k, append(append([]byte(nil), msgA...), msgB...))
	clear(k)

	mk := sha512.New()
	mk.Write([]byte(macLabel))
	mk.Write(s.sid)
	mk.Write(isk)
	macKey := mk.Sum(nil)
	ta, tb := tag(macKey, msgA), tag(macKey, msgB)
	clear(macKey)
	if s.role == Initiator {
		s.tagOwn, s.tagPeer = ta, tb
	} else {
		s.tagOwn, s.tagPeer = tb, ta
	}
	prk, err := hkdf.Extract(sha512.New, isk, s.sid)
	clear(isk)
	if err != nil {
		return nil, fmt.Errorf("cpace: derive key: %w", err)
	}
	s.prk = prk
	s.stage = finished
	return append([]byte(nil), ad...), nil
}

func tag(key, msg []byte) []byte {
	m := hmac.New(sha512.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// Tag returns this party's key-confirmation tag: Ta for the initiator, after
// Finish; Tb for the responder, only after VerifyTag accepted Ta, so that a
// responder never sends anything keyed to an unproven peer. It may be called
// once.
func (s *State) Tag() ([]byte, error) {
	switch {
	case s.tagSent || s.stage == dead || s.stage == started:
		return nil, fmt.Errorf("%w: Tag", ErrState)
	case s.role == Responder && s.stage != confirmed:
		return nil, fmt.Errorf("%w: the responder's tag comes after the initiator's verified", ErrState)
	}
	s.tagSent = true
	return append([]byte(nil), s.tagOwn...), nil
}

// VerifyTag checks the peer's key-confirmation tag in constant time. It may
// be called once, after Finish; a wrong tag kills the state.
func (s *State) VerifyTag(peerTag []byte) error {
	if s.stage != finished {
		s.kill()
		return fmt.Errorf("%w: VerifyTag", ErrState)
	}
	if !hmac.Equal(peerTag, s.tagPeer) {
		s.kill()
		return ErrBadTag
	}
	s.stage = confirmed
	return nil
}

// Key derives n bytes for purpose info from ISK with HKDF-SHA512 (salt sid).
// It is available once the peer's tag verified and, for the initiator, its
// own tag was taken.
func (s *State) Key(info string, n int) ([]byte, error) {
	if s.stage != confirmed || !s.tagSent {
		return nil, fmt.Errorf("%w: Key before key confirmation", ErrState)
	}
	return hkdf.Expand(sha512.New, s.prk, info, n)
}

// kill makes the state unusable and erases its secrets.
func (s *State) kill() {
	s.stage = dead
	if s.y != nil {
		s.y.Zero()
	}
	clear(s.prk)
	clear(s.tagOwn)
	clear(s.tagPeer)
	s.prk, s.tagOwn, s.tagPeer = nil, nil, nil
}

// Close erases the state's secrets; the state is unusable afterwards.
func (s *State) Close() { s.kill() }
