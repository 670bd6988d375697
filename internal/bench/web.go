//go:build linux

package main

// Case w (issue 14): a phone uploads to `ferry receive --web`. Chromium
// runs in a "phone" namespace on a LAN of its own with the computer
// (fbweb-: 10.79.0.1 and 10.79.0.2), as in e2e TestWebReceive, through
// the same helpers (internal/phone). Each run sends the file three ways,
// one after the other, to the same receiver: the page (pick the file, wait
// until the page says the computer has it); curl, one PATCH per chunk with
// the same hashes and MACs the page sends, on one connection (the
// baseline); and a bare PATCH loop in the same tab with the hashes made
// beforehand (what Chromium itself can send: the ceiling of any page on
// this machine). Then, once, the receiver is killed (SIGKILL) at 40 % of
// an upload, started again on the same port, the page opened from its new
// URL and the file picked again, and the page's chunk bytes are counted.
//
// Targets: page ≥ 0.60 × curl (median of the runs' ratios); the
// receiver's peak RSS ≤ 64 MiB; URL to a ready page ≤ 1 s (the first
// load of a fresh browser); the resumed upload re-sends at most one tus
// chunk.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/phone"
)

// webRow is case w's result.
type webRow struct {
	Bytes      int64     `json:"bytes"`
	Rate       string    `json:"phone_link,omitempty"` // tc rate on the phone's link, if capped
	Page       []float64 `json:"page_mb_per_s"`
	Curl       []float64 `json:"curl_mb_per_s"`
	Bare       []float64 `json:"bare_mb_per_s"`
	Ratio      float64   `json:"page_per_curl"` // median of the runs' page/curl
	BareRatio  float64   `json:"bare_per_curl"`
	RSSRecv    float64   `json:"rss_recv_mib"`
	ReadyCold  float64   `json:"ready_cold_s"`
	ReadyWarm  float64   `json:"ready_again_s"`
	Chunk      int64     `json:"chunk"`
	Resent     float64   `json:"resent_bytes"` // page's chunk bytes for the resumed file, minus the file
	PageReadMs float64   `json:"page_read_ms"` // the last page run's
	PageHashMs float64   `json:"page_hash_ms"`
	PageSendMs float64   `json:"page_patch_ms"`
	// CPU seconds per GB (10^9 bytes) of the phone's namespace (Chromium,
	// or curl) and of the receiver, medians of the runs
	CPUPage [2]float64 `json:"cpu_page_phone_recv"`
	CPUCurl [2]float64 `json:"cpu_curl_phone_recv"`
	CPUBare [2]float64 `json:"cpu_bare_phone_recv"`
	Err     string     `json:"error,omitempty"`
}

const (
	webPrefix = "fbweb-"
	webPC     = "10.79.0.1"
	webPhone  = "10.79.0.2"
	webChunk  = 4 << 20 // the receiver's tus chunk (transfer/web DefaultChunkSize)
)

// webCase runs case w.
func (b *bench) webCase(ctx context.Context) webRow {
	row := webRow{Bytes: b.cfg.webSize, Rate: b.cfg.webRate, Chunk: webChunk}
	if err := b.webRun(ctx, &row); err != nil {
		row.Err = err.Error()
	}
	return row
}

// webReady says why case w cannot run here, or nil.
func webReady() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	if _, err := phone.Find(); err != nil {
		return err
	}
	if err := netlab.Check(); err != nil {
		return err
	}
	return nil
}

