package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/pairing"
)

// pairFlag is the TXT flag a device with an open pairing window advertises.
const pairFlag = "pair"

func pairCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	timeout := fs.Duration("timeout", pairing.DefaultTimeout, "how long the pairing window stays open (joining: how long to try)")
	qrPNG := fs.String("qr-png", "", "also write the QR code as a PNG image to `FILE`")
	to := fs.String("to", "", "join the window of the device with this `NAME` or at HOST:PORT, without looking for it")
	ifaces := fs.StringArray("iface", nil, "advertise or look only on the network interface `NAME` (repeatable)")
	return func(ctx context.Context, e *env, args []string) error {
		if *timeout <= 0 {
			return usagef("--timeout must be positive")
		}
		switch len(args) {
		case 0:
			if *to != "" {
				return usagef("--to goes with a PIN or code: ferry pair PIN --to NAME")
			}
			return showPairing(ctx, e, *timeout, *qrPNG, *ifaces)
		case 1:
			if *qrPNG != "" {
				return usagef("--qr-png is for the device that shows the code")
			}
			return joinPairing(ctx, e, args[0], *to, *timeout, *ifaces)
		}
		return usagef("pair takes at most one argument, the PIN or the code")
	}
}

// showPairing opens a pairing window and shows its PIN and QR code.
func showPairing(ctx context.Context, e *env, timeout time.Duration, qrPNG string, ifaces []string) error {
	dev, name, trust, err := e.deviceAndTrust()
	if err != nil {
		return err
	}
	hosts, err := lanAddrs(ifaces)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := pairing.Open(ctx, dev, name, pairing.Options{
		Hosts: hosts, Timeout: timeout, Logger: e.log,
		OnEvent: e.out.pairingEvent,
	})
	if err != nil {
		return fmt.Errorf("open pairing window: %w", err)
	}
	defer w.Close()
	code := w.Code().String()
	// The QR code opens a page for phones; ferry pair takes the URL too.
	qrText := code
	pageURL, stopPage := pairPage(ctx, e, int(w.Addr().Port()), code, ifaces)
	defer stopPage()
	if pageURL != "" {
		qrText = pageURL
	}
	if qrPNG != "" {
		png, err := pairing.QRPNG(qrText, 512)
		if err != nil {
			return err
		}
		if err := writeSecretFile(qrPNG, png); err != nil {
			return fmt.Errorf("write QR code: %w", err)
		}
	}
	ad, err := discovery.Advertise(ctx, discovery.Service{Name: name, ID: dev.ID, Port: int(w.Addr().Port()), Flags: map[string]string{pairFlag: "1"}},
		discovery.Options{Interfaces: ifaces, Logger: e.log})
	if err != nil {
		msg := errText(err)
		e.out.event(map[string]any{"event": "warning", "message": "not advertised: " + msg},
			fmt.Sprintf("warning: the window is not advertised (%s); the other device needs the QR code or --to HOST:%d", msg, w.Addr().Port()))
	} else {
		defer ad.Close()
	}
	if e.json {
		// code is what the QR code holds (the page's URL when there is one),
		// which ferry pair takes; text is the code as text, which it takes too.
		e.out.emit(map[string]any{"event": "pairing", "pin": w.PIN().String(), "code": qrText, "text": code, "port": w.Addr().Port(),
			"id": dev.ID.String(), "name": name, "expires": w.Expires().UTC().Format(time.RFC3339), "url": pageURL})
	} else {
		cols, rows := terminalSize(e.stdout)
		screen, err := pairingScreenQR(qrText, code, w.PIN().String(), w.Expires().Local().Format("15:04:05"), cols, rows)
		if err != nil {
			return err
		}
		e.out.event(nil, screen)
	}
	peer, err := w.Wait(ctx)
	if err != nil {
		return pairErr(err, false, "PIN")
	}
	return finishPairing(e, trust, peer)
}

