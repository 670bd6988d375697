package phone

// What a phone does with ferry's upload page (`ferry receive --web`), shared
// by the end-to-end test (e2e/web_test.go) and the bench's web case
// (internal/bench/web.go): open the page, pick files, wait for the page's
// verdict, read its counters; and the baseline the page is measured
// against, curl sending the same bytes to the same server by the same rules.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// PageStats are the upload page's counters (window.ferryState).
type PageStats struct {
	Sent   float64 // bytes of the picked files the page counts as sent
	Wire   float64 // chunk bytes the page put in PATCH requests, sent again included
	ReadMs float64 // reading chunks to hash them
	HashMs float64 // hashing them
	SendMs float64 // PATCH requests on the wire, response included
}

// Run runs a on the phone's tab (ctx derived from p.Ctx); on failure the
// error carries what the page shows.
func Run[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.body.innerText`))
		return v, fmt.Errorf("%w; the page says:\n%s", err, body)
	}
	return v, nil
}

// OpenUploadPage navigates to ferry's upload page at u and returns how long
// until the page held the key of u's fragment and was ready to pick files.
func (p *Phone) OpenUploadPage(ctx context.Context, u string) (time.Duration, error) {
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		return 0, fmt.Errorf("open %s: %w", u, err)
	}
	if _, err := Run(ctx, chromedp.Poll[bool](`(document.body.dataset.ready === "1" && window.ferryState.keyFor === location.hash) || null`)); err != nil {
		return 0, fmt.Errorf("wait for the page to be ready: %w", err)
	}
	return time.Since(start), nil
}

// Pick picks the files at paths in the page's file chooser: the page
// offers them and starts sending.
func (p *Phone) Pick(ctx context.Context, paths ...string) error {
	_, err := Run(ctx, chromedp.SetUploadFiles(`#files`, paths))
	return err
}

// WaitDone waits until the page says the computer has all n files.
func (p *Phone) WaitDone(ctx context.Context, n int, timeout time.Duration) error {
	want := fmt.Sprintf("Done: %d file", n)
	_, err := Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("message").textContent.startsWith(%q) || null`, want),
		chromedp.WithPollingTimeout(timeout)))
	return err
}

// WaitSent waits until the page counts at least n bytes as sent.
func (p *Phone) WaitSent(ctx context.Context, n int64, timeout time.Duration) error {
	_, err := Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`window.ferryState.sent >= %d || null`, n), chromedp.WithPollingTimeout(timeout)))
	return err
}

// WaitProblem waits until the page's problem line contains text.
func (p *Phone) WaitProblem(ctx context.Context, text string, timeout time.Duration) error {
	_, err := Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("problem").textContent.includes(%q) || null`, text),
		chromedp.WithPollingTimeout(timeout)))
	return err
}

// Stats reads the page's counters.
func (p *Phone) Stats(ctx context.Context) (PageStats, error) {
	var st PageStats
	s, err := Run(ctx, chromedp.Evaluate[string](`JSON.stringify({Sent: window.ferryState.sent, Wire: window.ferryState.wire,
		ReadMs: window.ferryState.readMs, HashMs: window.ferryState.hashMs, SendMs: window.ferryState.sendMs})`))
	if err == nil {
		err = json.Unmarshal([]byte(s), &st)
	}
	return st, err
}

// ResetCounters sets the page's counters of chunk bytes sent and of time
// spent back to 0.
func (p *Phone) ResetCounters(ctx context.Context) error {
	_, err := Run(ctx, chromedp.Evaluate[bool](`Object.assign(window.ferryState, {wire: 0, readMs: 0, hashMs: 0, sendMs: 0}), true`))
	return err
}

