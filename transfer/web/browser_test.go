package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/phone"
	"github.com/ferry-lan/ferry/internal/testnet"
	"github.com/ferry-lan/ferry/transfer"
)

// The browser tests run the page in Chromium in a "phone" namespace on a
// LAN with the computer (10.78.0.1), so that the page is not a secure
// context, as on a real phone.

const pcAddr = "10.78.0.1"

type browserLAN struct {
	pc, ph *netlab.Host
	phone  *phone.Phone
}

func newBrowserLAN(t *testing.T, tag string) *browserLAN {
	t.Helper()
	l := testnet.NewLAN(t, "fweba", tag)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw, err := l.AddSwitch(ctx, "sw")
	if err != nil {
		t.Fatal(err)
	}
	b := &browserLAN{}
	if b.pc, err = l.AddHost(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if b.ph, err = l.AddHost(ctx, "phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Plug(ctx, b.pc, "eth0", pcAddr+"/24"); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Plug(ctx, b.ph, "eth0", "10.78.0.2/24"); err != nil {
		t.Fatal(err)
	}
	b.phone = phone.ForTest(t, b.ph)
	return b
}

// countingListener counts the bytes read from its connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// serveOnLAN runs a web receiver on the computer's LAN address; port 0
// picks one. Bytes read off its connections are added to wire.
func (b *browserLAN) serve(t *testing.T, dir string, port int, wire *atomic.Int64, mod func(*Config)) *testServer {
	listen := func(port int) (ln net.Listener, err error) {
		err = b.pc.Do(func() error {
			ln, err = net.Listen("tcp", fmt.Sprintf("%s:%d", pcAddr, port))
			return err
		})
		if err == nil && wire != nil {
			ln = countingListener{ln, wire}
		}
		return ln, err
	}
	return startServerOn(t, listen, dir, port, mod)
}

func (ts *testServer) url() string { return ts.base + "/#" + ts.cfg.Secret.Fragment() }

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// open loads the page (or only changes its fragment) and waits until the
// page holds the key of the URL.
func (b *browserLAN) open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Poll[bool](`(document.body.dataset.ready === "1" && window.ferryState.keyFor === location.hash) || null`))
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const t = document.querySelector(%q).textContent; return t.includes(%q) ? t : null })()`, sel, want)
	v, err := chromedp.Run(ctx, chromedp.Poll[string](js))
	if err != nil {
		got, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %q in %s: %v; page says:\n%s", want, sel, err, got)
	}
	return v
}

func shot(t *testing.T, p *phone.Phone, ctx context.Context, name string) {
	dir := os.Getenv("FERRY_SHOTS")
	if dir == "" {
		return
	}
	os.MkdirAll(dir, 0o755)
	if err := p.Screenshot(ctx, filepath.Join(dir, name)); err != nil {
		t.Errorf("screenshot: %v", err)
	}
}

// TestBrowserVectors: the page's MAC code agrees with the Go side's golden
// vectors.
func TestBrowserVectors(t *testing.T) {
	b := newBrowserLAN(t, "vec")
	ts := b.serve(t, t.TempDir(), 0, nil, nil)
	ctx, cancel := context.WithTimeout(b.phone.Ctx, 30*time.Second)
	defer cancel()
	b.open(t, ctx, ts.url())
	vf, err := os.ReadFile("webauth/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	js := `(async (vf) => {
		const frag = FerryAuth.fragment(vf.fragment);
		const key = await FerryAuth.deriveKey(frag.k);
		const out = { key: FerryAuth.toHex(key), hello: await FerryAuth.bodyHash("hello"), macs: [] };
		for (const v of vf.vectors) {
			const bb = new TextDecoder().decode(Uint8Array.from(v.bodybind_hex.match(/../g) || [], (h) => parseInt(h, 16)));
			out.macs.push(await FerryAuth.mac(key, v.method, v.target, v.nonce, bb));
		}
		return JSON.stringify(out);
	})(` + string(vf) + `)`
	got := run(t, ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	var out struct {
		Key, Hello string
		Macs       []string
	}
	json.Unmarshal([]byte(got), &out)
	var want struct {
		KeyHex    string `json:"key_hex"`
		HelloHash string `json:"hello_hash"`
		Vectors   []struct {
			MAC string `json:"mac"`
		} `json:"vectors"`
	}
	json.Unmarshal(vf, &want)
	if out.Key != want.KeyHex || out.Hello != want.HelloHash || len(out.Macs) != len(want.Vectors) {
		t.Fatalf("page: %s", got)
	}
	for i, v := range want.Vectors {
		if out.Macs[i] != v.MAC {
			t.Errorf("vector %d: page %s, want %s", i, out.Macs[i], v.MAC)
		}
	}
	// and the verification code: the page's is the one the computer shows
	code := run(t, ctx, chromedp.Evaluate[string](`(async () => FerryAuth.code(await FerryAuth.deriveKey(FerryAuth.fragment(location.hash).k), "ab"))()`, chromedp.EvalAwaitPromise))
	if w := webCode(ts.cfg.Secret.Key(), "ab"); code != w {
		t.Errorf("page code %s, computer %s", code, w)
	}
	// ferry pair's QR code lands on /pair, which says what the code is for
	// and shows its text (as text: the code comes from the URL).
	pairCode := "FERRY:1/10.78.0.1:4242/ABC/<b>x</b>"
	b.open(t, ctx, ts.base+"/pair#"+ts.cfg.Secret.Fragment()+"&c="+url.QueryEscape(pairCode))
	if got := run(t, ctx, chromedp.Text(`#pair-code`)); got != pairCode {
		t.Errorf("pair page shows %q, want %q", got, pairCode)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#pair-code b").length`)); n != 0 {
		t.Error("the code's text became HTML")
	}
}

