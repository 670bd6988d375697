package discovery

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/identity"
)

const (
	serviceType = "_ferry._udp"
	domain      = "local."
	serviceName = serviceType + "." + domain // "_ferry._udp.local."

	maxLabel   = 63  // bytes in a DNS label
	maxTXT     = 255 // bytes in one TXT string
	maxNameLen = 200 // bytes of a display name
	maxFlagKey = 9   // RFC 6763 §6.4 recommends keys of at most nine characters
	maxFlags   = 32  // flags kept from a peer's TXT record

	keyVersion = "v"
	keyID      = "id"
	keyName    = "name"
)

// Version is the protocol version this package advertises in TXT "v".
const Version = 1

// ErrBadService is returned by Advertise and SetFlags for a Service that
// cannot be advertised; the error text says which field is wrong.
var ErrBadService = errors.New("invalid service")

// Service is what a receiver advertises.
type Service struct {
	Name  string            // display name, UTF-8, 1 to 200 bytes, no control characters
	ID    identity.DeviceID // the device ID; published in full in TXT "id"
	Port  int               // the QUIC port, 1 to 65535
	Flags map[string]string // extra TXT keys such as "pair": "1"; see the package doc
}

// Instance returns the DNS-SD instance label the service is advertised under:
// the display name, cut to fit, a space and the short device ID.
func (s Service) Instance() string {
	suffix := " " + s.ID.Short()
	return truncateUTF8(s.Name, maxLabel-len(suffix)) + suffix
}

// hostLabel is the SRV target's first label: unique per device, and apart
// from the host's own name, which hosts in namespaces and containers share.
func (s Service) hostLabel() string {
	return "ferry-" + strings.ToLower(s.ID.Short())
}

func (s Service) validate() error {
	if err := checkName(s.Name); err != nil {
		return err
	}
	if s.ID.IsZero() {
		return fmt.Errorf("%w: zero device ID", ErrBadService)
	}
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrBadService, s.Port)
	}
	return checkFlags(s.Flags)
}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: empty name", ErrBadService)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: name is %d bytes, at most %d allowed", ErrBadService, len(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name %q is not UTF-8", ErrBadService, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: name %q has a control character", ErrBadService, name)
	}
	return nil
}

func checkFlags(flags map[string]string) error {
	if len(flags) > maxFlags {
		return fmt.Errorf("%w: %d flags, at most %d allowed", ErrBadService, len(flags), maxFlags)
	}
	for k, v := range flags {
		if !validFlagKey(k) {
			return fmt.Errorf("%w: flag key %q: want 1 to %d characters from [a-z0-9_-]", ErrBadService, k, maxFlagKey)
		}
		if k == keyVersion || k == keyID || k == keyName {
			return fmt.Errorf("%w: flag key %q is reserved", ErrBadService, k)
		}
		if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return fmt.Errorf("%w: flag %s: value %q is not printable UTF-8", ErrBadService, k, v)
		}
		if len(k)+1+len(v) > maxTXT {
			return fmt.Errorf("%w: flag %s: longer than a TXT string (%d bytes)", ErrBadService, k, maxTXT)
		}
	}
	return nil
}

