package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

func sendCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	to := fs.String("to", "", "")
	as := fs.String("as", "", "")
	streams := fs.Int("streams", 4, "")
	ifaces := fs.StringArray("iface", nil, "")
	wait := fs.Duration("timeout", 5*time.Second, "")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) == 0 {
			return usagef("send needs at least one PATH (or - for standard input)")
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
		dev, name, err := e.device()
		if err != nil {
			return err
		}
		trust, err := identity.OpenTrustStore(dev.Home)
		if err != nil {
			return err
		}
		sv := &sendView{e: e, start: time.Now()}
		defer sv.stop()
		tg, err := e.resolveTarget(ctx, *to, discovery.Options{Interfaces: *ifaces, Logger: e.log}, *wait, trust, dev.ID)
		if err != nil {
			return err
		}
		res, err := transfer.Send(ctx, transfer.SendOptions{
			Device: dev, Name: name, Addrs: tg.addrs, Expect: tg.expect, Paths: args, Stdin: e.stdin, As: *as,
			Streams: *streams, Events: sv.onEvent, Logger: e.log,
			Paired: !tg.expect.IsZero() && trust.Trusted(tg.expect),
		})
		sv.stop()
		if err != nil {
			return err
		}
		secs := time.Since(sv.start).Seconds()
		e.out.event(map[string]any{"event": "done", "files": res.Files, "bytes": res.Bytes, "bytes_sent": res.BytesSent},
			fmt.Sprintf("sent %d file(s), %s to %s in %.1fs (%s/s)%s", res.Files, transfer.HumanBytes(res.Bytes),
				quoteName(res.Info.PeerName), secs, transfer.HumanBytes(int64(float64(res.BytesSent)/max(secs, 0.001))),
				skippedText(res)))
		return nil
	}
}

func skippedText(r transfer.Result) string {
	if skipped := r.Bytes - r.BytesSent; skipped > 0 && r.BytesSent < r.Bytes {
		return fmt.Sprintf("; %s were already there", transfer.HumanBytes(skipped))
	}
	return ""
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
	start time.Time

	mu      sync.Mutex
	stopBar func()
}

func (v *sendView) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopBar != nil {
		v.stopBar()
		v.stopBar = nil
	}
}

func (v *sendView) onEvent(ev transfer.Event) {
	o := v.e.out
	switch ev := ev.(type) {
	case transfer.EventConnected:
		code := "verification code " + ev.Info.Code
		if !ev.Info.Trusted {
			code += " — check that the receiver shows the same code before it accepts; if it differs, press Ctrl-C"
		}
		o.event(map[string]any{"event": "connected", "id": ev.Info.PeerID.String(), "code": ev.Info.Code, "trusted": ev.Info.Trusted},
			fmt.Sprintf("connected to %s, %s\nwaiting for the receiver to accept %s…", ev.Info.PeerID.Short(), code, headline(ev.Info)))
	case transfer.EventSession:
		o.event(map[string]any{"event": "accepted", "name": ev.Info.PeerName, "id": ev.Info.PeerID.String(), "resumed": ev.Resumed},
			fmt.Sprintf("%s accepted%s", quoteName(ev.Info.PeerName), resumedText(ev.Resumed)))
		v.stop()
		v.mu.Lock()
		v.stopBar = o.progress(ev.Progress, progressView{verb: "sending", stall: quoteName(ev.Info.PeerName) + " not answering for %s"})
		v.mu.Unlock()
	case transfer.EventFile:
		o.event(map[string]any{"event": "file", "path": ev.Path, "name": ev.Name, "size": ev.Size}, "")
	case transfer.EventRetry:
		v.stop()
		msg := errText(ev.Err)
		o.event(map[string]any{"event": "retry", "message": msg},
			fmt.Sprintf("connection lost (%s); reconnecting…", msg))
	}
}
