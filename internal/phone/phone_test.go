package phone_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/phone"
	"github.com/ferry-lan/ferry/internal/testnet"
)

// lan is a switch with a computer (10.77.0.1) and a phone (10.77.0.2).
func lan(t *testing.T) (computer, ph *netlab.Host) {
	t.Helper()
	l := testnet.NewLAN(t, "fphone", "smoke")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw, err := l.AddSwitch(ctx, "sw")
	if err != nil {
		t.Fatal(err)
	}
	if computer, err = l.AddHost(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if ph, err = l.AddHost(ctx, "phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Plug(ctx, computer, "eth0", "10.77.0.1/24"); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Plug(ctx, ph, "eth0", "10.77.0.2/24"); err != nil {
		t.Fatal(err)
	}
	return computer, ph
}

// serve runs handler on 10.77.0.1:8080 in the computer's namespace until
// the test ends.
func serve(t *testing.T, computer *netlab.Host, handler http.Handler) string {
	t.Helper()
	var ln net.Listener
	if err := computer.Do(func() (err error) {
		ln, err = net.Listen("tcp", "10.77.0.1:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://10.77.0.1:8080"
}

// A page on the LAN, loaded by the phone, runs its script, and is not a
// secure context (as on a real phone, unlike a page on 127.0.0.1). A link
// with Content-Disposition downloads into the phone's Downloads, and a
// screenshot has the phone's size.
func TestPhoneOnLAN(t *testing.T) {
	computer, ph := lan(t)
	body := []byte("the bytes of a file\x00\xff")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><meta name=viewport content="width=device-width"><title>t</title><p id=p>static</p><a id=dl href="/file">file</a><script src="/app.js"></script>`)
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `document.getElementById("p").textContent = "ran:" + window.isSecureContext;`)
	})
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="f.bin"`)
		w.Write(body)
	})
	url := serve(t, computer, mux)
	p := phone.ForTest(t, ph)

	ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(`#p`)); err != nil {
		t.Fatal(err)
	}
	secure, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.isSecureContext`))
	if err != nil {
		t.Fatal(err)
	}
	if secure {
		t.Error("a page at http://10.77.0.1 is a secure context in the phone; a real phone's would not be")
	}
	// The script ran (poll the DOM: it runs after the parse).
	text, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("p").textContent; return t.startsWith("ran:") ? t : null })()`))
	if err != nil {
		t.Fatal(err)
	}
	if text != "ran:false" {
		t.Errorf("page text %q, want ran:false", text)
	}
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if w != phone.Width {
		t.Errorf("innerWidth %d, want %d", w, phone.Width)
	}

	d, err := p.Download(ctx, chromedp.Click(`#dl`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(body) || d.Name != "f.bin" {
		t.Errorf("downloaded %q as %q, want %q as f.bin", got, d.Name, body)
	}

	shot := filepath.Join(t.TempDir(), "shot.png")
	if err := p.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	// PNG: 8-byte signature, IHDR length and type, then width and height.
	if len(png) < 24 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG")
	}
	pw := int(png[16])<<24 | int(png[17])<<16 | int(png[18])<<8 | int(png[19])
	phh := int(png[20])<<24 | int(png[21])<<16 | int(png[22])<<8 | int(png[23])
	if pw != phone.Width || phh != phone.Height {
		t.Errorf("screenshot %d×%d, want %d×%d", pw, phh, phone.Width, phone.Height)
	}
}
