package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer"
)

func receiveCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	dir := fs.String("dir", "", "save into `DIR`, created on demand (default $XDG_DOWNLOAD_DIR/ferry, else ~/Downloads/ferry)")
	port := fs.Int("port", transfer.DefaultPort, "listen on UDP `PORT`; 0 picks a free one")
	once := fs.Bool("once", false, "exit after the first session that delivered all of its files, or the first text")
	stdout := fs.Bool("stdout", false, "write a text to standard output as it was sent, and everything else to standard error (on a terminal, it is still shown escaped)")
	accept := fs.String("accept", "", "accept senders by `MODE`: ask (about unpaired ones, on the terminal), all, or trusted (paired devices only); default ask on a terminal, else trusted")
	overwrite := fs.Bool("overwrite", false, "replace an existing file of the same name instead of saving as \"name (1).ext\"")
	noSwarm := fs.Bool("no-swarm", false, "take no part in a sender's swarm: fetch nothing from the other receivers, serve them nothing")
	ifaces := fs.StringArray("iface", nil, "advertise only on the network interface `NAME` (repeatable)")
	webPage := fs.Bool("web", false, "also serve a page for web browsers (phones) on TCP at the same port number, and show its QR code and URL")
	qrPNG := fs.String("qr-png", "", "with --web, also write the page's QR code as a PNG image to `FILE`")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return usagef("receive takes no arguments (did you mean --dir %s?)", args[0])
		}
		if *port < 0 || *port > 65535 {
			return usagef("--port %d is not a UDP port", *port)
		}
		if *qrPNG != "" && !*webPage {
			return usagef("--qr-png is for --web")
		}
		if *stdout && e.json {
			return usagef("--stdout and --json would both write to standard output: choose one (--json has the text in its text event)")
		}
		interactive := isTerminal(e.stdin) && !e.json
		policy := transfer.PolicyTrusted
		switch *accept {
		case "":
			switch {
			case interactive:
				policy = transfer.PolicyAsk
			case e.json:
				// Not silently: whoever reads the events may expect questions.
				e.out.emit(map[string]any{"event": "warning", "message": "--json cannot ask questions, so only paired devices are accepted (--accept trusted); use --accept all to accept every sender"})
			}
		case "ask":
			if e.json {
				return usagef("--accept ask cannot ask with --json: use --accept all or --accept trusted")
			}
			if !interactive {
				return usagef("--accept ask needs a terminal to ask on")
			}
			policy = transfer.PolicyAsk
		case "all":
			policy = transfer.PolicyAll
		case "trusted":
		default:
			return usagef("--accept must be ask, all or trusted, not %q", *accept)
		}
		if *dir == "" {
			d, err := defaultDir()
			if err != nil {
				return err
			}
			*dir = d
		}
		if err := checkFolder(*dir); err != nil {
			return err
		}
		dev, name, trust, err := e.deviceAndTrust()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rv := &receiveView{e: e, once: *once, cancel: cancel, trust: trust, accept: policyName(policy), stdout: *stdout}
		if *stdout && !isTerminal(e.stdout) {
			// Standard output is the text's alone.
			rv.raw, e.out = e.stdout, newOutput(e.stderr, e.stderr, false)
		}
		cfg := transfer.ReceiverConfig{
			Device: dev, Name: name, Dir: *dir, Port: *port, Overwrite: *overwrite, NoSwarm: *noSwarm,
			Policy: policy, Trust: trust, Events: rv.onEvent, Logger: e.log,
		}
		if policy == transfer.PolicyAsk {
			p, err := newPrompter(e, trust)
			if err != nil {
				return err
			}
			// The questions end with ctx, then the prompter closes.
			defer func() { cancel(); p.close() }()
			cfg.Ask = p.ask
		}
		r, err := transfer.Listen(cfg)
		if err != nil {
			return listenErr(err)
		}
		rv.dir = r.Dir()
		rv.id, rv.name = dev.ID, name
		ad, err := discovery.Advertise(ctx, discovery.Service{Name: name, ID: dev.ID, Port: r.Port()},
			discovery.Options{Interfaces: *ifaces, Logger: e.log})
		if err != nil {
			if len(*ifaces) > 0 {
				r.Close()
				return discoveryErr(err)
			}
			// Receiving by address still works without discovery.
			msg := errText(err)
			e.out.event(map[string]any{"event": "warning", "message": "not advertised on the network: " + msg},
				fmt.Sprintf("warning: not advertised on the network (%s); senders need --to HOST:%d", msg, r.Port()))
		} else {
			defer ad.Close() // the goodbye, before the socket closes
		}
		if *webPage {
			w, err := startWebReceiver(e, r.Port(), r.Dir(), *ifaces, *overwrite, policy, cfg.Ask, rv.onEvent, "/", "")
			if err != nil {
				r.Close()
				return err
			}
			if err := w.show(e, *qrPNG); err != nil {
				r.Close()
				return err
			}
			// The page is served beside the QUIC receiver, in its own
			// goroutines: a slow browser never holds up a sender.
			webDone := make(chan error, 1)
			go func() { webDone <- w.serve(ctx) }()
			defer func() { cancel(); <-webDone }()
		}
		if err := r.Serve(ctx); err != nil {
			return err
		}
		if rv.failed != nil {
			return rv.failed
		}
		return nil
	}
}

