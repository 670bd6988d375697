package webauth

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/zeebo/blake3"
)

// SecretSize is the size of the per-run secret in bytes (128 bits).
const SecretSize = 16

// keyContext prefixes the secret when the key is derived from it.
const keyContext = "ferry-web/1 key\x00"

// macContext prefixes every MAC'd message.
const macContext = "ferry-web/1\x00"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadSecret is returned for a fragment or secret text that is not a
// ferry-web/1 secret.
var ErrBadSecret = errors.New("webauth: not a ferry web secret")

// Secret is one run's secret and the key derived from it.
type Secret struct {
	raw [SecretSize]byte
	key [32]byte
}

// New draws a fresh secret from crypto/rand.
func New() (*Secret, error) {
	var raw [SecretSize]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("webauth: draw secret: %w", err)
	}
	return fromRaw(raw), nil
}

func fromRaw(raw [SecretSize]byte) *Secret {
	s := &Secret{raw: raw}
	s.key = DeriveKey(raw[:])
	return s
}

// DeriveKey returns K = BLAKE3-256("ferry-web/1 key\x00" ‖ secret).
func DeriveKey(secret []byte) [32]byte {
	msg := make([]byte, 0, len(keyContext)+len(secret))
	msg = append(msg, keyContext...)
	msg = append(msg, secret...)
	return blake3.Sum256(msg)
}

// Parse reads a secret from its text: the base32 form alone, "k=<base32>",
// or a whole fragment "k=<base32>&c=..." (other parameters are ignored).
func Parse(text string) (*Secret, error) {
	text = strings.TrimPrefix(text, "#")
	enc := text
	if strings.Contains(text, "=") {
		enc = ""
		for _, p := range strings.Split(text, "&") {
			if v, ok := strings.CutPrefix(p, "k="); ok {
				enc = v
				break
			}
		}
	}
	if len(enc) != b32.EncodedLen(SecretSize) {
		return nil, ErrBadSecret
	}
	raw, err := b32.DecodeString(strings.ToUpper(enc))
	if err != nil || len(raw) != SecretSize {
		return nil, ErrBadSecret
	}
	return fromRaw([SecretSize]byte(raw)), nil
}

// Text is the secret as lower-case base32 without padding (26 characters).
func (s *Secret) Text() string { return strings.ToLower(b32.EncodeToString(s.raw[:])) }

// Fragment is the URL fragment without its '#': "k=<Text>".
func (s *Secret) Fragment() string { return "k=" + s.Text() }

// Key returns the derived MAC key K.
func (s *Secret) Key() [32]byte { return s.key }
