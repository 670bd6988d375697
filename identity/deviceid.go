package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// DeviceID identifies a device: the SHA-256 of its certificate's
// SubjectPublicKeyInfo.
type DeviceID [32]byte

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadDeviceID is returned when a text is not a device ID.
var ErrBadDeviceID = errors.New("not a device ID")

// IDFromSPKI derives the device ID from a DER SubjectPublicKeyInfo.
func IDFromSPKI(spki []byte) DeviceID { return sha256.Sum256(spki) }

// IDFromCert derives the device ID of a certificate.
func IDFromCert(c *x509.Certificate) DeviceID { return IDFromSPKI(c.RawSubjectPublicKeyInfo) }

// String returns the full ID: 52 base32 characters in groups of four.
func (id DeviceID) String() string { return formatGroups(b32.EncodeToString(id[:])) }

// Short returns the first two groups, for people: "ABCD-EFGH".
func (id DeviceID) Short() string { return id.String()[:9] }

// IsZero reports whether id is the zero value.
func (id DeviceID) IsZero() bool { return id == DeviceID{} }

// MarshalText implements encoding.TextMarshaler.
func (id DeviceID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *DeviceID) UnmarshalText(b []byte) error {
	v, err := ParseDeviceID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// normalizeID upper-cases s and drops dashes and spaces.
func normalizeID(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	return strings.NewReplacer("-", "", " ", "").Replace(s)
}

// ParseDeviceID parses a full device ID, with or without dashes, in either case.
func ParseDeviceID(s string) (DeviceID, error) {
	n := normalizeID(s)
	if len(n) != 52 {
		return DeviceID{}, fmt.Errorf("%w: %q has %d characters, want 52", ErrBadDeviceID, s, len(n))
	}
	raw, err := b32.DecodeString(n)
	if err != nil || len(raw) != 32 {
		return DeviceID{}, fmt.Errorf("%w: %q", ErrBadDeviceID, s)
	}
	var id DeviceID
	copy(id[:], raw)
	// base32 of 256 bits leaves 4 spare bits in the last character; accept only
	// the canonical spelling so one ID has one text.
	if id.String() != formatGroups(n) {
		return DeviceID{}, fmt.Errorf("%w: %q is not canonical", ErrBadDeviceID, s)
	}
	return id, nil
}

// formatGroups writes n in groups of four characters joined by dashes.
func formatGroups(n string) string {
	var b strings.Builder
	for i := 0; i < len(n); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(n[i:min(i+4, len(n))])
	}
	return b.String()
}

// HasPrefix reports whether p (with or without dashes, any case) is a prefix
// of the ID's text. An empty prefix matches nothing.
func (id DeviceID) HasPrefix(p string) bool {
	n := normalizeID(p)
	if n == "" {
		return false
	}
	return strings.HasPrefix(normalizeID(id.String()), n)
}
