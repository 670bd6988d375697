package attack

// ferry-web/1 (ferry receive --web, ferry send --web), attacked from its
// specification only: transfer/web/doc.go, transfer/web/webauth/doc.go (and
// its golden vectors), the comment at the top of transfer/web/download.go,
// SECURITY.md ("The web page", "Downloads by browser") and README.md. The
// kit computes its MACs itself (keyed BLAKE3, zeebo/blake3) and writes its
// HTTP requests byte by byte, so that the request line, the Host header and
// every other header are exactly what the case says.
//
// The web server needs an address on a network (not loopback): the kit's
// private namespace gets a veth pair with 10.77.0.1/24 and fd77::1/64 on
// it, and more addresses (10.77.0.2…) that the kit's clients use as source
// addresses, since wrong MACs are counted per source address.

import (
	"bufio"
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

const (
	webIP4  = "10.77.0.1"
	webIP6  = "fd77::1"
	webLink = "fweb0"
)

var (
	webNetOnce sync.Once
	webNetErr  error
	webNextSrc atomic.Int32 // the last source address handed out: 10.77.0.N
)

// needWebNet gives the kit's namespace the veth pair the web tests need,
// once.
func needWebNet(t *testing.T) {
	t.Helper()
	needFerry(t)
	webNetOnce.Do(func() {
		var b strings.Builder
		fmt.Fprintf(&b, "link add %s type veth peer name fweb1\n", webLink)
		fmt.Fprintf(&b, "addr add %s/24 dev %s\n", webIP4, webLink)
		for i := 2; i < 250; i++ {
			fmt.Fprintf(&b, "addr add 10.77.0.%d/32 dev %s\n", i, webLink)
		}
		fmt.Fprintf(&b, "addr add %s/64 dev %s nodad\n", webIP6, webLink)
		fmt.Fprintf(&b, "link set fweb1 up\nlink set %s up\n", webLink)
		cmd := exec.Command("ip", "-batch", "-")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			webNetErr = fmt.Errorf("ip -batch: %v: %s", err, out)
		}
		webNextSrc.Store(1)
	})
	if webNetErr != nil {
		t.Fatalf("cannot give the namespace a network address: %v", webNetErr)
	}
}

// newSrc returns a source address no other case uses, so that a case's
// wrong MACs are counted against it alone.
func newSrc(t *testing.T) string {
	n := webNextSrc.Add(1)
	if n >= 250 {
		t.Fatal("out of source addresses")
	}
	return fmt.Sprintf("10.77.0.%d", n)
}

// ---------------------------------------------------------------------------
// ferry-web/1, from webauth/doc.go

// webKeyOf is K = BLAKE3-256("ferry-web/1 key\x00" ‖ S).
func webKeyOf(secret []byte) []byte {
	k := blake3.Sum256(append([]byte("ferry-web/1 key\x00"), secret...))
	return k[:]
}

// webMAC is keyed-BLAKE3-256(K, "ferry-web/1\x00" ‖ METHOD ‖ "\x00" ‖
// TARGET ‖ "\x00" ‖ nonce ‖ "\x00" ‖ BODYBIND), in lower-case hex.
func webMAC(key []byte, method, target, nonce string, bind []byte) string {
	h, err := blake3.NewKeyed(key)
	if err != nil {
		panic(err)
	}
	h.WriteString("ferry-web/1\x00" + method + "\x00" + target + "\x00" + nonce + "\x00")
	h.Write(bind)
	return hex.EncodeToString(h.Sum(nil))
}

func hexBlake3(b []byte) string {
	s := blake3.Sum256(b)
	return hex.EncodeToString(s[:])
}

// patchBind is a tus PATCH's BODYBIND.
func patchBind(offset, chunkHash string) []byte { return []byte(offset + "\x00" + chunkHash) }

// webSecret parses the secret out of a page URL's fragment (#k=…).
func webSecret(url string) ([]byte, error) {
	i := strings.Index(url, "#k=")
	if i < 0 {
		return nil, fmt.Errorf("no #k= in %q", url)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(url[i+3:]))
}

