package web

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// sendFixture is a SendServer on a real loopback HTTP server, offering a
// folder and a file.
type sendFixture struct {
	t      *testing.T
	dir    string // what is shared: dir/album (a folder) and dir/notes.txt
	url    string // http://127.0.0.1:PORT
	host   string
	secret *webauth.Secret
	srv    *SendServer
	shared *Shared

	mu      sync.Mutex
	events  []DownloadEvent
	changed chan struct{} // a token after each event
	all     chan struct{} // closed on DownloadAllDone
}

// write makes a file of n random bytes.
func write(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func newSendFixture(t *testing.T) *sendFixture {
	t.Helper()
	f := &sendFixture{t: t, dir: t.TempDir(), all: make(chan struct{}), changed: make(chan struct{}, 1)}
	write(t, filepath.Join(f.dir, "album", "a.jpg"), 300<<10)
	write(t, filepath.Join(f.dir, "album", "sub", "b ü \"q\".txt"), 1000)
	write(t, filepath.Join(f.dir, "album", "empty.bin"), 0)
	if err := os.MkdirAll(filepath.Join(f.dir, "album", "nothing", "here"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(f.dir, "notes.txt"), 16<<20) // larger than what socket buffers hold, so a cut shows
	write(t, filepath.Join(f.dir, "secret.txt"), 10)
	var err error
	f.shared, err = Share([]string{filepath.Join(f.dir, "album"), filepath.Join(f.dir, "notes.txt")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.shared.Close() })
	if f.secret, err = webauth.New(); err != nil {
		t.Fatal(err)
	}
	f.srv = NewSendServer(SendOptions{Shared: f.shared, Secret: f.secret, ZipName: "ferry files.zip", Events: f.onEvent})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	f.host = strings.TrimPrefix(ts.URL, "http://")
	f.srv.SetHosts([]string{f.host})
	return f
}

func (f *sendFixture) onEvent(ev DownloadEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	if ev.Kind == DownloadAllDone {
		close(f.all)
	}
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// waitKinds waits until the events of name satisfy ok, or 5 s pass.
func (f *sendFixture) waitKinds(name string, ok func([]DownloadKind) bool) []DownloadKind {
	deadline := time.After(5 * time.Second)
	for {
		k := f.kinds(name)
		if ok(k) {
			return k
		}
		select {
		case <-f.changed:
		case <-deadline:
			return k
		}
	}
}

func (f *sendFixture) kinds(name string) []DownloadKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []DownloadKind
	for _, ev := range f.events {
		if ev.Name == name && ev.Kind != DownloadProgress {
			out = append(out, ev.Kind)
		}
	}
	return out
}

// index is the list index of the file named name.
func (f *sendFixture) index(name string) int {
	f.t.Helper()
	for i, sf := range f.shared.Files {
		if sf.Name == name {
			return i
		}
	}
	f.t.Fatalf("no shared file %q in %v", name, f.shared.Files)
	return -1
}

func (f *sendFixture) get(target string, hdr map[string]string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.url+target, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { res.Body.Close() })
	return res
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestShareLists(t *testing.T) {
	f := newSendFixture(t)
	var names []string
	for _, sf := range f.shared.Files {
		names = append(names, sf.Name)
	}
	want := []string{"album/a.jpg", "album/empty.bin", "album/sub/b ü \"q\".txt", "notes.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
	if !slices.Equal(f.shared.Dirs, []string{"album/nothing/here"}) {
		t.Errorf("empty folders %q, want [album/nothing/here]", f.shared.Dirs)
	}
	if f.shared.Total != 300<<10+1000+16<<20 {
		t.Errorf("total %d", f.shared.Total)
	}
}

// Links in a shared folder: to a file inside it, offered; to a file
// outside it, to a folder, or broken, skipped.
func TestShareSymlinks(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "outside.txt"), 10)
	write(t, filepath.Join(dir, "f", "in.txt"), 20)
	for link, to := range map[string]string{
		"f/in-link.txt":   "in.txt",
		"f/out-link.txt":  "../outside.txt",
		"f/abs-link.txt":  filepath.Join(dir, "outside.txt"),
		"f/dir-link":      ".",
		"f/broken-link":   "nowhere",
		"f/up-dir-link":   "..",
		"f/sub/deep-link": "../in.txt",
	} {
		p := filepath.Join(dir, link)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(to, p); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Share([]string{filepath.Join(dir, "f")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var names []string
	for _, sf := range s.Files {
		names = append(names, sf.Name)
	}
	want := []string{"f/in-link.txt", "f/in.txt", "f/sub/deep-link"}
	if !slices.Equal(names, want) {
		t.Errorf("offered %q, want %q", names, want)
	}
}

// A file swapped for a link that leads outside after the listing cannot be
// read through the root.
func TestShareSwappedForLink(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret.txt"), 10)
	write(t, filepath.Join(dir, "f", "a.txt"), 10)
	s, err := Share([]string{filepath.Join(dir, "f")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Remove(filepath.Join(dir, "f", "a.txt"))
	if err := os.Symlink("../secret.txt", filepath.Join(dir, "f", "a.txt")); err != nil {
		t.Fatal(err)
	}
	if fh, _, err := s.open(0); err == nil {
		fh.Close()
		t.Fatal("opened a link leading outside the shared folder")
	}
	var buf bytes.Buffer
	if err := s.WriteZip(context.Background(), &buf); err == nil {
		t.Fatal("zipped a link leading outside the shared folder")
	}
}

func TestSendList(t *testing.T) {
	f := newSendFixture(t)
	res := f.get("/api/v1/files", map[string]string{webauth.Header: f.secret.Sign("GET", "/api/v1/files", nil)})
	if res.StatusCode != 200 {
		t.Fatalf("list: %s", res.Status)
	}
	var got struct {
		Files []listEntry `json:"files"`
		Total int64       `json:"total"`
		Zip   string      `json:"zip"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 4 || got.Files[3].Name != "notes.txt" || got.Files[3].Size != 16<<20 || got.Total != f.shared.Total || got.Zip != "ferry files.zip" {
		t.Errorf("list %+v", got)
	}
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("a CORS header")
	}
	page := f.get("/", nil)
	if page.StatusCode != 200 || !strings.Contains(page.Header.Get("Content-Security-Policy"), "default-src 'self'") ||
		page.Header.Get("X-Content-Type-Options") != "nosniff" || page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("page: %s %v", page.Status, page.Header)
	}
	for _, p := range []string{"/send.js", "/send.css", "/vendor/blake3.umd.min.js"} {
		if r := f.get(p, nil); r.StatusCode != 200 {
			t.Errorf("%s: %s", p, r.Status)
		}
	}
}

// A download cut at 40 % and resumed with Range (same URL, same nonce, as
// a browser resumes) gives the file's exact bytes.
func TestSendDownloadResumes(t *testing.T) {
	f := newSendFixture(t)
	want, err := os.ReadFile(filepath.Join(f.dir, "notes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	i := f.index("notes.txt")
	link := f.secret.SignURL("GET", fmt.Sprintf("/api/v1/dl/%d", i))

	// First try: read 40 %, then the connection drops.
	cut := len(want) * 4 / 10
	conn, err := net.Dial("tcp", f.host)
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetReadBuffer(64 << 10)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", link, f.host)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("download: %s", res.Status)
	}
	cd := res.Header.Get("Content-Disposition")
	if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != "notes.txt" {
		t.Errorf("Content-Disposition %q: %v %v", cd, params, err)
	}
	first := make([]byte, cut)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// The resume: same URL, with Range and If-Range, as Chromium sends it.
	res2 := f.get(link, map[string]string{"Range": fmt.Sprintf("bytes=%d-", cut), "If-Range": res.Header.Get("Last-Modified")})
	if res2.StatusCode != http.StatusPartialContent {
		t.Fatalf("resume: %s", res2.Status)
	}
	rest := readAll(t, res2.Body)
	if got := append(first, rest...); !bytes.Equal(got, want) {
		t.Fatalf("resumed download: %d bytes, differ from the file's %d", len(got), len(want))
	}
	// The server saw a cut download, then the rest.
	k := f.waitKinds("notes.txt", func(k []DownloadKind) bool {
		return slices.Contains(k, DownloadFailed) && slices.Contains(k, DownloadDone)
	})
	if !slices.Contains(k, DownloadFailed) || !slices.Contains(k, DownloadDone) {
		t.Errorf("events %v, want a failed one, then done last", k)
	}

	// The nonce is good for that one file only, and for GET only.
	other := fmt.Sprintf("/api/v1/dl/%d", f.index("album/a.jpg"))
	_, auth, _ := webauth.SplitTarget(link)
	if r := f.get(other+"?auth="+auth, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("another file with the nonce of %s: %s, want 401", link, r.Status)
	}
	if r := f.get("/api/v1/zip?auth="+auth, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the zip with the nonce of %s: %s, want 401", link, r.Status)
	}
	// After an hour it is spent.
	f.srv.now = func() time.Time { return time.Now().Add(DownloadNonceTTL + time.Minute) }
	if r := f.get(link, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the link after an hour: %s, want 401", r.Status)
	}
}

func TestSendRefuses(t *testing.T) {
	f := newSendFixture(t)
	i := f.index("notes.txt")
	target := fmt.Sprintf("/api/v1/dl/%d", i)
	good := f.secret.SignURL("GET", target)
	other, _ := webauth.New()
	for _, c := range []struct {
		name   string
		target string
		hdr    map[string]string
		want   int
	}{
		{"no MAC", target, nil, 401},
		{"wrong key", other.SignURL("GET", target), nil, 401},
		{"MAC of another target", target + "?auth=" + strings.SplitN(f.secret.SignURL("GET", "/api/v1/dl/0"), "auth=", 2)[1], nil, 401},
		{"malformed auth", target + "?auth=zz.zz", nil, 401},
		{"auth not last", target + "?auth=" + strings.SplitN(good, "auth=", 2)[1] + "&x=1", nil, 401},
		{"foreign Host", good, map[string]string{"Host": "evil.example:80"}, 421},
		{"list without MAC", "/api/v1/files", nil, 401},
		{"list with a link's query MAC", f.secret.SignURL("GET", "/api/v1/files"), nil, 200}, // the query form is valid for any GET
		{"page from a foreign Host", "/", map[string]string{"Host": "rebound.example"}, 421},
		{"index past the end", f.secret.SignURL("GET", "/api/v1/dl/4"), nil, 404},
		{"negative index", f.secret.SignURL("GET", "/api/v1/dl/-1"), nil, 404},
		{"leading zero", f.secret.SignURL("GET", "/api/v1/dl/03"), nil, 404},
		{"a path for an index", f.secret.SignURL("GET", "/api/v1/dl/secret.txt"), nil, 404},
		{"an escaped path", f.secret.SignURL("GET", "/api/v1/dl/..%2fsecret.txt"), nil, 404},
		{"a path below dl", f.secret.SignURL("GET", "/api/v1/dl/0/../../secret.txt"), nil, 404},
		{"a POST", "", nil, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			var res *http.Response
			if c.want == 405 {
				r, err := http.Post(f.url+f.secret.SignURL("POST", target), "text/plain", nil)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				res = r
			} else {
				res = f.get(c.target, c.hdr)
			}
			body := readAll(t, res.Body)
			if res.StatusCode != c.want {
				t.Errorf("%s: %s, want %d (%q)", c.target, res.Status, c.want, body)
			}
			if c.want != 200 && len(body) > 200 {
				t.Errorf("%s: refused with a %d-byte body", c.target, len(body))
			}
		})
	}
}

// The same request-target with a raw ".." path never reaches a file outside
// the list (ServeMux cleans it into a redirect, which carries no bytes).
func TestSendRawTraversal(t *testing.T) {
	f := newSendFixture(t)
	for _, raw := range []string{"/api/v1/dl/../../secret.txt", "/api/v1/dl/%2e%2e/secret.txt", "/../secret.txt", "/secret.txt"} {
		conn, err := net.Dial("tcp", f.host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", raw, f.host)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res.Body)
		conn.Close()
		if res.StatusCode == 200 {
			t.Errorf("%s: 200 with %d bytes", raw, len(body))
		}
	}
}

// Download all: a zip that unzip -t passes and that extracts to exactly the
// shared tree; after it, every file counts as downloaded.
func TestSendZip(t *testing.T) {
	f := newSendFixture(t)
	res := f.get(f.secret.SignURL("GET", "/api/v1/zip"), nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %s %v", res.Status, res.Header)
	}
	if _, params, _ := mime.ParseMediaType(res.Header.Get("Content-Disposition")); params["filename"] != "ferry files.zip" {
		t.Errorf("zip named %q", params["filename"])
	}
	body := readAll(t, res.Body)
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if zf.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", zf.Name, zf.Method)
		}
	}
	select {
	case <-f.all:
	case <-time.After(5 * time.Second):
		t.Error("no DownloadAllDone after the zip")
	}

	if _, err := exec.LookPath("unzip"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and unzip is missing")
		}
		t.Skip("unzip is not installed")
	}
	zpath := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(zpath, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unzip", "-t", zpath).CombinedOutput(); err != nil {
		t.Fatalf("unzip -t: %v\n%s", err, out)
	}
	out := t.TempDir()
	if o, err := exec.Command("unzip", "-q", zpath, "-d", out).CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v\n%s", err, o)
	}
	for _, sf := range f.shared.Files {
		src := filepath.Join(f.dir, filepath.FromSlash(sf.Name))
		a, err1 := os.ReadFile(src)
		b, err2 := os.ReadFile(filepath.Join(out, filepath.FromSlash(sf.Name)))
		if err := errors.Join(err1, err2); err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: extracted differs from the shared file (%v)", sf.Name, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "album", "nothing", "here")); err != nil || !fi.IsDir() {
		t.Errorf("the empty folder is missing from the zip: %v", err)
	}
	var extracted int
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			extracted++
		}
		return nil
	})
	if extracted != len(f.shared.Files) {
		t.Errorf("extracted %d files, want %d", extracted, len(f.shared.Files))
	}
}

// --once: every file downloaded in full, one in two pieces, ends the offer.
func TestSendAllDoneByPieces(t *testing.T) {
	f := newSendFixture(t)
	for i, sf := range f.shared.Files {
		link := f.secret.SignURL("GET", fmt.Sprintf("/api/v1/dl/%d", i))
		if sf.Name == "notes.txt" {
			a := f.get(link, map[string]string{"Range": "bytes=0-99"})
			readAll(t, a.Body)
			select {
			case <-f.all:
				t.Fatal("all done after a piece")
			default:
			}
			b := f.get(link, map[string]string{"Range": "bytes=100-"})
			readAll(t, b.Body)
			continue
		}
		readAll(t, f.get(link, nil).Body)
	}
	select {
	case <-f.all:
	case <-time.After(5 * time.Second):
		t.Error("no DownloadAllDone after every file went out")
	}
}

func TestContentDisposition(t *testing.T) {
	for _, name := range []string{"a.txt", "b ü \"q\".txt", "日本語.pdf", "x\\y;z\r\n.bin", "%41.txt"} {
		v := ContentDisposition(name)
		if strings.ContainsAny(v, "\r\n") {
			t.Errorf("%q: header value with a line break: %q", name, v)
		}
		_, params, err := mime.ParseMediaType(v)
		if err != nil {
			t.Errorf("%q: %q does not parse: %v", name, v, err)
			continue
		}
		if params["filename"] != name {
			t.Errorf("%q: filename* decodes to %q", name, params["filename"])
		}
	}
}

// Past MaxDownloads at once, a download gets 503 and Retry-After.
func TestSendDownloadLimit(t *testing.T) {
	f := newSendFixture(t)
	for range MaxDownloads {
		f.srv.slots <- struct{}{} // as if that many ran
	}
	res := f.get(f.secret.SignURL("GET", "/api/v1/dl/0"), nil)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("download past the limit: %s, Retry-After %q", res.Status, res.Header.Get("Retry-After"))
	}
	<-f.srv.slots
	if res := f.get(f.secret.SignURL("GET", "/api/v1/dl/0"), nil); res.StatusCode != 200 {
		t.Errorf("download with a free slot: %s", res.Status)
	}
}

// A PATH that is itself a link is offered under the link's name, read
// from its target.
func TestShareNamedLink(t *testing.T) {
	dir := t.TempDir()
	want := write(t, filepath.Join(dir, "elsewhere", "real.txt"), 100)
	os.MkdirAll(filepath.Join(dir, "here"), 0o755)
	link := filepath.Join(dir, "here", "shown.txt")
	if err := os.Symlink(filepath.Join(dir, "elsewhere", "real.txt"), link); err != nil {
		t.Fatal(err)
	}
	s, err := Share([]string{link}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Files) != 1 || s.Files[0].Name != "shown.txt" {
		t.Fatalf("files %+v", s.Files)
	}
	fh, _, err := s.open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if got := readAll(t, fh); !bytes.Equal(got, want) {
		t.Error("read something else than the link's target")
	}
}
