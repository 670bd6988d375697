package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"

	"github.com/ferry-lan/ferry/internal/testnet"
)

// sdUser is the account the systemd user manager of TestDaemonSystemdUser
// runs as.
const sdUser = "ferrysd"

// sdBoot prepares a private world for a systemd user manager and execs it:
// run under `nsenter --net=NETNS unshare --mount --propagation private`,
// it mounts tmpfs on /run (the /run/systemd/system marker that makes
// systemd believe it was booted, the journal's sockets, the user's runtime
// folder) and on /var/log/journal (the journal stays in memory), puts
// itself into cgroups of its own that the user owns, starts
// systemd-journald, and execs `systemd --user` as the user. None of it is
// seen outside the mount namespace, but the cgroups, which the test
// removes.
const sdBoot = `set -eu
user=$1 home=$2 state=$3
uid=$(id -u "$user"); gid=$(id -g "$user")
mount -t tmpfs tmpfs /run
[ -d /var/log/journal ] && mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/systemd/system "/run/user/$uid"
chown "$user:" "/run/user/$uid"; chmod 700 "/run/user/$uid"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then hier=/sys/fs/cgroup
else hier=; for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do [ -d $h ] && hier="$hier $h"; done; fi
for h in $hier; do
  d=$h/ferry-sd-$$; mkdir -p $d; chown -R "$user:" $d; echo $$ > $d/cgroup.procs; echo $d >> "$state/cgroups"
done
/lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 & echo $! > "$state/journald.pid"
for i in $(seq 100); do [ -S /run/systemd/journal/stdout ] && break; sleep 0.05; done
echo $$ > "$state/manager.pid"
exec setpriv --reuid="$uid" --regid="$gid" --init-groups env -i HOME="$home" USER="$user" LOGNAME="$user" \
  XDG_RUNTIME_DIR="/run/user/$uid" PATH=/usr/local/bin:/usr/bin:/bin /lib/systemd/systemd --user
`

// userManager is a running `systemd --user` in its own mount namespace.
type userManager struct {
	t    *testing.T
	pid  int // systemd --user, whose mount namespace commands enter
	uid  string
	home string
}

// asUser is the command name args run as the user inside the manager's
// mount namespace, with the user's environment.
func (m *userManager) asUser(name string, args ...string) *exec.Cmd {
	full := []string{"-t", strconv.Itoa(m.pid), "-m", "setpriv", "--reuid=" + sdUser, "--regid=" + sdUser, "--init-groups",
		"env", "-i", "HOME=" + m.home, "USER=" + sdUser, "XDG_RUNTIME_DIR=/run/user/" + m.uid, "PATH=/usr/local/bin:/usr/bin:/bin", name}
	return exec.Command("nsenter", append(full, args...)...)
}

// asRoot runs name with args as root inside the manager's mount namespace.
func (m *userManager) asRoot(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(m.pid), "-m", name}, args...)...)
}

func (m *userManager) run(cmd *exec.Cmd) string {
	m.t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		m.t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (m *userManager) systemctl(args ...string) string {
	m.t.Helper()
	return m.run(m.asUser("systemctl", append([]string{"--user"}, args...)...))
}

// prop is a property of ferry.service.
func (m *userManager) prop(name string) string {
	out, _ := m.asUser("systemctl", "--user", "show", "-p", name, "--value", "ferry.service").Output()
	return strings.TrimSpace(string(out))
}

// until polls the manager (every 20 ms) until cond holds or timeout
// passes, and returns when it held.
func (m *userManager) until(timeout time.Duration, what string, cond func() bool) time.Time {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return time.Now()
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: not within %v (ActiveState=%s SubState=%s MainPID=%s)", what, timeout, m.prop("ActiveState"), m.prop("SubState"), m.prop("MainPID"))
		}
		time.Sleep(20 * time.Millisecond) // polling systemd's state, not waiting for an event of ours
	}
}