func (b *bench) webRun(ctx context.Context, row *webRow) error {
	if names, err := netlab.Namespaces(ctx, webPrefix); err != nil || len(names) > 0 {
		return fmt.Errorf("namespaces %v left over (ip netns del …), or %v", names, err)
	}
	lan := netlab.New(webPrefix, nil)
	defer lan.Close()
	sw, err := lan.AddSwitch(ctx, "sw")
	if err != nil {
		return err
	}
	pc, err := lan.AddHost(ctx, "pc")
	if err != nil {
		return err
	}
	ph, err := lan.AddHost(ctx, "phone")
	if err != nil {
		return err
	}
	if _, err := sw.Plug(ctx, pc, "eth0", webPC+"/24"); err != nil {
		return err
	}
	if _, err := sw.Plug(ctx, ph, "eth0", webPhone+"/24"); err != nil {
		return err
	}
	if row.Rate != "" {
		if _, err := ph.Run(ctx, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", row.Rate, "burst", "256kb", "latency", "50ms"); err != nil {
			return fmt.Errorf("cap the phone's link: %w", err)
		}
	}
	src := b.big
	if src == nil || src.bytes != row.Bytes {
		if src, err = bigSource(filepath.Join(b.tmp, "web.bin"), row.Bytes, 8); err != nil {
			return err
		}
		defer os.Remove(src.path)
	}
	dst, err := os.MkdirTemp(b.tmp, "web-recv-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dst)
	scratch, err := os.MkdirTemp(b.tmp, "web-scratch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)

	runs := b.cfg.runs
	ctx, g := newProcGroup(ctx, time.Duration(runs+2)*runLimit(3*row.Bytes))
	defer g.end()
	receive := func(port string) (*proc, string, error) {
		p, err := g.start("ferry receive --web", command(ctx, pc, b.ferry, "receive", "--web", "--accept", "all", "--port", port,
			"--json", "--dir", dst, "--home", b.homeRecv, "--name", "bench-web"))
		if err != nil {
			return nil, "", err
		}
		ev, err := p.waitEvent(ctx, "web", readyTimeout)
		if err != nil {
			return nil, "", fmt.Errorf("ferry receive --web: %w%s", err, p.stderrTail())
		}
		urls, _ := ev.fields["urls"].([]any)
		for _, u := range urls {
			if s, _ := u.(string); strings.HasPrefix(s, "http://"+webPC+":") {
				return p, s, nil
			}
		}
		return nil, "", fmt.Errorf("no URL on %s in the web event %v", webPC, ev.fields)
	}
	recv, u, err := receive("0")
	if err != nil {
		return err
	}

	p, err := phone.Start(ctx, ph)
	if err != nil {
		return err
	}
	defer p.Close()
	tab := p.Ctx
	ready, err := p.OpenUploadPage(tab, u)
	if err != nil {
		return err
	}
	row.ReadyCold = ready.Seconds()
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		return err
	}
	if ready, err = p.OpenUploadPage(tab, u); err != nil {
		return err
	}
	row.ReadyWarm = ready.Seconds()

	mbps := func(d time.Duration) float64 { return float64(row.Bytes) / d.Seconds() / 1e6 }
	timeout := runLimit(row.Bytes)
	var ratios, bareRatios []float64
	var cpu [3][2][]float64 // page, curl, bare × phone, receiver
	gb := float64(row.Bytes) / 1e9
	measureCPU := func(k int, f func() error) error {
		ph0, rc0 := nsCPU(ctx, ph), pidCPU(recv.cmd.Process.Pid)
		if err := f(); err != nil {
			return err
		}
		cpu[k][0] = append(cpu[k][0], (nsCPU(ctx, ph)-ph0)/gb)
		cpu[k][1] = append(cpu[k][1], (pidCPU(recv.cmd.Process.Pid)-rc0)/gb)
		return nil
	}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		if err := p.ResetCounters(tab); err != nil {
			return err
		}
		var page, curl, bare time.Duration
		err := measureCPU(0, func() (err error) { page, err = p.Upload(tab, src.path, timeout); return err })
		if err != nil {
			return fmt.Errorf("page upload: %w", err)
		}
		if err := src.verify(dst); err != nil {
			return fmt.Errorf("page upload: %w", err)
		}
		st, err := p.Stats(tab)
		if err != nil {
			return err
		}
		row.PageReadMs, row.PageHashMs, row.PageSendMs = st.ReadMs, st.HashMs, st.SendMs
		if err := emptyDir(dst); err != nil {
			return err
		}
		// curl's own CPU is not counted (it has exited when measured)
		if err := measureCPU(1, func() (err error) { curl, err = phone.CurlUpload(ctx, ph, u, src.path, scratch); return err }); err != nil {
			return err
		}
		if err := p.PrepareBare(tab, src.path, row.Chunk); err != nil {
			return err
		}
		if err := measureCPU(2, func() (err error) { bare, err = p.BareUpload(tab, row.Chunk); return err }); err != nil {
			return err
		}
		if err := emptyDir(dst); err != nil {
			return err
		}
		row.Page, row.Curl, row.Bare = append(row.Page, mbps(page)), append(row.Curl, mbps(curl)), append(row.Bare, mbps(bare))
		ratios, bareRatios = append(ratios, curl.Seconds()/page.Seconds()), append(bareRatios, curl.Seconds()/bare.Seconds())
		fmt.Fprintf(os.Stderr, "  page %7.1f MB/s  curl %7.1f MB/s  bare PATCH loop %7.1f MB/s  page/curl %.2f  receiver RSS %.1f MiB\n",
			mbps(page), mbps(curl), mbps(bare), curl.Seconds()/page.Seconds(), mib(recv.hwm.Load()))
	}
	row.Ratio, row.BareRatio = median(ratios), median(bareRatios)
	for k, dst := range []*[2]float64{&row.CPUPage, &row.CPUCurl, &row.CPUBare} {
		*dst = [2]float64{median(cpu[k][0]), median(cpu[k][1])}
	}
	row.RSSRecv = mib(recv.hwm.Load())

	// Killed at 40 %, started again on the same port; the page opened from
	// the new URL (a new secret) and the file picked again.
	fmt.Fprintf(os.Stderr, "  resume: the receiver killed at 40 %% and started again\n")
	if err := p.ResetCounters(tab); err != nil {
		return err
	}
	if err := p.Pick(tab, src.path); err != nil {
		return err
	}
	if err := p.WaitSent(tab, row.Bytes*4/10, timeout); err != nil {
		return err
	}
	recv.cmd.Process.Signal(syscall.SIGKILL)
	<-recv.done
	_, port, _ := strings.Cut(strings.TrimPrefix(u[:strings.Index(u, "/#")], "http://"), ":")
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("no port in %s", u)
	}
	_, u2, err := receive(port)
	if err != nil {
		return err
	}
	if err := p.WaitProblem(tab, "pick the files again", time.Minute); err != nil {
		return err
	}
	if _, err := p.OpenUploadPage(tab, u2); err != nil {
		return err
	}
	if _, err := p.Upload(tab, src.path, timeout); err != nil {
		return fmt.Errorf("resumed upload: %w", err)
	}
	if err := src.verify(dst); err != nil {
		return fmt.Errorf("resumed upload: %w", err)
	}
	st, err := p.Stats(tab)
	if err != nil {
		return err
	}
	row.Resent = st.Wire - float64(row.Bytes)
	return nil
}

