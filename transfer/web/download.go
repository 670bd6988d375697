package web

// Send mode (ferry send --web): the files a user named, offered to browsers.
//
// # What is offered
//
// Share lists the PATHs once, at the start: a file as its base name, a
// folder as its base name and everything below it ("photos/2024/a.jpg").
// Each PATH is opened as an os.Root (a file's through its parent folder), and
// every byte served is read through that root: a symbolic link inside a
// folder is offered only when it resolves to a regular file inside the same
// folder, and a file that is swapped for a link leading outside after the
// listing cannot be read. A request names a file only by its index in the
// list, never by a path, so nothing but the listed files can be fetched.
//
// # Endpoints
//
//	GET /                   the page (send.html; Host check only)
//	GET /send.js, /send.css, /vendor/blake3.umd.min.js
//	                        its script, style and the BLAKE3 it computes MACs with
//	GET /api/v1/files       the list (MAC in X-Ferry-Auth):
//	                        {"files":[{"i":0,"name":"a/b.txt","shown":"a/b.txt","size":123,"mtime":1700000000000}],
//	                         "total":123,"zip":"NAME.zip"}; mtime in Unix milliseconds; shown is
//	                        the name as the terminal shows it (safepath.Display: control and bidi
//	                        characters as \u202e escapes), which the page displays, as text
//	GET /api/v1/dl/{i}      file i, through http.ServeContent: one Range and If-Range
//	                        (so a download resumes; a Range of several ranges is
//	                        ignored: 200, the whole file), Content-Disposition attachment
//	                        with an RFC 5987 filename* (UTF-8) and an ASCII fallback
//	GET /api/v1/zip         everything as one zip, streamed, entries stored
//	                        (uncompressed), folders kept as paths, zip64 records
//	                        where sizes or offsets pass 4 GiB; no Range
//
// # Download links and nonces
//
// A link cannot carry a header, so the two downloads take their MAC in the
// query, auth=<nonce>.<mac> as the last parameter (see package webauth): the
// page computes it over "GET" and the target ("/api/v1/dl/3") with a fresh
// nonce and sets the link's href just before the tap goes through. A browser
// that resumes an interrupted download sends the same URL again, with a
// Range header, so for these two endpoints a nonce is not single-use:
//
//   - the first request with a nonce is checked as any other (webauth's
//     Verifier: MAC, replay, failure count);
//   - the server then remembers (nonce, target) for DownloadNonceTTL (one
//     hour) — at most maxDownloadNonces, the oldest forgotten first;
//   - a later GET whose auth carries a remembered nonce, for the same target,
//     within that hour, with a correct MAC, is served (so with Range, a
//     resume). Any other method, another target, an expired nonce or a wrong
//     MAC goes to the Verifier, which refuses it as a replay or a bad MAC and
//     counts it.
//
// Someone who sees a download's URL on the Wi-Fi (it is plain HTTP) can
// fetch that one file again for an hour; they could read its bytes on the
// wire anyway. They cannot fetch any other file, the list or the zip.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/ferry-lan/ferry/transfer/safepath"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// Limits of send mode.
const (
	// MaxShared is the most files one ferry send --web offers.
	MaxShared = 10000
	// DownloadNonceTTL is how long a download link's nonce may be re-used
	// for Range requests of the same target.
	DownloadNonceTTL = time.Hour
	// maxDownloadNonces bounds the remembered download nonces.
	maxDownloadNonces = 4096
	// MaxDownloads is how many downloads (files or zips) run at once; one
	// more gets 503 with Retry-After, which a browser shows as a failed
	// download that can be resumed.
	MaxDownloads = 16
)

// A SharedFile is one offered file.
type SharedFile struct {
	Name  string    // slash-separated, as listed and as named in the zip
	Size  int64     // at listing time
	MTime time.Time // at listing time

	root int    // index into Shared.roots
	rel  string // slash-separated path inside that root
}

// Shared is what ferry send --web offers: files read through the roots of
// the folders the user named. Close it when done.
type Shared struct {
	Files []SharedFile
	Dirs  []string // folders, slash-separated, with nothing else in the zip below them; kept as entries
	Total int64    // the files' sizes added up

	roots []*os.Root
}

