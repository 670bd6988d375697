package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/ferry-lan/ferry/internal/syncbuf"
	"github.com/ferry-lan/ferry/internal/testnet"
)

// What TestMain sets up once for the whole package.
var (
	ferryBin string // the ferry binary built from the module root
	scratch  string // TestMain's folder: the binary and source files shared by tests
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ferry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	scratch = dir
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ferryBin = filepath.Join(dir, "ferry")
	args := []string{"build", "-o", ferryBin}
	if os.Getenv("FERRY_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot is the folder of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// lan is a private LAN: a switch namespace with a bridge and hosts on it,
// a netlab.LAN.
type lan struct {
	t      testing.TB
	tag    string // "<pid>-<n>" in hex: what its hosts' device names share
	num    int    // the <lan> in 10.240.<lan>.<i> and fd40:<lan>::<i>
	nl     *netlab.LAN
	sw     *netlab.Switch
	opts   lanOpts
	hosts  []*host
	guests int // interfaces of other LANs' hosts attached to this one
}

// lanOpts varies how a LAN is built.
type lanOpts struct {
	v6Only  bool   // no IPv4 address on the hosts' LAN interfaces
	noLoop4 bool   // with v6Only: not even 127.0.0.1 on lo
	family  string // what its namespace names start with ("": fe2e)
}

// host is a namespace with one interface, eth0, on the LAN.
type host struct {
	lan  *lan
	i    int
	nh   *netlab.Host
	ns   string
	port string // its port on the LAN's switch
	name string // ferry --name
	home string // FERRY_HOME: every host is its own device
	user string // HOME: the default receiving folder is under it
	v4   string
	v6   string

	rxMu sync.Mutex
	rx   *counterShell
}

var lanCount atomic.Int32

// newLAN builds a LAN of n hosts, numbered 1..n, and removes it when the
// test ends. Its namespaces are named fe2e-<pid>-<n in hex>-… (lanOpts.family
// changes fe2e), after this test process, so that leftovers of a dead run can
// be told and removed.
func newLAN(t testing.TB, n int) *lan {
	t.Helper()
	return newLANOpts(t, n, lanOpts{})
}

// newLANOpts is newLAN with options.
func newLANOpts(t testing.TB, n int, opts lanOpts) *lan {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the namespace LAN in -short mode")
	}
	k := int(lanCount.Add(1))
	l := &lan{t: t, num: (k-1)%250 + 1, tag: fmt.Sprintf("%x-%x", os.Getpid(), k), opts: opts}
	family := cmp.Or(opts.family, "fe2e")
	l.nl = testnet.NewLAN(t, family, strconv.FormatInt(int64(k), 16))
	t.Cleanup(l.stopCounters) // before the LAN goes
	if err := l.up(t.Context(), n); err != nil {
		testnet.CannotRun(t, "building the namespace LAN: %v", err)
	}
	return l
}

func (l *lan) up(ctx context.Context, n int) error {
	var err error
	if l.sw, err = l.nl.AddSwitch(ctx, "sw"); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		user := l.t.TempDir()
		h := &host{
			lan:  l,
			i:    i,
			name: fmt.Sprintf("h%d-%s", i, l.tag),
			home: filepath.Join(user, ".config", "ferry"),
			user: user,
		}
		if h.nh, err = l.nl.AddHost(ctx, fmt.Sprintf("h%d", i)); err != nil {
			return err
		}
		h.ns = h.nh.NS()
		l.hosts = append(l.hosts, h)
		if l.opts.v6Only && l.opts.noLoop4 {
			if err := h.nh.IP(ctx, "addr", "del", "127.0.0.1/8", "dev", "lo"); err != nil {
				return err
			}
		}
		if h.port, h.v4, h.v6, err = l.plug(ctx, h.nh, "eth0", i); err != nil {
			return err
		}
	}
	return nil
}

