package discovery

import (
	"slices"
	"strings"
)

// A Lookup narrows whom a browser asks: instead of every receiver of the
// LAN (the zero Lookup), only those advertised under a subtype (RFC 6763
// §7.1; see records.go). It narrows the question, not the answer: a peer
// that answers someone else is still reported, and callers match peers as
// before. A browser whose narrowed question nobody answers within a second
// asks everyone after all (receivers of older versions advertise no
// subtypes).
type Lookup struct {
	subtypes []string // subtype labels, sorted, without duplicates; none: everyone
}

// ByName asks for the receivers whose display name is name, regardless of
// case. An empty name asks everyone.
func ByName(name string) Lookup {
	if strings.TrimSpace(name) == "" {
		return Lookup{}
	}
	return Lookup{subtypes: []string{nameSubtype(name)}}
}

// ByID asks for the receivers whose device ID starts with prefix (with or
// without dashes, any case). The subtype holds the short ID (8 characters),
// so a shorter prefix, or one that is not base32, asks everyone.
func ByID(prefix string) Lookup {
	n := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(prefix)))
	if len(n) < 8 {
		return Lookup{}
	}
	for i := range 8 {
		if c := n[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return Lookup{}
		}
	}
	return Lookup{subtypes: []string{"_i-" + n[:8]}}
}

// Pairing asks for the receivers with an open pairing window.
func Pairing() Lookup { return Lookup{subtypes: []string{pairSubtype}} }

// Or asks for the receivers that either l or m asks for. Asking everyone
// with either means asking everyone.
func (l Lookup) Or(m Lookup) Lookup {
	if l.everyone() || m.everyone() {
		return Lookup{}
	}
	s := slices.Concat(l.subtypes, m.subtypes)
	slices.Sort(s)
	return Lookup{subtypes: slices.Compact(s)}
}

func (l Lookup) everyone() bool { return len(l.subtypes) == 0 }

// String describes the lookup for logs.
func (l Lookup) String() string {
	if l.everyone() {
		return "everyone"
	}
	return strings.Join(l.subtypes, "|")
}

// names returns the PTR names to ask: _ferry._udp.local. for everyone, else
// "<subtype>._sub._ferry._udp.local." for each subtype.
func (l Lookup) names() []string {
	if l.everyone() {
		return []string{serviceName}
	}
	out := make([]string, len(l.subtypes))
	for i, s := range l.subtypes {
		out[i] = subtypeName(s)
	}
	return out
}

// subtypeName is the PTR owner name of a subtype label.
func subtypeName(label string) string { return label + "._sub." + serviceName }
