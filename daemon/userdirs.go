package daemon

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DownloadDir is the user's download folder as xdg-user-dirs records it in
// $XDG_CONFIG_HOME/user-dirs.dirs (default ~/.config): a systemd user
// service does not inherit XDG_DOWNLOAD_DIR from the desktop session. The
// file's lines look like
//
//	XDG_DOWNLOAD_DIR="$HOME/Downloads"
//
// (a path relative to $HOME, or absolute; user-dirs.dirs(5)). Without it,
// or without the entry, the answer is ~/Downloads.
func DownloadDir(home, configHome string) string {
	if configHome == "" {
		configHome = filepath.Join(home, ".config")
	}
	f, err := os.Open(filepath.Join(configHome, "user-dirs.dirs"))
	if err == nil {
		defer f.Close()
		if d, ok := parseUserDirs(f, "XDG_DOWNLOAD_DIR", home); ok {
			return d
		}
	}
	return filepath.Join(home, "Downloads")
}

// parseUserDirs finds key in a user-dirs.dirs file. It reads at most 64
// KiB: the file is a dozen short lines.
func parseUserDirs(r io.Reader, key, home string) (string, bool) {
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	found, ok := "", false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, has := strings.Cut(line, "=")
		if !has || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			continue
		}
		v = unescape(v[1 : len(v)-1])
		switch {
		case v == "$HOME" || v == "$HOME/":
			// $HOME itself means the directory is disabled (xdg-user-dirs);
			// downloads then go to the home folder.
			found, ok = home, true
		case strings.HasPrefix(v, "$HOME/"):
			found, ok = filepath.Join(home, v[len("$HOME/"):]), true
		case filepath.IsAbs(v):
			found, ok = filepath.Clean(v), true
		}
	}
	return found, ok
}

// unescape undoes the shell escapes xdg-user-dirs writes (\" \\ \$ \`).
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
