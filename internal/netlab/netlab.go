// Package netlab builds private LANs of Linux network namespaces, for the
// end-to-end tests and the bench: a switch is a namespace with a bridge
// (br0, multicast snooping off, so mDNS floods every port); a host is a
// namespace with lo up, plugged into a switch through a veth pair, or
// joined to another host directly. On top of that it runs commands in a
// host, and impairs the LAN as tests need: a rate limit on a switch port
// (tc tbf; this kernel has no netem) and UDP loss on a host (nftables).
//
// Every namespace of a LAN is named with the LAN's prefix, and a LAN
// removes only the namespaces it made, so two suites never tear down each
// other's. A prefix made by Prefix carries the process ID
// ("fdsc-4242-lan-"): Sweep removes the namespaces of a family whose
// process is gone, left by a run that died before its cleanup.
//
// It drives iproute2 (ip), tc and nft, needs root (Check says why not) and
// does not import testing: internal/testnet wraps it for tests, and the
// bench (a program) uses it as it is. A LAN is not safe for concurrent use.
package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// adminTimeout bounds each ip, tc or nft command the package runs itself.
const adminTimeout = 30 * time.Second

// Check reports why this process cannot build namespaces, or nil.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("iproute2's ip is missing: %w", err)
	}
	return nil
}

// Prefix is the namespace prefix "family-PID-tag-" for a LAN of this
// process; Sweep(family) tells its leftovers by the PID.
func Prefix(family, tag string) string {
	return fmt.Sprintf("%s-%d-%s-", family, os.Getpid(), tag)
}

// A LAN is the namespaces one user made, all named with its prefix.
type LAN struct {
	prefix string
	log    *slog.Logger
	made   []string // namespaces created, in order
}

// New returns an empty LAN whose namespaces are named prefix+name. log
// (nil: none) hears of the processes Close has to kill.
func New(prefix string, log *slog.Logger) *LAN {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LAN{prefix: prefix, log: log}
}

// Prefix is what the LAN's namespace names start with.
func (l *LAN) Prefix() string { return l.prefix }

// A Host is a network namespace of a LAN.
type Host struct {
	ns string
}

// NS is the namespace's name, for `ip netns exec` and `ip -n`.
func (h *Host) NS() string { return h.ns }

// A Switch is a host with a bridge, br0, that hosts are plugged into.
type Switch struct {
	Host
	ports int // ports made so far: p1, p2, …
}

// AddHost makes the namespace prefix+name with lo up.
func (l *LAN) AddHost(ctx context.Context, name string) (*Host, error) {
	h := &Host{ns: l.prefix + name}
	if err := IP(ctx, "netns", "add", h.ns); err != nil {
		return nil, err
	}
	l.made = append(l.made, h.ns)
	if err := h.IP(ctx, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return h, nil
}

// AddSwitch makes a host with a bridge, br0, that floods multicast to
// every port (no IGMP/MLD snooping).
func (l *LAN) AddSwitch(ctx context.Context, name string) (*Switch, error) {
	h, err := l.AddHost(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "type", "bridge", "mcast_snooping", "0"},
		{"link", "set", "br0", "up"},
	} {
		if err := h.IP(ctx, args...); err != nil {
			return nil, err
		}
	}
	return &Switch{Host: *h}, nil
}

// Plug connects h (of this LAN or another) to the switch through a veth
// pair: ifname in h, with addrs (as "10.231.1.1/24", "fd31::1/64"), brought
// up with multicast on; and a port of br0 in the switch, whose name it
// returns ("p1", "p2", …). The pair goes away with either namespace.
func (s *Switch) Plug(ctx context.Context, h *Host, ifname string, addrs ...string) (port string, err error) {
	s.ports++
	port = fmt.Sprintf("p%d", s.ports)
	if err := IP(ctx, "link", "add", ifname, "netns", h.ns, "type", "veth", "peer", "name", port, "netns", s.ns); err != nil {
		return "", err
	}
	if err := s.IP(ctx, "link", "set", port, "master", "br0", "up"); err != nil {
		return "", err
	}
	return port, h.Up(ctx, ifname, addrs...)
}

// Pair joins a and b directly through a veth pair, ifA in a and ifB in b,
// both down and without addresses (see Up).
func Pair(ctx context.Context, a *Host, ifA string, b *Host, ifB string) error {
	return IP(ctx, "link", "add", ifA, "netns", a.ns, "type", "veth", "peer", "name", ifB, "netns", b.ns)
}

// Up gives h's interface ifname the addresses addrs (IPv6 ones without
// duplicate address detection, so that they are usable at once) and
// brings it up with multicast on.
func (h *Host) Up(ctx context.Context, ifname string, addrs ...string) error {
	for _, a := range addrs {
		args := []string{"addr", "add", a, "dev", ifname}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		if err := h.IP(ctx, args...); err != nil {
			return err
		}
	}
	return h.IP(ctx, "link", "set", ifname, "multicast", "on", "up")
}

