//go:build linux

// Command bench is ferry's benchmark (`make bench`): it builds the real ferry
// binary and measures it against a bare quic-go copy of the same bytes, on
// loopback and, as root, across a veth pair between two network namespaces
// it creates (fbench-a 10.250.0.1/24, fbench-b 10.250.0.2/24) and deletes.
//
// Cases: (a) baseline, a bare quic-go stream copy, 1 and 4 connections;
// (b) ferry sending one large file; (c) ferry sending a folder of 4 KiB files;
// (d) 1 % UDP loss and 2 ms delay on the receiving host (nftables and
// NFQUEUE; see nfqdelay.go), ferry against the baseline (veth only, needs
// iptables-legacy); (e) peak RSS of the ferry and baseline processes; (f) cold start,
// from `ferry send` to the first data at the receiver: on veth `ferry send
// FILE` with the receiver found by discovery, on loopback (no multicast)
// `ferry send --to ADDR`; (w) a phone's browser uploading to `ferry receive
// --web` against curl (see web.go; needs root and Chromium). Each figure
// is a median over -runs runs; ferry and baseline runs alternate so drift
// hits both, after one uncounted warm-up copy. Every run's output is checked against its source. Other processes'
// CPU use during a run is measured and flagged (BUSY) in the table.
//
//	go run ./internal/bench [-runs 3] [-size 1GiB] [-small 10000] [-setups loopback,veth]
//	                        [-cases a,b,c,d,e,f,w] [-loss 1] [-delay 2ms] [-smallfs ext4|here]
//	                        [-quick] [-profile] [-out FILE]
//
// The bench binary also runs its own child processes: "quic-recv" and
// "quic-send" (the baseline), "nfq-delay" (the delay of case d) and
// "ferry-prof" (ferry with a CPU profile, for -profile only).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-lan/ferry/cli"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "quic-recv", "quic-send":
			os.Exit(roleMain(os.Args[1], os.Args[2:]))
		case "nfq-delay":
			os.Exit(nfqMain(os.Args[2:]))
		case "ferry-prof":
			os.Exit(ferryProf(os.Args[2:]))
		}
	}
	os.Exit(benchMain())
}

// ferryProf is ferry itself with a CPU profile written to $BENCH_CPUPROFILE.
func ferryProf(args []string) int {
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	return cli.Main(args, os.Stdin, os.Stdout, os.Stderr)
}

type config struct {
	runs      int
	size      int64 // (a), (b): the large file
	lossSize  int64 // (d)
	small     int   // (c): number of files
	smallSize int64
	lossPct   int
	delay     time.Duration // (d): added to the sender-to-receiver direction
	setups    []string
	cases     map[string]bool
	quick     bool
	profile   bool
	smallFS   string // (c) receives into: "ext4" (a fresh one, as root) or "here"
	out       string
	// (g): the swarm
	swarmN    int
	swarmSize int64
	swarmRate string
	// (w): the web page
	webSize int64
	webRate string
}

type bench struct {
	cfg                config
	root, tmp          string // module root; this run's scratch folder
	ferry, self        string // the built ferry; this program
	homeSend, homeRecv string
	big, lossy, small  *source
	cold               *source // (f) with discovery
	smallDst           string  // where case (c) receives: b.tmp or a fresh ext4
}

