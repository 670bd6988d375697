package wire

import "github.com/ferry-lan/ferry/transfer/safepath"

// PeerText makes text that a peer sent (a close reason, an error message, a
// refusal) safe to print on a terminal: control, format and other
// non-graphic characters and invalid bytes are escaped as
// safepath.DisplayText escapes them (the CLI escapes every error it shows
// the same way, so what is escaped here is not escaped twice), and text
// over 512 characters is cut in the middle.
func PeerText(s string) string { return safepath.DisplayText(s, 512) }