// policyName spells p as --accept does.
func policyName(p transfer.Policy) string {
	switch p {
	case transfer.PolicyAsk:
		return "ask"
	case transfer.PolicyAll:
		return "all"
	}
	return "trusted"
}

// listenErr says what to do when the port is taken.
func listenErr(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w; is another ferry receive running? Use --port 0 for any free port", err)
	}
	return err
}

// defaultDir is the user's download folder + /ferry.
func defaultDir() (string, error) {
	if d := os.Getenv("XDG_DOWNLOAD_DIR"); d != "" {
		return filepath.Join(d, "ferry"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the download folder (use --dir): %w", err)
	}
	return filepath.Join(h, "Downloads", "ferry"), nil
}

// checkFolder makes sure files can be written into dir, creating it if
// need be: a folder that cannot take them is said at start-up, not found
// out after someone accepted an offer.
func checkFolder(dir string) error {
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".ferry-check-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return nil
		}
	}
	why := err.Error()
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	return fmt.Errorf("cannot receive into %s: %s (choose another folder with --dir)", dir, why)
}

// receiveView renders a receiver's events.
type receiveView struct {
	e      *env
	once   bool
	cancel context.CancelFunc
	dir    string
	id     identity.DeviceID
	name   string
	failed error
	trust  *identity.TrustStore
	accept string    // the policy, as --accept spells it
	stdout bool      // --stdout
	raw    io.Writer // where a text goes as it was sent (--stdout, not a terminal), or nil

	mu      sync.Mutex
	stopBar func()
	resumed map[identity.DeviceID]int64 // bytes already here, by running session's sender
}