func benchMain() int {
	var cfg config
	var size, lossSize, smallSize, setups, cases string
	flag.IntVar(&cfg.runs, "runs", 3, "runs per figure (the median is reported)")
	flag.StringVar(&size, "size", "1GiB", "large file for cases a, b, e, f")
	flag.StringVar(&lossSize, "losssize", "256MiB", "file for case d")
	flag.IntVar(&cfg.small, "small", 10000, "number of small files for case c")
	flag.StringVar(&smallSize, "smallsize", "4KiB", "size of each small file")
	flag.IntVar(&cfg.lossPct, "loss", 1, "UDP loss in percent for case d")
	flag.DurationVar(&cfg.delay, "delay", 2*time.Millisecond, "delay added to the sender-to-receiver direction for case d, on the receiving host through NFQUEUE (veth only; needs iptables-legacy; 0: none)")
	flag.StringVar(&setups, "setups", "loopback,veth", "where to measure: loopback, veth (veth needs root)")
	flag.StringVar(&cases, "cases", "a,b,c,d,e,f,w", "cases to run (g, the swarm, on request: it takes a few minutes)")
	var swarmSize string
	flag.IntVar(&cfg.swarmN, "swarmreceivers", 5, "case g: receivers")
	flag.StringVar(&swarmSize, "swarmsize", "32MiB", "case g: the file")
	flag.StringVar(&cfg.swarmRate, "swarmrate", "20mbit", "case g: every host's uplink (tc tbf rate)")
	var webSize string
	flag.StringVar(&webSize, "websize", "1GiB", "case w: the file the phone uploads")
	flag.StringVar(&cfg.webRate, "webrate", "", "case w: cap the phone's link (tc tbf rate, e.g. 500mbit; default: unshaped veth)")
	flag.BoolVar(&cfg.quick, "quick", false, "tiny sizes and 1 run (smoke test); explicit flags still win")
	flag.BoolVar(&cfg.profile, "profile", false, "also make one CPU-profiled baseline and ferry run per setup (pprof files next to -out)")
	flag.StringVar(&cfg.smallFS, "smallfs", "ext4", "case c receives into: ext4 (a fresh ext4 in a loop file, as root; see internal/bench/fs.go) or here (next to the test data)")
	flag.StringVar(&cfg.out, "out", "", "JSON results (default bench-results/bench.json under the module root)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", flag.Arg(0))
		return 2
	}
	if cfg.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]string{"runs": "1", "size": "32MiB", "losssize": "16MiB", "small": "500", "websize": "32MiB"}
		for name, v := range quick {
			if !set[name] {
				flag.Set(name, v)
			}
		}
		size, lossSize = flag.Lookup("size").Value.String(), flag.Lookup("losssize").Value.String()
		webSize = flag.Lookup("websize").Value.String()
	}
	var err error
	for _, p := range []struct {
		s   string
		dst *int64
	}{{size, &cfg.size}, {lossSize, &cfg.lossSize}, {smallSize, &cfg.smallSize}, {swarmSize, &cfg.swarmSize}, {webSize, &cfg.webSize}} {
		if *p.dst, err = parseSize(p.s); err != nil || *p.dst <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad size %q\n", p.s)
			return 2
		}
	}
	cfg.setups = strings.Split(setups, ",")
	for _, s := range cfg.setups {
		if s != "loopback" && s != "veth" {
			fmt.Fprintf(os.Stderr, "bench: unknown setup %q\n", s)
			return 2
		}
	}
	cfg.cases = map[string]bool{}
	for _, c := range strings.Split(cases, ",") {
		if len(c) != 1 || (c[0] < 'a' || c[0] > 'g') && c != "w" {
			fmt.Fprintf(os.Stderr, "bench: unknown case %q\n", c)
			return 2
		}
		cfg.cases[c] = true
	}
	if cfg.smallFS != "ext4" && cfg.smallFS != "here" {
		fmt.Fprintf(os.Stderr, "bench: -smallfs is ext4 or here, not %q\n", cfg.smallFS)
		return 2
	}
	if cfg.runs < 1 || cfg.small < 1 || cfg.lossPct < 0 || cfg.lossPct > 100 || cfg.delay < 0 || cfg.delay > time.Second {
		fmt.Fprintln(os.Stderr, "bench: -runs and -small must be positive, -loss 0..100, -delay 0..1s")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	b := &bench{cfg: cfg}
	rep, err := b.run(ctx)
	if rep != nil {
		rep.print(os.Stdout)
		if ctx.Err() != nil {
			fmt.Println("\nINTERRUPTED: partial figures above; JSON not written")
		} else if werr := rep.write(b.cfg.out); werr != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", werr)
			err = errors.Join(err, werr)
		} else {
			fmt.Printf("\nJSON: %s\n", b.cfg.out)
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "bench: interrupted; child processes, namespaces and temporary files are cleaned up")
		return 130
	case err != nil:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	case rep.failed():
		fmt.Fprintln(os.Stderr, "bench: some runs failed (see errors above)")
		return 1
	}
	return 0
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// run prepares everything, measures each setup and always cleans up.
func (b *bench) run(ctx context.Context) (*report, error) {
	var err error
	if b.root, err = moduleRoot(ctx); err != nil {
		return nil, err
	}
	if b.cfg.out == "" {
		b.cfg.out = filepath.Join(b.root, "bench-results", "bench.json")
	}
	if b.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if b.tmp, err = scratchDir(b.root); err != nil {
		return nil, err
	}
	defer func() {
		os.RemoveAll(b.tmp)
		syncDir(filepath.Dir(b.tmp)) // see discard
	}()
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	rep := newReport(b)
	b.smallDst = b.tmp
	if b.cfg.cases["c"] {
		switch {
		case b.cfg.smallFS == "here":
			rep.Notes = append(rep.Notes, "case c received next to the test data (-smallfs here)")
		case os.Geteuid() != 0:
			rep.Notes = append(rep.Notes, "case c received next to the test data: a fresh ext4 (-smallfs ext4) needs root")
		default:
			// Every run's copy stays until the end (see discard), plus the
			// profiled one: 10,000 4 KiB files take 40 MiB and 10,000 inodes.
			copies := int64(b.cfg.runs+1) * int64(len(b.cfg.setups))
			inodes := copies*int64(b.cfg.small) + 1024
			size := max(256<<20, 2*copies*int64(b.cfg.small)*(max(b.cfg.smallSize, 4096)+256))
			mnt, umount, err := freshExt4(ctx, b.tmp, size, inodes)
			if err != nil {
				return rep, fmt.Errorf("case c: fresh ext4: %w (or run with -smallfs here)", err)
			}
			defer umount()
			b.smallDst = mnt
			rep.Notes = append(rep.Notes, "case c received into a fresh ext4 (mkfs defaults, journal on) in a loop file; -smallfs here uses the folder of the test data (see internal/bench/fs.go)")
		}
	}
	for _, name := range b.cfg.setups {
		if ctx.Err() != nil {
			break
		}
		s := loopbackSetup
		if name == "veth" {
			if os.Geteuid() != 0 {
				rep.Notes = append(rep.Notes, "veth setup skipped: needs root")
				continue
			}
			var down func()
			if s, down, err = vethUp(ctx); err != nil {
				return rep, err
			}
			defer down()
			fmt.Fprintf(os.Stderr, "veth: %s %s/24 (%s) <-> %s %s/24 (%s)\n", s.send.NS(), ipSend, ifSend, s.recv.NS(), ipRecv, ifRecv)
			rep.measure(ctx, b, s)
			down()
			continue
		}
		rep.measure(ctx, b, s)
	}
	if b.cfg.cases["g"] && ctx.Err() == nil {
		if os.Geteuid() != 0 {
			rep.Notes = append(rep.Notes, "case g skipped: needs root")
		} else {
			rep.Swarm = append(rep.Swarm, b.swarmCase(ctx))
		}
	}
	if b.cfg.cases["w"] && ctx.Err() == nil {
		if err := webReady(); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("case w skipped: %v", err))
		} else {
			fmt.Fprintf(os.Stderr, "[web] %s from Chromium in a phone namespace: page, curl and a bare PATCH loop alternating, %d run(s); then a resume\n", human(b.cfg.webSize), b.cfg.runs)
			rep.Web = append(rep.Web, b.webCase(ctx))
		}
	}
	rep.finish()
	return rep, nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run the bench inside the ferry module (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// scratchDir makes this run's temporary folder on a real disk: under
// $BENCH_DIR, else next to the module, else in the system's temp folder.
func scratchDir(root string) (string, error) {
	var errs []error
	for _, parent := range []string{os.Getenv("BENCH_DIR"), filepath.Dir(root), os.TempDir()} {
		if parent == "" {
			continue
		}
		d, err := os.MkdirTemp(parent, "ferry-bench-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var st unix.Statfs_t
		if unix.Statfs(d, &st) == nil && st.Type == unix.TMPFS_MAGIC {
			fmt.Fprintf(os.Stderr, "bench: warning: %s is on tmpfs; disk writes are not measured (set BENCH_DIR)\n", d)
		}
		return d, nil
	}
	return "", fmt.Errorf("no folder for test data: %w", errors.Join(errs...))
}

// prepare builds ferry, creates both device identities and the test data.
func (b *bench) prepare(ctx context.Context) error {
	c := b.cfg.cases
	needBig := c["a"] || c["b"] || c["e"] || c["f"]
	needLoss := c["d"] && slices.Contains(b.cfg.setups, "veth") && os.Geteuid() == 0
	need := int64(64 << 20)
	if needBig {
		need += 2 * b.cfg.size
	}
	if needLoss {
		need += 2 * b.cfg.lossSize
	}
	if c["c"] { // the source, and every run's copy (see discard)
		need += int64(1+b.cfg.runs*len(b.cfg.setups)) * int64(b.cfg.small) * max(b.cfg.smallSize, 4096)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(b.tmp, &st); err == nil && int64(st.Bavail)*st.Bsize < need {
		return fmt.Errorf("%s has %d MiB free, the bench needs %d MiB", b.tmp, int64(st.Bavail)*st.Bsize>>20, need>>20)
	}

	fmt.Fprintf(os.Stderr, "building ferry from %s\n", b.root)
	b.ferry = filepath.Join(b.tmp, "ferry")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.ferry, ".")
	build.Dir = b.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	b.homeSend, b.homeRecv = filepath.Join(b.tmp, "home-send"), filepath.Join(b.tmp, "home-recv")
	for _, h := range []string{b.homeSend, b.homeRecv} {
		if out, err := exec.CommandContext(ctx, b.ferry, "id", "--home", h, "--name", "bench").CombinedOutput(); err != nil {
			return fmt.Errorf("ferry id: %v: %s", err, out)
		}
	}

	src := filepath.Join(b.tmp, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	t := time.Now()
	var err error
	if needBig {
		if b.big, err = bigSource(filepath.Join(src, "big.bin"), b.cfg.size, 1); err != nil {
			return fmt.Errorf("make test data: %w", err)
		}
	}
	if needLoss {
		if b.lossy, err = bigSource(filepath.Join(src, "lossy.bin"), b.cfg.lossSize, 2); err != nil {
			return fmt.Errorf("make test data: %w", err)
		}
	}
	if c["f"] && slices.Contains(b.cfg.setups, "veth") && os.Geteuid() == 0 {
		if b.cold, err = bigSource(filepath.Join(src, "cold.bin"), 4<<20, 3); err != nil {
			return fmt.Errorf("make test data: %w", err)
		}
	}
	if c["c"] {
		if b.small, err = smallSource(filepath.Join(src, "small"), b.cfg.small, b.cfg.smallSize); err != nil {
			return fmt.Errorf("make test data: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "test data in %s (%.1f s)\n", src, time.Since(t).Seconds())
	return nil
}

// measure runs every selected case in one setup.
func (rep *report) measure(ctx context.Context, b *bench, s *setup) {
	c, runs := b.cfg.cases, b.cfg.runs
	got := map[string]*series{}
	// add(key)(r, err) records a run under key (not one cut short by Ctrl-C).
	add := func(key string) func(result, error) {
		if got[key] == nil {
			got[key] = &series{}
		}
		return func(r result, err error) {
			if ctx.Err() == nil {
				got[key].add(r, err)
			}
		}
	}
	if c["a"] || c["b"] || c["e"] || c["f"] {
		fmt.Fprintf(os.Stderr, "[%s] %s file, baseline and ferry alternating, %d run(s)\n", s.name, human(b.cfg.size), runs)
		b.warmUp(ctx, s, b.big)
		for i := 0; i < runs && ctx.Err() == nil; i++ {
			add("a1")(b.baselineRun(ctx, s, b.big, 1, ""))
			if c["b"] || c["e"] || c["f"] {
				add("b")(b.ferryRun(ctx, s, b.big, "", false))
			}
			if c["a"] {
				add("a4")(b.baselineRun(ctx, s, b.big, 4, ""))
			}
		}
	}
	if c["f"] && s.recv != nil && b.cold != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "[%s] cold start: `ferry send FILE` (4 MiB), the receiver found by discovery, %d run(s)\n", s.name, runs)
		for i := 0; i < runs && ctx.Err() == nil; i++ {
			add("f")(b.ferryRun(ctx, s, b.cold, "", true))
		}
	}
	if c["c"] && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "[%s] %d files of %s, %d run(s)\n", s.name, b.cfg.small, human(b.cfg.smallSize), runs)
		for i := 0; i < runs && ctx.Err() == nil; i++ {
			add("c")(b.ferryRun(ctx, s, b.small, "", false))
		}
	}
	if c["d"] && s.recv != nil && b.lossy != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "[%s] %s file with %d %% UDP loss and %v delay on the receiving host, %d run(s)\n", s.name, human(b.cfg.lossSize), b.cfg.lossPct, b.cfg.delay, runs)
		off, err := lossOn(ctx, s, b.cfg.lossPct)
		if err != nil {
			add("d1")(result{Kind: "loss setup"}, err)
		} else {
			undelay := func() float64 { return 0 }
			if b.cfg.delay > 0 {
				if undelay, err = b.delayOn(ctx, s, b.cfg.delay); err != nil {
					add("d1")(result{Kind: "delay setup"}, err)
				}
			}
			if err == nil {
				b.warmUp(ctx, s, b.lossy)
				for i := 0; i < runs && ctx.Err() == nil; i++ {
					add("d1")(b.baselineRun(ctx, s, b.lossy, 1, ""))
					add("d")(b.ferryRun(ctx, s, b.lossy, "", false))
					add("d4")(b.baselineRun(ctx, s, b.lossy, 4, ""))
				}
				if cpu := undelay(); cpu > 0 {
					rep.Notes = append(rep.Notes, fmt.Sprintf("case d: the delay (nfq-delay, internal/bench/nfqdelay.go) used %.1f CPU s over all of %s's runs of case d", cpu, s.name))
				}
			}
			off()
		}
	}
	if b.cfg.profile && ctx.Err() == nil {
		dir := filepath.Join(filepath.Dir(b.cfg.out), "prof")
		if err := os.MkdirAll(dir, 0o755); err == nil {
			fmt.Fprintf(os.Stderr, "[%s] profiled runs (not in the figures) -> %s\n", s.name, dir)
			var names []string
			if b.big != nil {
				b.warmUp(ctx, s, b.big)
				add("prof-baseline")(b.baselineRun(ctx, s, b.big, 1, filepath.Join(dir, s.name+"-baseline")))
				add("prof-ferry")(b.ferryRun(ctx, s, b.big, filepath.Join(dir, s.name+"-ferry"), false))
				names = append(names, "baseline", "ferry")
			}
			if b.small != nil {
				add("prof-ferry-small")(b.ferryRun(ctx, s, b.small, filepath.Join(dir, s.name+"-ferry-small"), false))
				names = append(names, "ferry-small")
			}
			rep.Notes = append(rep.Notes, fmt.Sprintf("CPU profiles: %s/%s-{%s}-{send,recv}.pprof (go tool pprof -top FILE)", dir, s.name, strings.Join(names, ",")))
		}
	}
	rep.addRows(b, s, got)
}

// warmUp makes one uncounted baseline copy of src, so that every counted
// run starts, like the ones after it, right after a run freed as much page
// cache as it will need: on a VM that hands freed memory back to its host,
// the first run after a pause would otherwise pay more for its page cache.
func (b *bench) warmUp(ctx context.Context, s *setup, src *source) {
	fmt.Fprintf(os.Stderr, "  (warm-up: one baseline copy, not counted)\n")
	if _, err := b.baselineRun(ctx, s, src, 1, ""); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "  warm-up run failed: %v\n", err)
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
