package store

import (
	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Checked is a set of entries that passed Check: the only kind Open takes.
type Checked struct{ entries []wire.Entry }

// Check checks everything about a set of entries that does not need the
// disk: paths (safepath: no "..", no absolute paths, no two names equal
// after case folding, nothing under a file), sizes and chunk sizes, and
// the bounds on chunks that bound the store's tables.
func Check(entries []wire.Entry) (Checked, error) {
	// Every folder of an offer from ferry is an entry of its own: the
	// guard's memory stays proportional to the offer's, not to the depth
	// of the paths (a path implies every folder above it).
	set := safepath.NewSetMaxFolders(len(entries) + 64)
	var total, chunks int64
	streams := 0
	for i := range entries {
		e := &entries[i]
		if err := set.Add(e.Path, e.Dir); err != nil {
			return Checked{}, err
		}
		if e.Dir {
			if e.Size != 0 || e.Chunk != 0 || e.Stream {
				return Checked{}, wire.Errorf("folder %q has a size", e.Path)
			}
			continue
		}
		if e.Chunk < wire.MinChunkSize || e.Chunk > wire.MaxChunkSize || e.Chunk&(e.Chunk-1) != 0 {
			return Checked{}, wire.Errorf("%q: chunk size %d", e.Path, e.Chunk)
		}
		if e.Stream {
			if e.Size != -1 {
				return Checked{}, wire.Errorf("streamed %q has a size", e.Path)
			}
			if streams++; streams > 1 {
				return Checked{}, wire.Errorf("more than one streamed entry")
			}
			chunks += wire.MaxChunksPerFile // its table may grow that far
		} else {
			if e.Size < 0 || e.Size > e.Chunk*wire.MaxChunksPerFile {
				return Checked{}, wire.Errorf("%q: size %d", e.Path, e.Size)
			}
			if total += e.Size; total < 0 {
				return Checked{}, wire.Errorf("total size overflows")
			}
			chunks += e.Chunks()
		}
		if chunks > wire.MaxChunksPerOffer {
			return Checked{}, wire.Errorf("more than %d chunks in one offer", wire.MaxChunksPerOffer)
		}
	}
	return Checked{entries: entries}, nil
}

// Entries returns the checked entries.
func (c Checked) Entries() []wire.Entry { return c.entries }
