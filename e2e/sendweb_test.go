package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/internal/phone"
	"github.com/ferry-lan/ferry/internal/testnet"
	"github.com/ferry-lan/ferry/transfer/safepath"
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
		"trip/evil\u202etxt.exe":                randomBytes(t, 10), // a bidi override: shown escaped
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
	png := filepath.Join(t.TempDir(), "qr.png")
	send := pc.start(nil, "send", "--web", "--once", "--qr-png", png, filepath.Join(dir, "trip"))
	ev := send.waitEvent("web", 10*time.Second)
	url := ev.str("url")
	if !strings.HasPrefix(url, "http://"+pc.v4+":") || !strings.Contains(url, "/#k=") {
		t.Fatalf("web event url %q, want http://%s:PORT/#k=…", url, pc.v4)
	}
	// The QR code holds that URL, and its file is the owner's only.
	if _, err := exec.LookPath("zbarimg"); err != nil {
		testnet.CannotRun(t, "zbarimg is missing (Debian package zbar-tools): %v", err)
	}
	if out, err := exec.Command("zbarimg", "--raw", "-q", png).Output(); err != nil || strings.TrimSpace(string(out)) != url {
		t.Errorf("the QR code reads %q (%v), want %q", out, err, url)
	}
	if fi, err := os.Stat(png); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("the QR code file has mode %v, want 0600 (it holds the secret)", fi.Mode().Perm())
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
		want[safepath.Display(name, 0)] = true
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

// A download cut at about 40 % (the computer resets the connection, as a
// Wi-Fi drop would end it), then resumed from the phone as a browser
// resumes: a Range request to the same link, whose nonce ferry accepts
// again for that file. Headless Chromium neither resumes an interrupted
// download by itself nor lets a test press "resume", so the page makes
// that request with fetch; the bytes from the cut on must be the file's,
// and every other file or the list must stay out of that link's reach.
func TestSendWebPhoneResume(t *testing.T) {
	l := newLANOpts(t, 2, lanOpts{family: "fswb"})
	pc, ph := l.h(1), l.h(2)
	const size = 16 << 20
	file := filepath.Join(t.TempDir(), "movie.mp4")
	want := randomBytes(t, size)
	if err := os.WriteFile(file, want, 0o644); err != nil {
		t.Fatal(err)
	}
	// 64 Mbit/s to the phone: about 2 s for the file, time to cut it.
	if err := l.sw.Shape(t.Context(), ph.port, "64mbit"); err != nil {
		testnet.CannotRun(t, "shape the phone's port: %v", err)
	}
	send := pc.start(nil, "send", "--web", "--once", file)
	ev := send.waitEvent("web", 10*time.Second)
	url, port := ev.str("url"), ev.num("port")

	p := phone.ForTest(t, ph.nh)
	ctx, cancel := context.WithTimeout(p.Ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(`#status[data-ready="1"]`)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		d   phone.Download
		err error
	}
	done := make(chan result, 1)
	go func() { // the test waits for it below
		d, err := p.Download(ctx, chromedp.Click("#file0"))
		done <- result{d, err}
	}()
	send.waitMatch(0, "a download at 40 %", 20*time.Second, func(e event) bool {
		return e.name() == "download" && e.str("state") == "progress" && e.num("sent") >= size*4/10
	})
	// Reset the computer's end of the connection (ss -K: the kernel sends
	// an RST), as if the Wi-Fi had dropped it.
	if out, err := pc.command("ss", "-K", "-t", "state", "established", fmt.Sprintf("( sport = :%d )", port)).CombinedOutput(); err != nil {
		t.Fatalf("ss -K: %v\n%s", err, out)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the download did not end")
	}
	if !errors.Is(r.err, phone.ErrCanceled) {
		t.Fatalf("the cut download: %v, want it interrupted", r.err)
	}
	failed, _, _ := send.waitMatch(0, "the cut download", 10*time.Second, func(e event) bool {
		return e.name() == "download" && e.str("state") == "failed"
	})
	cut := failed.num("sent") / 2 // a point the phone surely had

	// That link's nonce reaches that file only.
	_, auth, _ := strings.Cut(r.d.URL, "?auth=")
	status, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](fmt.Sprintf(`(async () => [
		(await fetch("/api/v1/files?auth=%[1]s")).status,
		(await fetch("/api/v1/zip?auth=%[1]s")).status,
	])()`, auth), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != 2 || status[0] != 401 || status[1] != 401 {
		t.Errorf("the list and the zip with the file link's nonce: %v, want [401 401]", status)
	}

	// The resume: the same link, with Range, from the page.
	type ranged struct {
		Status int    `json:"status"`
		Range  string `json:"range"`
		Hash   string `json:"hash"`
		Len    int64  `json:"len"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[ranged](fmt.Sprintf(`(async () => {
		const res = await fetch(%q, {headers: {Range: "bytes=%d-"}, cache: "no-store"});
		const b = new Uint8Array(await res.arrayBuffer());
		return {status: res.status, range: res.headers.get("Content-Range") || "", hash: hashwasm.blake3 ? await hashwasm.blake3(b) : "", len: b.length};
	})()`, r.d.URL, cut), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	sum := blake3.Sum256(want[cut:])
	if got.Status != 206 || got.Len != size-cut || got.Hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("resume with Range from %d: %d %q, %d bytes, BLAKE3 %s; want 206, %d bytes, %x", cut, got.Status, got.Range, got.Len, got.Hash, size-cut, sum)
	}
	resumed, _, _ := send.waitMatch(0, "the resumed download", 10*time.Second, func(e event) bool {
		return e.name() == "download" && e.str("state") == "done" && e.num("offset") == cut
	})
	t.Logf("cut after %d bytes had gone out; resumed from %d, %d bytes sent", failed.num("sent"), cut, resumed.num("sent"))

	// The pieces joined up from byte 0: with --once, ferry is done.
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

	// Best of three each: the machine is shared, single runs are noisy.
	const rounds = 3
	mbps := func(n int64, s float64) float64 { return float64(n) / s / 1e6 }
	var curlBest, chromeBest float64
	for range rounds {
		// curl, in the phone's namespace, into a file (as the browser does).
		out, err := ph.command("curl", "-sS", "-o", filepath.Join(t.TempDir(), "curl.bin"), "-w", "%{size_download} %{time_total}", base+secret.SignURL("GET", "/api/v1/dl/0")).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		var n int64
		var secs float64
		fmt.Sscan(string(out), &n, &secs)
		if n != int64(mib)<<20 {
			t.Fatalf("curl got %d bytes", n)
		}
		curlBest = max(curlBest, mbps(n, secs))
	}

	p := phone.ForTest(t, ph.nh)
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(`#status[data-ready="1"]`)); err != nil {
		t.Fatal(err)
	}
	for range rounds {
		begun := time.Now()
		d, err := p.Download(ctx, chromedp.Click("#file0"))
		took := time.Since(begun)
		if err != nil {
			t.Fatal(err)
		}
		if d.Size != int64(mib)<<20 {
			t.Fatalf("Chromium got %d bytes", d.Size)
		}
		os.Remove(d.Path)
		chromeBest = max(chromeBest, mbps(d.Size, took.Seconds()))
	}
	t.Logf("%d MiB, best of %d: curl %.0f MB/s, Chromium %.0f MB/s (click to file complete) = %.0f %% of curl; ferry peak RSS %.1f MiB",
		mib, rounds, curlBest, chromeBest, 100*chromeBest/curlBest, send.peakRSS())
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
