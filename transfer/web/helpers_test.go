package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

const testChunk = 64 << 10

type testServer struct {
	*Server
	base   string // http://127.0.0.1:PORT
	host   string
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []transfer.Event
}

func (ts *testServer) evs() []transfer.Event {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]transfer.Event(nil), ts.events...)
}

// startServer runs a web receiver on loopback; port 0 picks one.
func startServer(t *testing.T, dir string, port int, mod func(*Config)) *testServer {
	return startServerOn(t, nil, dir, port, mod)
}

// startServerOn runs a web receiver on the listener listen returns.
func startServerOn(t *testing.T, listen func(port int) (net.Listener, error), dir string, port int, mod func(*Config)) *testServer {
	t.Helper()
	sec, err := webauth.New()
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{done: make(chan error, 1)}
	cfg := Config{Dir: dir, Secret: sec, Policy: transfer.PolicyAll, ChunkSize: testChunk,
		Events: func(ev transfer.Event) { ts.mu.Lock(); ts.events = append(ts.events, ev); ts.mu.Unlock() }}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if listen == nil {
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	} else {
		ln, err = listen(port)
	}
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	ts.host = ln.Addr().String()
	ts.base = "http://" + ts.host
	s.SetHosts([]string{ts.host})
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- s.Serve(ctx, []net.Listener{ln}) }()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	<-ts.done
}

// client is a Go stand-in for the page.
type client struct {
	t    *testing.T
	ts   *testServer
	sec  *webauth.Secret
	id   string
	hc   *http.Client
	sent int64 // chunk bytes put on the wire
}

func newClient(t *testing.T, ts *testServer, id string) *client {
	if id == "" {
		id = webauth.NewNonce()
	}
	return &client{t: t, ts: ts, sec: ts.cfg.Secret, id: id, hc: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}}
}

func (c *client) req(method, target string, body []byte, hdr map[string]string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.ts.base+target, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPatch || method == http.MethodHead {
		req.Header.Set("Tus-Resumable", "1.0.0")
	}
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	c.sec.SignRequest(req, body)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

type fileSpec struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
}

func (c *client) offerBody(files []fileSpec) []byte {
	b, _ := json.Marshal(map[string]any{"client": c.id, "files": files})
	return b
}

// offer posts an offer and decodes the answer; it fails the test unless
// the status is want.
func (c *client) offer(files []fileSpec, want int) (offerAnswer, refusal) {
	c.t.Helper()
	resp := c.req("POST", "/api/v1/offer", c.offerBody(files), nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("offer: %d %s, want %d", resp.StatusCode, b, want)
	}
	var a offerAnswer
	var r refusal
	if want == 200 {
		if err := json.Unmarshal(b, &a); err != nil {
			c.t.Fatal(err)
		}
	} else {
		json.Unmarshal(b, &r)
	}
	return a, r
}

// head returns the upload's offset.
func (c *client) head(upload string) (int64, int) {
	c.t.Helper()
	resp := c.req("HEAD", upload, nil, nil)
	resp.Body.Close()
	off, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return off, resp.StatusCode
}

// patch sends one chunk; it returns the status and the new offset.
func (c *client) patch(upload string, offset int64, chunk []byte) (int, int64) {
	c.t.Helper()
	resp := c.req("PATCH", upload, chunk, map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10)})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.sent += int64(len(chunk))
	off, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return resp.StatusCode, off
}

// upload sends data from the upload's current offset, chunk by chunk,
// stopping (without error) once stopAt bytes are in when stopAt > 0.
func (c *client) upload(fa fileAnswer, chunk int64, data []byte, stopAt int64) {
	c.t.Helper()
	off, code := c.head(fa.Upload)
	if code != 200 {
		c.t.Fatalf("HEAD %s: %d", fa.Upload, code)
	}
	for off < int64(len(data)) {
		if stopAt > 0 && off >= stopAt {
			return
		}
		end := min(off+chunk, int64(len(data)))
		code, next := c.patch(fa.Upload, off, data[off:end])
		if code != http.StatusNoContent || next != end {
			c.t.Fatalf("PATCH %s at %d: %d, offset %d", fa.Upload, off, code, next)
		}
		off = next
	}
}

// events reads the offer's event stream until "done" or "failed".
func (c *client) events(offer string) (files []fileResult, end string) {
	c.t.Helper()
	resp := c.req("GET", "/api/v1/events?offer="+offer, nil, nil)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("events: %d", resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	var ev string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && ev == "file":
			var fr fileResult
			json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &fr)
			files = append(files, fr)
		case strings.HasPrefix(line, "data: "):
			end = ev
		}
	}
	return files, end
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// tree lists every file under dir (relative, slash-separated), hidden
// partials included.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	return out
}
