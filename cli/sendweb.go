package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/pairing"
	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/safepath"
	"github.com/ferry-lan/ferry/transfer/web"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// sendWebFlags are ferry send's flags for --web.
type sendWebFlags struct {
	port   int
	once   bool
	qrPNG  string
	ifaces []string
}

// webShutdown bounds how long the server waits for downloads in flight
// when it stops.
const webShutdown = 2 * time.Second

// sendWeb offers paths to browsers over HTTP (ferry send --web) until ctx
// ends (Ctrl-C) or, with --once, every file was downloaded in full once.
func sendWeb(ctx context.Context, e *env, paths []string, f sendWebFlags) error {
	if slices.Contains(paths, transfer.StdinPath) {
		return usagef("--web offers files and folders; standard input (-) cannot be offered")
	}
	if f.port < 0 || f.port > 65535 {
		return usagef("--port %d is not a TCP port", f.port)
	}
	if err := checkPaths(paths); err != nil {
		return err
	}
	shared, err := web.Share(paths, e.log)
	if err != nil {
		return err
	}
	defer shared.Close()
	addrs, err := lanAddrs(f.ifaces)
	if err != nil {
		return err
	}
	secret, err := webauth.New()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(f.port))
	if err != nil {
		if f.port != 0 {
			err = fmt.Errorf("%w; is another ferry using TCP port %d? Use --port 0 for any free port", err, f.port)
		}
		return fmt.Errorf("listen for browsers: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	urls := make([]string, len(addrs))
	hosts := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), net.JoinHostPort("::1", strconv.Itoa(port))}
	for i, a := range addrs {
		hp := netip.AddrPortFrom(a, uint16(port)).String()
		hosts = append(hosts, hp)
		urls[i] = "http://" + hp + "/#" + secret.Fragment()
	}
	zipName := "ferry.zip"
	if len(paths) == 1 {
		zipName = strings.TrimSuffix(filepath.Base(paths[0]), filepath.Ext(paths[0])) + ".zip"
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	view := &webSendView{out: e.out, once: f.once, active: map[string]web.DownloadEvent{}}
	srv := web.NewSendServer(web.SendOptions{
		Shared: shared, Secret: secret, Hosts: hosts, ZipName: zipName, Log: e.log,
		Events: func(ev web.DownloadEvent) {
			view.onEvent(ev)
			if ev.Kind == web.DownloadAllDone && f.once {
				cancel()
			}
		},
	})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second}

	if f.qrPNG != "" {
		png, err := pairing.QRPNG(urls[0], 512)
		if err != nil {
			ln.Close()
			return err
		}
		if err := writeSecretFile(f.qrPNG, png); err != nil {
			ln.Close()
			return fmt.Errorf("write QR code: %w", err)
		}
	}
	e.out.event(map[string]any{"event": "web", "mode": "send", "url": urls[0], "urls": urls, "port": port,
		"files": len(shared.Files), "bytes": shared.Total},
		webSendScreen(e, urls, len(shared.Files), shared.Total, f.once))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve browsers: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), webShutdown)
		defer scancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close() // downloads still running are cut
		}
		return nil
	})
	stop := func() {}
	if e.out.tty {
		stop = e.out.status(view.line)
	}
	err = g.Wait()
	stop()
	if err != nil {
		return err
	}
	if view.allDone() {
		e.out.event(map[string]any{"event": "done", "files": len(shared.Files), "bytes": shared.Total},
			fmt.Sprintf("every file was downloaded (%d, %s)", len(shared.Files), human.Bytes(shared.Total)))
	}
	return nil
}

