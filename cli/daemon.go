package cli

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/daemon"
	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/transfer"
)

const daemonLong = `Receives from paired devices (see ferry pair) for as long as it runs, without
ever asking: the always-on form of "ferry receive --accept trusted", meant to run
as a systemd user service. It tells systemd when it is ready (Type=notify), says
goodbye on the network when stopped, logs with journald priorities, and saves
into --dir, by default the download folder of user-dirs.dirs + /ferry.

--install writes ~/.config/systemd/user/ferry.service for this ferry binary,
enables and starts it; --uninstall stops and removes it. A user service runs
while the user is logged in; to receive before login as well:
loginctl enable-linger $USER.`

func daemonCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	dir := fs.String("dir", "", "save into `DIR`, created on demand (default: the download folder of ~/.config/user-dirs.dirs, else ~/Downloads, + /ferry)")
	port := fs.Int("port", transfer.DefaultPort, "listen on UDP `PORT`; 0 picks a free one")
	ifaces := fs.StringArray("iface", nil, "advertise only on the network interface `NAME` (repeatable)")
	install := fs.Bool("install", false, "write, enable and start the systemd user unit ferry.service that runs ferry daemon")
	uninstall := fs.Bool("uninstall", false, "stop, disable and remove the systemd user unit")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return usagef("daemon takes no arguments (did you mean --dir %s?)", args[0])
		}
		if *port < 0 || *port > 65535 {
			return usagef("--port %d is not a UDP port", *port)
		}
		switch {
		case *install && *uninstall:
			return usagef("--install or --uninstall, not both")
		case *install:
			var args []string
			if e.home != "" {
				abs, err := filepath.Abs(e.home)
				if err != nil {
					return err
				}
				args = append(args, "--home", abs)
			}
			args = append(args, "daemon")
			if *dir != "" {
				abs, err := filepath.Abs(*dir)
				if err != nil {
					return err
				}
				args = append(args, "--dir", abs)
			}
			if *port != transfer.DefaultPort {
				args = append(args, "--port", strconv.Itoa(*port))
			}
			for _, i := range *ifaces {
				args = append(args, "--iface", i)
			}
			return daemonInstall(ctx, e, args)
		case *uninstall:
			return daemonUninstall(ctx, e)
		}
		return runDaemon(ctx, e, *dir, *port, *ifaces)
	}
}

// daemonInstall writes and enables the user unit for this binary.
func daemonInstall(ctx context.Context, e *env, args []string) error {
	// The identity now, so that the service starts with it and --name is
	// remembered for it.
	if _, _, err := e.device(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return fmt.Errorf("find this ferry binary for ExecStart: %w", err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("find the unit folder: %w", err)
	}
	dir := daemon.UnitDir(home, os.Getenv("XDG_CONFIG_HOME"))
	path, err := daemon.Install(ctx, dir, daemon.Unit(exe, args), daemon.UserSystemctl)
	if err != nil {
		if path != "" {
			return fmt.Errorf("wrote %s, but: %w", path, err)
		}
		return err
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "$USER"
	}
	e.out.event(map[string]any{"event": "installed", "unit": path, "exec": exe},
		fmt.Sprintf("installed and started %s (ferry daemon, %s)\nstatus: systemctl --user status ferry; logs: journalctl --user -u ferry\n"+
			"it runs while you are logged in; to receive before login too: loginctl enable-linger %s", path, exe, user))
	return nil
}

func daemonUninstall(ctx context.Context, e *env) error {
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("find the unit folder: %w", err)
	}
	dir := daemon.UnitDir(home, os.Getenv("XDG_CONFIG_HOME"))
	removed, err := daemon.Uninstall(ctx, dir, daemon.UserSystemctl)
	path := filepath.Join(dir, daemon.UnitName)
	if err != nil {
		return err
	}
	if !removed {
		e.out.event(map[string]any{"event": "uninstalled", "unit": path, "removed": false}, "no "+path+": nothing to remove")
		return nil
	}
	e.out.event(map[string]any{"event": "uninstalled", "unit": path, "removed": true}, "stopped and removed "+path)
	return nil
}

