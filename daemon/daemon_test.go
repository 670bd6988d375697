package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNotify sends to real unixgram sockets, one at a path and one with
// an abstract name, as systemd's manager listens.
func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	abstract := fmt.Sprintf("@ferry-test-notify-%d", os.Getpid())
	for _, name := range []string{path, abstract} {
		listenName := name
		if name[0] == '@' {
			listenName = "\x00" + name[1:]
		}
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: listenName, Net: "unixgram"})
		if err != nil {
			t.Fatalf("listen %q: %v", name, err)
		}
		defer c.Close()
		sent, err := Notify(name, "READY=1\n"+Status("receiving\nas alpha"))
		if err != nil || !sent {
			t.Fatalf("Notify(%q) = %v, %v", name, sent, err)
		}
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(buf[:n]), "READY=1\nSTATUS=receiving as alpha"; got != want {
			t.Errorf("%q received %q, want %q", name, got, want)
		}
	}
	if sent, err := Notify("", "READY=1"); sent || err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, %v", sent, err)
	}
	if _, err := Notify("relative/path", "READY=1"); err == nil {
		t.Error("a relative socket name was accepted")
	}
	if _, err := Notify(filepath.Join(t.TempDir(), "nobody"), "READY=1"); err == nil {
		t.Error("no error for a socket nobody listens on")
	}
}

func TestJournalHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewJournalHandler(&buf, slog.LevelDebug)).With("peer", "alpha")
	log.Debug("d", "k", 1)
	log.Info("i")
	log.Warn("w", "msg2", "two\nlines")
	log.Error("e")
	log.WithGroup("g").Info("grouped", "k", "v")
	log.Info("two\nlines")
	want := []string{
		`<7>d peer=alpha k=1`,
		`<6>i peer=alpha`,
		`<4>w peer=alpha msg2="two\nlines"`,
		`<3>e peer=alpha`,
		`<6>grouped peer=alpha g.k=v`,
		`<6>two lines peer=alpha`,
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("journal lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	buf.Reset()
	slog.New(NewJournalHandler(&buf, slog.LevelInfo)).Debug("hidden")
	if buf.Len() != 0 {
		t.Errorf("a debug line at level info: %q", buf.String())
	}
}

func TestUnderJournald(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	stream := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	if !UnderJournald(stream, f) {
		t.Errorf("%s is f's own device:inode, not recognised", stream)
	}
	for _, s := range []string{"", "garbage", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), fmt.Sprintf("%d:%d", st.Dev+1, st.Ino)} {
		if UnderJournald(s, f) {
			t.Errorf("JOURNAL_STREAM=%q matched", s)
		}
	}
}