// TestBrowserUploads: one file, then a folder of 200 files, from the page
// in Chromium; the computer asks (and the page shows the same code).
func TestBrowserUploads(t *testing.T) {
	b := newBrowserLAN(t, "up")
	dir := t.TempDir()
	var asked atomic.Value
	ts := b.serve(t, dir, 0, nil, func(c *Config) {
		c.Policy = transfer.PolicyAsk
		c.Ask = func(_ context.Context, info transfer.OfferInfo) (bool, error) {
			asked.Store(info)
			return true, nil
		}
	})
	ctx, cancel := context.WithTimeout(b.phone.Ctx, 90*time.Second)
	defer cancel()
	b.open(t, ctx, ts.url())
	shot(t, b.phone, ctx, "1-picker.png")

	src := t.TempDir()
	one := randomBytes(5*testChunk+77, 9)
	os.WriteFile(filepath.Join(src, "holiday photo.jpg"), one, 0o644)
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{filepath.Join(src, "holiday photo.jpg")}))
	waitText(t, ctx, "#message", "Done: 1 file")
	if got, _ := os.ReadFile(filepath.Join(dir, "holiday photo.jpg")); !bytes.Equal(got, one) {
		t.Fatal("the file on the computer differs")
	}
	info, _ := asked.Load().(transfer.OfferInfo)
	pageCode := run(t, ctx, chromedp.Text(`#code`))
	if info.Code == "" || pageCode != info.Code || info.PeerName != "web browser at 10.78.0.2" {
		t.Fatalf("computer asked %+v; page shows code %q", info, pageCode)
	}
	waitText(t, ctx, "#list", "saved as holiday photo.jpg")
	// the chunks were hashed in the worker (hashworker.js), not on the page's thread
	if h := run(t, ctx, chromedp.Evaluate[string](`window.ferryState.hasher`)); h != "worker" {
		t.Errorf("chunks hashed by %q, want the worker", h)
	}

	folder := filepath.Join(src, "album")
	os.MkdirAll(filepath.Join(folder, "sub"), 0o755)
	for i := range 200 {
		p := filepath.Join(folder, fmt.Sprintf("img-%03d.txt", i))
		if i%2 == 1 {
			p = filepath.Join(folder, "sub", fmt.Sprintf("img-%03d.txt", i))
		}
		os.WriteFile(p, []byte(strings.Repeat(fmt.Sprint(i), i)), 0o644)
	}
	run(t, ctx, chromedp.SetUploadFiles(`#folder`, []string{folder}))
	waitText(t, ctx, "#message", "Done: 200 files")
	shot(t, b.phone, ctx, "3-finished.png")
	for i := range 200 {
		p := filepath.Join(dir, "album", fmt.Sprintf("img-%03d.txt", i))
		if i%2 == 1 {
			p = filepath.Join(dir, "album", "sub", fmt.Sprintf("img-%03d.txt", i))
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != strings.Repeat(fmt.Sprint(i), i) {
			t.Fatalf("%s: %v", p, err)
		}
	}
	// A browser without workers: the page hashes on its own thread.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	b.open(t, ctx, ts.url())
	run(t, ctx, chromedp.Evaluate[bool](`window.Worker = undefined, true`))
	two := randomBytes(3*testChunk+5, 11)
	os.WriteFile(filepath.Join(src, "no worker.bin"), two, 0o644)
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{filepath.Join(src, "no worker.bin")}))
	waitText(t, ctx, "#message", "Done: 1 file")
	if got, _ := os.ReadFile(filepath.Join(dir, "no worker.bin")); !bytes.Equal(got, two) {
		t.Fatal("the file sent without a worker differs")
	}
	if h := run(t, ctx, chromedp.Evaluate[string](`window.ferryState.hasher`)); h != "page" {
		t.Errorf("without workers, chunks hashed by %q, want the page", h)
	}
}