// Share lists paths (files and folders) for downloading. Symbolic links in
// folders are followed only to regular files inside the same folder; others
// are skipped with a warning on log.
func Share(paths []string, log *slog.Logger) (*Shared, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Shared{}
	rootOf := map[string]int{} // folder → index in s.roots
	names := map[string]bool{}
	add := func(f SharedFile) error {
		if names[f.Name] {
			return fmt.Errorf("share: two files would both be named %q", f.Name)
		}
		if len(s.Files) >= MaxShared {
			return fmt.Errorf("share: more than %d files", MaxShared)
		}
		names[f.Name] = true
		s.Files = append(s.Files, f)
		s.Total += f.Size
		return nil
	}
	openRoot := func(dir string) (int, error) {
		if i, ok := rootOf[dir]; ok {
			return i, nil
		}
		r, err := os.OpenRoot(dir)
		if err != nil {
			return 0, err
		}
		s.roots = append(s.roots, r)
		rootOf[dir] = len(s.roots) - 1
		return len(s.roots) - 1, nil
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("share %s: %w", p, err)
		}
		top := norm.NFC.String(filepath.Base(abs))
		// A PATH the user named may itself be a link: its target is what is
		// offered (under the link's name), read through the target's folder.
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			s.Close()
			return nil, fmt.Errorf("share %s: %w", p, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("share %s: %w", p, err)
		}
		switch {
		case fi.Mode().IsRegular():
			ri, err := openRoot(filepath.Dir(abs))
			if err == nil {
				err = add(SharedFile{Name: top, Size: fi.Size(), MTime: fi.ModTime(), root: ri, rel: filepath.Base(abs)})
			}
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("share %s: %w", p, err)
			}
		case fi.IsDir():
			ri, err := openRoot(abs)
			if err == nil {
				err = s.walk(ri, top, log, add)
			}
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("share %s: %w", p, err)
			}
		default:
			s.Close()
			return nil, fmt.Errorf("share %s: not a regular file or folder", p)
		}
	}
	if len(s.Files) == 0 && len(s.Dirs) == 0 {
		s.Close()
		return nil, errors.New("share: nothing to offer")
	}
	return s, nil
}

// walk adds everything below root ri, named top/….
func (s *Shared) walk(ri int, top string, log *slog.Logger, add func(SharedFile) error) error {
	root := s.roots[ri]
	hasChild := map[string]bool{}
	var dirs []string
	err := fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		name := top
		if rel != "." {
			name = top + "/" + norm.NFC.String(rel)
			hasChild[path.Dir(name)] = true
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, name)
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			// Stat through the root: a link that leads outside it fails.
			fi, err := root.Stat(filepath.FromSlash(rel))
			switch {
			case err != nil:
				log.Warn("skipping a symbolic link that is broken or leads outside the folder", "path", filepath.Join(root.Name(), rel))
				return nil
			case !fi.Mode().IsRegular():
				log.Warn("skipping a symbolic link to something that is not a file", "path", filepath.Join(root.Name(), rel))
				return nil
			}
			return add(SharedFile{Name: name, Size: fi.Size(), MTime: fi.ModTime(), root: ri, rel: rel})
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return fmt.Errorf("read %s: %w", rel, err)
			}
			return add(SharedFile{Name: name, Size: fi.Size(), MTime: fi.ModTime(), root: ri, rel: rel})
		}
		log.Warn("skipping something that is not a file or folder", "path", filepath.Join(root.Name(), rel))
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if !hasChild[d] {
			s.Dirs = append(s.Dirs, d)
		}
	}
	return nil
}

// open opens file i for reading through its root and checks that it is
// still a regular file.
func (s *Shared) open(i int) (*os.File, fs.FileInfo, error) {
	f := s.Files[i]
	fh, err := s.roots[f.root].Open(filepath.FromSlash(f.rel))
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", f.Name, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("open %s: %w", f.Name, err)
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, nil, fmt.Errorf("open %s: no longer a regular file", f.Name)
	}
	return fh, fi, nil
}