// needSystemdUser skips (fails under CI=true) without what the test runs.
func needSystemdUser(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/lib/systemd/systemd", "/lib/systemd/systemd-journald"} {
		if _, err := os.Stat(p); err != nil {
			testnet.CannotRun(t, "%s is missing (apt-get install systemd)", p)
		}
	}
	for _, c := range []string{"systemctl", "journalctl", "setpriv", "nsenter", "unshare", "useradd"} {
		if _, err := exec.LookPath(c); err != nil {
			testnet.CannotRun(t, "%s is missing", c)
		}
	}
}

// startUserManager makes the test user (if missing) and boots its user
// manager inside host h's network namespace.
func startUserManager(t *testing.T, h *host) *userManager {
	t.Helper()
	needSystemdUser(t)
	dir, err := os.MkdirTemp("", "ferry-sd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	home := filepath.Join(dir, "home")
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o755)

	if _, err := user.Lookup(sdUser); err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", sdUser).CombinedOutput()
		if err != nil {
			testnet.CannotRun(t, "useradd %s: %v: %s", sdUser, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", sdUser).Run() })
	} else if out, err := exec.Command("usermod", "--home", home, sdUser).CombinedOutput(); err != nil {
		t.Fatalf("usermod: %v: %s", err, out)
	}
	u, err := user.Lookup(sdUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	os.Mkdir(home, 0o755)
	os.Chown(home, uid, gid)

	script := filepath.Join(dir, "boot.sh")
	os.WriteFile(script, []byte(sdBoot), 0o755)
	cmd := exec.Command("nsenter", "--net=/run/netns/"+h.ns, "unshare", "--mount", "--propagation", "private",
		"bash", script, sdUser, home, state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second // the manager's children may hold the output pipe
	if err := cmd.Start(); err != nil {
		testnet.CannotRun(t, "start the user manager: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // systemd --user stops its units and exits
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if b, err := os.ReadFile(filepath.Join(state, "journald.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("user manager output:\n%s", out.String())
		}
		// The cgroups, deepest first, once their processes are gone.
		b, _ := os.ReadFile(filepath.Join(state, "cgroups"))
		for _, d := range strings.Fields(string(b)) {
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := exec.Command("find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";").Run()
				if _, serr := os.Stat(d); os.IsNotExist(serr) || time.Now().After(deadline) {
					if serr == nil {
						t.Errorf("cgroup %s left behind: %v", d, err)
					}
					break
				}
				time.Sleep(50 * time.Millisecond) // the killed processes leaving their cgroup
			}
		}
	})
	m := &userManager{t: t, uid: u.Uid, home: home}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(state, "manager.pid")); err == nil {
			if m.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				st, _ := m.asUser("systemctl", "--user", "is-system-running").Output()
				if s := strings.TrimSpace(string(st)); s == "running" || s == "degraded" {
					return m
				}
			}
		}
		select {
		case <-exited:
			testnet.CannotRun(t, "the systemd user manager exited: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			testnet.CannotRun(t, "the systemd user manager did not come up in 20 s: %s", out.String())
		}
	}
}

// goodbyeSniffer listens for mDNS on host h and reports when a record
// with TTL 0 whose name contains label arrives.
func goodbyeSniffer(t *testing.T, h *host, label string) <-chan time.Time {
	t.Helper()
	var conn *net.UDPConn
	err := h.nh.Do(func() error {
		lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			return serr
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:5353")
		if err != nil {
			return err
		}
		conn = pc.(*net.UDPConn)
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return ipv4.NewPacketConn(conn).JoinGroup(ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251)})
	})
	if err != nil {
		t.Fatalf("mDNS sniffer on %s: %v", h.ns, err)
	}
	t.Cleanup(func() { conn.Close() })
	got := make(chan time.Time, 1)
	go func() { // ends when the cleanup closes conn
		buf := make([]byte, 9000)
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			for _, rr := range append(m.Answer, m.Extra...) {
				if rr.Header().Ttl == 0 && strings.Contains(rr.String(), label) {
					select {
					case got <- time.Now():
					default:
					}
				}
			}
		}
	}()
	return got
}