// runDaemon receives from paired devices until ctx ends (SIGTERM from
// systemd), telling the service manager when it is ready and stopping.
func runDaemon(ctx context.Context, e *env, dir string, port int, ifaces []string) (err error) {
	if f, ok := e.stderr.(*os.File); ok && daemon.UnderJournald(os.Getenv("JOURNAL_STREAM"), f) {
		level := slog.LevelInfo
		if e.verbose {
			level = slog.LevelDebug
		}
		e.log = slog.New(daemon.NewJournalHandler(f, level))
		log.SetOutput(newLibraryLog(e.log))
	} else if !e.verbose {
		e.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		log.SetOutput(newLibraryLog(e.log))
	}
	defer func() {
		if err != nil {
			e.log.Error("ferry daemon failed", "err", err) // with the journal's error priority
		}
	}()
	notify := daemon.NotifySocket()
	os.Unsetenv("NOTIFY_SOCKET") // not for children (none today), as sd_notify's unset_environment does
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("find the download folder (use --dir): %w", err)
		}
		dir = filepath.Join(daemon.DownloadDir(home, os.Getenv("XDG_CONFIG_HOME")), "ferry")
	}
	if err := checkFolder(dir); err != nil {
		return err
	}
	dev, name, trust, err := e.deviceAndTrust()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rv := &receiveView{e: e, cancel: cancel, trust: trust, accept: "trusted"}
	var status string // the ready status line, set before any session can end
	events := func(ev transfer.Event) {
		rv.onEvent(ev)
		// systemctl status shows the last delivery under the ready line.
		if end, ok := ev.(transfer.EventSessionEnd); ok {
			what := fmt.Sprintf("received %d file(s) from %q", end.Files, end.Info.PeerName)
			if end.Err != nil {
				what = fmt.Sprintf("a transfer from %q stopped: %s", end.Info.PeerName, errText(end.Err))
			}
			daemon.Notify(notify, daemon.Status(status+"; last: "+what+" at "+time.Now().Format("15:04")))
		}
	}
	r, err := transfer.Listen(transfer.ReceiverConfig{
		Device: dev, Name: name, Dir: dir, Port: port,
		Policy: transfer.PolicyTrusted, Trust: trust, Events: events, Logger: e.log,
	})
	if err != nil {
		return listenErr(err)
	}
	rv.dir, rv.id, rv.name = r.Dir(), dev.ID, name
	status = fmt.Sprintf("receiving from %d paired device(s) as %q on UDP port %d into %s", len(trust.Peers()), name, r.Port(), r.Dir())
	ad, err := discovery.Advertise(ctx, discovery.Service{Name: name, ID: dev.ID, Port: r.Port()},
		discovery.Options{Interfaces: ifaces, Logger: e.log})
	if err != nil {
		if len(ifaces) > 0 {
			r.Close()
			return discoveryErr(err)
		}
		e.log.Warn("not advertised on the network; senders need --to HOST:PORT", "err", err, "port", r.Port())
		status += " (not advertised: " + errText(err) + ")"
	}
	if _, err := daemon.Notify(notify, "READY=1\n"+daemon.Status(status)); err != nil {
		e.log.Warn("could not tell systemd that ferry is ready", "err", err)
	}
	e.log.Info("ready", "name", name, "id", dev.ID.Short(), "port", r.Port(), "dir", r.Dir(), "paired", len(trust.Peers()))
	if len(trust.Peers()) == 0 {
		e.log.Warn("no paired devices: the daemon accepts paired devices only; pair one with ferry pair")
	}
	serveErr := r.Serve(ctx)
	daemon.Notify(notify, "STOPPING=1\n"+daemon.Status("saying goodbye"))
	if ad != nil {
		ad.Close() // the goodbye: the same records with TTL 0
	}
	e.log.Info("stopped")
	if serveErr != nil && ctx.Err() == nil {
		return serveErr
	}
	return nil
}
