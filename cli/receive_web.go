package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/ferry-lan/ferry/pairing"
	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/web"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// webReceiver is the page of `ferry receive --web`, on TCP at the
// receiver's port number.
type webReceiver struct {
	srv  *web.Server
	ln   net.Listener
	urls []string // best first
	port int
}

// startWebReceiver listens on TCP port (every address) and makes the web
// receiver for the receiver's folder and policy. Nothing is served until
// serve; the URLs carry a fresh secret in their fragment.
func startWebReceiver(e *env, port int, dir string, ifaces []string, overwrite bool, policy transfer.Policy,
	ask func(context.Context, transfer.OfferInfo) (bool, error), events func(transfer.Event), path, frag string) (*webReceiver, error) {
	addrs, err := lanAddrs(ifaces)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("the web page needs TCP port %d, the receiver's port number, and it is taken: %w (choose another with --port)", port, err)
		}
		return nil, fmt.Errorf("listen for the web page: %w", err)
	}
	sec, err := webauth.New()
	if err != nil {
		ln.Close()
		return nil, err
	}
	hosts := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), net.JoinHostPort("::1", strconv.Itoa(port)), "localhost:" + strconv.Itoa(port)}
	w := &webReceiver{ln: ln, port: port}
	fragment := sec.Fragment()
	if frag != "" {
		fragment += "&" + frag
	}
	for _, a := range addrs {
		hp := net.JoinHostPort(a.String(), strconv.Itoa(port)) // IPv6 bracketed
		hosts = append(hosts, hp)
		w.urls = append(w.urls, "http://"+hp+path+"#"+fragment)
	}
	w.srv, err = web.New(web.Config{
		Dir: dir, Secret: sec, Hosts: hosts, Policy: policy, Ask: ask, Events: events,
		Logger: e.log, Overwrite: overwrite,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return w, nil
}

// serve answers browsers until ctx ends.
func (w *webReceiver) serve(ctx context.Context) error {
	return w.srv.Serve(ctx, []net.Listener{w.ln})
}

// show prints the best URL as a QR code (on a terminal) and every URL as
// text, or a "web" event with --json; with qrPNG it also writes the code.
func (w *webReceiver) show(e *env, qrPNG string) error {
	best := w.urls[0]
	if qrPNG != "" {
		png, err := pairing.QRPNG(best, 512)
		if err != nil {
			return err
		}
		if err := writeSecretFile(qrPNG, png); err != nil {
			return fmt.Errorf("write QR code: %w", err)
		}
	}
	text := []string{"", "Phones and other computers can send files here from a web browser: scan this code, or open"}
	if !e.json && isTerminal(e.stdout) {
		if qr, err := pairing.QRTerminal(best, 2, 0, false); err == nil {
			text = append([]string{qr}, text[1:]...)
		}
	}
	text = append(text, "  "+best)
	if len(w.urls) > 1 {
		text = append(text, "or, on another network of this computer's:")
		for _, u := range w.urls[1:] {
			text = append(text, "  "+u)
		}
	}
	text = append(text, "(The link holds this session's key: share it only with the devices you want to send here.)")
	e.out.event(map[string]any{"event": "web", "mode": "receive", "url": best, "urls": w.urls, "port": w.port}, strings.Join(text, "\n"))
	return nil
}