// joinPairing pairs with a device that shows a PIN or code.
func joinPairing(ctx context.Context, e *env, arg, to string, timeout time.Duration, ifaces []string) error {
	secret, err := pairing.ParseSecret(codeFromPairURL(arg))
	if err != nil {
		return usagef("%v", err)
	}
	dev, name, trust, err := e.deviceAndTrust()
	if err != nil {
		return err
	}
	var addrs []netip.AddrPort
	if _, isCode := secret.(pairing.Code); !isCode || to != "" {
		addrs, err = e.pairingAddrs(ctx, to, ifaces, dev.ID, trust)
		if err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	peer, err := pairing.Pair(ctx, dev, name, addrs, secret)
	if err != nil {
		what := "PIN"
		if _, isCode := secret.(pairing.Code); isCode {
			what = "code"
		}
		return pairErr(err, true, what)
	}
	return finishPairing(e, trust, peer)
}

// pairingAddrs finds the device with an open pairing window: --to HOST:PORT,
// --to NAME, or the only one on the network.
func (e *env) pairingAddrs(ctx context.Context, to string, ifaces []string, self identity.DeviceID, trust *identity.TrustStore) ([]netip.AddrPort, error) {
	if to != "" && looksLikeAddr(to) {
		addr, err := normalizeAddr(to)
		if err != nil {
			return nil, err
		}
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", to, err)
		}
		return []netip.AddrPort{ua.AddrPort()}, nil
	}
	q := &targetQuery{to: to, self: self}
	match := func(p discovery.Peer) bool { return p.Flags[pairFlag] == "1" && q.match(p) }
	found, err := collectPeers(ctx, discovery.Options{Interfaces: ifaces, Logger: e.log, Only: discovery.Pairing()}, 5*time.Second, match)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		if err := q.tooShort(); err != nil {
			return nil, err
		}
		return nil, errors.New("no device with an open pairing window found on the network (run `ferry pair` on the other device first, or use --to HOST:PORT)")
	case 1:
		e.out.event(nil, fmt.Sprintf("pairing with %s (%s)…", printable(found[0].Name), found[0].ID.Short()))
		return found[0].AddrPorts(), nil
	}
	p, err := e.pick(ctx, found, to, "pair with which?", trust)
	if err != nil {
		return nil, err
	}
	e.out.event(nil, fmt.Sprintf("pairing with %s (%s)…", printable(p.Name), p.ID.Short()))
	return p.AddrPorts(), nil
}

// terminalSize is the size of w if it is a terminal, else 0, 0.
func terminalSize(w io.Writer) (cols, rows int) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, 0
	}
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, 0
	}
	return cols, rows
}

// pairingScreen is what the showing side prints: the QR code, the PIN and
// the code text, laid out to fit a terminal of cols×rows (0×0: not a
// terminal, no limit) without the code's top scrolling off: beside the
// code if the width allows, else below it; with a quiet zone of 2 modules,
// else 1. When no code fits, the PIN and the text come with a note.
func pairingScreen(code, pin, closes string, cols, rows int) (string, error) {
	return pairingScreenQR(code, code, pin, closes, cols, rows)
}

// pairingScreenQR is pairingScreen with a QR code of qr (the page's URL,
// which carries the code) instead of the code text.
func pairingScreenQR(qr, code, pin, closes string, cols, rows int) (string, error) {
	paste := "ferry pair '" + code + "'"
	side := []string{
		"On the other device, type",
		"  ferry pair " + pin,
		"or scan this code, or paste",
		"its text there (below).",
		"",
		"This window closes at " + closes,
		"(3 wrong tries close it sooner).",
	}
	stacked := []string{
		"Scan the code with the other device, or paste this on it:",
		"  " + paste,
		"or type the PIN there:",
		"  ferry pair " + pin,
		"This window closes at " + closes + " (3 wrong tries close it sooner).",
	}
	if cols <= 0 || rows <= 0 {
		qr, err := pairing.QRTerminal(qr, 4, 0, false)
		if err != nil {
			return "", err
		}
		return qr + strings.Join(stacked, "\n"), nil
	}
	// Lines a text takes on the terminal, wrapped.
	height := func(lines ...string) int {
		n := 0
		for _, l := range lines {
			n += max(1, (utf8.RuneCountInString(l)+cols-1)/cols)
		}
		return n
	}
	sideWidth := 0
	for _, l := range side {
		sideWidth = max(sideWidth, utf8.RuneCountInString(l))
	}
	const gap = 2
	room := rows - 1 // the line the cursor waits on
	for _, quiet := range []int{2, 1} {
		// Beside: the code, then the text to paste across the width.
		maxSide := min(cols-gap-sideWidth, 2*(room-height(paste)))
		if qr, err := pairing.QRTerminal(qr, quiet, maxSide, false); err == nil {
			qrLines := strings.Split(strings.TrimSuffix(qr, "\n"), "\n")
			top := max(0, (len(qrLines)-len(side))/2) // the text beside the code's middle
			for i, l := range side {
				if top+i < len(qrLines) && l != "" {
					qrLines[top+i] += strings.Repeat(" ", gap) + l
				}
			}
			return strings.Join(qrLines, "\n") + "\n" + paste, nil
		}
	}
	for _, quiet := range []int{2, 1} {
		maxSide := min(cols, 2*(room-height(stacked...)))
		if qr, err := pairing.QRTerminal(qr, quiet, maxSide, false); err == nil {
			return qr + strings.Join(stacked, "\n"), nil
		}
	}
	return strings.Join([]string{
		fmt.Sprintf("(The QR code does not fit this %d×%d terminal: enlarge it and run ferry pair again, or use --qr-png FILE.)", cols, rows),
		"On the other device, type",
		"  ferry pair " + pin,
		"or paste this there:",
		"  " + paste,
		"This window closes at " + closes + " (3 wrong tries close it sooner).",
	}, "\n"), nil
}

