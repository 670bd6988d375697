package transfer

import "github.com/ferry-lan/ferry/transfer/internal/wire"

// ALPN is the TLS application protocol of a transfer connection.
const ALPN = wire.ALPN

// ProtocolVersion is the version of the transfer protocol this ferry
// speaks (see doc.go).
const ProtocolVersion = wire.Version
