package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// offerAnswer is the answer to an accepted offer.
type offerAnswer struct {
	Offer string       `json:"offer"` // id, for /events
	Code  string       `json:"code"`
	Chunk int64        `json:"chunk"` // bytes per PATCH (the last one of a file is shorter)
	Files []fileAnswer `json:"files"` // in the order offered
}

type fileAnswer struct {
	Upload string     `json:"upload"` // the tus upload URL (path)
	Offset int64      `json:"offset"` // bytes already here: the upload continues from there
	Kept   [][2]int64 `json:"kept"`   // chunk ranges [from, to) kept from an earlier try
	Done   bool       `json:"done"`   // nothing to send (an empty file, already named)
}

// refusal is the answer to an offer that is not accepted.
type refusal struct {
	Error  string `json:"error"` // declined, busy, bad_offer, no_space
	Reason string `json:"reason"`
	Code   string `json:"code,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) postOffer(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body) // bounded by webauth.Require
	if err != nil {
		writeJSON(w, http.StatusBadRequest, refusal{Error: "bad_offer", Reason: err.Error()})
		return
	}
	req, err := decodeOffer(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, refusal{Error: "bad_offer", Reason: err.Error()})
		return
	}
	addr, _, _ := net.SplitHostPort(r.RemoteAddr)
	if !s.browser(addr + "/" + req.Client) {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, http.StatusServiceUnavailable, refusal{Error: "busy", Reason: fmt.Sprintf("%d browsers are already sending; try again later", MaxBrowsers)})
		return
	}
	entries, fileEntry := req.entries(s.cfg.ChunkSize)
	checked, err := store.Check(entries)
	if err != nil {
		s.log.Info("web offer refused", "from", r.RemoteAddr, "err", err)
		writeJSON(w, http.StatusBadRequest, refusal{Error: "bad_offer", Reason: err.Error()})
		return
	}
	digest := webauth.BodyHash(body)
	peer := browserID(req.Client)
	info := transfer.OfferInfo{
		PeerName: "web browser at " + addr,
		PeerID:   peer,
		Code:     webCode(s.cfg.Secret.Key(), digest),
		Files:    len(req.Files),
		Dirs:     len(entries) - len(req.Files),
	}
	for _, f := range req.Files {
		info.Bytes += f.Size
	}
	for _, e := range entries {
		info.Paths = append(info.Paths, e.Path)
	}

	// --accept trusted: refused before the disk is looked at.
	if s.cfg.Policy == transfer.PolicyTrusted {
		d := s.decide(r.Context(), info, "")
		s.cfg.Events(transfer.EventDeclined{Info: info, Reason: d.reason})
		writeJSON(w, http.StatusForbidden, refusal{Error: "declined", Reason: d.reason, Code: info.Code})
		return
	}
	// An earlier offer of the same browser ends first: it holds the same
	// partial files, which this one resumes.
	s.closeOffersOf(peer)
	in, err := store.Open(s.dir, checked, store.Options{Sender: peer, Overwrite: s.cfg.Overwrite, NoTmpFiles: s.cfg.NoTmpFiles})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, refusal{Error: "storage", Reason: err.Error()})
		return
	}
	// What is here already counts against the free space the rest needs.
	var kept int64
	files := in.Files()
	for _, i := range fileEntry {
		if err := in.Resume(files[i]); err != nil {
			in.Close()
			writeJSON(w, http.StatusInternalServerError, refusal{Error: "storage", Reason: err.Error()})
			return
		}
		kept += files[i].Kept().Bytes
	}
	if free, ok := in.FreeSpace(); ok && info.Bytes-kept > free {
		in.Close()
		reason := fmt.Sprintf("not enough space: %s to receive, %s free", human.Bytes(info.Bytes-kept), human.Bytes(free))
		s.cfg.Events(transfer.EventDeclined{Info: info, Reason: reason})
		writeJSON(w, http.StatusInsufficientStorage, refusal{Error: "no_space", Reason: reason, Code: info.Code})
		return
	}

	// A yes is remembered for this browser at this address and these exact
	// offer bytes: the question named the address, and the client id
	// travels in the clear.
	if d := s.decide(r.Context(), info, addr+"/"+peer.String()+"/"+digest); !d.accept {
		in.Close()
		if d.busy {
			w.Header().Set("Retry-After", "10")
			writeJSON(w, http.StatusServiceUnavailable, refusal{Error: "busy", Reason: d.reason, Code: info.Code})
			return
		}
		s.cfg.Events(transfer.EventDeclined{Info: info, Reason: d.reason})
		writeJSON(w, http.StatusForbidden, refusal{Error: "declined", Reason: d.reason, Code: info.Code})
		return
	}
	if err := in.MakeFolders(); err != nil {
		in.Close()
		writeJSON(w, http.StatusInternalServerError, refusal{Error: "storage", Reason: err.Error()})
		return
	}

	o := &offer{
		s: s, id: webauth.NewNonce(), peer: peer, browser: addr + "/" + req.Client, info: info, in: in, chunk: s.cfg.ChunkSize,
		progress: &transfer.Progress{Total: info.Bytes},
		changed:  make(chan struct{}),
	}
	o.touch()
	for _, i := range fileEntry {
		o.files = append(o.files, files[i])
	}
	o.results = make([]*fileResult, len(o.files))
	o.left = len(o.files)
	o.progress.Done.Store(kept)
	s.cfg.Events(transfer.EventSession{Info: info, Progress: o.progress, Resumed: kept})

	ans := offerAnswer{Offer: o.id, Code: info.Code, Chunk: o.chunk}
	for i, f := range o.files {
		k := f.Kept()
		fa := fileAnswer{Upload: fmt.Sprintf("%s%s-%d", filesPath, o.id, i), Offset: prefixBytes(f, k.Chunks, o.chunk), Kept: wire.RangesOf(k.Chunks)}
		if f.Size() == 0 {
			fa.Done = true
		}
		ans.Files = append(ans.Files, fa)
	}
	// Empty files have no chunk to come: they are finished now, before
	// the offer is listed (nothing else can reach it yet).
	for i, f := range o.files {
		if f.Size() == 0 && o.finishFile(i) {
			o.close(nil)
		}
	}
	s.mu.Lock()
	s.offers[o.id] = o
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, ans)
}

// prefixBytes is the length of the run of verified chunks from the start:
// where a tus upload continues (a chunk kept beyond a gap is sent again).
func prefixBytes(f *store.File, kept []int64, chunk int64) int64 {
	var n int64
	for i, c := range kept {
		if c != int64(i) {
			break
		}
		n = min(n+chunk, f.Size())
	}
	return n
}

type decision struct {
	accept bool
	busy   bool
	reason string
}

// decide puts an offer through the receiver's policy: --accept all
// accepts, --accept trusted refuses (a browser is never a paired device),
// ask asks the user, one offer at a time.
func (s *Server) decide(ctx context.Context, info transfer.OfferInfo, key string) decision {
	switch s.cfg.Policy {
	case transfer.PolicyAll:
		return decision{accept: true}
	case transfer.PolicyTrusted:
		return decision{reason: "this receiver accepts only paired devices, and a web browser is never one (run ferry receive --accept ask or --accept all)"}
	}
	if s.cfg.Ask == nil {
		return decision{reason: "nobody is there to accept the offer"}
	}
	s.mu.Lock()
	if t, ok := s.accepted[key]; ok && time.Since(t) < rememberAccepted {
		s.mu.Unlock()
		return decision{accept: true} // the same offer again (a reload): already accepted
	}
	if s.asking >= MaxAsking {
		s.mu.Unlock()
		return decision{busy: true, reason: "the receiver is already asking about another offer; try again in a moment"}
	}
	s.asking++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.asking--
		s.mu.Unlock()
	}()
	// The browser may give up while the question is on screen.
	actx, gone := context.WithCancelCause(context.WithoutCancel(ctx))
	defer gone(nil)
	stop := context.AfterFunc(ctx, func() { gone(transfer.ErrSenderGone) })
	defer stop()
	tctx, cancel := context.WithTimeout(actx, askTimeout)
	defer cancel()
	yes, err := s.cfg.Ask(tctx, info)
	switch {
	case err != nil && ctx.Err() != nil:
		return decision{reason: "the browser went away while the offer was shown"}
	case err != nil:
		return decision{reason: "no answer in time"}
	case !yes:
		return decision{reason: "answered no"}
	}
	s.mu.Lock()
	s.accepted[key] = time.Now()
	s.mu.Unlock()
	return decision{accept: true}
}

// offer is an accepted offer: its files are uploaded with tus.
type offer struct {
	s        *Server
	id       string
	peer     identity.DeviceID
	browser  string // its key in Server.browsers
	info     transfer.OfferInfo
	in       *store.Incoming
	chunk    int64
	files    []*store.File
	progress *transfer.Progress

	active sync.WaitGroup // chunk writes under way; close waits for them

	mu       sync.Mutex // guards the fields below
	last     time.Time
	closed   bool
	results  []*fileResult
	left     int
	bytes    int64
	failed   error
	changed  chan struct{} // closed and replaced when results change (for /events)
	finished bool
}

// fileResult is what became of one file.
type fileResult struct {
	Index int    `json:"index"`
	Name  string `json:"name,omitempty"` // final path relative to the folder
	Size  int64  `json:"size"`
	Hash  string `json:"hash,omitempty"`
	Error string `json:"error,omitempty"`
}

func (o *offer) touch() {
	o.mu.Lock()
	o.last = time.Now()
	o.mu.Unlock()
}

func (o *offer) lastUse() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// closeOffersOf ends the running offers of a browser: they are replaced.
func (s *Server) closeOffersOf(peer identity.DeviceID) {
	var old []*offer
	s.mu.Lock()
	for id, p := range s.offers {
		if p.peer == peer {
			old = append(old, p)
			delete(s.offers, id)
		}
	}
	s.mu.Unlock()
	for _, p := range old {
		p.close(errors.New("replaced by a new offer from the same browser"))
	}
}

// begin registers a chunk write; false once the offer is closed.
func (o *offer) begin() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.last = time.Now()
	o.active.Add(1)
	return true
}

// close ends the offer: it waits for chunk writes under way, then closes
// the incoming set. Partial files and journals stay for a later attempt.
func (o *offer) close(why error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	finished := o.finished
	if !finished && o.failed == nil {
		o.failed = why
	}
	o.notifyLocked()
	o.mu.Unlock()
	o.active.Wait()
	o.in.Close()
	if !finished {
		o.s.cfg.Events(transfer.EventSessionEnd{Info: o.info, Files: o.doneFiles(), Bytes: o.doneBytes(), Err: why})
	}
}

func (o *offer) doneFiles() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.files) - o.left
}

func (o *offer) doneBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes
}

func (o *offer) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// snapshot returns the results so far, whether the offer is over, and a
// channel closed at the next change.
func (o *offer) snapshot() (res []fileResult, over bool, failed error, changed <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.results {
		if r != nil {
			res = append(res, *r)
		}
	}
	return res, o.finished || o.closed, o.failed, o.changed
}

// finishFile checks, flushes and names a file whose every chunk is
// verified, and reports it. last reports that it was the offer's last
// file: the caller then closes the offer (once its own chunk write is
// over), which stays listed for its results.
func (o *offer) finishFile(i int) (last bool) {
	f := o.files[i]
	k := f.Kept()
	hash := wire.FileHash(f.Size(), o.chunk, k.Hashes)
	res := &fileResult{Index: i, Size: f.Size()}
	name, err := o.finalize(f, hash)
	if err != nil {
		res.Error = err.Error()
		o.s.log.Info("web file failed", "path", f.Path(), "err", err)
	} else {
		res.Name = name
		res.Hash = fmt.Sprintf("%x", hash)
		o.s.cfg.Events(transfer.EventFile{Path: filepath.Join(o.s.dir, filepath.FromSlash(name)), Name: name, Size: f.Size(), Hash: res.Hash})
	}
	o.mu.Lock()
	o.results[i] = res
	o.left--
	if err == nil {
		o.bytes += f.Size()
	}
	last = o.left == 0
	if last {
		o.finished = true
	}
	o.notifyLocked()
	o.mu.Unlock()
	if last {
		o.in.SetFolderTimes()
		o.s.cfg.Events(transfer.EventSessionEnd{Info: o.info, Files: o.doneFiles(), Bytes: o.doneBytes()})
	}
	return last
}

func (o *offer) finalize(f *store.File, hash [wire.HashLen]byte) (string, error) {
	ready, err := f.End(f.Size(), hash[:])
	if err != nil {
		return "", err
	}
	if !ready {
		return "", fmt.Errorf("%q is not complete", f.Path())
	}
	if err := o.in.Prepare(f); err != nil {
		return "", err
	}
	if err := o.in.Flush([]*store.File{f}); err != nil {
		return "", err
	}
	return o.in.Name(f)
}