// plug connects h to the LAN's switch through ifname at 10.240.<lan>.<k>/24
// (not on an IPv6-only LAN: v4 is "" there) and fd40:<lan>::<k>/64.
func (l *lan) plug(ctx context.Context, h *netlab.Host, ifname string, k int) (port, v4, v6 string, err error) {
	v6 = fmt.Sprintf("fd40:%x::%x", l.num, k)
	addrs := []string{v6 + "/64"}
	if !l.opts.v6Only {
		v4 = fmt.Sprintf("10.240.%d.%d", l.num, k)
		addrs = []string{v4 + "/24", v6 + "/64"}
	}
	port, err = l.sw.Plug(ctx, h, ifname, addrs...)
	return port, v4, v6, err
}

// attach gives host h (of another LAN) a second interface, ifname, on this
// LAN, at 10.240.<lan>.<200+k> and fd40:<lan>::<200+k> for the k-th guest,
// and returns those addresses. The interface goes away with either LAN.
func (l *lan) attach(h *host, ifname string) (v4, v6 string) {
	t := l.t
	t.Helper()
	l.guests++
	_, v4, v6, err := l.plug(t.Context(), h.nh, ifname, 200+l.guests)
	if err != nil {
		testnet.CannotRun(t, "attach host %s to LAN %d: %v", h.ns, l.num, err)
	}
	return v4, v6
}

// multicastOff turns multicast off on the host's eth0.
func (h *host) multicastOff() {
	t := h.lan.t
	t.Helper()
	if err := h.nh.IP(t.Context(), "link", "set", "eth0", "multicast", "off"); err != nil {
		testnet.CannotRun(t, "%v", err)
	}
}

// stopCounters stops the hosts' rx_bytes readers.
func (l *lan) stopCounters() {
	for _, h := range l.hosts {
		h.rxMu.Lock()
		if h.rx != nil {
			h.rx.stop()
			h.rx = nil
		}
		h.rxMu.Unlock()
	}
}

// h returns host i (1-based).
func (l *lan) h(i int) *host { return l.hosts[i-1] }

// command runs name with args inside the host's namespace.
func (h *host) command(name string, args ...string) *exec.Cmd {
	return h.nh.Command(name, args...)
}

// addr is HOST:PORT of this host's IPv4 address.
func (h *host) addr(port int) string { return fmt.Sprintf("%s:%d", h.v4, port) }

// addr6 is [HOST]:PORT of this host's IPv6 address.
func (h *host) addr6(port int) string { return fmt.Sprintf("[%s]:%d", h.v6, port) }

// ---------------------------------------------------------------------------
// ferry processes

// event is one NDJSON line of ferry's --json output.
type event map[string]any

func (e event) name() string { s, _ := e["event"].(string); return s }

func (e event) str(k string) string { s, _ := e[k].(string); return s }

// num is a numeric field, or -1 when it is missing.
func (e event) num(k string) int64 {
	n, ok := e[k].(json.Number)
	if !ok {
		return -1
	}
	v, err := n.Int64()
	if err != nil {
		return -1
	}
	return v
}

// proc is a ferry process owned by a test: its stdout is read as NDJSON
// as it comes, and the test's cleanup kills it if needed and waits for it.
type proc struct {
	t     testing.TB
	label string
	args  []string
	cmd   *exec.Cmd
	begun time.Time
	plain bool // started without --json: text lines on stdout are expected
	quiet bool // not dumped when the test fails: one of many that the test reports on itself

	mu      sync.Mutex
	events  []event
	at      []time.Time   // when each event arrived
	bad     []string      // stdout lines that are not JSON objects
	changed chan struct{} // closed and replaced when a line arrives or the process ends
	exited  bool
	code    int
	took    time.Duration
	cpu     time.Duration // user + system time, once ended
	stderr  syncbuf.Buffer

	done chan struct{} // closed after the process was waited for
}

// start runs ferry on the host in the background as
// `ferry --name NAME --json ARGS...` with the host's FERRY_HOME.
func (h *host) start(stdin io.Reader, args ...string) *proc {
	t := h.lan.t
	t.Helper()
	full := append([]string{"--name", h.name, "--json"}, args...)
	cmd := h.command(ferryBin, full...)
	label := fmt.Sprintf("h%d: ferry %s", h.i, strings.Join(args, " "))
	return startProc(t, label, cmd, h.env(), stdin)
}