// Upload picks the file at path in the page and waits until the computer
// has it; it returns how long that took.
func (p *Phone) Upload(ctx context.Context, path string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := p.Pick(ctx, path); err != nil {
		return 0, err
	}
	if err := p.WaitDone(ctx, 1, timeout); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// CurlUpload sends the file at path to the upload page's server behind u
// as a plain HTTP client would, for a baseline: an offer (made here, from
// the phone's namespace h), then one `curl -T` per chunk as a tus PATCH
// with its X-Ferry-Chunk-Hash and MAC, all in one curl process (one
// connection) in h. The chunks are cut and hashed beforehand, under
// scratch, and not timed: curl is the client that does nothing but send.
// It returns how long curl took.
func CurlUpload(ctx context.Context, h *netlab.Host, u, path, scratch string) (time.Duration, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	sec, err := webauth.Parse(parsed.Fragment)
	if err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	size := fi.Size()
	base := "http://" + parsed.Host
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, n, a string) (c net.Conn, err error) {
		err = h.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, n, a); return err })
		return c, err
	}}}
	defer hc.CloseIdleConnections()
	// One client id per phone, as a browser keeps its own: the server takes
	// at most 4 browsers at once, by address and id.
	client := webauth.BodyHash([]byte("curl on " + h.NS()))[:32]
	body := fmt.Sprintf(`{"client":"%s","files":[{"path":"curl-%s","size":%d,"mtime":0}]}`, client, webauth.NewNonce()[:8], size)
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/offer", strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	sec.SignRequest(req, []byte(body))
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("curl baseline: offer: %w", err)
	}
	var ans struct {
		Chunk int64
		Files []struct{ Upload string }
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || len(ans.Files) != 1 || ans.Chunk <= 0 {
		return 0, fmt.Errorf("curl baseline: offer: HTTP %d, %v", resp.StatusCode, err)
	}
	dir, err := os.MkdirTemp(scratch, "curl-chunks-")
	if err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("curl baseline: %w", err)
	}
	defer f.Close()
	var args []string
	buf := make([]byte, ans.Chunk)
	upload := ans.Files[0].Upload
	for off, i := int64(0), 0; off < size; off, i = off+ans.Chunk, i+1 {
		chunk := buf[:min(ans.Chunk, size-off)]
		if _, err := io.ReadFull(f, chunk); err != nil {
			return 0, fmt.Errorf("curl baseline: read %s: %w", path, err)
		}
		name := filepath.Join(dir, fmt.Sprintf("c%06d", i))
		if err := os.WriteFile(name, chunk, 0o600); err != nil {
			return 0, fmt.Errorf("curl baseline: %w", err)
		}
		hash, o := webauth.BodyHash(chunk), strconv.FormatInt(off, 10)
		if i > 0 {
			args = append(args, "--next")
		}
		args = append(args, "-sS", "-o", "/dev/null", "-f", "-X", "PATCH", "-T", name,
			"-H", "Tus-Resumable: 1.0.0", "-H", "Content-Type: application/offset+octet-stream",
			"-H", "Upload-Offset: "+o, "-H", webauth.ChunkHashHeader+": "+hash,
			"-H", webauth.Header+": "+sec.Sign("PATCH", upload, webauth.PatchBind(o, hash)),
			base+upload)
	}
	cmd := h.CommandContext(ctx, "curl", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("curl baseline: curl: %w: %s", err, out.Bytes())
	}
	return time.Since(start), nil
}

// bareHashJS hashes each chunk of the file in the input sel (chunks of ch
// bytes) into window.bareHashes, once per file.
const bareHashJS = `(async (sel, ch) => {
  const f = document.querySelector(sel).files[0];
  const id = f.name + "/" + f.size + "/" + f.lastModified + "/" + ch;
  if (window.bareHashes && window.bareHashes.id === id) return true;
  const list = [];
  for (let off = 0; off < f.size; off += ch) {
    list.push(await FerryAuth.bodyHash(new Uint8Array(await f.slice(off, Math.min(off + ch, f.size)).arrayBuffer())));
  }
  window.bareHashes = { id, list };
  return true;
})`