func validFlagKey(k string) bool {
	if k == "" || len(k) > maxFlagKey {
		return false
	}
	for i := range len(k) {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// txt returns the TXT strings, unescaped: "v=1", "id=…", "name=…", then the
// flags in key order.
func (s Service) txt() []string {
	out := []string{
		keyVersion + "=" + strconv.Itoa(Version),
		keyID + "=" + s.ID.String(),
		keyName + "=" + s.Name,
	}
	for _, k := range slices.Sorted(maps.Keys(s.Flags)) {
		out = append(out, k+"="+s.Flags[k])
	}
	return out
}

// Peer is a receiver found on the network.
type Peer struct {
	Instance string            // DNS-SD instance label, e.g. "alpha ABCD-EFGH"; a peer's key
	Name     string            // display name from TXT, made printable
	ID       identity.DeviceID // device ID the peer claims in TXT; check it after the handshake
	Version  int               // protocol version from TXT "v"; 0 if absent or not a number
	Addrs    []netip.Addr      // IPv4, then global/ULA IPv6, then link-local IPv6 with zone
	Port     int               // QUIC port
	Flags    map[string]string // the other TXT keys (lower case), e.g. "pair": "1"
}

// AddrPorts returns each address with the peer's port, in the order of Addrs.
func (p Peer) AddrPorts() []netip.AddrPort {
	out := make([]netip.AddrPort, len(p.Addrs))
	for i, a := range p.Addrs {
		out[i] = netip.AddrPortFrom(a, uint16(p.Port))
	}
	return out
}

func (p Peer) clone() Peer {
	p.Addrs = slices.Clone(p.Addrs)
	p.Flags = maps.Clone(p.Flags)
	return p
}

func (p Peer) equal(q Peer) bool {
	return p.Instance == q.Instance && p.Name == q.Name && p.ID == q.ID && p.Version == q.Version &&
		p.Port == q.Port && slices.Equal(p.Addrs, q.Addrs) && maps.Equal(p.Flags, q.Flags)
}

// txtInfo is a peer's TXT record, decoded.
type txtInfo struct {
	id      identity.DeviceID
	idOK    bool
	version int
	name    string
	flags   map[string]string
}

// parseTXT decodes TXT strings as miekg/dns presents them (with \" \\ and
// \DDD escapes). It never fails: what it cannot use it leaves out.
func parseTXT(strs []string) txtInfo {
	var info txtInfo
	seen := make(map[string]bool)
	for _, s := range strs {
		raw, ok := unescape(s)
		if !ok || raw == "" {
			continue
		}
		k, v, _ := strings.Cut(raw, "=")
		k = strings.ToLower(k) // keys are ASCII (RFC 6763 §6.4); ToLower keeps others distinct
		if k == "" || seen[k] {
			continue // an empty key is invalid; of repeated keys the first counts
		}
		seen[k] = true
		switch k {
		case keyID:
			if id, err := identity.ParseDeviceID(v); err == nil {
				info.id, info.idOK = id, true
			}
		case keyVersion:
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 1<<16 {
				info.version = n
			}
		case keyName:
			info.name = printable(v)
		default:
			if len(info.flags) >= maxFlags {
				continue
			}
			if info.flags == nil {
				info.flags = make(map[string]string)
			}
			info.flags[printable(k)] = printable(v)
		}
	}
	return info
}

// printable makes text from the network safe to show: invalid UTF-8 and
// control or format characters (which includes bidirectional overrides)
// become U+FFFD.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unprintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s { // ranging yields U+FFFD for each invalid byte
		if unprintable(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unprintable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// escapeLabel writes a label in the presentation format miekg/dns packs:
// a dot inside the label and a backslash are escaped.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `.`, `\.`).Replace(s)
}

// escapeTXT writes a TXT string in the presentation format miekg/dns packs.
func escapeTXT(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// unescape reverses miekg/dns's presentation format: \X is X and \DDD is the
// byte DDD. It reports false for a dangling backslash or a \DDD above 255.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		if i == len(s) {
			return "", false
		}
		if i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			n := int(s[i]-'0')*100 + int(s[i+1]-'0')*10 + int(s[i+2]-'0')
			if n > 255 {
				return "", false
			}
			b = append(b, byte(n))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// splitInstance takes an instance's full name in presentation format, such
// as `alpha\ ABCD-EFGH._ferry._udp.local.`, and returns its first label
// unescaped. It reports false for names outside _ferry._udp.local.
func splitInstance(fqdn string) (string, bool) {
	end := -1
	for i := 0; i < len(fqdn); i++ {
		if fqdn[i] == '\\' {
			i++ // the next byte is escaped; a \DDD's digits are never dots
			continue
		}
		if fqdn[i] == '.' {
			end = i
			break
		}
	}
	if end <= 0 || !strings.EqualFold(fqdn[end+1:], serviceName) {
		return "", false
	}
	label, ok := unescape(fqdn[:end])
	if !ok || label == "" || len(label) > maxLabel {
		return "", false
	}
	return label, true
}