// webSendScreen is what a terminal shows: the QR code of the best URL,
// the URL, the other addresses' URLs.
func webSendScreen(e *env, urls []string, files int, total int64, once bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Offering %s (%s) to web browsers.\n", plural(files, "file"), human.Bytes(total))
	cols, rows := terminalSize(e.stdout)
	maxSide := 0
	if cols > 0 && rows > 0 {
		maxSide = min(cols, 2*(rows-6))
	}
	if qr, err := pairing.QRTerminal(urls[0], 2, maxSide, false); err == nil {
		b.WriteString(qr)
	} else if qr, err := pairing.QRTerminal(urls[0], 1, maxSide, false); err == nil {
		b.WriteString(qr)
	}
	b.WriteString("Scan the code with a phone on this network, or open\n  " + urls[0] + "\n")
	if len(urls) > 1 {
		b.WriteString("Other addresses of this computer:\n")
		for _, u := range urls[1:] {
			b.WriteString("  " + u + "\n")
		}
	}
	if once {
		b.WriteString("ferry stops when every file was downloaded once, or on Ctrl-C.")
	} else {
		b.WriteString("Press Ctrl-C to stop offering.")
	}
	return b.String()
}

// webSendView shows the downloads: a line when one starts and ends, a
// live line on a terminal, JSON events with --json.
type webSendView struct {
	out  *output
	once bool // ferry ends when all is done, and says so then

	mu     sync.Mutex
	active map[string]web.DownloadEvent // by browser and file
	all    bool
}

func (v *webSendView) onEvent(ev web.DownloadEvent) {
	who := "web browser at " + browserAddr(ev.From)
	name := safepath.Display(ev.Name, 0)
	key := ev.From + "\x00" + ev.Name
	v.mu.Lock()
	switch ev.Kind {
	case web.DownloadProgress, web.DownloadStarted:
		v.active[key] = ev
	case web.DownloadDone, web.DownloadFailed:
		delete(v.active, key)
	case web.DownloadAllDone:
		v.all = true
	}
	v.mu.Unlock()
	j := map[string]any{"event": "download", "from": browserAddr(ev.From), "name": ev.Name, "offset": ev.Offset, "sent": ev.Sent, "size": ev.Size, "zip": ev.Zip}
	switch ev.Kind {
	case web.DownloadStarted:
		j["state"] = "started"
		what := name
		if ev.Size >= 0 {
			what += " (" + human.Bytes(ev.Size) + ")"
		}
		if ev.Offset > 0 {
			what += fmt.Sprintf(", resuming at %s", human.Bytes(ev.Offset))
		}
		v.out.event(j, who+" is downloading "+what)
	case web.DownloadProgress:
		j["state"] = "progress"
		if v.out.json {
			v.out.event(j, "")
		}
	case web.DownloadDone:
		j["state"] = "done"
		v.out.event(j, fmt.Sprintf("%s downloaded %s (%s sent)", who, name, human.Bytes(ev.Sent)))
	case web.DownloadFailed:
		j["state"] = "failed"
		j["message"] = errText(ev.Err)
		v.out.event(j, fmt.Sprintf("%s stopped downloading %s: %s", who, name, errText(ev.Err)))
	case web.DownloadAllDone:
		text := "every file has been downloaded at least once (Ctrl-C stops the offer)"
		if v.once {
			text = ""
		}
		v.out.event(map[string]any{"event": "download", "state": "all"}, text)
	}
}

// line is the live line: the downloads in progress.
func (v *webSendView) line() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.active) == 0 {
		return "waiting for browsers…"
	}
	keys := make([]string, 0, len(v.active))
	for k := range v.active {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		ev := v.active[k]
		p := safepath.Display(ev.Name, 40) + " " + human.Bytes(ev.Offset+ev.Sent)
		if ev.Size > 0 {
			p += fmt.Sprintf(" (%d%%)", (ev.Offset+ev.Sent)*100/ev.Size)
		}
		parts = append(parts, p)
	}
	return "downloading: " + strings.Join(parts, ", ")
}

func (v *webSendView) allDone() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.all
}

// browserAddr is a browser's IP address without the port.
func browserAddr(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().String()
	}
	return remote
}
