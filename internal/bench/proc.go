//go:build linux

package main

// Child processes: started in their own process group (the bench, not the
// terminal, decides when they stop), their newline-delimited JSON events
// timestamped as they arrive, always waited for.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type event struct {
	at     time.Time
	fields map[string]any
}

func (e event) num(key string) float64 {
	f, _ := e.fields[key].(float64)
	return f
}

type proc struct {
	name  string
	cmd   *exec.Cmd
	start time.Time
	end   time.Time // when it exited (valid after done)
	err   error     // from Wait (valid after done)
	done  chan struct{}

	mu      sync.Mutex
	first   map[string]event // the first event of each kind
	changed chan struct{}    // a new kind of event arrived
	partial []byte           // stdout after the last newline
	stderr  []byte           // the last few KiB of stderr

	parentHWM int64        // the bench's own peak RSS (KiB) when it started the child
	hwm       atomic.Int64 // the child's VmHWM (KiB), polled
}

// startProc starts cmd, which must come from exec.CommandContext: cancelling
// that context sends SIGTERM, and SIGKILL 5 s later.
func startProc(name string, cmd *exec.Cmd, env ...string) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), first: map[string]event{}, changed: make(chan struct{}, 1)}
	cmd.Stdout = writerFunc(p.stdout)
	cmd.Stderr = writerFunc(p.errOut)
	cmd.Env = append(childEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	p.parentHWM = vmHWM("self")
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.end = time.Now()
		close(p.done)
	}()
	go p.pollHWM()
	return p, nil
}

// procGroup owns the processes of one run: end cancels the run's context,
// which stops them (see startProc), and waits until every one has exited.
type procGroup struct {
	cancel context.CancelFunc
	procs  []*proc
}

// newProcGroup returns a group and the context, limited to limit, for the
// commands of its processes.
func newProcGroup(ctx context.Context, limit time.Duration) (context.Context, *procGroup) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	return ctx, &procGroup{cancel: cancel}
}

// start is startProc for a process that the group owns.
func (g *procGroup) start(name string, cmd *exec.Cmd, env ...string) (*proc, error) {
	p, err := startProc(name, cmd, env...)
	if err == nil {
		g.procs = append(g.procs, p)
	}
	return p, err
}

// end stops the group's processes and waits for them.
func (g *procGroup) end() {
	g.cancel()
	for _, p := range g.procs {
		<-p.done
	}
}

// pollHWM samples the child's peak RSS until it exits; see usage.
func (p *proc) pollHWM() {
	pid := strconv.Itoa(p.cmd.Process.Pid)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if v := vmHWM(pid); v > p.hwm.Load() {
			p.hwm.Store(v)
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// vmHWM reads the peak resident set size (KiB) of /proc/<pid>, 0 if unknown.
func vmHWM(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(line)), " kB"), 10, 64)
	return v
}

// childEnv is the bench's environment without anything that would turn GSO off.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QUIC_GO_DISABLE_GSO=") {
			env = append(env, kv)
		}
	}
	return env
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (p *proc) stdout(b []byte) (int, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		// Only the first event of each kind is kept: skip decoding the
		// rest (10,000 file events would cost the bench, and so the
		// machine, about as much CPU as the receiver's own work on them).
		if kind, ok := eventKind(p.partial[:i]); ok {
			if _, seen := p.first[kind]; seen {
				p.partial = p.partial[i+1:]
				continue
			}
		}
		var m map[string]any
		if json.Unmarshal(p.partial[:i], &m) == nil {
			if kind, ok := m["event"].(string); ok {
				if _, seen := p.first[kind]; !seen {
					p.first[kind] = event{at: now, fields: m}
					select {
					case p.changed <- struct{}{}:
					default:
					}
				}
			}
		}
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

// eventKind finds the "event" member of a JSON line without decoding it.
func eventKind(line []byte) (string, bool) {
	const key = `"event":"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return "", false
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

func (p *proc) errOut(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stderr = append(p.stderr, b...)
	if n := len(p.stderr); n > 4096 {
		p.stderr = append(p.stderr[:0], p.stderr[n-4096:]...)
	}
	return len(b), nil
}

// event returns the first event of a kind, if it has arrived.
func (p *proc) event(kind string) (event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.first[kind]
	return e, ok
}

// waitEvent waits for the first event of a kind.
func (p *proc) waitEvent(ctx context.Context, kind string, timeout time.Duration) (event, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if e, ok := p.event(kind); ok {
			return e, nil
		}
		select {
		case <-p.changed:
		case <-p.done:
			if e, ok := p.event(kind); ok {
				return e, nil
			}
			return event{}, fmt.Errorf("%s exited before %q: %v%s", p.name, kind, p.err, p.stderrTail())
		case <-t.C:
			return event{}, fmt.Errorf("%s: no %q event within %v%s", p.name, kind, timeout, p.stderrTail())
		case <-ctx.Done():
			return event{}, ctx.Err()
		}
	}
}

// wait waits for the process to exit and reports a non-zero exit.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		<-p.done // the context's cancel stops it
		return fmt.Errorf("%s: %w", p.name, ctx.Err())
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v%s", p.name, p.err, p.stderrTail())
	}
	return nil
}

func (p *proc) stderrTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := strings.TrimSpace(string(p.stderr))
	if s == "" {
		return ""
	}
	return " (stderr: " + s + ")"
}

// stopProc ends a child early (SIGTERM, then SIGKILL after 5 s) and reaps it.
func stopProc(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// usage is the exited process's peak RSS in KiB, CPU seconds (user+system)
// and system seconds.
//
// Rusage.Maxrss alone is not the child's peak: Go starts children with
// vfork (CLONE_VM), and the kernel's exec folds the peak RSS of the address
// space it leaves, the bench's own, into the child's maxrss. (A Go program
// with a 200 MiB heap sees /bin/true's Maxrss as 203 MiB.) So Maxrss counts
// only when it exceeds the bench's peak at the child's start; otherwise the
// child's VmHWM, polled every 10 ms, is used (growth in its last 10 ms could
// be missed).
func (p *proc) usage() (rssKiB int64, cpu, sys float64) {
	st := p.cmd.ProcessState
	if st == nil {
		return 0, 0, 0
	}
	rssKiB = p.hwm.Load()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > p.parentHWM+1024 {
		rssKiB = ru.Maxrss // KiB on Linux
	}
	return rssKiB, (st.UserTime() + st.SystemTime()).Seconds(), st.SystemTime().Seconds()
}

// othersProbe estimates how much CPU other processes on the machine used
// during a run: the machine's user time (/proc/stat) minus that of the bench
// and of the run's children. (User time only: the kernel's softirq work for
// the run's own packets would otherwise count as someone else's.)
type othersProbe struct {
	at         time.Time
	user, self float64
}

func startOthers() othersProbe {
	return othersProbe{at: time.Now(), user: machineUser(), self: selfUser()}
}

// cores is the other processes' average use, in cores, since start.
func (o othersProbe) cores(children ...*proc) float64 {
	used := machineUser() - o.user - (selfUser() - o.self)
	for _, p := range children {
		if st := p.cmd.ProcessState; st != nil {
			used -= st.UserTime().Seconds()
		}
	}
	return max(0, used/time.Since(o.at).Seconds())
}

// machineUser is the user and nice time of all CPUs, in seconds.
func machineUser() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 3 || f[0] != "cpu" {
		return 0
	}
	user, _ := strconv.ParseFloat(f[1], 64)
	nice, _ := strconv.ParseFloat(f[2], 64)
	return (user + nice) / 100 // USER_HZ
}

func selfUser() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()).Seconds()
}