// Close closes the roots.
func (s *Shared) Close() error {
	var errs []error
	for _, r := range s.roots {
		errs = append(errs, r.Close())
	}
	s.roots = nil
	return errors.Join(errs...)
}

// DownloadKind says what a DownloadEvent reports.
type DownloadKind int

// The kinds of DownloadEvent.
const (
	DownloadStarted  DownloadKind = iota // a request began to be served
	DownloadProgress                     // bytes went out (at most every progressEvery)
	DownloadDone                         // the request's bytes all went out
	DownloadFailed                       // the request ended early (Err says why)
	DownloadAllDone                      // every file was fully downloaded at least once (in pieces or in the zip)
)

// A DownloadEvent reports one download request.
type DownloadEvent struct {
	Kind   DownloadKind
	From   string // the browser's address
	Name   string // the file's name, or the zip's
	Zip    bool
	Offset int64 // where the request started (a resumed download starts past 0)
	Sent   int64 // bytes of this request sent so far
	Size   int64 // the file's size; -1 for the zip (unknown beforehand)
	Err    error
}

// SendOptions configures a SendServer.
type SendOptions struct {
	Shared *Shared
	Secret *webauth.Secret
	// Hosts are the server's own ADDR:PORT values (the Host header check).
	Hosts []string
	// ZipName is the download-all file's name ("ferry.zip" when empty).
	ZipName string
	// Events hears of each download; it must return quickly. Nil: none.
	Events func(DownloadEvent)
	Log    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// A SendServer is the http.Handler of ferry send --web.
type SendServer struct {
	opt    SendOptions
	auth   *webauth.Verifier
	key    [32]byte
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	events func(DownloadEvent)
	slots  chan struct{} // a token per download running

	mu        sync.Mutex
	nonces    map[string]dlNonce // download nonces that may be re-used
	order     []string           // nonces in the order they came, oldest first
	prefix    []int64            // per file: bytes from 0 known to have gone out
	completed []bool             // per file: went out in full at least once
	complete  int                // how many are
}

type dlNonce struct {
	target  string
	expires time.Time
}

// progressEvery spaces DownloadProgress events.
const progressEvery = 200 * time.Millisecond

// NewSendServer returns the handler for opt.Shared.
func NewSendServer(opt SendOptions) *SendServer {
	s := &SendServer{
		opt:    opt,
		key:    opt.Secret.Key(),
		log:    opt.Log,
		now:    opt.Now,
		events: opt.Events,
		nonces: map[string]dlNonce{},
		slots:  make(chan struct{}, MaxDownloads),
	}
	s.prefix = make([]int64, len(opt.Shared.Files))
	s.completed = make([]bool, len(opt.Shared.Files))
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.events == nil {
		s.events = func(DownloadEvent) {}
	}
	if s.opt.ZipName == "" {
		s.opt.ZipName = "ferry.zip"
	}
	s.auth = opt.Secret.Verifier(webauth.Options{Hosts: opt.Hosts, Now: s.now, Log: s.log})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.auth.HostOnly(http.HandlerFunc(s.servePage)))
	mux.Handle("GET /send.js", s.auth.HostOnly(staticFile("static/send.js", "text/javascript; charset=utf-8")))
	mux.Handle("GET /send.css", s.auth.HostOnly(staticFile("static/send.css", "text/css; charset=utf-8")))
	mux.Handle("GET /vendor/blake3.umd.min.js", s.auth.HostOnly(staticFile("static/vendor/blake3.umd.min.js", "text/javascript; charset=utf-8")))
	mux.Handle("GET /api/v1/files", s.auth.Require(http.HandlerFunc(s.serveList)))
	mux.HandleFunc("GET /api/v1/dl/{i}", s.limit(s.serveFile))
	mux.HandleFunc("GET /api/v1/zip", s.limit(s.serveZip))
	s.mux = mux
	return s
}

// limit runs h while fewer than MaxDownloads run, else answers 503.
func (s *SendServer) limit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
			h(w, r)
		default:
			w.Header().Set("Retry-After", "2")
			http.Error(w, "too many downloads at once", http.StatusServiceUnavailable)
		}
	}
}