// bareSendJS is a page-side PATCH loop that does only what the browser
// must: each chunk goes as a Blob in an XMLHttpRequest with its hash (from
// bareHashJS) and MAC, one after the other. It offers the file as the
// page's own client (the page's id in local storage), so it takes no other
// place among the server's 4 browsers. It answers the milliseconds the
// PATCHes took.
const bareSendJS = `(async (sel, ch) => {
  const f = document.querySelector(sel).files[0];
  const id = f.name + "/" + f.size + "/" + f.lastModified + "/" + ch;
  if (!window.bareHashes || window.bareHashes.id !== id) throw new Error("no hashes for this file");
  const hashes = window.bareHashes.list;
  const key = window.ferryState.key;
  let client = null;
  try { client = localStorage.getItem("ferry-client"); } catch (e) { /* storage off */ }
  const body = new TextEncoder().encode(JSON.stringify({ client: client || FerryAuth.randomHex(16),
    files: [{ path: "bare-" + FerryAuth.randomHex(4), size: f.size, mtime: 0 }] }));
  const bh = await FerryAuth.bodyHash(body);
  const resp = await fetch("/api/v1/offer", { method: "POST", body, headers: { "Content-Type": "application/json",
    "X-Ferry-Auth": await FerryAuth.sign(key, "POST", "/api/v1/offer", bh) } });
  if (resp.status !== 200) throw new Error("offer: HTTP " + resp.status);
  const ans = await resp.json();
  if (ans.chunk !== ch) throw new Error("the server's chunk is " + ans.chunk);
  const url = ans.files[0].upload;
  const t0 = performance.now();
  for (let off = 0, i = 0; off < f.size; off += ch, i++) {
    const auth = await FerryAuth.sign(key, "PATCH", url, off + "\0" + hashes[i]);
    const st = await new Promise((ok, bad) => {
      const x = new XMLHttpRequest();
      x.open("PATCH", url);
      x.setRequestHeader("Tus-Resumable", "1.0.0");
      x.setRequestHeader("Upload-Offset", String(off));
      x.setRequestHeader("Content-Type", "application/offset+octet-stream");
      x.setRequestHeader("X-Ferry-Chunk-Hash", hashes[i]);
      x.setRequestHeader("X-Ferry-Auth", auth);
      x.onload = () => ok(x.status);
      x.onerror = () => bad(new Error("PATCH failed"));
      x.send(f.slice(off, Math.min(off + ch, f.size)));
    });
    if (st !== 204) throw new Error("PATCH: HTTP " + st);
  }
  return performance.now() - t0;
})`

// PrepareBare readies BareUpload on the upload page already open in the
// tab: it puts the file at path in a file input of its own and hashes its
// chunks of chunk bytes (the server's), once per file.
func (p *Phone) PrepareBare(ctx context.Context, path string, chunk int64) error {
	if _, err := Run(ctx, chromedp.Evaluate[bool](`document.getElementById("bare") ||
		document.body.insertAdjacentHTML("beforeend", '<input type="file" id="bare">'), true`)); err != nil {
		return err
	}
	if _, err := Run(ctx, chromedp.SetUploadFiles(`#bare`, []string{path})); err != nil {
		return err
	}
	if _, err := Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`%s("#bare", %d)`, bareHashJS, chunk), chromedp.EvalAwaitPromise)); err != nil {
		return fmt.Errorf("bare upload: hash: %w", err)
	}
	return nil
}

// BareUpload measures what the browser itself can do: the file readied by
// PrepareBare goes to the same server in the same PATCHes as the page's,
// with every chunk's hash made beforehand and nothing else in the loop (no
// tus-js-client, no progress, no hashing). The time of the PATCHes is the
// page's ceiling on this machine. The file is added to the computer's
// folder as "bare-…".
func (p *Phone) BareUpload(ctx context.Context, chunk int64) (time.Duration, error) {
	ms, err := Run(ctx, chromedp.Evaluate[float64](fmt.Sprintf(`%s("#bare", %d)`, bareSendJS, chunk), chromedp.EvalAwaitPromise))
	if err != nil {
		return 0, fmt.Errorf("bare upload: %w", err)
	}
	if ms <= 0 {
		return 0, errors.New("bare upload: no time measured")
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}
