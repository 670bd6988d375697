package webauth

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type vectorFile struct {
	SecretHex string `json:"secret_hex"`
	Fragment  string `json:"fragment"`
	KeyHex    string `json:"key_hex"`
	HelloHash string `json:"hello_hash"`
	OfferBody string `json:"offer_body"`
	Vectors   []struct {
		Name        string `json:"name"`
		Method      string `json:"method"`
		Target      string `json:"target"`
		Nonce       string `json:"nonce"`
		BodyBindHex string `json:"bodybind_hex"`
		MAC         string `json:"mac"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

// TestVectors checks the derivation and the MAC against the golden file the
// page's JavaScript is checked against too.
func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	s, err := Parse(vf.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(s.raw[:]); got != vf.SecretHex {
		t.Fatalf("secret %s, want %s", got, vf.SecretHex)
	}
	if s.Fragment() != vf.Fragment {
		t.Fatalf("fragment %s, want %s", s.Fragment(), vf.Fragment)
	}
	k := s.Key()
	if got := hex.EncodeToString(k[:]); got != vf.KeyHex {
		t.Fatalf("key %s, want %s", got, vf.KeyHex)
	}
	if got := BodyHash([]byte("hello")); got != vf.HelloHash {
		t.Fatalf("BLAKE3(hello) %s, want %s", got, vf.HelloHash)
	}
	if len(vf.Vectors) < 3 {
		t.Fatal("too few vectors")
	}
	for _, v := range vf.Vectors {
		bb, err := hex.DecodeString(v.BodyBindHex)
		if err != nil {
			t.Fatal(err)
		}
		if got := MAC(k, v.Method, v.Target, v.Nonce, bb); got != v.MAC {
			t.Errorf("%s: mac %s, want %s", v.Name, got, v.MAC)
		}
	}
}

func TestParseSecret(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Text()) != 26 || strings.ToLower(s.Text()) != s.Text() {
		t.Fatalf("text %q", s.Text())
	}
	for _, in := range []string{s.Text(), "#" + s.Fragment(), s.Fragment() + "&c=abc", "c=x&" + s.Fragment()} {
		p, err := Parse(in)
		if err != nil || p.Key() != s.Key() {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "k=", "k=abc", s.Text() + "a", "k=" + strings.Repeat("1", 26), "c=" + s.Text()} {
		if _, err := Parse(in); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Parse(%q) = %v, want ErrBadSecret", in, err)
		}
	}
}

func TestSplitTarget(t *testing.T) {
	for _, c := range []struct {
		in, rest, auth string
		bad            bool
	}{
		{"/a", "/a", "", false},
		{"/a?x=1", "/a?x=1", "", false},
		{"/a?auth=n.m", "/a", "n.m", false},
		{"/a?x=1&auth=n.m", "/a?x=1", "n.m", false},
		{"/a?auth=n.m&x=1", "", "", true},
		{"/a?x=1&auth", "", "", true},
		{"/a?x=1&authx=2", "/a?x=1&authx=2", "", false},
	} {
		rest, auth, err := SplitTarget(c.in)
		if (err != nil) != c.bad || rest != c.rest || auth != c.auth {
			t.Errorf("SplitTarget(%q) = %q, %q, %v", c.in, rest, auth, err)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newServer(t *testing.T, s *Secret, clk *clock) (*httptest.Server, *Verifier) {
	t.Helper()
	v := s.Verifier(Options{Now: clk.now, Log: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle("/api/", v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			body := make([]byte, 64)
			n, _ := r.Body.Read(body)
			if err := CheckChunk(r, body[:n]); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	v.SetHosts([]string{strings.TrimPrefix(srv.URL, "http://")})
	return srv, v
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("a CORS header")
	}
	return resp.StatusCode
}

func TestVerifier(t *testing.T) {
	s, _ := New()
	other, _ := New()
	clk := &clock{t: time.Unix(1e9, 0)}
	srv, _ := newServer(t, s, clk)

	get := func(auth string, mod func(*http.Request)) int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/events?offer=1", nil)
		if auth != "" {
			req.Header.Set(Header, auth)
		}
		if mod != nil {
			mod(req)
		}
		return do(t, req)
	}
	good := s.Sign("GET", "/api/v1/events?offer=1", nil)
	if c := get(good, nil); c != 204 {
		t.Fatalf("good MAC: %d", c)
	}
	if c := get(good, nil); c != 401 {
		t.Fatalf("replayed nonce: %d, want 401", c)
	}
	if c := get("", nil); c != 401 {
		t.Fatalf("no MAC: %d", c)
	}
	if c := get(other.Sign("GET", "/api/v1/events?offer=1", nil), nil); c != 401 {
		t.Fatalf("other key: %d", c)
	}
	if c := get(s.Sign("GET", "/api/v1/events?offer=2", nil), nil); c != 401 {
		t.Fatalf("other target: %d", c)
	}
	if c := get(s.Sign("GET", "/api/v1/events?offer=1", nil), func(r *http.Request) { r.Host = "evil.example:80" }); c != 421 {
		t.Fatalf("foreign host: %d", c)
	}
	// the query form
	req, _ := http.NewRequest("GET", srv.URL+s.SignURL("GET", "/api/v1/events?offer=1"), nil)
	if c := do(t, req); c != 204 {
		t.Fatalf("auth query: %d", c)
	}
	// a JSON POST binds its body
	body := `{"files":[]}`
	req, _ = http.NewRequest("POST", srv.URL+"/api/v1/offer", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s.SignRequest(req, []byte(body))
	if c := do(t, req); c != 204 {
		t.Fatalf("JSON POST: %d", c)
	}
	req, _ = http.NewRequest("POST", srv.URL+"/api/v1/offer", strings.NewReader(`{"files":[1]}`))
	req.Header.Set("Content-Type", "application/json")
	s.SignRequest(req, []byte(body))
	if c := do(t, req); c != 401 {
		t.Fatalf("JSON POST with a changed body: %d", c)
	}
	// a PATCH binds offset and chunk hash; the handler checks the body
	patch := func(offset, sent string, signed []byte) int {
		req, _ := http.NewRequest("PATCH", srv.URL+"/api/v1/files/x", strings.NewReader(sent))
		req.Header.Set("Upload-Offset", offset)
		s.SignRequest(req, signed)
		return do(t, req)
	}
	if c := patch("0", "hello", []byte("hello")); c != 204 {
		t.Fatalf("PATCH: %d", c)
	}
	if c := patch("0", "hellO", []byte("hello")); c != 400 {
		t.Fatalf("PATCH with a changed body: %d", c)
	}
	// so far 5 failures (the torn PATCH is the handler's); 14 more make 19,
	// still served; the 20th reaches the limit.
	for i := 0; i < 14; i++ {
		get(s.Sign("GET", "/wrong", nil), nil)
	}
	if c := get(s.Sign("GET", "/api/v1/events?offer=1", nil), nil); c != 204 {
		t.Fatalf("after 19 bad MACs: %d, want 204", c)
	}
	get(s.Sign("GET", "/wrong", nil), nil)
	if c := get(s.Sign("GET", "/api/v1/events?offer=1", nil), nil); c != 429 {
		t.Fatalf("after 20 bad MACs: %d, want 429", c)
	}
	clk.add(61 * time.Second)
	if c := get(s.Sign("GET", "/api/v1/events?offer=1", nil), nil); c != 204 {
		t.Fatalf("a minute later: %d, want 204", c)
	}
}

func TestNonceMemoryBounded(t *testing.T) {
	s, _ := New()
	v := s.Verifier(Options{})
	req := httptest.NewRequest("GET", "/x", nil)
	first := s.Sign("GET", "/x", nil)
	req.Header.Set(Header, first)
	if err := v.Check(req, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < NonceMemory; i++ {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set(Header, s.Sign("GET", "/x", nil))
		if err := v.Check(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.seen) != NonceMemory || len(v.ring) != NonceMemory {
		t.Fatalf("remembered %d/%d nonces", len(v.seen), len(v.ring))
	}
	if err := v.Check(req, nil); err != nil {
		t.Fatalf("the oldest nonce, forgotten, is accepted again: %v", err)
	}
	if err := v.Check(req, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
}