// TestDaemonSystemdUser runs ferry daemon --install under a real systemd
// user manager: the unit becomes active within 1 s of a start, is back
// within 3 s of kill -9, says goodbye on the LAN within 1 s of a stop,
// logs with the journal priorities of its slog levels, idles in at most
// 25 MiB, and --uninstall removes it.
func TestDaemonSystemdUser(t *testing.T) {
	l := newLANOpts(t, 2, lanOpts{family: "fdmn"})
	h1, h2 := l.h(1), l.h(2)
	m := startUserManager(t, h1)

	// The binary where the user can run it, as an installed ferry is.
	bin := filepath.Join(filepath.Dir(m.home), "bin", "ferry")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if b, err := os.ReadFile(ferryBin); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatalf("copy ferry: %v", err)
	}
	name := "sd-" + h1.name
	out := m.run(m.asUser(bin, "--name", name, "daemon", "--install"))
	unit := filepath.Join(m.home, ".config", "systemd", "user", "ferry.service")
	if !strings.Contains(out, unit) || !strings.Contains(out, "loginctl enable-linger "+sdUser) {
		t.Errorf("--install said:\n%s", out)
	}
	b, err := os.ReadFile(unit)
	if err != nil || !strings.Contains(string(b), "ExecStart="+bin+" daemon\n") {
		t.Fatalf("the unit (%v):\n%s", err, b)
	}
	if s := m.systemctl("is-enabled", "ferry.service"); s != "enabled" {
		t.Errorf("is-enabled: %s", s)
	}
	if st := m.prop("StatusText"); !strings.Contains(st, "receiving from 0 paired device(s) as \""+name+"\"") {
		t.Errorf("StatusText %q", st)
	}
	if d := m.prop("Slice"); d != "background.slice" {
		t.Errorf("Slice %q", d)
	}

	// Start: active (Type=notify: after READY=1) within 1 s.
	m.systemctl("stop", "ferry.service")
	t0 := time.Now()
	m.systemctl("start", "ferry.service")
	up := m.until(5*time.Second, "active after start", func() bool { return m.prop("ActiveState") == "active" })
	t.Logf("FIGURE daemon_start_active_ms=%d", up.Sub(t0).Milliseconds())
	if d := up.Sub(t0); d > time.Second {
		t.Errorf("active %v after systemctl start, want ≤ 1 s", d)
	}

	// kill -9: back within 3 s.
	pid, _ := strconv.Atoi(m.prop("MainPID"))
	if pid <= 0 {
		t.Fatal("no MainPID")
	}
	// Idle memory first, while it is idle: its resident set after the
	// announcements (a second and a half), the highest of a few readings.
	rss := 0
	for range 5 {
		time.Sleep(300 * time.Millisecond) // sampling an idle process
		if v := vmRSS(pid); v > rss {
			rss = v
		}
	}
	t.Logf("FIGURE daemon_idle_vmrss_kib=%d", rss)
	if limit := 25 * 1024; rss == 0 || rss > limit && os.Getenv("FERRY_E2E_RACE") != "1" { // -race costs memory
		t.Errorf("idle VmRSS %d KiB, want ≤ 25 MiB", rss)
	}
	t0 = time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	back := m.until(6*time.Second, "back after kill -9", func() bool {
		p, _ := strconv.Atoi(m.prop("MainPID"))
		return p > 0 && p != pid && m.prop("ActiveState") == "active"
	})
	t.Logf("FIGURE daemon_kill9_active_ms=%d", back.Sub(t0).Milliseconds())
	if d := back.Sub(t0); d > 3*time.Second {
		t.Errorf("back %v after kill -9, want ≤ 3 s", d)
	}

	// Stop: the goodbye on the LAN within 1 s.
	goodbye := goodbyeSniffer(t, h2, name)
	t0 = time.Now()
	m.systemctl("stop", "ferry.service")
	select {
	case at := <-goodbye:
		t.Logf("FIGURE daemon_stop_goodbye_ms=%d", at.Sub(t0).Milliseconds())
		if d := at.Sub(t0); d > time.Second {
			t.Errorf("goodbye %v after systemctl stop, want ≤ 1 s", d)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no goodbye (mDNS record of %q with TTL 0) within 5 s of systemctl stop", name)
	}
	if r := m.prop("Result"); r != "success" {
		t.Errorf("stopped with Result=%s", r)
	}

	// The journal: slog levels as priorities, prefixes consumed.
	js := m.run(m.asRoot("journalctl", "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=ferry"))
	prio := map[string]string{}
	for _, line := range strings.Split(js, "\n") {
		var e struct {
			Priority string `json:"PRIORITY"`
			Message  any    `json:"MESSAGE"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		msg, _ := e.Message.(string)
		if strings.HasPrefix(msg, "<") {
			t.Errorf("a journal message kept its prefix: %q", msg)
		}
		for _, w := range []string{"ready ", "no paired devices", "stopped"} {
			if strings.HasPrefix(msg, w) {
				prio[w] = e.Priority
			}
		}
	}
	for w, want := range map[string]string{"ready ": "6", "no paired devices": "4", "stopped": "6"} {
		if prio[w] != want {
			t.Errorf("journal priority of %q: %q, want %s (journal:\n%s)", w, prio[w], want, tail(js))
		}
	}

	// --uninstall: stopped, disabled, gone.
	out = m.run(m.asUser(bin, "daemon", "--uninstall"))
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Errorf("the unit is still there after --uninstall (%s)", out)
	}
	if s, _ := m.asUser("systemctl", "--user", "is-enabled", "ferry.service").Output(); strings.TrimSpace(string(s)) == "enabled" {
		t.Error("still enabled after --uninstall")
	}
}

// vmRSS is the resident set of process pid in KiB, or 0.
func vmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// TestDaemonPairedOnly runs ferry daemon directly (no systemd): it saves
// what a paired device sends into the download folder of user-dirs.dirs,
// refuses an unpaired one without asking, and exits 0 on SIGTERM.
func TestDaemonPairedOnly(t *testing.T) {
	l := newLANOpts(t, 3, lanOpts{family: "fdmn"})
	a, b, c := newDevice(t, l.h(1), "alpha"), newDevice(t, l.h(2), "beta"), newDevice(t, l.h(3), "gamma")
	pairPIN(t, a, b)
	cfg := filepath.Join(a.user, ".config")
	os.MkdirAll(cfg, 0o755)
	if err := os.WriteFile(filepath.Join(cfg, "user-dirs.dirs"), []byte("# xdg-user-dirs\nXDG_DOWNLOAD_DIR=\"$HOME/Téléchargements\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(a.user, "Téléchargements", "ferry")
	d := a.start(nil, "daemon", "--port", "0")
	ev := d.waitEvent("listening", 10*time.Second)
	if ev.str("dir") != in || ev.str("accept") != "trusted" {
		t.Fatalf("listening event %v, want dir %s and accept trusted", ev, in)
	}
	port := int(ev.num("port"))
	alpha := &named{h: a.host, name: a.name, id: a.id, dir: in, port: port, p: d}

	sendOK(t, b.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "paired.txt", "from beta\n")))
	d.sessionsDone(1, 10*time.Second)
	delivered(t, alpha, "paired.txt", "from beta\n")

	s := c.run(30*time.Second, nil, "send", "--to", a.addr(port), writeNote(t, "stranger.txt", "from gamma\n"))
	if code := s.exitCode(); code != exitDeclined {
		t.Errorf("unpaired sender exited %d, want 3 (declined)", code)
	}
	d.waitEvent("declined", 10*time.Second)
	if got := listDir(t, in); len(got) != 1 {
		t.Errorf("the download folder holds %q, want only paired.txt", got)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != 0 {
		t.Errorf("ferry daemon exited %d on SIGTERM, want 0: %s", code, tail(d.stderr.String()))
	}
	if !strings.Contains(d.stderr.String(), "msg=ready") || !strings.Contains(d.stderr.String(), "msg=stopped") {
		t.Errorf("no ready and stopped log lines: %s", tail(d.stderr.String()))
	}
}
