package wire

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"fmt"

	"github.com/ferry-lan/ferry/identity"
)

// The verification code: a short authentication string (SAS) for two people
// to compare, which a man in the middle cannot make the same on both screens
// except by luck (one chance in 10^6 per attempt, and every attempt shows).
//
// After the offer, the receiver commits to a random nonce (Commit frame:
// SHA-256 of a label and the nonce), the sender answers with its own random
// nonce (Nonce frame), and the receiver reveals its nonce (Reveal frame).
// The code is a function of both device IDs, the offer, the TLS Exporter of
// the connection and both nonces. Whoever sits in the middle must send its
// nonce to the receiver before it learns the receiver's (the Commitment
// hides it), so the receiver's code is uniformly random to it; and the
// receiver shows its code, with the question, as soon as it can compute it,
// so an attempt against the receiver cannot be hidden. Towards the sender,
// the attacker learns the sender's code before it reveals and may abort,
// but a sender that loses its connection before the receiver decided does
// not reconnect: the attempt ends the command, visibly.

const (
	NonceLen       = 32
	commitLabel    = "ferry/2 verification commit\x00"
	codeLabel      = "ferry/2 verification code\x00"
	exporterLabel  = "EXPORTER-ferry/2 verification"
	exporterLen    = 32
	codeSpace      = 1_000_000
	offerDigestLen = sha256.Size
)

// NewNonce returns a fresh random nonce.
func NewNonce() []byte {
	n := make([]byte, NonceLen)
	rand.Read(n) // never fails (crypto/rand since Go 1.24)
	return n
}

// Commitment is the receiver's Commitment to its nonce.
func Commitment(nonce []byte) []byte {
	h := sha256.New()
	h.Write([]byte(commitLabel))
	h.Write(nonce)
	return h.Sum(nil)
}

// CheckCommitment reports whether nonce opens commit.
func CheckCommitment(commit, nonce []byte) bool {
	return len(nonce) == NonceLen && subtle.ConstantTimeCompare(Commitment(nonce), commit) == 1
}

// OfferDigest is SHA-256 of an offer frame's body as it went over the wire.
func OfferDigest(body []byte) []byte {
	sum := sha256.Sum256(body)
	return sum[:]
}

// Exporter is the connection's TLS Exporter value for the code: the same on
// both ends of one connection, different on two connections.
func Exporter(cs tls.ConnectionState) ([]byte, error) {
	ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, exporterLen)
	if err != nil {
		return nil, fmt.Errorf("TLS exporter: %w", err)
	}
	return ekm, nil
}

// codeLimit is the largest 64-bit value below a multiple of 10^6 words
// are drawn under: values up to it map evenly onto the codes.
const codeLimit = ^uint64(0) - (^uint64(0)%codeSpace+1)%codeSpace

// sasInput is everything the verification code is computed from.
type SASInput struct {
	Sender, Receiver identity.DeviceID
	Exporter         []byte // exporterLen bytes
	Offer            []byte // OfferDigest of the offer
	SenderNonce      []byte // nonceLen bytes
	ReceiverNonce    []byte // nonceLen bytes
}

// VerificationCode computes the code both screens show: "123-456". It is
// uniform over the 10^6 codes: 8-byte words are drawn from SHAKE256 of the
// inputs until one falls below the largest multiple of 10^6 (a second word
// is needed once in 2^44).
func VerificationCode(in SASInput) string {
	x := sha3.NewSHAKE256()
	x.Write([]byte(codeLabel))
	for _, f := range [][]byte{in.Sender[:], in.Receiver[:], in.Exporter, in.Offer, in.SenderNonce, in.ReceiverNonce} {
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(f)))
		x.Write(l[:])
		x.Write(f)
	}
	var w [8]byte
	for {
		x.Read(w[:])
		if v := binary.BigEndian.Uint64(w[:]); v <= codeLimit {
			v %= codeSpace
			return fmt.Sprintf("%03d-%03d", v/1000, v%1000)
		}
	}
}
