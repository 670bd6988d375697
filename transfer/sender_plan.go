package transfer

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// sendFile is the sending side of one file entry.
type sendFile struct {
	src    *source
	idx    int
	need   []int64 // chunks to put on the wire
	skip   bool    // the receiver has it already
	hashes [][wire.HashLen]byte

	fp *FileProgress
	// In a swarm: bytes of the file kept by the receiver and sent to it
	// directly, so that its delivery counts the rest, which came from the
	// other receivers.
	keptLen int64
	sent    atomic.Int64

	mu   sync.Mutex
	left int // chunks of need not yet written
	f    *os.File
}

// plan checks what the receiver kept against the source and decides which
// chunks to send. Kept chunks are hashed again from the source: a file that
// changed since the last attempt restarts rather than being spliced.
func (s *sender) plan(ctx context.Context, have []wire.Have) ([]*sendFile, wire.Plan, int64, error) {
	files := make([]*sendFile, len(s.src))
	for i := range s.src {
		if s.src[i].Dir {
			continue
		}
		n := s.src[i].Chunks()
		files[i] = &sendFile{src: &s.src[i], idx: i, hashes: make([][wire.HashLen]byte, n)}
	}
	kept, complete, err := claims(files, have)
	if err != nil {
		return nil, wire.Plan{}, 0, err
	}
	plan, keptBytes, err := s.checkClaims(ctx, files, kept, complete, have)
	if err != nil {
		return nil, wire.Plan{}, 0, err
	}
	for i, sf := range files {
		if sf == nil || sf.skip {
			continue
		}
		sf.needAllBut(kept[i])
	}
	return files, plan, keptBytes, nil
}

// claims reads what the receiver says it kept: chunk indexes by entry, and
// the file hashes of complete files by entry. A claim on something that is
// not a file of the offer, or twice on the same entry, is a protocol
// violation.
func claims(files []*sendFile, have []wire.Have) ([][]int64, map[int][]byte, error) {
	kept := make([][]int64, len(files))
	complete := make(map[int][]byte)
	for _, h := range have {
		if h.File < 0 || h.File >= len(files) || files[h.File] == nil || files[h.File].src.Stream || kept[h.File] != nil || complete[h.File] != nil {
			return nil, nil, wire.Errorf("receiver claims chunks of entry %d", h.File)
		}
		if h.Complete {
			if len(h.Hash) != wire.HashLen {
				return nil, nil, wire.Errorf("file hash of %d bytes", len(h.Hash))
			}
			complete[h.File] = h.Hash
			continue
		}
		idx, err := wire.IndexesOf(h.Ranges, files[h.File].src.Chunks())
		if err != nil {
			return nil, nil, err
		}
		kept[h.File] = idx
	}
	return kept, complete, nil
}

// checkClaims hashes the source of what the receiver claims, two files at a
// time. Kept chunks that do not match send their file to the plan's
// Restart (and are dropped from kept); complete files that match go to its
// Skip. It returns the plan and the bytes the receiver need not be sent.
func (s *sender) checkClaims(ctx context.Context, files []*sendFile, kept [][]int64, complete map[int][]byte, have []wire.Have) (wire.Plan, int64, error) {
	var plan wire.Plan
	var keptBytes int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	var mu sync.Mutex
	for i, sf := range files {
		if sf == nil || len(kept[i]) == 0 {
			continue
		}
		g.Go(func() error {
			ok, n, err := s.checkKept(gctx, sf, kept[i], have)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				keptBytes += n
			} else {
				plan.Restart = append(plan.Restart, i)
				kept[i] = nil
			}
			return nil
		})
	}
	for i, want := range complete {
		sf := files[i]
		g.Go(func() error {
			all := make([]int64, sf.src.Chunks())
			for c := range all {
				all[c] = int64(c)
			}
			hs, n, err := s.hashChunks(gctx, sf, all)
			if err != nil || n < 0 {
				return err
			}
			if sum := wire.FileHash(sf.src.Size, sf.src.Chunk, hs); string(sum[:]) == string(want) {
				mu.Lock()
				plan.Skip = append(plan.Skip, i)
				keptBytes += n
				sf.skip = true
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return wire.Plan{}, 0, err
	}
	return plan, keptBytes, nil
}

// needAllBut sets the chunks of the file to send: all but kept, which the
// receiver has.
func (sf *sendFile) needAllBut(kept []int64) {
	skip := make(map[int64]bool, len(kept))
	for _, c := range kept {
		skip[c] = true
	}
	for c := int64(0); c < sf.src.Chunks(); c++ {
		if !skip[c] {
			sf.need = append(sf.need, c)
		}
	}
	sf.left = len(sf.need)
	var keptLen int64
	for _, c := range kept {
		keptLen += sf.src.ChunkLen(c)
	}
	sf.keptLen = keptLen
	sf.fp = newFileProgress(sf.src.Path, sf.src.Size, keptLen)
}

// checkKept hashes the kept chunks of a file from the source and compares
// their digest with the receiver's.
func (s *sender) checkKept(ctx context.Context, sf *sendFile, idx []int64, have []wire.Have) (bool, int64, error) {
	var want []byte
	for _, h := range have {
		if h.File == sf.idx {
			want = h.Digest
		}
	}
	hs, n, err := s.hashChunks(ctx, sf, idx)
	if err != nil || n < 0 {
		return false, 0, err
	}
	if string(wire.HaveDigest(idx, hs)) != string(want) {
		s.log.Info("source changed since the last attempt; restarting it", "path", sf.src.Path)
		return false, 0, nil
	}
	for k, c := range idx {
		sf.hashes[c] = hs[k]
	}
	return true, n, nil
}

// hashChunks hashes chunks of a source file. n < 0 means the file is
// shorter than when the session started.
func (s *sender) hashChunks(ctx context.Context, sf *sendFile, idx []int64) ([][wire.HashLen]byte, int64, error) {
	f, err := os.Open(sf.src.abs)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", sf.src.abs, err)
	}
	defer f.Close()
	buf := make([]byte, pieceSize)
	hs := make([][wire.HashLen]byte, len(idx))
	var n int64
	for k, c := range idx {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		h := blake3.New()
		m, err := io.CopyBuffer(h, io.NewSectionReader(f, c*sf.src.Chunk, sf.src.ChunkLen(c)), buf)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", sf.src.abs, err)
		}
		if m != sf.src.ChunkLen(c) {
			return nil, -1, nil
		}
		h.Sum(hs[k][:0])
		n += m
	}
	return hs, n, nil
}
