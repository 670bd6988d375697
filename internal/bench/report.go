//go:build linux

package main

// The figures: runs grouped into series, medians, the table and the JSON.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// series is the runs of one kind in one setup.
type series struct {
	Runs   []result `json:"runs"`
	Errors []string `json:"errors,omitempty"`
}

func (s *series) add(r result, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "  %s failed: %v\n", r.Kind, err)
		s.Errors = append(s.Errors, err.Error())
		return
	}
	fmt.Fprintf(os.Stderr, "  %-10s %8.1f MB/s  %6.2f s  RSS %5.1f/%5.1f MiB  CPU %5.2f/%5.2f s",
		r.Kind, r.MBps, r.Secs, mib(r.RSSSendKiB), mib(r.RSSRecvKiB), r.CPUSend, r.CPURecv)
	if r.Files > 1 {
		fmt.Fprintf(os.Stderr, "  %.0f files/s", r.FilesPerS)
	}
	if r.FirstDataSecs > 0 {
		fmt.Fprintf(os.Stderr, "  first data %.3f s", r.FirstDataSecs)
	}
	if r.PacketsSent > 0 {
		fmt.Fprintf(os.Stderr, "  lost %d/%d pkts", r.PacketsLost, r.PacketsSent)
	}
	if r.MinRTTms > 0 {
		fmt.Fprintf(os.Stderr, "  RTT min %.2f smoothed %.2f ms", r.MinRTTms, r.SRTTms)
	}
	if r.OthersCores >= 0.1 {
		fmt.Fprintf(os.Stderr, "  [others used %.1f cores]", r.OthersCores)
	}
	fmt.Fprintln(os.Stderr)
	s.Runs = append(s.Runs, r)
}

func (s *series) ok() bool { return s != nil && len(s.Runs) > 0 }

// med is the median of f over the successful runs (0 if none).
func (s *series) med(f func(result) float64) float64 {
	if !s.ok() {
		return 0
	}
	v := make([]float64, len(s.Runs))
	for i, r := range s.Runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func (s *series) min(f func(result) float64) float64 {
	if !s.ok() {
		return 0
	}
	m := f(s.Runs[0])
	for _, r := range s.Runs {
		m = min(m, f(r))
	}
	return m
}

// pairRatio is the median over i of ferry run i / baseline run i: the runs
// alternate, so each pair saw about the same machine.
func pairRatio(ferry, base *series) float64 {
	if !ferry.ok() || !base.ok() || len(ferry.Runs) != len(base.Runs) {
		return 0
	}
	s := &series{}
	for i := range ferry.Runs {
		s.Runs = append(s.Runs, result{MBps: ferry.Runs[i].MBps / base.Runs[i].MBps})
	}
	return s.med(mbps)
}

func (s *series) max(f func(result) float64) float64 {
	m := 0.0
	if s != nil {
		for _, r := range s.Runs {
			m = max(m, f(r))
		}
	}
	return m
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// report is what the bench prints and writes as JSON.
type report struct {
	Started   time.Time  `json:"started"`
	Secs      float64    `json:"secs"`
	Host      hostInfo   `json:"host"`
	Commit    string     `json:"commit"`
	Config    any        `json:"config"`
	LoadStart string     `json:"loadavg_start"`
	LoadEnd   string     `json:"loadavg_end"`
	Rows      []row      `json:"rows"`
	Swarm     []swarmRow `json:"swarm,omitempty"`
	Web       []webRow   `json:"web,omitempty"`
	Notes     []string   `json:"notes,omitempty"`
}

type hostInfo struct {
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
	CPUs   int    `json:"cpus"`
	Root   bool   `json:"root"`
}

type row struct {
	Case      string             `json:"case"`
	Setup     string             `json:"setup"`
	What      string             `json:"what"`
	BaseMBps  float64            `json:"baseline_mb_per_s,omitempty"`
	BaseRange [2]float64         `json:"baseline_mb_per_s_range"` // min, max
	FerryMBps float64            `json:"ferry_mb_per_s,omitempty"`
	FerryRng  [2]float64         `json:"ferry_mb_per_s_range"`
	Ratio     float64            `json:"ratio,omitempty"`      // ferry / baseline, medians
	PairRatio float64            `json:"pair_ratio,omitempty"` // median of ferry / baseline of the runs made one after the other
	FilesPerS float64            `json:"files_per_s,omitempty"`
	RSSSend   float64            `json:"rss_send_mib,omitempty"`
	RSSRecv   float64            `json:"rss_recv_mib,omitempty"`
	CPUSend   float64            `json:"cpu_send_s_per_gb,omitempty"` // user+system seconds per 10^9 bytes
	CPURecv   float64            `json:"cpu_recv_s_per_gb,omitempty"`
	ColdSecs  float64            `json:"cold_start_s,omitempty"`
	Target    string             `json:"target,omitempty"`
	Meets     string             `json:"meets,omitempty"`
	Notes     string             `json:"notes,omitempty"`
	Series    map[string]*series `json:"series,omitempty"`
}

func newReport(b *bench) *report {
	rep := &report{Started: time.Now(), LoadStart: loadavg()}
	rep.Host = hostInfo{Go: runtime.Version(), CPUs: runtime.NumCPU(), Root: os.Geteuid() == 0}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		rep.Host.Kernel = strings.TrimSpace(string(k))
	}
	if out, err := exec.Command("git", "-C", b.root, "describe", "--always", "--dirty").Output(); err == nil {
		rep.Commit = strings.TrimSpace(string(out))
	}
	cases := []string{}
	for c := range b.cfg.cases {
		cases = append(cases, c)
	}
	slices.Sort(cases)
	rep.Config = map[string]any{"runs": b.cfg.runs, "size": b.cfg.size, "loss_size": b.cfg.lossSize, "small": b.cfg.small,
		"small_size": b.cfg.smallSize, "loss_percent": b.cfg.lossPct, "setups": b.cfg.setups, "cases": cases, "quick": b.cfg.quick}
	rep.Notes = append(rep.Notes,
		"MB/s = 10^6 bytes/s. Baseline: bare quic-go (defaults, GSO on, TLS 1.3, Ed25519 self-signed certs both sides), one stream per connection, timed from the sender's start to the receiver's last byte written (no fsync). "+
			"ferry: timed from `ferry send` start until sender and receiver (--once) both exited 0 (includes its hashing, journal, fsync and rename); every run's output is checked (size + BLAKE3).",
		"cold start (f): from the start of `ferry send FILE` (veth: the receiver found by discovery) or `ferry send --to ADDR FILE` (loopback) to the first data at the receiver = its interface's rx_bytes 64 KiB above their value when the sender printed \"accepted\"; on loopback the counter is shared with the host.")
	if order, err := os.ReadFile("/sys/module/page_reporting/parameters/page_reporting_order"); err == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("this VM reports freed memory to its host (page_reporting, order %s): the first touch of memory freed a few seconds earlier "+
			"costs about 3 s of system time per GiB, paid by each receiver's page cache (ferry and baseline alike); it adds run-to-run noise", strings.TrimSpace(string(order))))
	}
	return rep
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func (rep *report) finish() {
	rep.Secs = time.Since(rep.Started).Seconds()
	rep.LoadEnd = loadavg()
}