// startPlain runs ferry on the host in the background without --json
// (`ferry --name NAME ARGS...`); its stdout lines are in lines().
func (h *host) startPlain(stdin io.Reader, args ...string) *proc {
	t := h.lan.t
	t.Helper()
	cmd := h.command(ferryBin, append([]string{"--name", h.name}, args...)...)
	label := fmt.Sprintf("h%d: ferry %s (text)", h.i, strings.Join(args, " "))
	return startProcPlain(t, label, cmd, h.env(), stdin, true)
}

// lines returns the stdout lines that were not JSON objects: all of them
// for a process started with startPlain.
func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bad)
}

// waitLine waits until a process started with startPlain printed a line
// that contains sub, and returns it.
func (p *proc) waitLine(sub string, timeout time.Duration) string {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		p.mu.Lock()
		for _, l := range p.bad {
			if strings.Contains(l, sub) {
				p.mu.Unlock()
				return l
			}
		}
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("%s exited with code %d before printing %q\nstderr: %s", p.label, p.exitCode(), sub, tail(p.stderr.String()))
		}
		select {
		case <-changed:
		case <-tm.C:
			p.t.Fatalf("%s did not print %q within %v", p.label, sub, timeout)
		}
	}
}

// signal sends sig to the process (ferry itself: ip netns exec execs it in
// place) unless it has ended.
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

func (h *host) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "FERRY_") {
			env = append(env, kv)
		}
	}
	return append(env, "FERRY_HOME="+h.home, "HOME="+h.user)
}

// identity creates the host's device identity (ferry id) and returns its ID.
func (h *host) identity() string {
	h.lan.t.Helper()
	p := h.run(30*time.Second, nil, "id")
	if p.exitCode() != 0 {
		h.lan.t.Fatalf("ferry id on host %d exited %d: %s", h.i, p.exitCode(), p.stderr.String())
	}
	return p.mustEvent("").str("id")
}

// run runs ferry on the host in the foreground and returns it ended.
func (h *host) run(timeout time.Duration, stdin io.Reader, args ...string) *proc {
	h.lan.t.Helper()
	p := h.start(stdin, args...)
	p.wait(timeout)
	return p
}

func startProc(t testing.TB, label string, cmd *exec.Cmd, env []string, stdin io.Reader) *proc {
	t.Helper()
	return startProcPlain(t, label, cmd, env, stdin, false)
}

func startProcPlain(t testing.TB, label string, cmd *exec.Cmd, env []string, stdin io.Reader, plain bool) *proc {
	t.Helper()
	p := &proc{t: t, label: label, args: cmd.Args, cmd: cmd, plain: plain, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Env = env
	cmd.Stdin = stdin
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.begun = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.kill()
		<-p.done
		if len(p.bad) > 0 && !p.plain {
			t.Errorf("%s printed lines that are not JSON on stdout with --json: %q", label, p.bad)
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") { // FERRY_E2E_RACE=1
			t.Errorf("%s hit a data race", label)
		}
		if t.Failed() && !p.quiet {
			t.Logf("%s", p.dump())
		}
	})
	return p
}

// read takes stdout line by line until the process ends, then waits for it.
func (p *proc) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var ev event
		err := dec.Decode(&ev)
		p.mu.Lock()
		if err != nil || ev == nil {
			p.bad = append(p.bad, string(line))
		} else {
			p.events = append(p.events, ev)
			p.at = append(p.at, time.Now())
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	io.Copy(io.Discard, stdout)
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exited = true
	p.code = p.cmd.ProcessState.ExitCode()
	if err != nil && p.code == 0 {
		p.code = -1
	}
	p.took = time.Since(p.begun)
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	close(p.changed)
	p.mu.Unlock()
	close(p.done)
}

// kill sends SIGKILL (to ferry itself: ip netns exec execs it in place).
func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
	}
}

// killAndWait kills the process and waits until it is gone.
func (p *proc) killAndWait() {
	p.kill()
	<-p.done
}

// wait waits for the process to end and returns its exit code; past the
// timeout it kills the process and fails the test.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-p.done:
	case <-tm.C:
		p.killAndWait()
		p.t.Fatalf("%s still ran after %v; killed", p.label, timeout)
	}
	return p.code
}

