package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// TestAuthOverHTTP: the real server refuses a missing, wrong or replayed
// MAC, a foreign Host header, and after 20 bad MACs answers 429; it sends
// no CORS header, and the page carries the CSP and the other headers.
func TestAuthOverHTTP(t *testing.T) {
	ts := startServer(t, t.TempDir(), 0, nil)
	c := newClient(t, ts, "")
	body := c.offerBody([]fileSpec{{"a.txt", 1, 0}})
	post := func(auth string, host string) *http.Response {
		req, _ := http.NewRequest("POST", ts.base+"/api/v1/offer", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://evil.example")
		if auth != "" {
			req.Header.Set(webauth.Header, auth)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("CORS header %s", k)
			}
		}
		return resp
	}
	bind := []byte(webauth.BodyHash(body))
	good := c.sec.Sign("POST", "/api/v1/offer", bind)
	other, _ := webauth.New()
	for _, tc := range []struct {
		name, auth, host string
		want             int
	}{
		{"missing MAC", "", "", 401},
		{"wrong key", other.Sign("POST", "/api/v1/offer", bind), "", 401},
		{"other body", c.sec.Sign("POST", "/api/v1/offer", []byte(webauth.BodyHash([]byte("{}")))), "", 401},
		{"other path", c.sec.Sign("POST", "/api/v1/offer?x", bind), "", 401},
		{"malformed", "zz.zz", "", 401},
		{"foreign Host", c.sec.Sign("POST", "/api/v1/offer", bind), "attacker.example:80", 421},
		{"good", good, "", 200},
		{"replayed", good, "", 401},
	} {
		if resp := post(tc.auth, tc.host); resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	// The page: Host checked, headers set.
	resp, err := http.Get(ts.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != CSP ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("page: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest("GET", ts.base+"/", nil)
	req.Host = "rebind.example:" + ts.host[strings.LastIndex(ts.host, ":")+1:]
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 421 {
		t.Errorf("page under a foreign Host: %d", resp.StatusCode)
	}
	// An OPTIONS preflight and a method override are refused outright.
	req, _ = http.NewRequest("OPTIONS", ts.base+"/api/v1/offer", nil)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 405 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS: %d", resp.StatusCode)
	}
	// 6 bad so far (the foreign Host is not a MAC failure: 5); 15 more
	// make 20, and then even a good MAC gets 429.
	for range 15 {
		post("", "")
	}
	if resp := post(c.sec.Sign("POST", "/api/v1/offer", bind), ""); resp.StatusCode != 429 {
		t.Errorf("after 20 bad MACs: %d, want 429", resp.StatusCode)
	}
}

// TestHostileNamesOverHTTP: each class of hostile name the QUIC kit tries
// is refused by the API, and nothing lands outside the folder (or in it).
func TestHostileNamesOverHTTP(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "in")
	ts := startServer(t, dir, 0, nil)
	c := newClient(t, ts, "")
	long := strings.Repeat("a", 300)
	for name, paths := range map[string][]string{
		"dotdot":         {"../escape.txt"},
		"dotdot-inside":  {"a/../../escape.txt"},
		"absolute":       {"/tmp/escape.txt"},
		"backslash":      {`..\escape.txt`},
		"control":        {"a\x1b[31mred.txt"},
		"nul":            {"a\x00b.txt"},
		"bidi":           {"invoice\u202etxt.exe"},
		"zero-width":     {"a\u200bb.txt"},
		"case-twins":     {"Photo.jpg", "photo.jpg"},
		"under-a-file":   {"f", "f/g"},
		"very-long":      {long + ".txt"},
		"ferry-partial":  {".ferry-x.part"},
		"dot":            {"."},
		"empty-segment":  {"a//b"},
		"trailing-slash": {"a/"},
	} {
		t.Run(name, func(t *testing.T) {
			var files []fileSpec
			for _, p := range paths {
				files = append(files, fileSpec{p, 1, 0})
			}
			_, r := c.offer(files, 400)
			if r.Error != "bad_offer" || r.Reason == "" {
				t.Errorf("refusal %+v", r)
			}
		})
	}
	if got := tree(t, parent); len(got) != 0 {
		t.Fatalf("files after hostile offers: %v", got)
	}
	// The server still takes a good offer.
	a, _ := c.offer([]fileSpec{{"ok.txt", 2, 0}}, 200)
	c.upload(a.Files[0], a.Chunk, []byte("ok"), 0)
	if _, end := c.events(a.Offer); end != "done" {
		t.Fatal(end)
	}
}

// TestPolicies: --accept trusted refuses browsers, no answer declines,
// and an offer larger than the free space is refused before asking.
func TestPolicies(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		ts := startServer(t, t.TempDir(), 0, func(c *Config) { c.Policy = transfer.PolicyTrusted })
		_, r := newClient(t, ts, "").offer([]fileSpec{{"a", 1, 0}}, 403)
		if r.Error != "declined" || !strings.Contains(r.Reason, "never one") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("ask-no", func(t *testing.T) {
		var info transfer.OfferInfo
		ts := startServer(t, t.TempDir(), 0, func(c *Config) {
			c.Policy = transfer.PolicyAsk
			c.Ask = func(_ context.Context, i transfer.OfferInfo) (bool, error) { info = i; return false, nil }
		})
		_, r := newClient(t, ts, "").offer([]fileSpec{{"a b", 0, 0}, {"x/y", 5, 0}}, 403)
		if r.Error != "declined" || r.Code != info.Code || info.Files != 2 || info.Dirs != 1 || info.Bytes != 5 {
			t.Fatalf("%+v, asked %+v", r, info)
		}
		var declined bool
		for _, ev := range ts.evs() {
			_, declined = ev.(transfer.EventDeclined)
		}
		if !declined {
			t.Error("no declined event")
		}
	})
	t.Run("asked-once", func(t *testing.T) {
		// A reloaded page offers the same files again: no second question,
		// and the new offer replaces the old one.
		var asked atomic.Int32
		ts := startServer(t, t.TempDir(), 0, func(c *Config) {
			c.Policy = transfer.PolicyAsk
			c.Ask = func(context.Context, transfer.OfferInfo) (bool, error) { asked.Add(1); return true, nil }
		})
		c := newClient(t, ts, "")
		a1, _ := c.offer([]fileSpec{{"a", 3, 5}}, 200)
		a2, _ := c.offer([]fileSpec{{"a", 3, 5}}, 200)
		if asked.Load() != 1 || a1.Code != a2.Code || a1.Offer == a2.Offer {
			t.Fatalf("asked %d times; %+v %+v", asked.Load(), a1, a2)
		}
		if _, code := c.head(a1.Files[0].Upload); code != 404 {
			t.Errorf("the replaced offer's upload: %d", code)
		}
		c.upload(a2.Files[0], a2.Chunk, []byte("abc"), 0)
		if _, end := c.events(a2.Offer); end != "done" {
			t.Fatal(end)
		}
		// Other files: asked again.
		c.offer([]fileSpec{{"b", 3, 5}}, 200)
		if asked.Load() != 2 {
			t.Fatalf("asked %d times", asked.Load())
		}
	})
	t.Run("no-space", func(t *testing.T) {
		asked := false
		ts := startServer(t, t.TempDir(), 0, func(c *Config) {
			c.Policy = transfer.PolicyAsk
			c.ChunkSize = 16 << 20
			c.Ask = func(context.Context, transfer.OfferInfo) (bool, error) { asked = true; return true, nil }
		})
		_, r := newClient(t, ts, "").offer([]fileSpec{{"huge", 1 << 40, 0}}, 507) // 1 TiB
		if r.Error != "no_space" || asked {
			t.Fatalf("%+v asked %v", r, asked)
		}
	})
	t.Run("too-many-files", func(t *testing.T) {
		ts := startServer(t, t.TempDir(), 0, nil)
		var files []fileSpec
		for i := range MaxFiles + 1 {
			files = append(files, fileSpec{fmt.Sprintf("f%d", i), 0, 0})
		}
		if _, r := newClient(t, ts, "").offer(files, 400); !strings.Contains(r.Reason, "at most") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("browsers", func(t *testing.T) {
		ts := startServer(t, t.TempDir(), 0, nil)
		for i := range MaxBrowsers {
			newClient(t, ts, fmt.Sprintf("%032x", i)).offer([]fileSpec{{"a", 1, 0}}, 200)
		}
		if _, r := newClient(t, ts, fmt.Sprintf("%032x", 99)).offer([]fileSpec{{"a", 1, 0}}, 503); r.Error != "busy" {
			t.Fatalf("%+v", r)
		}
	})
}
