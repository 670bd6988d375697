package discovery

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
)

// TestHelperProcess is not a test: it is the program the end-to-end tests run
// inside a namespace. FDSC_ROLE selects what it does:
//
//	advertise  Advertise FDSC_NAME, FDSC_ID, FDSC_PORT, FDSC_FLAGS ("k=v,…") until
//	           SIGTERM or stdin closes; "flags k=v,…" on stdin calls SetFlags.
//	browse     Browse and report every event until SIGTERM or stdin closes.
//	list       List for FDSC_TIMEOUT and report the peers.
//	find       Find the peer whose ID is FDSC_WANT, within FDSC_TIMEOUT.
//	check      Try Advertise and Browse and report their errors.
//
// All roles take FDSC_IFACES ("eth0,eth1") for Options.Interfaces, and end
// with a "closed" report of the goroutine count before and after.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv("FDSC_ROLE")
	if role == "" {
		t.Skip("helper process for the end-to-end tests")
	}
	h := &helper{out: json.NewEncoder(os.Stdout), start: time.Now()}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.SetFlags(0)
	log.SetOutput(LibraryLogWriter(logger.With("host", os.Getenv("FDSC_NAME"))))
	opts := Options{Logger: logger}
	if s := os.Getenv("FDSC_IFACES"); s != "" {
		opts.Interfaces = strings.Split(s, ",")
	}
	before, _ := packageGoroutines()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	lines := make(chan string)
	go func() { // ends when stdin closes, which the parent does at the end or by dying
		defer close(stdinClosed)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	go func() {
		select {
		case <-stdinClosed:
			stop()
		case <-ctx.Done():
		}
	}()

	switch role {
	case "advertise":
		h.advertise(ctx, opts, lines)
	case "browse":
		h.browse(ctx, opts)
	case "list":
		d, _ := time.ParseDuration(os.Getenv("FDSC_TIMEOUT"))
		peers, err := List(ctx, d, opts)
		h.say(helperMsg{Ev: "peers", Peers: peers, Err: errText(err)})
	case "find":
		d, _ := time.ParseDuration(os.Getenv("FDSC_TIMEOUT"))
		fctx, cancel := context.WithTimeout(ctx, d)
		p, err := Find(fctx, opts, func(p Peer) bool { return p.ID.String() == os.Getenv("FDSC_WANT") })
		cancel()
		h.say(helperMsg{Ev: "peers", Peers: []Peer{p}, Err: errText(err)})
	case "check":
		var m helperMsg
		m.Ev = "check"
		a, err := Advertise(ctx, Service{Name: "check", ID: identity.IDFromSPKI([]byte("check")), Port: 1}, opts)
		if err == nil {
			a.Close()
		}
		m.AdvErr = errText(err)
		b, err := Browse(ctx, opts)
		if err == nil {
			b.Close()
		}
		m.BrowseErr = errText(err)
		h.say(m)
	default:
		h.say(helperMsg{Ev: "error", Err: "unknown role " + role})
		os.Exit(2)
	}
	stop()
	h.closed(before)
	os.Exit(0) // before the testing package prints anything
}

type helper struct {
	mu    sync.Mutex
	out   *json.Encoder
	start time.Time
}

func (h *helper) say(m helperMsg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.T == 0 {
		m.T = float64(time.Since(h.start).Microseconds()) / 1000
	}
	_ = h.out.Encode(m)
}

// closed waits until no goroutine of this package or of the mDNS library is
// left, and reports how many there were before and after. The library's probe
// goroutine outlives Server.Shutdown by up to 3.5 s (it finishes its sleeps,
// sending nothing), so the wait is long.
func (h *helper) closed(before int) {
	deadline := time.Now().Add(6 * time.Second)
	after, stacks := packageGoroutines()
	for after > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after, stacks = packageGoroutines()
	}
	if after > 0 {
		fmt.Fprintf(os.Stderr, "goroutines left:\n%s\n", stacks)
	}
	h.say(helperMsg{Ev: "closed", Before: before, After: after})
}

// packageGoroutines counts the goroutines running code of this package
// (the helper's own excepted) or of the mDNS libraries.
func packageGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var n int
	var b strings.Builder
	for _, g := range strings.Split(string(buf), "\n\n") {
		own := strings.Contains(g, "ferry/discovery.") || strings.Contains(g, "grandcat/zeroconf") ||
			strings.Contains(g, "miekg/dns")
		if own && !strings.Contains(g, "TestHelperProcess") && !strings.Contains(g, "discovery.(*helper)") &&
			!strings.Contains(g, "discovery.TestMain") {
			n++
			b.WriteString(g + "\n\n")
		}
	}
	return n, b.String()
}

func (h *helper) advertise(ctx context.Context, opts Options, lines <-chan string) {
	id, err := identity.ParseDeviceID(os.Getenv("FDSC_ID"))
	if err != nil {
		h.say(helperMsg{Ev: "error", Err: err.Error()})
		os.Exit(2)
	}
	var port int
	fmt.Sscan(os.Getenv("FDSC_PORT"), &port)
	svc := Service{Name: os.Getenv("FDSC_NAME"), ID: id, Port: port, Flags: parseFlags(os.Getenv("FDSC_FLAGS"))}
	a, err := Advertise(ctx, svc, opts)
	if err != nil {
		h.say(helperMsg{Ev: "error", Err: err.Error()})
		return
	}
	h.say(helperMsg{Ev: "ready", Instance: a.Instance()})
	for {
		select {
		case <-ctx.Done():
			if err := a.Close(); err != nil {
				h.say(helperMsg{Ev: "error", Err: err.Error()})
			}
			return
		case line := <-lines:
			if f, ok := strings.CutPrefix(line, "flags "); ok {
				err := a.SetFlags(ctx, parseFlags(f))
				h.say(helperMsg{Ev: "flags", Err: errText(err)})
			}
		}
	}
}

func parseFlags(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := make(map[string]string)
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func (h *helper) browse(ctx context.Context, opts Options) {
	b, err := Browse(ctx, opts)
	if err != nil {
		h.say(helperMsg{Ev: "error", Err: err.Error()})
		return
	}
	h.say(helperMsg{Ev: "ready"})
	for ev := range b.Events() { // closed when ctx ends
		h.say(helperMsg{Ev: ev.Type.String(), Peer: &ev.Peer})
	}
	if err := b.Close(); err != nil {
		h.say(helperMsg{Ev: "error", Err: err.Error()})
	}
}
