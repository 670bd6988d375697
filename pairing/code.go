package pairing

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strings"

	"github.com/ferry-lan/ferry/identity"
)

// Mode is how the two devices share the secret; it is bound into CPace's
// channel identifier, so a PIN run and a QR run never agree.
type Mode string

const (
	ModePIN Mode = "pin" // the user typed a 6-digit PIN
	ModeQR  Mode = "qr"  // the user scanned or pasted a QR code
)

// Secret is what the initiator knows: a PIN or a parsed QR code.
type Secret interface {
	Mode() Mode
	prs() []byte // CPace's password-related string
}

// PIN is a 6-digit pairing PIN. Its LogValue hides it.
type PIN string

// ParsePIN accepts exactly six ASCII digits, ignoring surrounding space.
func ParsePIN(s string) (PIN, error) {
	s = strings.TrimSpace(s)
	if len(s) != 6 || strings.Trim(s, "0123456789") != "" {
		return "", ErrBadPIN
	}
	return PIN(s), nil
}

func newPIN() PIN {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return PIN(fmt.Sprintf("%06d", n))
}

// Mode returns ModePIN.
func (p PIN) Mode() Mode { return ModePIN }

func (p PIN) prs() []byte { return []byte(p) }

// String returns the six digits, to show to the user.
func (p PIN) String() string { return string(p) }

// LogValue keeps the PIN out of logs.
func (p PIN) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Mode returns ModeQR.
func (c Code) Mode() Mode { return ModeQR }

func (c Code) prs() []byte { return []byte(c.Secret) }

// LogValue keeps the secret out of logs.
func (c Code) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("addrs", c.Addrs), slog.String("id", c.ID.String()), slog.String("secret", "REDACTED"))
}

// Code is the content of a pairing QR code: where the showing device
// listens, its full device ID, and a one-time secret. Its text form is
//
//	FERRY:1/<addr>[,<addr>...]/<device ID: 52 base32 characters>/<secret: 26 base32 characters>
//
// all upper case, so that a QR code can use its compact alphanumeric mode.
// An address is an IPv4 address and port (192.168.1.23:47011) or a
// bracketed IPv6 address and port ([FD00::1]:47011), without zone.
type Code struct {
	Addrs  []netip.AddrPort
	ID     identity.DeviceID
	Secret string // crypto/rand.Text(): 26 characters of A-Z and 2-7
}

const (
	codePrefix    = "FERRY:1/"
	maxCodeLen    = 640
	maxCodeAddrs  = 8
	secretLen     = 26
	deviceIDChars = 52
	base32Chars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

// String returns the text form, the QR code's content.
func (c Code) String() string {
	var b strings.Builder
	b.WriteString(codePrefix)
	for i, a := range c.Addrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ToUpper(a.String()))
	}
	b.WriteByte('/')
	b.WriteString(strings.ReplaceAll(c.ID.String(), "-", ""))
	b.WriteByte('/')
	b.WriteString(c.Secret)
	return b.String()
}

// ParseCode parses the text of a pairing QR code. It ignores space and line
// breaks around the text and is otherwise strict: each code has one
// spelling, and c.String() gives it back.
func ParseCode(s string) (Code, error) {
	s = strings.Trim(s, " \t\r\n")
	if len(s) > maxCodeLen {
		return Code{}, fmt.Errorf("%w: %d characters", ErrBadCode, len(s))
	}
	rest, ok := strings.CutPrefix(s, codePrefix)
	if !ok {
		return Code{}, fmt.Errorf("%w: does not start with %q", ErrBadCode, codePrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return Code{}, fmt.Errorf("%w: want addresses, device ID and secret separated by /", ErrBadCode)
	}
	var c Code
	addrs := strings.Split(parts[0], ",")
	if len(addrs) > maxCodeAddrs {
		return Code{}, fmt.Errorf("%w: %d addresses, at most %d", ErrBadCode, len(addrs), maxCodeAddrs)
	}
	for _, a := range addrs {
		ap, err := parseCodeAddr(a)
		if err != nil {
			return Code{}, err
		}
		c.Addrs = append(c.Addrs, ap)
	}
	if len(parts[1]) != deviceIDChars || strings.Trim(parts[1], base32Chars) != "" {
		return Code{}, fmt.Errorf("%w: device ID must be %d characters of A-Z, 2-7", ErrBadCode, deviceIDChars)
	}
	id, err := identity.ParseDeviceID(parts[1])
	if err != nil {
		return Code{}, fmt.Errorf("%w: %w", ErrBadCode, err)
	}
	c.ID = id
	if len(parts[2]) != secretLen || strings.Trim(parts[2], base32Chars) != "" {
		return Code{}, fmt.Errorf("%w: secret must be %d characters of A-Z, 2-7", ErrBadCode, secretLen)
	}
	c.Secret = parts[2]
	return c, nil
}

func parseCodeAddr(a string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q: %w", ErrBadCode, a, err)
	}
	ip := ap.Addr()
	switch {
	case ip.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("%w: address %q has a zone", ErrBadCode, a)
	case ip.Is4In6():
		return netip.AddrPort{}, fmt.Errorf("%w: address %q: write IPv4 addresses as IPv4", ErrBadCode, a)
	case ip.IsUnspecified() || ip.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("%w: address %q is not a unicast address", ErrBadCode, a)
	case ap.Port() == 0:
		return netip.AddrPort{}, fmt.Errorf("%w: address %q has port 0", ErrBadCode, a)
	case strings.ToUpper(ap.String()) != a:
		return netip.AddrPort{}, fmt.Errorf("%w: address %q is not in canonical upper-case form", ErrBadCode, a)
	}
	return ap, nil
}

// ParseSecret reads what a user typed or pasted: a 6-digit PIN or the text
// of a pairing QR code.
func ParseSecret(s string) (Secret, error) {
	if p, err := ParsePIN(s); err == nil {
		return p, nil
	}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, codePrefix) {
		return ParseCode(t)
	}
	return nil, fmt.Errorf("%w or %w", ErrBadPIN, ErrBadCode)
}
