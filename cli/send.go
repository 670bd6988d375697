package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer"
)

func sendCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	tos := fs.StringArray("to", nil, "the receiver: a `NAME` as ferry peers shows it, a DEVICE-ID prefix (13+ characters, 4+ for a paired device), or HOST:PORT; repeat it to send to several at once")
	all := fs.Bool("all", false, "send to every receiver found on the network (with --paired, every paired one)")
	pairedOnly := fs.Bool("paired", false, "with --all: only paired devices")
	noSwarm := fs.Bool("no-swarm", false, "to several receivers: send each everything directly, rather than have them pass chunks on to one another")
	as := fs.String("as", "", "the `NAME` standard input (PATH -) gets on the receiver")
	streams := fs.Int("streams", 4, "use `N` data streams, 1-15")
	ifaces := fs.StringArray("iface", nil, "discover only on the network interface `NAME` (repeatable)")
	wait := fs.Duration("timeout", 5*time.Second, "how long discovery looks for the receiver")
	text := fs.String("text", "", "send `TEXT` as a message instead of files (- reads it from standard input); at most 64 KiB")
	webMode := fs.Bool("web", false, "offer the files to web browsers instead: a phone scans the QR code and downloads them")
	webPort := fs.Int("port", transfer.DefaultPort, "with --web: listen on TCP `PORT`; 0 picks a free one")
	webOnce := fs.Bool("once", false, "with --web: stop once every file was downloaded in full")
	webQR := fs.String("qr-png", "", "with --web: also write the QR code as a PNG image to `FILE`")
	return func(ctx context.Context, e *env, args []string) error {
		msg, err := textToSend(fs, *text, args, *as, e.stdin)
		if err != nil {
			return err
		}
		if len(args) == 0 && msg == "" {
			return usagef("send needs at least one PATH (or - for standard input), or --text")
		}
		if *webMode && msg != "" {
			return usagef("--text goes to a ferry receiver, not with --web")
		}
		if *webMode && (len(*tos) > 0 || *all || *noSwarm) {
			return usagef("--web offers the files to browsers: --to, --all and --no-swarm go without it")
		}
		if *webMode {
			return sendWeb(ctx, e, args, sendWebFlags{port: *webPort, once: *webOnce, qrPNG: *webQR, ifaces: *ifaces})
		}
		if fs.Changed("port") || *webOnce || *webQR != "" {
			return usagef("--port, --once and --qr-png go with --web")
		}
		stdinCount := 0
		for _, a := range args {
			if a == transfer.StdinPath {
				stdinCount++
			}
		}
		if stdinCount > 1 {
			return usagef("standard input (-) can be sent once")
		}
		if stdinCount == 1 && *as == "" {
			return usagef("sending standard input needs --as NAME")
		}
		if *streams < 1 || *streams > 15 {
			return usagef("--streams must be between 1 and 15")
		}
		if *wait <= 0 {
			return usagef("--timeout must be positive")
		}
		if *pairedOnly && !*all {
			return usagef("--paired goes with --all")
		}
		if *all && len(*tos) > 0 {
			return usagef("--all and --to exclude each other")
		}
		many := *all || len(*tos) > 1
		if many && stdinCount > 0 {
			return usagef("standard input (-) can be sent to one receiver only")
		}
		dev, name, trust, err := e.deviceAndTrust()
		if err != nil {
			return err
		}
		if err := checkPaths(args); err != nil {
			return err
		}
		if many {
			return e.sendMany(ctx, manySend{
				tos: *tos, all: *all, paired: *pairedOnly, noSwarm: *noSwarm, paths: args, text: msg, streams: *streams,
				disc: discovery.Options{Interfaces: *ifaces, Logger: e.log}, wait: *wait,
				dev: dev, name: name, trust: trust,
			})
		}
		to := new(string)
		if len(*tos) == 1 {
			to = &(*tos)[0]
		}
		sv := &sendView{e: e, trust: trust}
		defer sv.stop()
		tg, err := e.resolveTarget(ctx, *to, discovery.Options{Interfaces: *ifaces, Logger: e.log}, *wait, trust, dev.ID)
		if err != nil {
			return err
		}
		sv.addrs, sv.expect = tg.addrs, tg.expect
		if tg.expect.IsZero() {
			e.out.event(nil, fmt.Sprintf("connecting to %s…", strings.Join(tg.addrs, ", ")))
		}
		res, err := transfer.Send(ctx, transfer.SendOptions{
			Device: dev, Name: name, Addrs: tg.addrs, Expect: tg.expect, Paths: args, Stdin: e.stdin, As: *as, Text: msg,
			Streams: *streams, Events: sv.onEvent, Logger: e.log,
			Paired: !tg.expect.IsZero() && trust.Trusted(tg.expect),
		})
		sv.stop()
		if err != nil {
			return sv.failure(err)
		}
		e.out.event(map[string]any{"event": "done", "files": res.Files, "bytes": res.Bytes, "bytes_sent": res.BytesSent}, sv.summary(res))
		return nil
	}
}