// SetHosts replaces the Host header values the server answers to.
func (s *SendServer) SetHosts(hosts []string) { s.auth.SetHosts(hosts) }

// ServeHTTP serves the page, the list and the downloads.
func (s *SendServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SecurityHeaders(w.Header())
	s.mux.ServeHTTP(w, r)
}

func (s *SendServer) servePage(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/send.html")
	if err != nil {
		http.Error(w, "page missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func staticFile(name, ctype string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := staticFS.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	})
}

// listEntry is one file of GET /api/v1/files.
type listEntry struct {
	I     int    `json:"i"`
	Name  string `json:"name"`
	Shown string `json:"shown"` // Name for display: control, format (bidi) and invalid characters escaped, as the terminal shows them
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
}

func (s *SendServer) serveList(w http.ResponseWriter, r *http.Request) {
	files := make([]listEntry, len(s.opt.Shared.Files))
	for i, f := range s.opt.Shared.Files {
		files[i] = listEntry{I: i, Name: f.Name, Shown: safepath.Display(f.Name, 0), Size: f.Size, MTime: f.MTime.UnixMilli()}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"files": files, "total": s.opt.Shared.Total, "zip": s.opt.ZipName})
}

// checkDownload authenticates a download request: the Host check, then a
// remembered download nonce (see the comment at the top), else the
// Verifier, whose accepted nonce is remembered for DownloadNonceTTL.
func (s *SendServer) checkDownload(r *http.Request) error {
	if err := s.auth.CheckHost(r); err != nil {
		return err
	}
	target, qauth, err := webauth.SplitTarget(r.RequestURI)
	if err == nil && qauth != "" && r.Method == http.MethodGet {
		if nonce, mac, err := webauth.ParseAuth(qauth); err == nil {
			now := s.now()
			s.mu.Lock()
			n, ok := s.nonces[nonce]
			s.mu.Unlock()
			if ok && n.target == target && now.Before(n.expires) {
				want := webauth.MAC(s.key, r.Method, target, nonce, nil)
				if subtle.ConstantTimeCompare([]byte(want), []byte(mac)) == 1 {
					return nil
				}
			}
		}
	}
	if err := s.auth.Check(r, nil); err != nil {
		return err
	}
	if qauth != "" {
		nonce, _, _ := webauth.ParseAuth(qauth) // Check parsed it already
		s.remember(nonce, target)
	}
	return nil
}

// remember keeps a download nonce for re-use, forgetting the oldest past
// maxDownloadNonces.
func (s *SendServer) remember(nonce, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) >= maxDownloadNonces {
		delete(s.nonces, s.order[0])
		s.order = s.order[1:]
	}
	s.nonces[nonce] = dlNonce{target: target, expires: s.now().Add(DownloadNonceTTL)}
	s.order = append(s.order, nonce)
}

func (s *SendServer) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Info("web download refused", "from", r.RemoteAddr, "path", r.URL.Path, "err", err)
	webauth.Refuse(w, err)
}

func (s *SendServer) serveFile(w http.ResponseWriter, r *http.Request) {
	if err := s.checkDownload(r); err != nil {
		s.refuse(w, r, err)
		return
	}
	i, err := fileIndex(r.PathValue("i"), len(s.opt.Shared.Files))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	fh, fi, err := s.opt.Shared.open(i)
	if err != nil {
		s.log.Warn("web download", "err", err)
		http.Error(w, "the file cannot be read", http.StatusNotFound)
		return
	}
	defer fh.Close()
	f := s.opt.Shared.Files[i]
	w.Header().Set("Content-Disposition", ContentDisposition(path.Base(f.Name)))
	w.Header().Set("Content-Type", "application/octet-stream")
	if strings.Contains(r.Header.Get("Range"), ",") {
		// One range is all a download needs to resume. Several would be
		// answered as multipart, whose part headers http.ServeContent
		// does not count against the file's size: 5,000 one-byte ranges
		// made 7× the file. The whole file is served instead (RFC 9110
		// §14.2 lets a server ignore Range).
		r.Header.Del("Range")
	}
	if r.Method == http.MethodHead {
		http.ServeContent(w, r, "", fi.ModTime(), fh)
		return
	}
	cw := &countingWriter{ResponseWriter: w, s: s, ev: DownloadEvent{From: r.RemoteAddr, Name: f.Name, Size: fi.Size()}}
	http.ServeContent(cw, r, "", fi.ModTime(), fh)
	cw.finish(r.Context())
	if cw.status/100 == 2 {
		s.covered(i, cw.ev.Offset, cw.ev.Sent, fi.Size())
	}
}

