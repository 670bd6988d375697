package transfer

import (
	"encoding/json"
	"errors"
	"path"
	"path/filepath"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Fuzz targets for every decoder of network bytes and of the journal. Seeds
// live in testdata/fuzz/<FuzzName>/; run one with
//
//	go test -run=NONE -fuzz=FuzzReadFrame -fuzztime=45s ./transfer/

func FuzzValidateOffer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var o wire.Offer
		if json.Unmarshal(data, &o) != nil {
			return
		}
		_, err := validateOffer(&o)
		if err != nil {
			var ve *versionError
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, safepath.ErrUnsafePath) && !errors.Is(err, safepath.ErrPathCollision) && !errors.As(err, &ve) {
				t.Fatalf("refused with an unclassified error: %v", err)
			}
			return
		}
		if o.Version != wire.Version || len(o.Entries) == 0 || len(o.Entries) > wire.MaxEntries || len(o.Name) > 256 || len(o.Session) > maxSessionID {
			t.Fatalf("accepted a bad header: v%d, %d entries", o.Version, len(o.Entries))
		}
		set := safepath.NewSet()
		var total int64
		for _, e := range o.Entries {
			if err := safepath.Check(e.Path); err != nil {
				t.Fatalf("accepted name %q: %v", e.Path, err)
			}
			if err := set.Add(e.Path, e.Dir); err != nil {
				t.Fatalf("accepted colliding name %q: %v", e.Path, err)
			}
			if !filepath.IsLocal(e.Path) || path.Clean(e.Path) != e.Path {
				t.Fatalf("accepted non-local name %q", e.Path)
			}
			if e.Dir {
				if e.Size != 0 || e.Chunk != 0 || e.Stream || e.Chunks() != 0 {
					t.Fatalf("accepted folder %+v", e)
				}
				continue
			}
			if e.Chunk < wire.MinChunkSize || e.Chunk > wire.MaxChunkSize || e.Chunk&(e.Chunk-1) != 0 {
				t.Fatalf("accepted chunk size %d", e.Chunk)
			}
			if e.Stream {
				if e.Size != -1 {
					t.Fatalf("accepted streamed %+v", e)
				}
				continue
			}
			n := e.Chunks()
			if e.Size < 0 || n > wire.MaxChunksPerFile || (e.Size > 0) != (n > 0) {
				t.Fatalf("accepted size %d in %d chunks", e.Size, n)
			}
			if n > 0 {
				if last := e.ChunkLen(n - 1); last <= 0 || last > e.Chunk || (n-1)*e.Chunk+last != e.Size {
					t.Fatalf("size %d: last chunk of %d bytes", e.Size, last)
				}
			}
			// The receiver's own names for it stay inside the folder.
			_, base := path.Split(e.Path)
			part := store.PartialPath([32]byte{}, e.Path)
			if !filepath.IsLocal(part) || base == "" {
				t.Fatalf("partial name %q", part)
			}
			total += e.Size
			if total < 0 {
				t.Fatal("accepted an offer whose total size overflows")
			}
		}
	})
}
