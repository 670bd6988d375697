package transfer

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// enqueue hands a complete file to the finalizer.
//
// The file's hash is checked and its mode and times are set here, in the
// goroutine that completed it, so that files prepare in parallel and the
// finalizer only flushes and names them.
func (s *session) enqueue(f *store.File) error {
	s.pending.Add(-1)
	if err := s.in.Prepare(f); err != nil {
		return err
	}
	select {
	case s.unnamed <- struct{}{}:
	case <-s.gctx.Done():
		return nil
	}
	s.ready <- f // never blocks: it has room for every token
	return nil
}

// maxUnnamed is how many complete files a session may hold open until they
// are named: up to maxFlushBatch, and within a share of the process's limit
// on open files that leaves room for every session and their sockets.
func maxUnnamed(sessions int) int {
	limit := store.OpenFileLimit()
	if limit <= 0 {
		limit = 1024
	}
	return max(32, min(maxFlushBatch, (limit-512)/(2*max(1, sessions))))
}

// finalize flushes and names complete files, and reports each. Files that
// become complete together are flushed with one syncfs instead of an fsync
// each, and while one batch is being named and reported, the next one is
// flushed.
func (s *session) finalize(ctx context.Context) error {
	done, err := s.deliverSkipped()
	if err != nil {
		return err
	}
	if done == s.nFiles {
		return s.finish()
	}
	flushed := make(chan []*store.File, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.flush(gctx, s.nFiles-done, flushed) })
	g.Go(func() error { // name and report each flushed batch
		for {
			var batch []*store.File
			select {
			case batch = <-flushed:
			case <-gctx.Done():
				return nil
			}
			names, err := s.nameAll(batch)
			if err != nil {
				return err
			}
			if err := s.delivered(batch, names); err != nil {
				return err
			}
			if done += len(batch); done == s.nFiles {
				return s.finish()
			}
		}
	})
	return g.Wait()
}

// deliverSkipped reports the files the plan skipped, already here under
// their names, and returns how many there were.
func (s *session) deliverSkipped() (int, error) {
	var skipped []*store.File
	var names []string
	for _, f := range s.files {
		if f == nil || !f.Skipped() {
			continue
		}
		// A partial copy left beside it (say, by a receiver killed between
		// the rename and the journal's removal) is stale: drop it.
		s.in.Discard(f)
		skipped = append(skipped, f)
		names = append(names, f.FinalPath())
	}
	if len(skipped) == 0 {
		return 0, nil
	}
	return len(skipped), s.delivered(skipped, names)
}

// namers is how many files of a batch are named at once: each rename or
// link mostly waits for the file system, which serves several in parallel.
const namers = 4

// nameAll gives each flushed file of a batch its final name and returns the
// names, in the batch's order.
func (s *session) nameAll(batch []*store.File) ([]string, error) {
	names := make([]string, len(batch))
	var next atomic.Int64
	var g errgroup.Group
	for range min(namers, len(batch)) {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < len(batch); i = int(next.Add(1) - 1) {
				name, err := s.in.Name(batch[i])
				<-s.unnamed
				if err != nil {
					return err
				}
				names[i] = name
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return names, nil
}

// flush collects the next want complete files in batches, flushes each
// batch to disk and passes it on.
func (s *session) flush(ctx context.Context, want int, out chan<- []*store.File) error {
	for want > 0 {
		batch := make([]*store.File, 0, cap(s.ready))
		select {
		case f := <-s.ready:
			batch = append(batch, f)
		case <-ctx.Done():
			return nil
		}
		// Small files finish in quick succession: wait a moment for more,
		// so that one flush serves many.
		t := time.NewTimer(batchWait)
	more:
		for len(batch) < cap(batch) && len(batch) < want {
			select {
			case f := <-s.ready:
				batch = append(batch, f)
			case <-t.C:
				break more
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		t.Stop()
		if err := s.in.Flush(batch); err != nil {
			return err
		}
		want -= len(batch)
		select {
		case out <- batch:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// delivered reports files under their final names (names, in the same
// order) to the user and, in one write, to the sender.
func (s *session) delivered(files []*store.File, names []string) error {
	var frames []byte
	for i, f := range files {
		n := names[i]
		size, hash := f.Result()
		s.r.cfg.Events(EventFile{Path: filepath.Join(s.r.dir, filepath.FromSlash(n)), Name: n, Size: size, Hash: hex.EncodeToString(hash), Existing: f.Skipped()})
		var err error
		if frames, err = wire.AppendFrame(frames, wire.TypeFileDone, wire.FileDone{File: f.Index(), Name: n}); err != nil {
			return err
		}
	}
	return s.ctrl.sendFrames(frames)
}

// finish sets the folders' times and tells the sender everything arrived:
// the session is complete.
func (s *session) finish() error {
	s.in.SetFolderTimes()
	var bytes int64
	for _, f := range s.files {
		if f != nil {
			size, _ := f.Result()
			bytes += size
		}
	}
	s.bytes = bytes
	s.complete.Store(true)
	if err := s.ctrl.send(wire.TypeDone, wire.DoneFrame{Files: s.nFiles, Bytes: bytes}); err != nil {
		return err
	}
	return errComplete
}