// checkPaths fails for the first path that cannot be sent, before anything
// else happens (discovery, a question).
func checkPaths(paths []string) error {
	for _, p := range paths {
		if p == transfer.StdinPath {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			if pe := (*os.PathError)(nil); errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("cannot send %s: %w", p, err)
		}
	}
	return nil
}

// normalizeAddr accepts HOST:PORT, [V6]:PORT, or a bare host (default port).
func normalizeAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if ip := net.ParseIP(s); ip != nil || !containsColon(s) {
			return net.JoinHostPort(s, strconv.Itoa(transfer.DefaultPort)), nil
		}
		return "", usagef("--to %q is not HOST:PORT", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", usagef("--to %q: bad port", s)
	}
	if host == "" {
		return "", usagef("--to %q: no host", s)
	}
	return net.JoinHostPort(host, port), nil
}

func containsColon(s string) bool {
	for _, r := range s {
		if r == ':' {
			return true
		}
	}
	return false
}

// sendView renders a sender's events.
type sendView struct {
	e     *env
	trust *identity.TrustStore
	// row, for one of several receivers: text lines are prefixed with its
	// label, JSON events carry its receiver field, and the progress is
	// its line of a shared display.
	row    *manyRow
	addrs  []string
	expect identity.DeviceID // the key the receiver must present, if known

	mu         sync.Mutex
	stopBar    func()
	stopStatus func()
	info       transfer.OfferInfo // the receiver and the offer, once connected
	connected  bool
	accepted   bool
	start      time.Time // the receiver first accepted: the rate counts from here
	files      int       // delivered in this run
	renamed    int       // delivered under another name
	prog       *transfer.Progress
	until      time.Time // the current outage's end of retrying
}

// maxRenamedLines is how many files saved under another name are listed one
// by one; the summary counts the rest.
const maxRenamedLines = 10

func (v *sendView) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stopLocked()
}

func (v *sendView) stopLocked() {
	if v.stopBar != nil {
		v.stopBar()
		v.stopBar = nil
	}
	if v.stopStatus != nil {
		v.stopStatus()
		v.stopStatus = nil
	}
}

// peer names the receiver: by its name once it told it, or as a paired
// device, else by its short ID.
func (v *sendView) peer() string {
	if v.info.PeerName != "" {
		return quoteName(v.info.PeerName)
	}
	if p, ok := v.pairedPeer(); ok {
		return printable(p.Name)
	}
	if !v.info.PeerID.IsZero() {
		return "the receiver (" + v.info.PeerID.Short() + ")"
	}
	return "the receiver"
}

// pairedPeer is the receiver's entry in the trust store, if it is a paired
// device (whether it was found by name or reached by address).
func (v *sendView) pairedPeer() (identity.Peer, bool) {
	if v.trust == nil || v.info.PeerID.IsZero() {
		return identity.Peer{}, false
	}
	return v.trust.Lookup(v.info.PeerID)
}