func (p *proc) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

func (p *proc) duration() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.took
}

// cpuTime is the CPU time of an ended process.
func (p *proc) cpuTime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpu.Round(time.Millisecond)
}

// peakRSS is the high-water resident set of a running process, in MiB
// (VmHWM; rusage's maxrss would count the forking test process's memory).
func (p *proc) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

func (p *proc) hasExited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitEvent waits until the process printed an event with this name and
// returns the first one. It fails the test if the process ends without it or
// the timeout passes.
func (p *proc) waitEvent(name string, timeout time.Duration) event {
	p.t.Helper()
	return p.waitEvents(name, 1, timeout)[0]
}

// waitEvents waits until the process printed n events with this name and
// returns them.
func (p *proc) waitEvents(name string, n int, timeout time.Duration) []event {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		p.mu.Lock()
		var got []event
		for _, e := range p.events {
			if e.name() == name {
				got = append(got, e)
			}
		}
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if exited {
			p.t.Fatalf("%s exited with code %d after %d of %d %q events\nstderr: %s", p.label, p.exitCode(), len(got), n, name, tail(p.stderr.String()))
		}
		select {
		case <-changed:
		case <-tm.C:
			p.t.Fatalf("%s printed %d of %d %q events within %v", p.label, len(got), n, name, timeout)
		}
	}
}

// waitMatch waits until the process printed an event that matches, among
// those from index from on (0: all of them), and returns it with its index
// and arrival time; what describes it in failures.
func (p *proc) waitMatch(from int, what string, timeout time.Duration, match func(event) bool) (event, int, time.Time) {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.events); i++ {
			if match(p.events[i]) {
				ev, at := p.events[i], p.at[i]
				p.mu.Unlock()
				return ev, i, at
			}
		}
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("%s exited with code %d before it printed %s\nstderr: %s", p.label, p.exitCode(), what, tail(p.stderr.String()))
		}
		select {
		case <-changed:
		case <-tm.C:
			p.t.Fatalf("%s did not print %s within %v", p.label, what, timeout)
		}
	}
}

// count is the number of events printed so far.
func (p *proc) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// snapshot returns the events printed so far.
func (p *proc) snapshot() []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// when returns the arrival time of the first event with this name, or the
// zero time.
func (p *proc) when(name string) time.Time {
	return p.whenFirst(func(e event) bool { return e.name() == name })
}

// whenFirst returns the arrival time of the first event that matches, or
// the zero time.
func (p *proc) whenFirst(match func(event) bool) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, e := range p.events {
		if match(e) {
			return p.at[i]
		}
	}
	return time.Time{}
}

// sessionsDone waits until n sessions of a receiver ended and fails the
// test unless each ended with session_done; it returns those events.
func (p *proc) sessionsDone(n int, timeout time.Duration) []event {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		p.mu.Lock()
		var ends []event
		for _, e := range p.events {
			if e.name() == "session_done" || e.name() == "session_error" {
				ends = append(ends, e)
			}
		}
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		if len(ends) >= n {
			for i, e := range ends[:n] {
				if e.name() != "session_done" {
					p.t.Fatalf("%s: session %d ended with %v, want session_done", p.label, i+1, e)
				}
			}
			return ends[:n]
		}
		if exited {
			p.t.Fatalf("%s exited with code %d after %d session ends, want %d", p.label, p.exitCode(), len(ends), n)
		}
		select {
		case <-changed:
		case <-tm.C:
			p.t.Fatalf("%s: %d session ends within %v, want %d", p.label, len(ends), timeout, n)
		}
	}
}

// all returns the events with this name printed so far.
func (p *proc) all(name string) []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []event
	for _, e := range p.events {
		if e.name() == name {
			out = append(out, e)
		}
	}
	return out
}

// last returns the last event with this name, or nil.
func (p *proc) last(name string) event {
	evs := p.all(name)
	if len(evs) == 0 {
		return nil
	}
	return evs[len(evs)-1]
}