func TestDownloadDir(t *testing.T) {
	home := "/home/anna"
	for _, c := range []struct{ file, want string }{
		{`XDG_DOWNLOAD_DIR="$HOME/Downloads"`, "/home/anna/Downloads"},
		{"# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR=\"$HOME/Desktop\"\nXDG_DOWNLOAD_DIR=\"$HOME/Téléchargements\"\n", "/home/anna/Téléchargements"},
		{`XDG_DOWNLOAD_DIR="/srv/in box"`, "/srv/in box"},
		{`XDG_DOWNLOAD_DIR="$HOME/"`, "/home/anna"},
		{`XDG_DOWNLOAD_DIR="$HOME/a \"q\""`, `/home/anna/a "q"`},
		{`XDG_DOWNLOAD_DIR="relative"`, "/home/anna/Downloads"},
		{`XDG_DOWNLOAD_DIR=$HOME/unquoted`, "/home/anna/Downloads"},
		{`XDG_DOWNLOAD_DIR="$HOME/../../etc"`, "/etc"},
		{`XDG_MUSIC_DIR="$HOME/Music"`, "/home/anna/Downloads"},
		{"", "/home/anna/Downloads"},
	} {
		cfg := t.TempDir()
		if err := os.WriteFile(filepath.Join(cfg, "user-dirs.dirs"), []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := DownloadDir(home, cfg); got != c.want {
			t.Errorf("%q: %q, want %q", c.file, got, c.want)
		}
	}
	if got := DownloadDir(home, t.TempDir()); got != "/home/anna/Downloads" {
		t.Errorf("without the file: %q", got)
	}
	// Without XDG_CONFIG_HOME: ~/.config.
	h := t.TempDir()
	os.MkdirAll(filepath.Join(h, ".config"), 0o755)
	os.WriteFile(filepath.Join(h, ".config", "user-dirs.dirs"), []byte(`XDG_DOWNLOAD_DIR="$HOME/dl"`), 0o644)
	if got := DownloadDir(h, ""); got != filepath.Join(h, "dl") {
		t.Errorf("from ~/.config: %q", got)
	}
}

// TestUnitGolden compares the unit with testdata/ferry.service.
func TestUnitGolden(t *testing.T) {
	got := Unit("/usr/local/bin/ferry", []string{"daemon"})
	want, err := os.ReadFile("testdata/ferry.service")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("unit:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range []struct{ in, want string }{
		{"/opt/my ferry/ferry", `"/opt/my ferry/ferry"`},
		{`/x/a"b`, `"/x/a\"b"`},
		{"/x/100%", "/x/100%%"},
		{"/x/$HOME", "/x/$$HOME"},
		{"", `""`},
	} {
		if got := quoteExec(c.in); got != c.want {
			t.Errorf("quoteExec(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify --user on the unit, with a
// real executable in ExecStart (one with a space in its path).
func TestUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and systemd-analyze is missing (apt-get install systemd)")
		}
		t.Skip("systemd-analyze is missing")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "my bin", "ferry")
	os.MkdirAll(filepath.Dir(exe), 0o755)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(dir, "units")
	os.MkdirAll(units, 0o755)
	unit := filepath.Join(units, UnitName)
	if err := os.WriteFile(unit, []byte(Unit(exe, []string{"--home", "/home/a b/.config/ferry", "daemon"})), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := filepath.Join(dir, "run")
	os.Mkdir(rt, 0o700)
	cmd := exec.Command(sa, "verify", "--user", unit)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify --user: %v\n%s", err, out)
	}
	// The check can fail: a unit with a mistake does not pass.
	bad := strings.Replace(Unit(exe, []string{"daemon"}), "ExecStart="+quoteExec(exe), "ExecStart="+exe+"-missing", 1)
	os.WriteFile(unit, []byte(bad), 0o644)
	if out, err := cmd.CombinedOutput(); err == nil && len(bytes.TrimSpace(out)) == 0 {
		t.Errorf("a unit whose ExecStart does not exist verified cleanly")
	}
}

func TestInstallUninstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "systemd", "user")
	var calls []string
	sc := func(ctx context.Context, args ...string) error {
		calls = append(calls, strings.Join(args, " "))
		return nil
	}
	path, err := Install(t.Context(), dir, "UNIT", sc)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "UNIT" || path != filepath.Join(dir, UnitName) {
		t.Errorf("wrote %q to %s", b, path)
	}
	if want := []string{"daemon-reload", "enable --now ferry.service"}; !slices.Equal(calls, want) {
		t.Errorf("systemctl calls %q, want %q", calls, want)
	}
	calls = nil
	removed, err := Uninstall(t.Context(), dir, sc)
	if err != nil || !removed {
		t.Fatalf("Uninstall: %v, %v", removed, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the unit is still there: %v", err)
	}
	if want := []string{"disable --now ferry.service", "daemon-reload"}; !slices.Equal(calls, want) {
		t.Errorf("systemctl calls %q, want %q", calls, want)
	}
	if removed, err := Uninstall(t.Context(), dir, sc); removed || err != nil {
		t.Errorf("second Uninstall: %v, %v", removed, err)
	}
	// A failing systemctl is reported, and the unit file is said to be there.
	fail := func(ctx context.Context, args ...string) error { return fmt.Errorf("no user manager") }
	if path, err := Install(t.Context(), dir, "UNIT", fail); err == nil || path == "" {
		t.Errorf("Install with a failing systemctl: %q, %v", path, err)
	}
}