func (rep *report) failed() bool {
	for _, r := range rep.Swarm {
		if r.Err != "" {
			return true
		}
	}
	for _, r := range rep.Web {
		if r.Err != "" {
			return true
		}
	}
	for _, r := range rep.Rows {
		for _, s := range r.Series {
			if len(s.Errors) > 0 {
				return true
			}
		}
	}
	return false
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

var (
	mbps     = func(r result) float64 { return r.MBps }
	filesPS  = func(r result) float64 { return r.FilesPerS }
	rssSend  = func(r result) float64 { return mib(r.RSSSendKiB) }
	rssRecv  = func(r result) float64 { return mib(r.RSSRecvKiB) }
	cpuSend  = func(r result) float64 { return r.CPUSend / (float64(r.Bytes) / 1e9) }
	cpuRecv  = func(r result) float64 { return r.CPURecv / (float64(r.Bytes) / 1e9) }
	lost     = func(r result) float64 { return float64(r.PacketsLost) }
	firstB   = func(r result) float64 { return r.FirstDataSecs }
	accepted = func(r result) float64 { return r.AcceptedSecs }
)

// throughput fills a row's figures from one series.
func throughput(r row, s *series) row {
	if !s.ok() {
		return r
	}
	r.RSSSend, r.RSSRecv = s.med(rssSend), s.med(rssRecv)
	r.CPUSend, r.CPURecv = s.med(cpuSend), s.med(cpuRecv)
	return r
}

// versus fills in how ferry's series compares with the baseline's: their
// medians and ranges, the pair ratio and, if both have runs, the ratio of
// the medians; it reports whether both have.
func (r *row) versus(ferry, base *series) bool {
	r.BaseMBps, r.FerryMBps = base.med(mbps), ferry.med(mbps)
	r.BaseRange, r.FerryRng = span(base), span(ferry)
	r.PairRatio = pairRatio(ferry, base)
	if !ferry.ok() || !base.ok() {
		return false
	}
	r.Ratio = r.FerryMBps / r.BaseMBps
	return true
}

func (rep *report) addRows(b *bench, s *setup, got map[string]*series) {
	c := b.cfg.cases
	failed := func(ss ...*series) string {
		var n []string
		for _, x := range ss {
			if x != nil && len(x.Errors) > 0 {
				n = append(n, fmt.Sprintf("%d run(s) FAILED: %s", len(x.Errors), x.Errors[0]))
			}
		}
		return strings.Join(n, "; ")
	}
	a1, a4, fb := got["a1"], got["a4"], got["b"]
	if c["a"] || c["b"] || c["e"] || c["f"] {
		r := throughput(row{Case: "a", Setup: s.name, What: "baseline quic-go, 1 conn, " + human(b.cfg.size), Series: map[string]*series{"baseline-1": a1}}, a1)
		r.BaseMBps, r.BaseRange = a1.med(mbps), span(a1)
		r.Notes = strings.Join(nonEmpty(lostNote(a1), failed(a1)), "; ")
		rep.Rows = append(rep.Rows, r)
	}
	if c["a"] {
		r := throughput(row{Case: "a", Setup: s.name, What: "baseline quic-go, 4 conns (reference)", Series: map[string]*series{"baseline-4": a4}}, a4)
		r.BaseMBps, r.BaseRange = a4.med(mbps), span(a4)
		r.Notes = strings.Join(nonEmpty(lostNote(a4), failed(a4)), "; ")
		rep.Rows = append(rep.Rows, r)
	}
	if c["b"] {
		r := throughput(row{Case: "b", Setup: s.name, What: "ferry, 1 file of " + human(b.cfg.size), Series: map[string]*series{"ferry": fb}}, fb)
		r.Target = ">=0.9x / >=1.0x"
		if r.versus(fb, a1) {
			r.Meets = "#2 " + yesNo(r.Ratio >= 0.9) + ", #5 " + yesNo(r.Ratio >= 1.0)
		}
		r.Notes = failed(fb)
		rep.Rows = append(rep.Rows, r)
	}
	if fc := got["c"]; c["c"] {
		r := throughput(row{Case: "c", Setup: s.name, What: fmt.Sprintf("ferry, %d files of %s", b.cfg.small, human(b.cfg.smallSize)), Series: map[string]*series{"ferry": fc}}, fc)
		r.FerryMBps, r.FerryRng, r.FilesPerS = fc.med(mbps), span(fc), fc.med(filesPS)
		r.Target = ">=2000 / >=5000 files/s"
		if fc.ok() {
			r.Meets = "#2 " + yesNo(r.FilesPerS >= 2000) + ", #5 " + yesNo(r.FilesPerS >= 5000)
		}
		r.Notes = failed(fc)
		rep.Rows = append(rep.Rows, r)
	}
	if c["d"] {
		d1, fd, d4 := got["d1"], got["d"], got["d4"]
		r := row{Case: "d", Setup: s.name, What: fmt.Sprintf("%d %% UDP loss, %v delay, %s", b.cfg.lossPct, b.cfg.delay, human(b.cfg.lossSize))}
		switch {
		case s.recv == nil:
			r.Notes = "veth only (the loss is on the receiving host's namespace)"
		default:
			r = throughput(r, fd)
			r.Series = map[string]*series{"baseline-1": d1, "ferry": fd, "baseline-4": d4}
			r.Target = "#5: >=3.0x"
			if r.versus(fd, d1) {
				r.Meets = "#5 " + yesNo(r.Ratio >= 3)
			}
			var ref string
			if d1.ok() && d4.ok() {
				ref = fmt.Sprintf("baseline 4 conns %.1f MB/s (%.1fx)", d4.med(mbps), d4.med(mbps)/d1.med(mbps))
			}
			r.Notes = strings.Join(nonEmpty(ref, lostNote(d1), failed(d1, fd, d4)), "; ")
		}
		rep.Rows = append(rep.Rows, r)
	}
	if c["e"] {
		r := row{Case: "e", Setup: s.name, What: "peak RSS, max over ferry runs"}
		for _, k := range []string{"b", "c", "d"} {
			r.RSSSend, r.RSSRecv = max(r.RSSSend, got[k].max(rssSend)), max(r.RSSRecv, got[k].max(rssRecv))
		}
		r.Target = "<100 / <=64 MiB"
		if r.RSSSend > 0 {
			worst := max(r.RSSSend, r.RSSRecv)
			r.Meets = "#2 " + yesNo(worst < 100) + ", #5 " + yesNo(worst <= 64)
		}
		if a1.ok() {
			r.Notes = fmt.Sprintf("baseline 1 conn %.1f/%.1f MiB", a1.med(rssSend), a1.med(rssRecv))
			if a4.ok() {
				r.Notes += fmt.Sprintf(", 4 conns %.1f/%.1f MiB", a4.med(rssSend), a4.med(rssRecv))
			}
			r.Notes += " (medians)"
		}
		rep.Rows = append(rep.Rows, r)
	}
	if c["f"] {
		what, fs := "cold start to first data (--to ADDR; no multicast on loopback)", fb
		if ff := got["f"]; ff != nil {
			what, fs = "cold start to first data (ferry send FILE, discovery included)", ff
		}
		r := row{Case: "f", Setup: s.name, What: what}
		if fs != nil {
			r.Series = map[string]*series{"ferry": fs}
		}
		r.ColdSecs = fs.med(firstB)
		r.Target = "#5: <=1 s"
		if fs.ok() {
			r.Meets = "#5 " + yesNo(r.ColdSecs > 0 && r.ColdSecs <= 1)
		}
		if fs.ok() && a1.ok() {
			r.Notes = fmt.Sprintf("ferry \"accepted\" at %.3f s; baseline first byte %.3f s (medians)", fs.med(accepted), a1.med(firstB))
		}
		rep.Rows = append(rep.Rows, r)
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Setup != s.name {
			continue
		}
		busy := 0.0
		for _, x := range r.Series {
			busy = max(busy, x.max(func(r result) float64 { return r.OthersCores }))
		}
		if busy >= 0.25 {
			r.Notes = strings.Join(nonEmpty(r.Notes, fmt.Sprintf("BUSY: other processes used up to %.1f cores", busy)), "; ")
		}
	}
	for _, k := range []string{"prof-baseline", "prof-ferry", "prof-ferry-small"} {
		if p := got[k]; p != nil {
			r := throughput(row{Case: "-", Setup: s.name, What: k + " (profiled, not a figure)", Series: map[string]*series{k: p}}, p)
			if k == "prof-baseline" {
				r.BaseMBps = p.med(mbps)
			} else {
				r.FerryMBps = p.med(mbps)
				if k == "prof-ferry-small" {
					r.FilesPerS = p.med(filesPS)
				}
			}
			rep.Rows = append(rep.Rows, r)
		}
	}
}

func span(s *series) [2]float64 { return [2]float64{s.min(mbps), s.max(mbps)} }

func lostNote(s *series) string {
	if !s.ok() {
		return ""
	}
	return fmt.Sprintf("baseline lost pkts %.0f", s.med(lost))
}

func nonEmpty(s ...string) []string {
	return slices.DeleteFunc(s, func(x string) bool { return x == "" })
}

func (rep *report) print(w *os.File) {
	fmt.Fprintf(w, "\nferry bench  %s  commit %s  %s, %d CPUs, kernel %s  load %s -> %s  (%.0f s)\n",
		rep.Started.Format(time.DateTime), rep.Commit, rep.Host.Go, rep.Host.CPUs, rep.Host.Kernel, rep.LoadStart, rep.LoadEnd, rep.Secs)
	fmt.Fprintln(w, "targets: issue #2: ferry >= 0.9x 1-conn baseline, RSS < 100 MiB, >= 2,000 files/s;"+
		" issue #5: >= 1.0x, >= 5,000 files/s, 1 % loss >= 3x baseline-under-loss, RSS <= 64 MiB, cold start <= 1 s")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(rep.Rows) == 0 { // only cases printed below (g, w)
		tw = tabwriter.NewWriter(io.Discard, 0, 0, 2, ' ', 0)
	}
	fmt.Fprintln(tw, "case\tsetup\twhat\tbaseline MB/s (min-max)\tferry MB/s (min-max)\tratio\tfiles/s\tRSS MiB snd/rcv\tCPU s/GB snd/rcv\tcold s\ttarget #2 / #5\tmeets\tnotes")
	num := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	pair := func(a, b float64, format string) string {
		if a == 0 && b == 0 {
			return "-"
		}
		return fmt.Sprintf(format+"/"+format, a, b)
	}
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Case, r.Setup, r.What,
			withRange(r.BaseMBps, r.BaseRange), withRange(r.FerryMBps, r.FerryRng), num(r.Ratio, "%.2fx"), num(r.FilesPerS, "%.0f"),
			pair(r.RSSSend, r.RSSRecv, "%.1f"), pair(r.CPUSend, r.CPURecv, "%.2f"), num(r.ColdSecs, "%.3f"),
			or(r.Target, "-"), or(r.Meets, "-"), r.Notes)
	}
	tw.Flush()
	rep.printSwarm(w)
	rep.printWeb(w)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// withRange prints a median and, when runs differ, their min-max.
func withRange(med float64, rng [2]float64) string {
	if med == 0 {
		return "-"
	}
	if rng[0] == rng[1] {
		return fmt.Sprintf("%.1f", med)
	}
	return fmt.Sprintf("%.1f (%.0f-%.0f)", med, rng[0], rng[1])
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (rep *report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
