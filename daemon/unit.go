package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// UnitName is the systemd user unit `ferry daemon --install` writes.
const UnitName = "ferry.service"

// Unit renders the user unit that runs exe (an absolute path) with args.
//
// Type=notify: ready once listening and advertised. Restart=on-failure
// within a start limit (5 starts in 60 s). NoNewPrivileges and the
// background slice (where desktops put services that may be throttled).
// WantedBy=default.target: the user manager's target; multi-user.target
// does not exist there and would never start it. No network-online.target,
// which user managers do not have: ferry follows interfaces as they come.
func Unit(exe string, args []string) string {
	cmd := make([]string, 0, 1+len(args))
	for _, a := range append([]string{exe}, args...) {
		cmd = append(cmd, quoteExec(a))
	}
	return `[Unit]
Description=ferry: receive files from paired devices on the local network
Documentation=https://github.com/ferry-lan/ferry
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
Type=notify
ExecStart=` + strings.Join(cmd, " ") + `
Restart=on-failure
RestartSec=1
NoNewPrivileges=yes
Slice=background.slice

[Install]
WantedBy=default.target
`
}

// quoteExec quotes one word of ExecStart (systemd.service(5), "Command
// lines"): specifiers (%) and variables ($) are doubled, and a word with
// spaces, quotes or backslashes goes in double quotes with C escapes.
func quoteExec(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// UnitDir is where user units go: $XDG_CONFIG_HOME/systemd/user.
func UnitDir(home, configHome string) string {
	if configHome == "" {
		configHome = filepath.Join(home, ".config")
	}
	return filepath.Join(configHome, "systemd", "user")
}

// Systemctl runs `systemctl --user ARGS`; tests replace it.
type Systemctl func(ctx context.Context, args ...string) error

// UserSystemctl runs the real systemctl --user.
func UserSystemctl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl --user %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Install writes unit into dir as UnitName and enables and starts it.
// It returns the unit's path.
func Install(ctx context.Context, dir, unit string, systemctl Systemctl) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install the unit: %w", err)
	}
	path := filepath.Join(dir, UnitName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(unit), 0o644); err != nil {
		return "", fmt.Errorf("install the unit: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("install the unit: %w", err)
	}
	if err := systemctl(ctx, "daemon-reload"); err != nil {
		return path, err
	}
	if err := systemctl(ctx, "enable", "--now", UnitName); err != nil {
		return path, err
	}
	return path, nil
}

// Uninstall stops and disables the unit and removes its file from dir. A
// unit that is not there is not an error.
func Uninstall(ctx context.Context, dir string, systemctl Systemctl) (removed bool, err error) {
	path := filepath.Join(dir, UnitName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	errDisable := systemctl(ctx, "disable", "--now", UnitName)
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("remove the unit: %w", err)
	}
	if err := systemctl(ctx, "daemon-reload"); err != nil {
		return true, err
	}
	return true, errDisable
}
