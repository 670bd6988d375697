package doctor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Status is the outcome of one check.
type Status int

const (
	OK Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return "OK"
}

// MarshalText spells the status as the text output does.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// A Check is one line of the report: what was looked at, what was found,
// and for WARN and FAIL the command or setting that fixes it.
type Check struct {
	Area   string `json:"check"`  // "interface", "multicast", "port", "buffers", "firewall", "route", "peer", …
	Status Status `json:"status"` // OK, WARN or FAIL
	Detail string `json:"detail"` // what was found, one sentence
	Fix    string `json:"fix,omitempty"`
	order  int    // where the line goes in the report
}

// Report is every check, in a stable order.
type Report struct {
	Checks []Check
}

// Worst is the worst status of the report.
func (r Report) Worst() Status {
	w := OK
	for _, c := range r.Checks {
		w = max(w, c.Status)
	}
	return w
}

// Count returns how many checks have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Options configures Run.
type Options struct {
	// Port is ferry's UDP port (transfer.DefaultPort).
	Port int
	// Peer, if set, is the other computer of a two-sided test (a name as
	// `ferry peers` shows it, a device ID prefix, or an address), which
	// runs `ferry doctor --listen`.
	Peer string
	// Root says whether the process may read the firewall ruleset.
	Root bool
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Listening says that this process holds Port (doctor --listen).
	Listening bool
	// Budget bounds the whole run: 4 s, or 8 s with Peer (the default).
	Budget time.Duration
}

// Run performs every check and returns the report. It takes at most
// Options.Budget; checks that cannot finish in time say so.
func Run(ctx context.Context, opts Options) Report {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Budget == 0 {
		opts.Budget = 4 * time.Second
		if opts.Peer != "" {
			opts.Budget = 8 * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Budget)
	defer cancel()

	var (
		mu     sync.Mutex
		checks []Check
	)
	add := func(order int, cs ...Check) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			c.order = order
			checks = append(checks, c)
		}
	}
	ifs := readInterfaces()
	add(0, interfaceChecks(ifs)...)
	add(1, defaultRouteChecks(ifs)...)
	if opts.Listening {
		add(3, okf("port", "UDP port %d: held by this doctor --listen", opts.Port))
	} else {
		add(3, portCheck(opts.Port))
	}
	add(4, bufferChecks()...)
	add(5, firewallChecks(ctx, opts.Port, opts.Root)...)

	var g errgroup.Group
	g.Go(func() error {
		add(2, multicastChecks(ctx, ifs, opts.Logger)...)
		return nil
	})
	if opts.Peer != "" {
		g.Go(func() error {
			add(6, peerChecks(ctx, opts, ifs)...)
			return nil
		})
	}
	g.Wait()
	slices.SortStableFunc(checks, func(a, b Check) int { return a.order - b.order })
	return Report{Checks: checks}
}

func okf(area, format string, args ...any) Check {
	return Check{Area: area, Status: OK, Detail: fmt.Sprintf(format, args...)}
}

func warnf(area, fix, format string, args ...any) Check {
	return Check{Area: area, Status: Warn, Detail: fmt.Sprintf(format, args...), Fix: fix}
}

func failf(area, fix, format string, args ...any) Check {
	return Check{Area: area, Status: Fail, Detail: fmt.Sprintf(format, args...), Fix: fix}
}