func (v *sendView) onEvent(ev transfer.Event) {
	o := v.e.out
	say := v.say
	v.mu.Lock()
	defer v.mu.Unlock()
	switch ev := ev.(type) {
	case transfer.EventConnected:
		v.info, v.connected = ev.Info, true
		say(map[string]any{"event": "connected", "id": ev.Info.PeerID.String(), "code": ev.Info.Code, "trusted": ev.Info.Trusted},
			v.connectedText(ev.Info))
	case transfer.EventReconnected:
		v.stopLocked()
		v.until = time.Time{}
		text := fmt.Sprintf("reconnected, waiting for %s to accept again (verification code %s)…", v.peer(), ev.Info.Code)
		if _, paired := v.pairedPeer(); paired {
			text = fmt.Sprintf("reconnected to %s", v.peer())
		}
		say(map[string]any{"event": "reconnected", "id": ev.Info.PeerID.String(), "code": ev.Info.Code}, text)
	case transfer.EventSession:
		v.stopLocked()
		again := v.accepted
		v.info, v.accepted, v.prog = ev.Info, true, ev.Progress
		if v.start.IsZero() {
			v.start = time.Now()
		}
		text := fmt.Sprintf("%s accepted%s", quoteName(ev.Info.PeerName), resumedText(ev.Resumed, ev.Info.Bytes, "there"))
		if again {
			text = fmt.Sprintf("%s goes on%s", quoteName(ev.Info.PeerName), resumedText(ev.Resumed, ev.Info.Bytes, "there"))
		} else if _, paired := v.pairedPeer(); paired && ev.Resumed <= 0 {
			text = "" // a paired device accepts without asking: nothing to wait for was said
		}
		say(map[string]any{"event": "accepted", "name": ev.Info.PeerName, "id": ev.Info.PeerID.String(), "resumed": ev.Resumed}, text)
		v.stopBar = v.progress(ev.Progress, progressView{verb: "sending", stall: quoteName(ev.Info.PeerName) + " not answering for %s"})
	case transfer.EventFile:
		v.files++
		m := map[string]any{"event": "file", "path": ev.Path, "name": ev.Name, "size": ev.Size}
		if ev.Existing {
			m["existing"] = true
		}
		text := ""
		if !ev.Existing && ev.Name != ev.Path {
			if v.renamed++; v.renamed <= maxRenamedLines {
				text = fmt.Sprintf("%s was saved on %s as %s (that name was taken)", displayPath(ev.Path), quoteName(v.info.PeerName), displayPath(ev.Name))
			}
		}
		say(m, text)
	case transfer.EventRetry:
		v.stopLocked()
		msg := errText(ev.Err)
		if v.e.log != nil {
			v.e.log.Debug("connection lost; reconnecting", "err", ev.Err, "until", ev.Until)
		}
		say(map[string]any{"event": "retry", "message": msg, "until": ev.Until.UTC().Format(time.RFC3339)}, "")
		if o.json {
			return
		}
		first := !ev.Until.Equal(v.until)
		v.until = ev.Until
		peer := v.peer()
		status := func() string {
			return fmt.Sprintf("%s stopped answering; retrying, %s left", peer, max(time.Until(ev.Until), 0).Round(time.Second))
		}
		if o.tty && v.row != nil {
			v.row.setStatus(status)
			v.stopStatus = func() { v.row.setStatus(nil) }
		} else if o.tty {
			v.stopStatus = o.status(status)
		} else if first {
			say(nil, status())
		}
	}
}

// say is o.event for this receiver: see row.
func (v *sendView) say(m map[string]any, text string) {
	if v.row != nil {
		m, text = v.row.tag(m, text)
	}
	v.e.out.event(m, text)
}

// progress shows a session's progress: its own live line, or its row.
func (v *sendView) progress(p *transfer.Progress, pv progressView) func() {
	if v.row != nil {
		return v.row.progress(p, pv)
	}
	return v.e.out.progress(p, pv)
}

// connectedText says who answered and what happens next: for a paired
// device, the sending; otherwise the code to compare and the wait for a
// person to accept.
func (v *sendView) connectedText(info transfer.OfferInfo) string {
	if p, paired := v.pairedPeer(); paired {
		return fmt.Sprintf("connected to %s (%s), a paired device; sending %s…", printable(p.Name), info.PeerID.Short(), headline(info))
	}
	code := "verification code " + info.Code
	if !info.Trusted {
		code += " — check that the receiver shows the same code before it accepts; if it differs, press Ctrl-C"
	}
	return fmt.Sprintf("connected to %s, %s\nwaiting for the receiver to accept %s…", info.PeerID.Short(), code, headline(info))
}

