package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/ferry-lan/ferry/identity"
)

// Record lifetimes (RFC 6762 §10). The PTR record that lists an instance
// under _ferry._udp is shared and long-lived: browsers list it as a known
// answer, so a query for everyone costs a quiet LAN almost nothing. The
// records that say the instance is there (SRV, TXT, A, AAAA) live
// recordTTL: a browser refreshes each at 80–95 % of it (RFC 6762 §5.2) and
// drops an instance whose SRV expired, so a receiver that was killed
// disappears within recordTTL of its last answer.
const (
	ptrTTL    = 75 * time.Minute // RFC 6762 §10: shared records
	recordTTL = 12 * time.Second
)

// Subtypes (RFC 6763 §7.1) let a sender ask for the one receiver it wants
// instead of listing every receiver of the LAN: an advertisement is also
// listed under
//
//	_n-<16 hex digits>._sub._ferry._udp.local.  its display name (nameSubtype)
//	_i-<short ID, lower case, no dash>._sub...  its device ID (idSubtype)
//	_pair._sub._ferry._udp.local.               a pairing window (pairSubtype)
//
// A lookup still checks what answers: a subtype only narrows who answers.
const pairSubtype = "_pair"

// nameSubtype is the subtype label of a display name: the first 8 bytes
// of SHA-256("ferry name" 00 ‖ the name in NFC, lower case), in hex. Names
// that differ only in case share it.
func nameSubtype(name string) string {
	sum := sha256.Sum256([]byte("ferry name\x00" + strings.ToLower(norm.NFC.String(name))))
	return "_n-" + hex.EncodeToString(sum[:8])
}

// idSubtype is the subtype label of a device ID: its short form (the first
// two groups), lower case, without the dash.
func idSubtype(id identity.DeviceID) string {
	return "_i-" + strings.ToLower(strings.ReplaceAll(id.Short(), "-", ""))
}