// IP runs `ip -n NS args` in the host's namespace.
func (h *Host) IP(ctx context.Context, args ...string) error {
	return IP(ctx, append([]string{"-n", h.ns}, args...)...)
}

// Command is the command name with args inside the host's namespace.
// `ip netns exec` execs it in place, so the process is the program: its
// PID, signals and resource usage are the program's.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", h.execArgs(name, args)...)
}

// CommandContext is Command, killed when ctx is done.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", h.execArgs(name, args)...)
}

func (h *Host) execArgs(name string, args []string) []string {
	return append([]string{"netns", "exec", h.ns, name}, args...)
}

// Run runs name with args in the host's namespace and returns what it
// printed on stdout and stderr; an error carries the command and that.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return output(h.CommandContext(ctx, name, args...))
}

// admin is Run for the package's own commands, bounded by adminTimeout.
func (h *Host) admin(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	return h.Run(ctx, name, args...)
}

// Do runs fn on an OS thread that has entered the host's namespace, so
// that the sockets fn opens (and the interfaces it looks up) are the host's;
// the sockets stay there after Do returns. The thread returns to its own
// namespace afterwards, or, if it cannot, ends with the goroutine that ran
// fn.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() { // ends with fn
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer home.Close()
		ns, err := os.Open("/run/netns/" + h.ns)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", h.ns, err)
			return
		}
		err = fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// LinkLocal waits until the host's ifname has a usable (no longer
// tentative) IPv6 link-local address and returns it, or ctx is done.
func (h *Host) LinkLocal(ctx context.Context, ifname string) (netip.Addr, error) {
	tick := time.NewTicker(50 * time.Millisecond) // polling the kernel, not waiting for a peer
	defer tick.Stop()
	for {
		out, _ := exec.CommandContext(ctx, "ip", "-n", h.ns, "-j", "-6", "addr", "show", "dev", ifname, "scope", "link").Output()
		var ifs []struct {
			AddrInfo []struct {
				Local     string `json:"local"` // "" for an address the scope filtered out
				Tentative bool   `json:"tentative"`
			} `json:"addr_info"`
		}
		if json.Unmarshal(out, &ifs) == nil && len(ifs) > 0 {
			for _, a := range ifs[0].AddrInfo {
				if a.Local != "" && !a.Tentative {
					return netip.ParseAddr(a.Local)
				}
			}
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("link-local address of %s in %s: %w (ip said %q)", ifname, h.ns, ctx.Err(), out)
		case <-tick.C:
		}
	}
}

// Close kills what still runs in the LAN's namespaces and deletes them.
// It uses a context of its own, so that it also works after the one the
// LAN was built with was cancelled, and may be called more than once.
func (l *LAN) Close() error {
	ctx := context.Background()
	for _, ns := range l.made {
		for _, pid := range pids(ctx, ns) {
			l.log.Info("killing stray process", "pid", pid, "netns", ns)
			kill(pid)
		}
	}
	var errs []error
	for _, ns := range l.made {
		errs = append(errs, IP(ctx, "netns", "del", ns))
	}
	l.made = nil
	return errors.Join(errs...)
}

// Namespaces lists the network namespaces whose names start with prefix.
func Namespaces(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// Sweep removes the namespaces "family-PID" and "family-PID-…" whose
// process PID has ended (see Prefix), killing what still runs in them, and
// returns their names. Those of live processes, this one included, stay.
func Sweep(ctx context.Context, family string) ([]string, error) {
	names, err := Namespaces(ctx, family+"-")
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, ns := range names {
		pid, ok := ownerPID(family, ns)
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		for _, p := range pids(ctx, ns) {
			kill(p)
		}
		if err := IP(ctx, "netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ns)
	}
	return removed, errors.Join(errs...)
}

// ownerPID reads the PID out of "family-PID" or "family-PID-…".
func ownerPID(family, ns string) (int, bool) {
	rest, ok := strings.CutPrefix(ns, family+"-")
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != digits {
		return 0, false
	}
	return pid, true
}

// alive reports whether process pid exists (network namespaces are
// Linux's, and so is /proc).
func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// pids lists the processes that run in namespace ns.
func pids(ctx context.Context, ns string) []int {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	var ps []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			ps = append(ps, pid)
		}
	}
	return ps
}

func kill(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// IP runs ip(8) with args; an error carries the command and what it
// printed.
func IP(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	_, err := output(exec.CommandContext(ctx, "ip", args...))
	return err
}

// output runs cmd and returns its stdout and stderr together; an error
// carries the command line and that output.
func output(cmd *exec.Cmd) ([]byte, error) {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}