// mustEvent returns the last event with this name or fails the test.
func (p *proc) mustEvent(name string) event {
	p.t.Helper()
	e := p.last(name)
	if e == nil {
		p.t.Fatalf("%s printed no %q event", p.label, name)
	}
	return e
}

func (p *proc) dump() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s (exited=%v code=%d after %v)\n", p.label, p.exited, p.code, p.took.Round(time.Millisecond))
	for i, e := range p.events {
		if i == 40 {
			fmt.Fprintf(&b, "  … %d more events\n", len(p.events)-40)
			break
		}
		j, _ := json.Marshal(e)
		fmt.Fprintf(&b, "  stdout: %s\n", j)
	}
	if s := p.stderr.String(); s != "" {
		fmt.Fprintf(&b, "  stderr: %s\n", tail(s))
	}
	return b.String()
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// receive starts `ferry receive --dir DIR --port PORT --accept ACCEPT` on the
// host (without --dir when dir is "", without --port when port < 0), waits
// for its listening event and returns it with the port.
func (h *host) receive(dir string, port int, accept string, extra ...string) (*proc, int) {
	h.lan.t.Helper()
	args := []string{"receive", "--accept", accept}
	if dir != "" {
		args = append(args, "--dir", dir)
	}
	if port >= 0 {
		args = append(args, "--port", strconv.Itoa(port))
	}
	p := h.start(nil, append(args, extra...)...)
	ev := p.waitEvent("listening", 15*time.Second)
	got := int(ev.num("port"))
	if got <= 0 || (port > 0 && got != port) {
		h.lan.t.Fatalf("listening event with port %d (asked for %d): %v", got, port, ev)
	}
	return p, got
}

// ---------------------------------------------------------------------------
// network counters and impairments

// counterShell is a shell inside a namespace that answers each line on its
// standard input with eth0's rx_bytes, read from sysfs without forking.
type counterShell struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func (c *counterShell) stop() {
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		c.cmd.Process.Kill()
	}
}

// rxBytes is what the host's eth0 has received so far, headers included
// (/sys/class/net/eth0/statistics/rx_bytes inside the namespace).
func (h *host) rxBytes() int64 {
	t := h.lan.t
	t.Helper()
	h.rxMu.Lock()
	defer h.rxMu.Unlock()
	if h.rx == nil {
		cmd := h.command("sh", "-c", `while read _; do read v </sys/class/net/eth0/statistics/rx_bytes; echo "$v"; done`)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start the rx_bytes reader: %v", err)
		}
		h.rx = &counterShell{cmd: cmd, in: in, out: bufio.NewReader(out)}
	}
	if _, err := io.WriteString(h.rx.in, "\n"); err != nil {
		t.Fatalf("rx_bytes reader: %v", err)
	}
	line, err := h.rx.out.ReadString('\n')
	if err != nil {
		t.Fatalf("rx_bytes reader: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		t.Fatalf("rx_bytes reader said %q", line)
	}
	return n
}

// waitRx polls the host's rx_bytes until n bytes arrived since base, and
// fails if running ends first or the timeout passes.
func (h *host) waitRx(base, n int64, timeout time.Duration, running *proc) int64 {
	t := h.lan.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		got := h.rxBytes() - base
		if got >= n {
			return got
		}
		if running.hasExited() {
			t.Fatalf("%s ended (code %d) after only %d of the %d bytes to wait for: too fast to interrupt",
				running.label, running.exitCode(), got, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %d received %d of %d bytes within %v", h.i, got, n, timeout)
		}
		<-tick.C
	}
}

var nftOnce sync.Once

// needNft makes sure nft exists, installing nftables if needed.
func needNft(t testing.TB) {
	t.Helper()
	nftOnce.Do(func() {
		if _, err := exec.LookPath("nft"); err == nil {
			return
		}
		out, err := exec.Command("apt-get", "install", "-y", "nftables").CombinedOutput()
		if err != nil {
			t.Logf("apt-get install nftables: %v: %s", err, tail(string(out)))
		}
	})
	if _, err := exec.LookPath("nft"); err != nil {
		testnet.CannotRun(t, "nft is missing and could not be installed")
	}
}