// TestWebMACVectors checks the kit's ferry-web/1 against the golden
// vectors webauth/doc.go points a second implementation to, so that every
// web case below signs as the spec says.
func TestWebMACVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "transfer", "web", "webauth", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Fragment  string `json:"fragment"`
		SecretHex string `json:"secret_hex"`
		KeyHex    string `json:"key_hex"`
		Vectors   []struct {
			Name, Method, Target, Nonce, MAC string
			BodybindHex                      string `json:"bodybind_hex"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	secret, err := webSecret("http://x/#" + v.Fragment)
	if err != nil || hex.EncodeToString(secret) != v.SecretHex {
		t.Fatalf("fragment %q decodes to %x (%v), want %s", v.Fragment, secret, err, v.SecretHex)
	}
	key := webKeyOf(secret)
	if hex.EncodeToString(key) != v.KeyHex {
		t.Fatalf("K = %x, want %s", key, v.KeyHex)
	}
	if len(v.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Vectors {
		bind, _ := hex.DecodeString(c.BodybindHex)
		if got := webMAC(key, c.Method, c.Target, c.Nonce, bind); got != c.MAC {
			t.Errorf("%s: mac %s, want %s", c.Name, got, c.MAC)
		}
	}
}

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 client

// webServer is a running ferry web server (receive --web or send --web).
type webServer struct {
	*proc
	port   int
	key    []byte
	secret []byte
	host   string // 10.77.0.1:PORT
	dir    string // receive: the receiving folder
}

// startWebServer runs ferry with args (which include --web --json) and
// waits for its "web" event.
func startWebServer(t *testing.T, name, dir string, args ...string) *webServer {
	t.Helper()
	needWebNet(t)
	p := startProc(t, name, args...)
	ev, ok := p.waitEvent("web", 1, 10*time.Second)
	if !ok {
		t.Fatalf("%s printed no web event: %v %s", name, p.Events(), p.Stderr())
	}
	url, _ := ev["url"].(string)
	secret, err := webSecret(url)
	if err != nil || len(secret) != 16 {
		t.Fatalf("web event's url %q: secret %x (%v), want 16 bytes", url, secret, err)
	}
	w := &webServer{proc: p, port: int(ev["port"].(float64)), secret: secret, key: webKeyOf(secret), dir: dir}
	w.host = net.JoinHostPort(webIP4, strconv.Itoa(w.port))
	if !strings.HasPrefix(url, "http://"+w.host+"/") {
		t.Fatalf("web url %q is not on %s", url, w.host)
	}
	return w
}

func startWebReceiver(t *testing.T, accept string, extra ...string) *webServer {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"--json", "--home", t.TempDir(), "--name", "victim-receiver",
		"receive", "--web", "--accept", accept, "--port", "0", "--dir", dir}, extra...)
	w := startWebServer(t, "receiver", dir, args...)
	if _, ok := w.waitEvent("listening", 1, 10*time.Second); !ok {
		t.Fatalf("receiver did not listen: %s", w.Stderr())
	}
	return w
}

// webReq is one request, written as it is: Target is the request-target
// on the request line, Auth the X-Ferry-Auth value ("" for none).
type webReq struct {
	Src    string // source address, "" for any
	Method string
	Target string
	Host   string // the Host header; "" for none
	Header [][2]string
	Body   []byte
	Auth   string
}

type webResp struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

func (r webResp) String() string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	b := r.Body
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("%d %q", r.Status, b)
}

// dialFrom connects to the server from src.
func (w *webServer) dialFrom(src string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.Dial("tcp", w.host)
}

// raw sends q on a new connection and reads the response (bodies up to
// limit bytes; the rest is counted in the response's Err).
func (w *webServer) raw(q webReq) webResp {
	c, err := w.dialFrom(q.Src)
	if err != nil {
		return webResp{Err: err}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", q.Method, q.Target)
	if q.Host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", q.Host)
	}
	for _, h := range q.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if q.Auth != "" {
		fmt.Fprintf(&b, "X-Ferry-Auth: %s\r\n", q.Auth)
	}
	if q.Body != nil || q.Method == "POST" || q.Method == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.Body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(q.Body)
	if _, err := c.Write(b.Bytes()); err != nil {
		return webResp{Err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: q.Method})
	if err != nil {
		return webResp{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return webResp{Status: resp.StatusCode, Header: resp.Header, Body: body, Err: err}
}

// nonce is a fresh ferry-web/1 nonce.
func nonce() string { return hex.EncodeToString(random(16)) }

// auth is a good X-Ferry-Auth value for method, target and bind.
func (w *webServer) auth(method, target string, bind []byte) string {
	n := nonce()
	return n + "." + webMAC(w.key, method, target, n, bind)
}

// signed is q with the server's own Host and a good MAC over it (a JSON
// POST's body hash, a PATCH's offset and chunk hash).
func (w *webServer) signed(q webReq) webReq {
	if q.Host == "" {
		q.Host = w.host
	}
	var bind []byte
	switch q.Method {
	case "POST":
		bind = []byte(hexBlake3(q.Body))
	case "PATCH":
		bind = patchBind(hdrOf(q, "Upload-Offset"), hdrOf(q, "X-Ferry-Chunk-Hash"))
	}
	q.Auth = w.auth(q.Method, q.Target, bind)
	return q
}

func hdrOf(q webReq, name string) string {
	for _, h := range q.Header {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// ---------------------------------------------------------------------------
// The upload API

type webOfferFile struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
}

type webOfferAnswer struct {
	Offer json.RawMessage `json:"offer"`
	Code  string          `json:"code"`
	Chunk int64           `json:"chunk"`
	Files []struct {
		Upload string          `json:"upload"`
		Offset int64           `json:"offset"`
		Kept   json.RawMessage `json:"kept"`
		Done   bool            `json:"done"`
	} `json:"files"`
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

func offerBody(client string, files ...webOfferFile) []byte {
	return mustJSON(map[string]any{"client": client, "files": files})
}

func newClient() string { return hex.EncodeToString(random(16)) }

// postOffer offers body from src with a good MAC.
func (w *webServer) postOffer(src string, body []byte) (webResp, webOfferAnswer) {
	r := w.raw(w.signed(webReq{Src: src, Method: "POST", Target: "/api/v1/offer",
		Header: [][2]string{{"Content-Type", "application/json"}}, Body: body}))
	var a webOfferAnswer
	json.Unmarshal(r.Body, &a)
	return r, a
}

// acceptedOffer offers files from src and fails unless the answer is 200.
func (w *webServer) acceptedOffer(t *testing.T, src string, files ...webOfferFile) webOfferAnswer {
	t.Helper()
	r, a := w.postOffer(src, offerBody(newClient(), files...))
	if r.Status != 200 || len(a.Files) != len(files) || a.Chunk <= 0 {
		t.Fatalf("offer of %d files: %v", len(files), r)
	}
	return a
}

// patchReq is a PATCH of body at offset to upload, with its true hash.
func patchReq(src, upload string, offset int64, body []byte) webReq {
	return webReq{Src: src, Method: "PATCH", Target: upload, Body: body, Header: [][2]string{
		{"Tus-Resumable", "1.0.0"},
		{"Content-Type", "application/offset+octet-stream"},
		{"Upload-Offset", strconv.FormatInt(offset, 10)},
		{"X-Ferry-Chunk-Hash", hexBlake3(body)},
	}}
}

// headOffset asks HEAD for an upload's Upload-Offset (-1 when not given).
func (w *webServer) headOffset(src, upload string) (int64, webResp) {
	r := w.raw(w.signed(webReq{Src: src, Method: "HEAD", Target: upload, Header: [][2]string{{"Tus-Resumable", "1.0.0"}}}))
	off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		off = -1
	}
	return off, r
}

// upload sends data to upload in chunks of chunk bytes, each checked.
func (w *webServer) upload(t *testing.T, src, upload string, chunk int64, data []byte) {
	t.Helper()
	for off := int64(0); off < int64(len(data)); off += chunk {
		end := min(off+chunk, int64(len(data)))
		if r := w.raw(w.signed(patchReq(src, upload, off, data[off:end]))); r.Status/100 != 2 {
			t.Fatalf("PATCH at %d: %v", off, r)
		}
	}
}

// waitFile waits for the receiver's "file" event for a file whose path
// ends in name and returns the bytes on disk.
func (w *webServer) waitFile(t *testing.T, name string, d time.Duration) []byte {
	t.Helper()
	var path string
	if !w.waitFor(d, func() bool {
		for _, ev := range w.Events() {
			if p, _ := ev["path"].(string); ev["event"] == "file" && strings.HasSuffix(p, name) {
				path = p
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no file event for %s: %v", name, w.Events())
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(w.dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// visibleFiles lists the names in the receiving folder (recursively) that
// are not ferry's hidden partial files.
func visibleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		if !strings.HasPrefix(d.Name(), ".ferry-") {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	return names
}

// TestWebUpload is the positive case the refusals below are measured
// against: a browser that does everything by the spec gets its file, of
// two chunks and a short last one, byte for byte.
func TestWebUpload(t *testing.T) {
	t.Parallel()
	w := startWebReceiver(t, "all")
	src := newSrc(t)
	a := w.acceptedOffer(t, src, webOfferFile{Path: "probe.bin", Size: 1, Mtime: 1700000000000})
	t.Logf("offer answer: chunk %d, code %s, files %+v", a.Chunk, a.Code, a.Files)
	data := random(int(2*a.Chunk + 1000))
	a = w.acceptedOffer(t, src, webOfferFile{Path: "dir/up.bin", Size: int64(len(data)), Mtime: 1700000000000})
	w.upload(t, src, a.Files[0].Upload, a.Chunk, data)
	if got := w.waitFile(t, "up.bin", 10*time.Second); !bytes.Equal(got, data) {
		t.Fatalf("the received file differs from what was uploaded (%d bytes, want %d)", len(got), len(data))
	}
}
