package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/phone"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
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
	begun := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(`#status[data-ready="1"]`)); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		t.Fatalf("the page did not list the files: %v (status %q)", err, status)
	}
	t.Logf("URL to the listed files in the phone: %v", time.Since(begun).Round(time.Millisecond))
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

	if shots := os.Getenv("FERRY_SHOTS"); shots != "" {
		if err := p.Screenshot(ctx, filepath.Join(shots, "send-after.png")); err != nil {
			t.Error(err)
		}
	}

	// --once: everything went out, so ferry ends by itself.
	send.waitEvent("done", 10*time.Second)
	if code := send.wait(10 * time.Second); code != 0 {
		t.Errorf("ferry send --web --once exited %d, want 0", code)
	}
}

// How fast a phone downloads from ferry send --web over the veth LAN:
// Chromium's download of a large file against curl's of the same URL, and
// ferry's peak RSS meanwhile. A measurement, not a check of a target: it
// runs only with FERRY_WEB_BENCH=1 (FERRY_WEB_BENCH_MIB sets the size,
// default 512).
func TestSendWebThroughput(t *testing.T) {
	if os.Getenv("FERRY_WEB_BENCH") != "1" {
		t.Skip("a measurement; set FERRY_WEB_BENCH=1 to run it")
	}
	mib := 512
	if v, err := strconv.Atoi(os.Getenv("FERRY_WEB_BENCH_MIB")); err == nil && v > 0 {
		mib = v
	}
	l := newLANOpts(t, 2, lanOpts{family: "fswb"})
	pc, ph := l.h(1), l.h(2)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	chunk := randomBytes(t, 1<<20)
	for range mib {
		f.Write(chunk)
	}
	f.Close()
	send := pc.start(nil, "send", "--web", big)
	url := send.waitEvent("web", 10*time.Second).str("url")
	base, frag, _ := strings.Cut(url, "/#")
	secret, err := webauth.Parse(frag)
	if err != nil {
		t.Fatal(err)
	}

	// curl, in the phone's namespace, into a file (as the browser does).
	out, err := ph.command("curl", "-sS", "-o", filepath.Join(t.TempDir(), "curl.bin"), "-w", "%{size_download} %{time_total}", base+secret.SignURL("GET", "/api/v1/dl/0")).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var curlBytes int64
	var curlSecs float64
	fmt.Sscan(string(out), &curlBytes, &curlSecs)
	if curlBytes != int64(mib)<<20 {
		t.Fatalf("curl got %d bytes", curlBytes)
	}

	p := phone.ForTest(t, ph.nh)
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(`#status[data-ready="1"]`)); err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	d, err := p.Download(ctx, chromedp.Click("#file0"))
	took := time.Since(begun)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size != int64(mib)<<20 {
		t.Fatalf("Chromium got %d bytes", d.Size)
	}
	mbps := func(n int64, s float64) float64 { return float64(n) / s / 1e6 }
	t.Logf("%d MiB: curl %.0f MB/s (%.2f s), Chromium %.0f MB/s (%.2f s, to the file on disk) = %.0f %% of curl; ferry peak RSS %.1f MiB",
		mib, mbps(curlBytes, curlSecs), curlSecs, mbps(d.Size, took.Seconds()), took.Seconds(),
		100*mbps(d.Size, took.Seconds())/mbps(curlBytes, curlSecs), send.peakRSS())
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