// TestBrowserDeclined: the computer says no; the page says so.
func TestBrowserDeclined(t *testing.T) {
	b := newBrowserLAN(t, "no")
	dir := t.TempDir()
	ts := b.serve(t, dir, 0, nil, func(c *Config) {
		c.Policy = transfer.PolicyAsk
		c.Ask = func(context.Context, transfer.OfferInfo) (bool, error) { return false, nil }
	})
	ctx, cancel := context.WithTimeout(b.phone.Ctx, 30*time.Second)
	defer cancel()
	b.open(t, ctx, ts.url())
	src := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(src, []byte("no"), 0o644)
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{src}))
	waitText(t, ctx, "#problem", "The computer declined: answered no")
	if got := tree(t, dir); len(got) != 0 {
		t.Fatalf("files after a declined offer: %v", got)
	}
}

// TestBrowserResume: a large file; the receiver stops at 40 % and a new one
// starts on the same port (a new secret: the page is opened again from its
// new code and the file picked again); then the page is reloaded mid-way
// and the file picked again. The file arrives whole, and the bytes read
// off the wire stay under 1.05 times the file.
func TestBrowserResume(t *testing.T) {
	b := newBrowserLAN(t, "res")
	dir := t.TempDir()
	const chunk = 256 << 10
	data := randomBytes(32<<20, 4)
	src := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(src, data, 0o644)
	var wire atomic.Int64
	// stopAt cancels the server once the patches it took pass at bytes.
	stopAt := func(at int64, stop chan<- struct{}) func(*Config) {
		return func(c *Config) {
			c.ChunkSize = chunk
			var seen atomic.Int64
			var once atomic.Bool
			c.wrap = func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h.ServeHTTP(w, r)
					if r.Method == http.MethodPatch && seen.Add(r.ContentLength) >= at && once.CompareAndSwap(false, true) {
						close(stop)
					}
				})
			}
		}
	}
	ctx, cancel := context.WithTimeout(b.phone.Ctx, 120*time.Second)
	defer cancel()

	stop1 := make(chan struct{})
	ts1 := b.serve(t, dir, 0, &wire, stopAt(int64(len(data))*4/10, stop1))
	b.open(t, ctx, ts1.url())
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{src}))
	select {
	case <-stop1:
	case <-ctx.Done():
		t.Fatal("the upload did not reach 40 %")
	}
	shot(t, b.phone, ctx, "2-in-progress.png")
	ts1.stop()
	port := ts1.host[strings.LastIndex(ts1.host, ":")+1:]
	var p int
	fmt.Sscan(port, &p)

	stop2 := make(chan struct{})
	ts2 := b.serve(t, dir, p, &wire, stopAt(int64(len(data))*2/10, stop2))
	waitText(t, ctx, "#problem", "Scan the new code")
	b.open(t, ctx, ts2.url())
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{src}))
	select {
	case <-stop2:
	case <-ctx.Done():
		t.Fatal("the resumed upload did not go on")
	}
	// A reload mid-way: the same page, the file picked again.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Poll[bool](`document.body.dataset.ready === "1" || null`))
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{src}))
	waitText(t, ctx, "#message", "Done: 1 file")
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("the file on the computer differs")
	}
	ratio := float64(wire.Load()) / float64(len(data))
	t.Logf("bytes read off the wire: %d for a file of %d (%.4f×)", wire.Load(), len(data), ratio)
	if ratio > 1.05 {
		t.Errorf("%.3f× the file on the wire, want ≤ 1.05×", ratio)
	}
}