// nsCPU is the CPU time (user and system, seconds) that the processes now
// in h's namespace have used.
func nsCPU(ctx context.Context, h *netlab.Host) float64 {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", h.NS()).Output()
	if err != nil {
		return 0
	}
	var sum float64
	for _, pid := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(pid); err == nil {
			sum += pidCPU(n)
		}
	}
	return sum
}

// pidCPU is a process's CPU time (user and system, all its threads) in
// seconds, from /proc/PID/stat (clock ticks of 1/100 s), 0 if unknown.
func pidCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // from field 3, the state
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14
	s, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
	return (u + s) / 100
}

// emptyDir removes what the receiver saved in dir (the store's own
// hidden state stays).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// printWeb prints case w: each figure with its target.
func (rep *report) printWeb(w *os.File) {
	for _, r := range rep.Web {
		link := "veth, unshaped"
		if r.Rate != "" {
			link = "phone's link capped at " + r.Rate
		}
		if r.Err != "" {
			fmt.Fprintf(w, "w  web upload from Chromium, %s, %s: FAILED: %s\n", human(r.Bytes), link, r.Err)
			continue
		}
		fmt.Fprintf(w, "w  web upload from Chromium in a phone namespace, %s, %s, %d run(s); baseline curl, same server, same PATCHes:\n", human(r.Bytes), link, len(r.Page))
		fmt.Fprintf(w, "     page %.1f MB/s, curl %.1f MB/s (medians): page/curl %.2fx (target >= 0.60x) %s\n",
			median(r.Page), median(r.Curl), r.Ratio, passFail(r.Ratio >= 0.6))
		fmt.Fprintf(w, "     Chromium's own PATCH loop (hashes made beforehand) %.1f MB/s: %.2fx curl, the ceiling of a page here; the page reaches %.2fx of it\n",
			median(r.Bare), r.BareRatio, median(r.Page)/median(r.Bare))
		fmt.Fprintf(w, "     CPU s/GB, phone's namespace/receiver: page %.2f/%.2f, curl -/%.2f, bare loop %.2f/%.2f\n",
			r.CPUPage[0], r.CPUPage[1], r.CPUCurl[1], r.CPUBare[0], r.CPUBare[1])
		fmt.Fprintf(w, "     in the page (last run): read %.0f ms, hash %.0f ms (in a worker, ahead of the wire), PATCHes %.0f ms\n", r.PageReadMs, r.PageHashMs, r.PageSendMs)
		fmt.Fprintf(w, "     receiver peak RSS %.1f MiB (target <= 64) %s\n", r.RSSRecv, passFail(r.RSSRecv > 0 && r.RSSRecv <= 64))
		fmt.Fprintf(w, "     URL to a ready page %.3f s, a fresh browser (target <= 1 s) %s; again %.3f s\n", r.ReadyCold, passFail(r.ReadyCold <= 1), r.ReadyWarm)
		fmt.Fprintf(w, "     resumed after kill -9 at 40 %%: the page re-sent %.1f MiB (target <= one tus chunk, %.0f MiB) %s\n",
			r.Resent/(1<<20), float64(r.Chunk)/(1<<20), passFail(r.Resent <= float64(r.Chunk)))
	}
}