// lossy makes the host drop percent of the UDP packets it receives (this
// kernel has no netem), like lossy in the acceptance lib.sh, and returns a
// function that counts the UDP packets the rule saw and dropped (-1, -1 if
// it cannot). The rule sees packets as the stack has them: a sender's GSO
// batch crosses the veth as one packet, so call noGSO on the sending host
// to drop wire packets one by one.
func (h *host) lossy(percent int) (counts func() (seen, dropped int64)) {
	t := h.lan.t
	t.Helper()
	needNft(t)
	d, err := h.nh.DropUDP(t.Context(), "", percent)
	if err != nil {
		testnet.CannotRun(t, "nft on host %d: %v", h.i, err)
	}
	return func() (int64, int64) {
		seen, dropped, err := d.Counts(t.Context())
		if err != nil {
			return -1, -1
		}
		return seen, dropped
	}
}

// noGSO makes the host's eth0 segment UDP GSO batches in software before
// they leave it, so the LAN carries (and a lossy rule sees) single packets.
func (h *host) noGSO() {
	t := h.lan.t
	t.Helper()
	if err := h.nh.IP(t.Context(), "link", "set", "dev", "eth0", "gso_max_segs", "1"); err != nil {
		testnet.CannotRun(t, "%v", err)
	}
}

// shape limits what host i receives to rate (tc tbf on its switch port) and
// returns a function that lifts the limit.
func (h *host) shape(rate string) (lift func()) {
	t := h.lan.t
	t.Helper()
	if err := h.lan.sw.Shape(t.Context(), h.port, rate); err != nil {
		testnet.CannotRun(t, "%v", err)
	}
	return func() { h.lan.sw.Unshape(context.Background(), h.port) }
}

// tmpfs mounts a small tmpfs on a fresh folder, unmounted when the test
// ends. Mount before starting the receiver that uses it: a process started
// with ip netns exec gets a copy of the mount table.
func tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testnet.CannotRun(t, "mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if exec.Command("umount", dir).Run() != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// ---------------------------------------------------------------------------
// files

// writeRandom writes size pseudo-random bytes (seeded by seed) to path and
// returns their SHA-256.
func writeRandom(t testing.TB, path string, size int64, seed string) [32]byte {
	t.Helper()
	s := sha256.Sum256([]byte(seed))
	rng := mrand.NewChaCha8(s)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		rng.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// shared holds large source files made once and used by several tests.
var shared struct {
	mu    sync.Mutex
	files map[string]*sharedFile
}

type sharedFile struct {
	once sync.Once
	path string
	sum  [32]byte
	ok   bool
}

// sharedRandom returns a read-only random file of this size, made on first
// use, and its SHA-256.
func sharedRandom(t testing.TB, name string, size int64) (string, [32]byte) {
	t.Helper()
	shared.mu.Lock()
	if shared.files == nil {
		shared.files = map[string]*sharedFile{}
	}
	sf := shared.files[name]
	if sf == nil {
		sf = &sharedFile{path: filepath.Join(scratch, name)}
		shared.files[name] = sf
	}
	shared.mu.Unlock()
	sf.once.Do(func() {
		sf.sum = writeRandom(t, sf.path, size, name)
		sf.ok = true
	})
	if !sf.ok {
		t.Fatalf("making %s failed in another test", name)
	}
	return sf.path, sf.sum
}

func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// sameFile fails the test unless the file at got has the content whose
// SHA-256 is want.
func sameFile(t testing.TB, got string, want [32]byte) {
	t.Helper()
	if sum := fileSum(t, got); sum != want {
		t.Fatalf("%s differs from what was sent (sha256 %x, want %x)", got, sum[:8], want[:8])
	}
}

// leftovers lists the hidden partial and journal files ferry keeps under dir.
func leftovers(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".ferry-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// listDir names everything under dir, relative, sorted.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mbps is bytes over d in MB/s (10^6 bytes a second).
func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }

// median of durations (the mean of the two middle ones of an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// seedOf makes a per-test seed.
func seedOf(t testing.TB, s string) string { return t.Name() + "/" + s }