// fileIndex parses a file index from the URL: decimal digits only, no sign,
// no leading zero, below n.
func fileIndex(v string, n int) (int, error) {
	if v == "" || len(v) > 6 || (len(v) > 1 && v[0] == '0') {
		return 0, fmt.Errorf("no file %q", v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("no file %q", v)
		}
	}
	i, err := strconv.Atoi(v)
	if err != nil || i >= n {
		return 0, fmt.Errorf("no file %q", v)
	}
	return i, nil
}

// covered notes that bytes [offset, offset+sent) of file i went out, and
// reports DownloadAllDone once every file went out in full at least once
// (pieces of one file count when they join up from byte 0).
func (s *SendServer) covered(i int, offset, sent, size int64) {
	s.mu.Lock()
	if offset <= s.prefix[i] {
		s.prefix[i] = max(s.prefix[i], offset+sent)
	}
	newly := !s.completed[i] && s.prefix[i] >= size
	if newly {
		s.completed[i] = true
		s.complete++
	}
	all := newly && s.complete == len(s.completed)
	s.mu.Unlock()
	if all {
		s.events(DownloadEvent{Kind: DownloadAllDone})
	}
}

// countingWriter counts what a download writes and reports it.
type countingWriter struct {
	http.ResponseWriter
	s      *SendServer
	ev     DownloadEvent
	status int
	last   time.Time
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	if code == http.StatusPartialContent {
		c.ev.Offset = rangeStart(c.Header().Get("Content-Range"))
	}
	if code/100 == 2 {
		c.ev.Kind = DownloadStarted
		c.last = c.s.now()
		c.s.events(c.ev)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	n, err := c.ResponseWriter.Write(p)
	c.ev.Sent += int64(n)
	if c.status/100 == 2 {
		if now := c.s.now(); now.Sub(c.last) >= progressEvery {
			c.last = now
			c.ev.Kind = DownloadProgress
			c.s.events(c.ev)
		}
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// finish reports how the request ended: done when the bytes it promised
// all went out, failed otherwise.
func (c *countingWriter) finish(ctx context.Context) {
	if c.status/100 != 2 {
		return
	}
	want := c.ev.Size - c.ev.Offset
	if cl, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64); err == nil {
		want = cl
	}
	c.ev.Kind = DownloadDone
	if c.ev.Sent < want {
		c.ev.Kind = DownloadFailed
		c.ev.Err = fmt.Errorf("the browser stopped after %d of %d bytes", c.ev.Sent, want)
		if ctx.Err() != nil {
			c.ev.Err = fmt.Errorf("the browser went away after %d of %d bytes", c.ev.Sent, want)
		}
	}
	c.s.events(c.ev)
}

// rangeStart reads the first byte position of a Content-Range header that
// http.ServeContent wrote ("bytes 100-199/1000"); 0 if it has none.
func rangeStart(v string) int64 {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0
	}
	first, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ContentDisposition is an attachment header for name: an RFC 5987
// filename* with the UTF-8 name percent-encoded, and a filename fallback
// for old clients with every byte that is not plain printable ASCII (and
// the quote and backslash) replaced by "_".
func ContentDisposition(name string) string {
	var ascii strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == utf8.RuneError {
			ascii.WriteByte('_')
			continue
		}
		ascii.WriteRune(r)
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + rfc5987(name)
}

// rfc5987 percent-encodes s as an RFC 5987 value-chars: attr-chars stay,
// every other byte becomes %XX.
func rfc5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
