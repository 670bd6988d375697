package web

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	tushandler "github.com/tus/tusd/v2/pkg/handler"

	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// The tus side: tusd's handler speaks tus 1.0 (HEAD, PATCH) and this
// store puts the bytes into ferry's receive store, one whole chunk per
// PATCH, verified against the X-Ferry-Chunk-Hash the page computed (and
// the MAC bound). Only verified chunks count: a torn PATCH reports 0
// bytes written, so the page sends the chunk again.

type chunkHashKey struct{}

func withChunkHash(ctx context.Context, h string) context.Context {
	return context.WithValue(ctx, chunkHashKey{}, h)
}

var (
	errNoUpload  = tushandler.NewError("ERR_FERRY_NO_UPLOAD", "no such upload (the offer ended or the receiver restarted: offer the files again)", http.StatusNotFound)
	errCreate    = tushandler.NewError("ERR_FERRY_CREATE", "uploads are created by POST /api/v1/offer", http.StatusMethodNotAllowed)
	errAlign     = tushandler.NewError("ERR_FERRY_CHUNK", "a PATCH carries exactly one chunk, from a chunk boundary", http.StatusBadRequest)
	errHash      = tushandler.NewError("ERR_FERRY_CHUNK_HASH", "the chunk does not match its X-Ferry-Chunk-Hash; send it again", 460)
	errHashForm  = tushandler.NewError("ERR_FERRY_CHUNK_HASH", "X-Ferry-Chunk-Hash is not 64 lower-case hex digits", http.StatusBadRequest)
	errFileState = tushandler.NewError("ERR_FERRY_STATE", "the file does not take this chunk now", http.StatusConflict)
)

// tusStore is tusd's DataStore over the server's accepted offers.
type tusStore struct{ s *Server }

func (t tusStore) NewUpload(context.Context, tushandler.FileInfo) (tushandler.Upload, error) {
	return nil, errCreate
}

// GetUpload finds upload "<offer>-<file index>".
func (t tusStore) GetUpload(_ context.Context, id string) (tushandler.Upload, error) {
	oid, idx, ok := strings.Cut(id, "-")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil {
		return nil, errNoUpload
	}
	o := t.s.offer(oid)
	if o == nil || i < 0 || i >= len(o.files) {
		return nil, errNoUpload
	}
	return &upload{o: o, i: i, f: o.files[i]}, nil
}

type upload struct {
	o *offer
	i int
	f *store.File
}

func (u *upload) GetInfo(context.Context) (tushandler.FileInfo, error) {
	u.o.touch()
	info := tushandler.FileInfo{ID: fmt.Sprintf("%s-%d", u.o.id, u.i), Size: u.f.Size()}
	u.o.mu.Lock()
	done := u.o.results[u.i] != nil
	u.o.mu.Unlock()
	if done {
		info.Offset = info.Size
	} else {
		info.Offset = prefixBytes(u.f, u.f.Kept().Chunks, u.o.chunk)
	}
	return info, nil
}

// WriteChunk takes one whole chunk from src into the store. It returns the
// chunk's length once the chunk is verified and journaled, else 0.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	if !u.o.begin() {
		return 0, errNoUpload
	}
	u.o.s.seen(u.o.browser)
	n, last, err := u.writeChunk(ctx, offset, src)
	u.o.active.Done()
	if last {
		u.o.close(nil) // every file is in: the incoming set closes
	}
	return n, err
}

func (u *upload) writeChunk(ctx context.Context, offset int64, src io.Reader) (n int64, last bool, err error) {
	var want [wire.HashLen]byte
	hv, _ := ctx.Value(chunkHashKey{}).(string)
	if b, err := hex.DecodeString(hv); err != nil || len(b) != wire.HashLen || strings.ToLower(hv) != hv {
		return 0, false, errHashForm
	} else {
		copy(want[:], b)
	}
	chunk := u.o.chunk
	size := u.f.Size()
	if offset%chunk != 0 || offset >= size {
		return 0, false, errAlign
	}
	idx := offset / chunk
	n = min(chunk, size-offset)
	c, err := u.f.Begin(idx, n)
	if err != nil {
		if errors.Is(err, wire.ErrProtocol) {
			return 0, false, errFileState
		}
		return 0, false, err
	}
	buf := make([]byte, 256<<10)
	var got int64
	for got < n {
		m, rerr := src.Read(buf[:min(int64(len(buf)), n-got)])
		if m > 0 {
			if werr := c.Write(buf[:m]); werr != nil {
				c.Abort()
				return 0, false, werr
			}
			got += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			c.Abort()
			return 0, false, rerr
		}
	}
	if got != n {
		c.Abort()
		return 0, false, errAlign
	}
	// More than the chunk in one PATCH: refused before it counts.
	var one [1]byte
	if m, _ := src.Read(one[:]); m > 0 {
		c.Abort()
		return 0, false, errAlign
	}
	if _, err := c.Commit(want); err != nil {
		c.Abort() // not verified: the chunk may come again
		if errors.Is(err, store.ErrIntegrity) {
			return 0, false, errHash
		}
		return 0, false, err
	}
	u.o.progress.Done.Add(n)
	u.o.progress.Wire.Add(n)
	if u.f.Verified() == size {
		last = u.o.finishFile(u.i)
	}
	return n, last, nil
}

func (u *upload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, tushandler.ErrNotImplemented
}

func (u *upload) FinishUpload(context.Context) error { return nil }
