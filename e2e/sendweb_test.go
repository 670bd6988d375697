package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/phone"
)

// ferry send --web, seen from a phone: Chromium in its own namespace on the
// LAN opens the URL of ferry's web event (the QR code's), the page lists
// the files by name (as text: a name that looks like HTML stays text), a
// tap downloads one with the same bytes, "download all" gives a zip that
// unzip passes and that holds every file, and with --once ferry ends when
// everything went out.
func TestSendWebPhone(t *testing.T) {
	l := newLANOpts(t, 2, lanOpts{family: "fswb"})
	pc, ph := l.h(1), l.h(2)
	dir := t.TempDir()
	files := map[string][]byte{
		"trip/photo 1.jpg":                      randomBytes(t, 3<<20),
		"trip/notes/día.txt":                    randomBytes(t, 1000),
		"trip/<img src=x onerror=alert(1)>.txt": randomBytes(t, 10),
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	send := pc.start(nil, "send", "--web", "--once", filepath.Join(dir, "trip"))
	ev := send.waitEvent("web", 10*time.Second)
	url := ev.str("url")
	if !strings.HasPrefix(url, "http://"+pc.v4+":") || !strings.Contains(url, "/#k=") {
		t.Fatalf("web event url %q, want http://%s:PORT/#k=…", url, pc.v4)
	}

	p := phone.ForTest(t, ph.nh)
	ctx, cancel := context.WithTimeout(p.Ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(`#status[data-ready="1"]`)); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		t.Fatalf("the page did not list the files: %v (status %q)", err, status)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#list .name"), e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for name := range files {
		want[name] = true
	}
	for _, n := range names {
		if !want[n] {
			t.Errorf("the page lists %q, not one of the files", n)
		}
		delete(want, n)
	}
	if len(want) > 0 {
		t.Errorf("the page does not list %v (it lists %q)", want, names)
	}
	if imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`)); err != nil || imgs != 0 {
		t.Errorf("a file name became HTML: %d img elements (%v)", imgs, err)
	}
	if shots := os.Getenv("FERRY_SHOTS"); shots != "" {
		if err := p.Screenshot(ctx, filepath.Join(shots, "send-list.png")); err != nil {
			t.Error(err)
		}
	}

	// One tap, one file.
	idx, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#list a")).find(a => a.textContent.includes("photo 1.jpg")).id`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Download(ctx, chromedp.Click("#"+idx))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "photo 1.jpg" || !bytes.Equal(got, files["trip/photo 1.jpg"]) {
		t.Errorf("downloaded %q (%d bytes), want photo 1.jpg (%d bytes) with the same bytes", d.Name, len(got), len(files["trip/photo 1.jpg"]))
	}
	send.waitMatch(0, "the download's done event", 10*time.Second, func(e event) bool {
		return e.name() == "download" && e.str("state") == "done" && e.str("name") == "trip/photo 1.jpg" && e.str("from") == ph.v4
	})

	// Download all.
	z, err := p.Download(ctx, chromedp.Click("#all"))
	if err != nil {
		t.Fatal(err)
	}
	if z.Name != "trip.zip" {
		t.Errorf("the zip is named %q, want trip.zip", z.Name)
	}
	if out, err := exec.Command("unzip", "-t", z.Path).CombinedOutput(); err != nil {
		t.Errorf("unzip -t: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(z.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	inZip := 0
	for _, zf := range zr.File {
		b, ok := files[zf.Name]
		if !ok {
			t.Errorf("the zip holds %q, not one of the files", zf.Name)
			continue
		}
		r, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(r)
		r.Close()
		if err != nil || !bytes.Equal(buf.Bytes(), b) {
			t.Errorf("%s in the zip differs from the file (%v)", zf.Name, err)
		}
		inZip++
	}
	if inZip != len(files) {
		t.Errorf("the zip holds %d of the %d files", inZip, len(files))
	}

	// --once: everything went out, so ferry ends by itself.
	send.waitEvent("done", 10*time.Second)
	if code := send.wait(10 * time.Second); code != 0 {
		t.Errorf("ferry send --web --once exited %d, want 0", code)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