// TestBrowserDroppedConnection: the connection breaks in the middle of a
// chunk (as when a phone's Wi-Fi drops), again and again until the page
// itself asks where the upload stands (HEAD); then it goes on by itself,
// sending the torn chunk again and nothing more. Chromium resends a request
// by itself when a reused connection closes before any answer (for each
// idle connection it holds, up to a few times): those resends are the browser's, not the page's,
// so the server drops PATCHes until the page's own HEAD comes.
func TestBrowserDroppedConnection(t *testing.T) {
	b := newBrowserLAN(t, "drop")
	dir := t.TempDir()
	const chunk = 256 << 10
	data := randomBytes(20*chunk+99, 5)
	src := filepath.Join(t.TempDir(), "video.mp4")
	os.WriteFile(src, data, 0o644)
	var patches, dropped, heads atomic.Int32
	var wire atomic.Int64 // PATCH body bytes the server read
	ts := b.serve(t, dir, 0, nil, func(c *Config) {
		c.ChunkSize = chunk
		c.wrap = func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodHead && dropped.Load() > 0 {
					heads.Add(1) // the page asks: no more drops
				}
				if r.Method != http.MethodPatch {
					h.ServeHTTP(w, r)
					return
				}
				r.Body = countingBody{r.Body, &wire}
				if n := patches.Add(1); n >= 7 && heads.Load() == 0 {
					// Half the chunk, then the connection is gone.
					io.CopyN(io.Discard, r.Body, chunk/2)
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
						dropped.Add(1)
					}
					return
				}
				h.ServeHTTP(w, r)
			})
		}
	})
	ctx, cancel := context.WithTimeout(b.phone.Ctx, 60*time.Second)
	defer cancel()
	b.open(t, ctx, ts.url())
	run(t, ctx, chromedp.SetUploadFiles(`#files`, []string{src}))
	waitText(t, ctx, "#message", "Done: 1 file")
	if got, _ := os.ReadFile(filepath.Join(dir, "video.mp4")); !bytes.Equal(got, data) {
		t.Fatal("the file on the computer differs")
	}
	d := dropped.Load()
	t.Logf("%d connections dropped before the page asked HEAD (the rest were Chromium's own resends)", d)
	if d < 1 || d > 8 || heads.Load() != 1 {
		t.Fatalf("%d connections dropped, %d HEAD requests after the first: want 1 to 8 and 1", d, heads.Load())
	}
	// 21 chunks, and the torn one again for each drop.
	if n := patches.Load(); n != 21+d {
		t.Errorf("%d PATCH requests for 21 chunks and %d drops", n, d)
	}
	// The page sent the torn chunk once more itself, after its HEAD.
	if pw := run(t, ctx, chromedp.Evaluate[float64](`window.ferryState.wire`)); pw != float64(len(data)+chunk) {
		t.Errorf("the page sent %.0f chunk bytes for %d: want the torn chunk once more", pw, len(data))
	}
	if got, want := wire.Load(), int64(len(data))+int64(d)*chunk/2; got != want {
		t.Errorf("the server read %d chunk bytes, want %d (the file and half a chunk per drop)", got, want)
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
