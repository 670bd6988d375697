package transfer

import "github.com/ferry-lan/ferry/transfer/internal/wire"

// ProtocolVersion is the version of the transfer protocol this ferry
// speaks (see doc.go).
const ProtocolVersion = wire.Version
