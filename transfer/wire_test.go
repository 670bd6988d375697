package transfer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

func TestTruncateKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 400) // 800 bytes; byte 512 splits nothing, 511 would
	for _, in := range []string{s, "x" + s} {
		got := truncate(in)
		if !utf8.ValidString(got) || len(got) > 512+len("…") {
			t.Errorf("truncate: %d bytes, valid %v", len(got), utf8.ValidString(got))
		}
	}
}

func TestValidateOfferAccepts(t *testing.T) {
	o := wire.Offer{Version: wire.Version, Name: "n", Session: strings.Repeat("a", 32), Entries: []wire.Entry{
		{Path: "d", Dir: true, MTime: -1},
		{Path: "d/max", Size: wire.MinChunkSize * wire.MaxChunksPerFile, Chunk: wire.MinChunkSize},
		{Path: "d/empty", Size: 0, Chunk: wire.MaxChunkSize},
		{Path: "stdin", Size: -1, Chunk: 1 << 20, Stream: true},
		{Path: "implied/x", Size: 1, Chunk: 1 << 20},
		{Path: "implied", Dir: true},
	}}
	if _, err := validateOffer(&o); err != nil {
		t.Fatal(err)
	}
}