func (v *receiveView) onEvent(ev transfer.Event) {
	o := v.e.out
	switch ev := ev.(type) {
	case transfer.EventListening:
		o.event(map[string]any{"event": "listening", "port": ev.Port, "id": v.id.String(), "name": v.name, "dir": v.dir, "accept": v.accept},
			fmt.Sprintf("ferry is receiving as %q (%s)\nlistening on UDP port %d, saving into %s", v.name, v.id.Short(), ev.Port, v.dir))
	case transfer.EventSession:
		how := "verification code " + ev.Info.Code
		if ev.Info.Trusted {
			how = "a paired device, accepted without asking"
		}
		o.event(map[string]any{"event": "session", "from": ev.Info.PeerName, "id": ev.Info.PeerID.String(),
			"files": ev.Info.Files, "bytes": ev.Info.Bytes, "resumed": ev.Resumed, "code": ev.Info.Code},
			fmt.Sprintf("receiving from %s (%s), %s: %s%s", quoteName(ev.Info.PeerName), ev.Info.PeerID.Short(),
				how, headline(ev.Info), resumedText(ev.Resumed, ev.Info.Bytes, "here")))
		v.mu.Lock()
		if v.resumed == nil {
			v.resumed = make(map[identity.DeviceID]int64)
		}
		v.resumed[ev.Info.PeerID] = ev.Resumed
		if v.stopBar != nil {
			v.stopBar()
		}
		v.stopBar = o.progress(ev.Progress, progressView{verb: "receiving", stall: "nothing from " + quoteName(ev.Info.PeerName) + " for %s",
			fields: map[string]any{"from": ev.Info.PeerName, "id": ev.Info.PeerID.String()}})
		v.mu.Unlock()
	case transfer.EventDeclined:
		warn := impostorWarning(v.trust, ev.Info)
		m := map[string]any{"event": "declined", "from": ev.Info.PeerName, "id": ev.Info.PeerID.String(), "reason": ev.Reason}
		if warn != "" {
			m["warning"] = warn
			warn = "\n" + warn
		}
		o.event(m, fmt.Sprintf("refused an offer from %s (%s): %s%s", quoteName(ev.Info.PeerName), ev.Info.PeerID.Short(), ev.Reason, warn))
	case transfer.EventText:
		v.showText(ev)
	case transfer.EventFile:
		m := map[string]any{"event": "file", "path": ev.Path, "size": ev.Size, "hash": ev.Hash}
		text := fmt.Sprintf("saved %s (%s)", displayPath(ev.Path), human.Bytes(ev.Size))
		if ev.Existing {
			m["existing"] = true
			text = fmt.Sprintf("already here: %s (%s)", displayPath(ev.Path), human.Bytes(ev.Size))
		}
		o.event(m, text)
	case transfer.EventSessionEnd:
		v.mu.Lock()
		if v.stopBar != nil {
			v.stopBar()
			v.stopBar = nil
		}
		resumed := v.resumed[ev.Info.PeerID]
		delete(v.resumed, ev.Info.PeerID)
		v.mu.Unlock()
		from := quoteName(ev.Info.PeerName)
		if ev.Err != nil {
			msg := errText(ev.Err)
			text := fmt.Sprintf("transfer from %s stopped: %s (what was verified is kept; the sender can resume)", from, msg)
			if errors.Is(ev.Err, transfer.ErrDiskFull) {
				text = fmt.Sprintf("transfer from %s stopped: the disk of %s is full. What was verified is kept there; free some space, and the sender can run the same command again to resume", from, v.dir)
			}
			o.event(map[string]any{"event": "session_error", "from": ev.Info.PeerName, "id": ev.Info.PeerID.String(), "message": msg}, text)
			return
		}
		text := fmt.Sprintf("received %s, %s from %s", plural(ev.Files, "file"), human.Bytes(ev.Bytes), from)
		switch {
		case resumed >= ev.Bytes && ev.Bytes > 0:
			text = fmt.Sprintf("nothing new from %s: %s, %s, all already here", from, plural(ev.Files, "file"), human.Bytes(ev.Bytes))
		case resumed > 0:
			text += fmt.Sprintf(" (%s of it was already here)", human.Bytes(resumed))
		}
		o.event(map[string]any{"event": "session_done", "from": ev.Info.PeerName, "id": ev.Info.PeerID.String(), "files": ev.Files, "bytes": ev.Bytes}, text)
		if v.once {
			v.cancel()
		}
	}
}

// impostorWarning is a loud warning when an unpaired sender uses the name of
// a paired device, or a name that looks like it (identity.SameName): most
// likely someone impersonating it.
func impostorWarning(trust *identity.TrustStore, info transfer.OfferInfo) string {
	if trust == nil || info.Trusted {
		return ""
	}
	for _, p := range trust.Peers() {
		if identity.SameName(p.Name, info.PeerName) && p.ID != info.PeerID {
			return fmt.Sprintf("WARNING: this sender calls itself %s, the name of your paired device %s, but presents another key (%s): possible impersonation",
				quoteName(info.PeerName), p.ID.Short(), info.PeerID.Short())
		}
	}
	return ""
}

func quoteName(s string) string { return fmt.Sprintf("%q", s) }

func displayPath(p string) string {
	return strings.ToValidUTF8(fmt.Sprintf("%q", p), "?")
}