// summary is the closing line of a send that delivered everything.
func (v *sendView) summary(r transfer.Result) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	to := quoteName(r.Info.PeerName)
	what := headline(r.Info)
	if r.Info.Text != "" {
		return fmt.Sprintf("sent %s to %s", what, to)
	}
	if r.BytesSent == 0 && v.renamed == 0 && r.Files > 0 && v.allExisting() {
		return fmt.Sprintf("%s already had %s; nothing was sent", to, what)
	}
	secs := 0.0
	if !v.start.IsZero() {
		secs = time.Since(v.start).Seconds()
	}
	s := fmt.Sprintf("sent %s to %s in %.1fs (%s/s)", what, to, secs, human.Bytes(int64(float64(r.BytesSent)/max(secs, 0.001))))
	if r.FromPeers > 0 {
		s += fmt.Sprintf("; %s of it from the other receivers", human.Bytes(r.FromPeers))
	}
	if skipped := r.Bytes - r.BytesSent - r.FromPeers; skipped > 0 && r.BytesSent < r.Bytes {
		s += fmt.Sprintf("; %s of it was already there", human.Bytes(skipped))
	}
	if n := v.renamed - maxRenamedLines; n > 0 {
		s += fmt.Sprintf("; %d more saved under new names", n)
	}
	return s
}

// allExisting: every file of the offer was already on the receiver.
func (v *sendView) allExisting() bool {
	return v.prog != nil && v.prog.Wire.Load() == 0 && v.files == v.info.Files
}

// failure turns the error that ended a send into what to tell the user:
// what happened, what was delivered, what to do. The error's classes (and
// so the exit code) stay.
func (v *sendView) failure(err error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delivered := func() string {
		s := fmt.Sprintf("%d of %s delivered", v.files, plural(v.info.Files, "file"))
		if v.prog != nil && v.prog.Total > 0 {
			s += fmt.Sprintf(" (%s of %s sent)", human.Bytes(v.prog.Done.Load()), human.Bytes(v.prog.Total))
		}
		return s
	}
	switch {
	case errors.Is(err, transfer.ErrDiskFull):
		return said(fmt.Sprintf("the receiver's disk is full: %s; what arrived is kept on the receiver. Free some space there and run the same command again to resume",
			delivered()), err, transfer.ErrInterrupted)
	case errors.Is(err, transfer.ErrInterrupted) && !v.until.IsZero():
		return said(fmt.Sprintf("%s stopped answering: %s; run the same command again to resume", v.peer(), delivered()), err)
	case errors.Is(err, transfer.ErrPeerMismatch) && !v.expect.IsZero() && v.trust != nil:
		if p, ok := v.trust.Lookup(v.expect); ok {
			return said(impostorText("the device at "+strings.Join(v.addrs, ", "), p, identity.DeviceID{}), err)
		}
	case errors.Is(err, transfer.ErrUnreachable) && !v.connected:
		where := strings.Join(v.addrs, ", ")
		return said(fmt.Sprintf("receiver unreachable: nothing answered at %s (is `ferry receive` running there, on that port?)", where), err)
	}
	return err
}

// impostorText says that who (a device's name as it claims it, or where it
// answered) is not the paired device p although it claims to be: it
// presents the key of another ID (if known).
func impostorText(who string, p identity.Peer, other identity.DeviceID) string {
	key := "another key"
	if !other.IsZero() {
		key += " (" + other.Short() + ")"
	}
	return fmt.Sprintf("%s is not your paired device %s (%s): it presents %s, a possible impersonation. Nothing was sent.",
		who, printable(p.Name), p.ID.Short(), key)
}

// resumedText says how much of an offer was already where it goes.
func resumedText(n, total int64, where string) string {
	switch {
	case n <= 0:
		return ""
	case n >= total && total >= 0:
		return "; all of it is already " + where
	}
	return fmt.Sprintf("; resuming: %s of %s already %s", human.Bytes(n), size(total), where)
}
