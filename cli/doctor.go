package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/doctor"
	"github.com/ferry-lan/ferry/transfer"
)

const doctorLong = `Checks why this computer cannot see another one, or be seen: the network
interfaces (VPNs, container bridges, link-local-only), mDNS on each interface
(this computer must see its own advertisement; other devices that answer are
counted), ferry's UDP port, the socket buffer limits, the firewall (as root, by
reading the nftables ruleset) and the routes. Each check prints one line, OK,
WARN or FAIL; a WARN or FAIL says the command or setting that fixes it. It takes
at most 4 s, 8 s with --peer, and exits 1 when a check fails.

Two-sided test: run "ferry doctor --listen" on the other computer, then
"ferry doctor --peer NAME|ADDRESS" here. It tells apart multicast blocked while
unicast works, the other computer's firewall dropping UDP, and client isolation
on the access point (nothing passes while the gateway answers).`

func doctorCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	peer := fs.String("peer", "", "also test the path to `NAME|ADDR`, a computer running ferry doctor --listen")
	listen := fs.Bool("listen", false, "be the other side of a two-sided test: answer ferry doctor --peer until interrupted")
	port := fs.Int("port", transfer.DefaultPort, "ferry's UDP `PORT`: the one to check, and to listen or probe on")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return usagef("doctor takes no arguments (did you mean --peer %s?)", args[0])
		}
		if *port < 1 || *port > 65535 {
			return usagef("--port %d is not a UDP port", *port)
		}
		if *listen && *peer != "" {
			return usagef("--listen and --peer are the two sides of the test: one on each computer")
		}
		opts := doctor.Options{Port: *port, Peer: *peer, Root: os.Geteuid() == 0, Logger: e.log}
		if *listen {
			return doctorListen(ctx, e, opts)
		}
		rep := doctor.Run(ctx, opts)
		return renderReport(e, rep)
	}
}

// renderReport prints one line per check and a summary; an error (exit 1)
// when a check failed.
func renderReport(e *env, rep doctor.Report) error {
	for _, c := range rep.Checks {
		m := map[string]any{"event": "check", "check": c.Area, "status": c.Status.String(), "detail": c.Detail}
		text := fmt.Sprintf("%-4s  %-9s %s", c.Status, c.Area, escapeText(c.Detail))
		if c.Fix != "" {
			m["fix"] = c.Fix
			text += "\n      fix: " + escapeText(c.Fix)
		}
		e.out.event(m, text)
	}
	ok, warn, fail := rep.Count(doctor.OK), rep.Count(doctor.Warn), rep.Count(doctor.Fail)
	e.out.event(map[string]any{"event": "summary", "ok": ok, "warn": warn, "fail": fail},
		fmt.Sprintf("%d OK, %d WARN, %d FAIL", ok, warn, fail))
	if fail > 0 {
		return fmt.Errorf("doctor: %d check(s) failed", fail)
	}
	return nil
}

// doctorListen answers probes and advertises this device (flag doctor=1)
// until interrupted, after printing the local checks.
func doctorListen(ctx context.Context, e *env, opts doctor.Options) error {
	dev, name, err := e.device()
	if err != nil {
		return err
	}
	l, err := doctor.Listen(opts.Port, e.log)
	if err != nil {
		return listenErr(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ad, err := discovery.Advertise(ctx, discovery.Service{Name: name, ID: dev.ID, Port: l.Port(), Flags: map[string]string{"doctor": "1"}},
		discovery.Options{Logger: e.log})
	if err != nil {
		e.out.event(map[string]any{"event": "warning", "message": "not advertised: " + errText(err)},
			"warning: not advertised by mDNS ("+errText(err)+"); the other side must use --peer ADDRESS")
	} else {
		defer ad.Close()
	}
	e.out.event(map[string]any{"event": "listening", "port": l.Port(), "name": name, "id": dev.ID.String()},
		fmt.Sprintf("ferry doctor is listening as %q on UDP port %d; on the other computer run: ferry doctor --peer %s", name, l.Port(), doctorPeerHint(name)))
	done := make(chan error, 1)
	go func() { // owned: waited for below
		done <- l.Serve(ctx, func(from net.Addr) {
			e.out.event(map[string]any{"event": "probe", "from": from.String()}, "answered a probe from "+from.String())
		})
	}()
	opts.Listening = true
	renderReport(e, doctor.Run(ctx, opts)) // the local checks, for this side's own problems
	<-ctx.Done()
	cancel()
	<-done
	return nil
}

func doctorPeerHint(name string) string {
	if strings.ContainsAny(name, " \t'\"") {
		return fmt.Sprintf("%q", name)
	}
	return name
}