// writeSecretFile writes data, which holds a secret, to path for its owner
// only: into a new file of mode 0600 in the same folder, renamed over path.
// A file already at path is replaced, not rewritten, so neither its mode
// nor anyone who has it open sees the secret.
func writeSecretFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = f.Chmod(0o600) // CreateTemp's mode already; said here as the point
	if _, werr := f.Write(data); err == nil {
		err = werr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// pairingEvent renders what happens in an open pairing window.
func (o *output) pairingEvent(ev pairing.Event) {
	switch ev.Kind {
	case pairing.AttemptFailed:
		msg := errText(ev.Err)
		what := fmt.Sprintf("a pairing attempt failed (%s)", msg)
		if errors.Is(ev.Err, pairing.ErrWrongSecret) {
			what = "wrong PIN"
			if ev.Mode == pairing.ModeQR {
				what = "wrong code"
			}
		}
		left := plural(ev.Remaining, "try") + " left"
		if ev.Remaining == 0 {
			left = "no tries left: the window is closed"
		}
		o.event(map[string]any{"event": "attempt_failed", "from": ev.Remote.String(), "message": msg, "remaining": ev.Remaining},
			fmt.Sprintf("%s from %s — %s", what, ev.Remote, left))
	case pairing.AttemptBusy:
		o.event(map[string]any{"event": "attempt_busy", "from": ev.Remote.String()},
			fmt.Sprintf("refused a second pairing attempt from %s while one is running", ev.Remote))
	}
}

func finishPairing(e *env, trust *identity.TrustStore, peer identity.Peer) error {
	if err := trust.Add(peer); err != nil {
		return fmt.Errorf("store the paired device: %w", err)
	}
	e.out.event(map[string]any{"event": "paired", "name": peer.Name, "id": peer.ID.String(), "via": peer.Via},
		fmt.Sprintf("paired with %s (%s)", printable(peer.Name), peer.ID))
	return nil
}

// pairErr says why pairing failed and what to do, once: joining is true on
// the device that typed the secret, what names the secret ("PIN" or
// "code").
func pairErr(err error, joining bool, what string) error {
	again := "run `ferry pair` again"
	if joining {
		again = "run `ferry pair` on the other device again"
	}
	switch {
	case !joining && errors.Is(err, pairing.ErrClosed):
		return said(fmt.Sprintf("the pairing window closed after %d failed attempts; %s for a new PIN", pairing.MaxFailures, again), err)
	case errors.Is(err, pairing.ErrWrongSecret) && errors.Is(err, pairing.ErrClosed):
		return said(fmt.Sprintf("wrong %s, the last try: the pairing window on the other device is closed; %s", what, again), err)
	case errors.Is(err, pairing.ErrWrongSecret):
		if n, ok := pairing.TriesLeft(err); ok {
			return said(fmt.Sprintf("wrong %s — %s left", what, plural(n, "try")), err)
		}
		return said(fmt.Sprintf("wrong %s (%d wrong tries close the pairing window)", what, pairing.MaxFailures), err)
	case errors.Is(err, pairing.ErrClosed):
		return said(fmt.Sprintf("the pairing window on the other device is closed after %d wrong tries; %s", pairing.MaxFailures, again), err)
	case errors.Is(err, pairing.ErrExpired) && joining:
		return said("the pairing window on the other device has expired; "+again, err)
	case errors.Is(err, pairing.ErrExpired):
		return said("the pairing window expired before another device paired; "+again, err)
	case errors.Is(err, pairing.ErrUnreachable):
		return said("no pairing window answered (expired or closed?); "+again+", or check --to", err)
	case errors.Is(err, pairing.ErrBusy):
		return said("the other device is pairing with another device right now; try again in a moment", err)
	case errors.Is(err, pairing.ErrCanceled):
		return said("the other device stopped pairing", err)
	case errors.Is(err, pairing.ErrTimeout):
		return said("the other device did not finish pairing in time; try again", err)
	}
	return said("pairing failed: "+strings.TrimPrefix(err.Error(), "pair: "), err)
}

// lanAddrs lists this device's addresses that others on the LAN can reach
// and a QR code can carry: IPv4 and global or unique-local IPv6, on up,
// non-loopback interfaces (or the named ones).
func lanAddrs(ifaces []string) ([]netip.Addr, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var out []netip.Addr
	for _, ifi := range all {
		if len(ifaces) > 0 && !slices.Contains(ifaces, ifi.Name) {
			continue
		}
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if ip.IsLinkLocalUnicast() || ip.IsLoopback() || ip.IsMulticast() {
				continue
			}
			out = append(out, ip)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("this device has no address on a network (no interface is up with an IPv4 or global IPv6 address)")
	}
	// IPv4 first: shorter QR codes, and what most LANs route.
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case !a.Is4() && b.Is4():
			return 1
		}
		return 0
	})
	return out, nil
}
