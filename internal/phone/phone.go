// Package phone runs a headless Chromium as a "phone" on a netlab LAN, for
// the browser tests of ferry's web page: the browser lives in a host's
// network namespace, so it reaches the page at the receiver's LAN address
// (http://10.x…), where — as on a real phone — the page is NOT a secure
// context (no crypto.subtle, no service worker). A page on 127.0.0.1 would
// be one, and would hide that.
//
// The browser is Debian's chromium-headless-shell (or chromium; the
// environment variable FERRY_CHROMIUM names another binary), started under
// `ip netns exec NS` and driven with chromedp over a pipe (file descriptors 3
// and 4, which ip netns exec passes on), so no debugging port is opened in
// the namespace. Each phone has a fresh profile directory and a download
// directory, both removed by Close, and a viewport of 390×844 CSS pixels at
// scale 1, a common phone size.
//
// The package does not import testing; ForTest (in phonetest.go) is the
// wrapper for tests.
package phone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/ferry-lan/ferry/internal/netlab"
)

// Width and Height are the phone's viewport in CSS pixels.
const (
	Width  = 390
	Height = 844
)

// Find returns the Chromium binary to run: $FERRY_CHROMIUM, or
// chromium-headless-shell, or chromium from $PATH.
func Find() (string, error) {
	if p := os.Getenv("FERRY_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium-headless-shell", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium-headless-shell or chromium in $PATH (apt-get install chromium-headless-shell, or set FERRY_CHROMIUM)")
}

// A Phone is a Chromium in a host's namespace with one tab.
type Phone struct {
	// Ctx is the chromedp context of the phone's tab: pass it to
	// chromedp.Run, chromedp.Do and chromedp.Call.
	Ctx context.Context
	// Downloads is the directory the browser saves downloads into, under
	// the names the server suggests.
	Downloads string

	dir       string // profile and downloads, removed by Close
	cancelTab context.CancelFunc
	cancelAll context.CancelFunc
}

// Start runs Chromium in h's namespace and opens a blank tab with the
// phone's viewport and downloads allowed into p.Downloads. ctx bounds the
// whole life of the browser (not only the start): the browser is killed
// when ctx is done. Close it when done.
func Start(ctx context.Context, h *netlab.Host) (*Phone, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	dir, err := os.MkdirTemp("", "ferry-phone-")
	if err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	p := &Phone{dir: dir, Downloads: filepath.Join(dir, "downloads")}
	if err := os.Mkdir(p.Downloads, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	ns := h.NS()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(Width, Height),
		// `ip netns exec NS chromium FLAGS…`: ip execs chromium in place,
		// keeping the pipe's descriptors 3 and 4.
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Path = ipPath
			cmd.Args = append([]string{"ip", "netns", "exec", ns, bin}, cmd.Args[1:]...)
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = new(syscall.SysProcAttr)
			}
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // the browser dies with the test
		}),
	}
	actx, cancelAll := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx)
	p.Ctx, p.cancelTab, p.cancelAll = tctx, cancelTab, cancelAll
	// The first Run starts the browser; its context lives as long as the
	// browser.
	err = chromedp.Do(tctx,
		chromedp.EmulateViewport(Width, Height, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior:      browser.SetDownloadBehaviorBehaviorAllow,
				DownloadPath:  p.Downloads,
				EventsEnabled: ptr(true),
			})
			return err
		}),
	)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("start chromium (%s) in %s: %w", bin, ns, err)
	}
	return p, nil
}

// Screenshot saves the tab's viewport (Width×Height) as a PNG file.
func (p *Phone) Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return nil
}

// ErrCanceled is Download's error for a download the browser gave up:
// cancelled, or interrupted (a connection reset, say). Headless Chromium
// reports an interrupted download as cancelled and does not resume it by
// itself; the Download it comes with has the URL and the name.
var ErrCanceled = errors.New("the browser cancelled or interrupted the download")

// A Download is a file the browser saved.
type Download struct {
	URL  string // what was downloaded
	Name string // the name the server suggested
	Path string // where it is now, in Downloads
	Size int64
}

// Download runs trigger (a click on a link, say) and waits until the
// download it starts has completed, or ctx is done. ctx must be derived
// from p.Ctx. A download the browser cancels or that is interrupted is
// ErrCanceled.
func (p *Phone) Download(ctx context.Context, trigger chromedp.Action[chromedp.Void]) (Download, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type begun struct {
		guid, url, name string
	}
	// Subscribe before the trigger: a subscription queues its events from
	// the call on, so none is missed.
	begins := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx, trigger); err != nil {
		return Download{}, fmt.Errorf("start download: %w", err)
	}
	var b begun
	for ev, err := range begins {
		if err != nil {
			return Download{}, fmt.Errorf("wait for a download to begin: %w", err)
		}
		b = begun{ev.GUID, ev.URL, ev.SuggestedFilename}
		break
	}
	if b.guid == "" {
		return Download{}, fmt.Errorf("wait for a download to begin: %w", ctx.Err())
	}
	for ev, err := range progress {
		if err != nil {
			return Download{}, fmt.Errorf("wait for download %s: %w", b.name, err)
		}
		if ev.GUID != b.guid {
			continue
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			path := ev.FilePath
			if path == "" {
				path = filepath.Join(p.Downloads, b.name)
			}
			fi, err := os.Stat(path)
			if err != nil {
				return Download{}, fmt.Errorf("download %s completed: %w", b.name, err)
			}
			return Download{URL: b.url, Name: b.name, Path: path, Size: fi.Size()}, nil
		case browser.DownloadProgressStateCanceled:
			return Download{URL: b.url, Name: b.name}, fmt.Errorf("download %s: %w", b.name, ErrCanceled)
		}
	}
	return Download{}, fmt.Errorf("wait for download %s: %w", b.name, ctx.Err())
}

// Close stops the browser and removes its profile and downloads.
func (p *Phone) Close() error {
	p.cancelTab()
	p.cancelAll() // waits for the browser process to end
	return os.RemoveAll(p.dir)
}

func ptr[T any](v T) *T { return &v }
