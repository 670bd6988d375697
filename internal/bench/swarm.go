//go:build linux

package main

// Case g (issue 15): one sender and N receivers on a switched LAN of
// namespaces, every host's uplink capped with tc tbf inside its namespace.
// The same file goes to every receiver twice: as N separate `ferry send`
// processes at once (the baseline) and as one `ferry send --to … --to …`
// (the swarm). Figures: the time until every receiver has it and the
// bytes each host uploaded (its eth0 tx_bytes), as multiples of the file.
// Targets: the sender uploads at most 1.25× the file and every receiver
// is done within 2 × (file size ÷ one uplink).

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-lan/ferry/internal/netlab"
)

// swarmRow is case g's result.
type swarmRow struct {
	Receivers int       `json:"receivers"`
	Bytes     int64     `json:"bytes"`
	Rate      string    `json:"uplink"`
	BaseSecs  float64   `json:"separate_sends_s"`
	SwarmSecs float64   `json:"swarm_s"`
	BaseUp    []float64 `json:"separate_sends_upload"` // × the file, per host, sender first
	SwarmUp   []float64 `json:"swarm_upload"`
	Target    float64   `json:"target_s"` // 2 × size ÷ uplink
	Meets     string    `json:"meets"`
	Err       string    `json:"error,omitempty"`
}

const swarmPrefix = "fbsw-"

// swarmCase runs case g.
func (b *bench) swarmCase(ctx context.Context) swarmRow {
	row := swarmRow{Receivers: b.cfg.swarmN, Bytes: b.cfg.swarmSize, Rate: b.cfg.swarmRate}
	if err := b.swarmRun(ctx, &row); err != nil {
		row.Err = err.Error()
	}
	return row
}

func (b *bench) swarmRun(ctx context.Context, row *swarmRow) error {
	if names, err := netlab.Namespaces(ctx, swarmPrefix); err != nil || len(names) > 0 {
		return fmt.Errorf("namespaces %v left over (ip netns del …), or %v", names, err)
	}
	lan := netlab.New(swarmPrefix, nil)
	defer lan.Close()
	sw, err := lan.AddSwitch(ctx, "sw")
	if err != nil {
		return err
	}
	n := b.cfg.swarmN
	hosts := make([]*netlab.Host, n+1)
	ips := make([]string, n+1)
	for i := range hosts {
		if hosts[i], err = lan.AddHost(ctx, fmt.Sprintf("h%d", i)); err != nil {
			return err
		}
		ips[i] = fmt.Sprintf("10.77.0.%d", i+1)
		if _, err := sw.Plug(ctx, hosts[i], "eth0", ips[i]+"/24"); err != nil {
			return err
		}
		if _, err := hosts[i].Run(ctx, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", b.cfg.swarmRate, "burst", "32kbit", "latency", "50ms"); err != nil {
			return fmt.Errorf("cap host %d's uplink: %w", i, err)
		}
	}
	src, err := bigSource(filepath.Join(b.tmp, "swarm.bin"), b.cfg.swarmSize, 7)
	if err != nil {
		return err
	}
	if bits, err := parseRate(b.cfg.swarmRate); err == nil {
		row.Target = 2 * float64(b.cfg.swarmSize) * 8 / bits
	}
	for _, mode := range []string{"separate", "swarm"} {
		secs, up, err := b.swarmOnce(ctx, hosts, ips, src, mode == "swarm")
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		if mode == "swarm" {
			row.SwarmSecs, row.SwarmUp = secs, up
		} else {
			row.BaseSecs, row.BaseUp = secs, up
		}
	}
	row.Meets = yesNo(row.SwarmUp[0] <= 1.25 && (row.Target == 0 || row.SwarmSecs <= row.Target))
	return nil
}

// swarmOnce sends src from hosts[0] to the others, as one swarm or as
// separate sends, and returns the time until the last sender process ended
// and each host's upload as a multiple of the file.
func (b *bench) swarmOnce(ctx context.Context, hosts []*netlab.Host, ips []string, src *source, swarm bool) (float64, []float64, error) {
	ctx, g := newProcGroup(ctx, runLimit(src.bytes*int64(len(hosts))))
	defer g.end()
	var to []string
	var dsts []string
	var recvs []*proc
	for i, h := range hosts[1:] {
		dst, err := os.MkdirTemp(b.tmp, "swarm-recv-")
		if err != nil {
			return 0, nil, err
		}
		defer os.RemoveAll(dst)
		home := filepath.Join(b.tmp, fmt.Sprintf("home-swarm-%d", i))
		p, err := g.start("ferry receive", command(ctx, h, b.ferry, "receive", "--once", "--accept", "all", "--port", "0", "--json",
			"--dir", dst, "--home", home, "--name", fmt.Sprintf("bench-r%d", i)))
		if err != nil {
			return 0, nil, err
		}
		ev, err := p.waitEvent(ctx, "listening", readyTimeout)
		if err != nil {
			return 0, nil, err
		}
		to = append(to, "--to", net.JoinHostPort(ips[i+1], strconv.Itoa(int(ev.num("port")))))
		dsts, recvs = append(dsts, dst), append(recvs, p)
	}
	before, err := uploads(ctx, hosts)
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	var sends []*proc
	args := func(to ...string) []string {
		return append(append([]string{"send"}, to...), src.path, "--json", "--home", b.homeSend, "--name", "bench-send")
	}
	if swarm {
		p, err := g.start("ferry send (swarm)", command(ctx, hosts[0], b.ferry, args(to...)...))
		if err != nil {
			return 0, nil, err
		}
		sends = append(sends, p)
	} else {
		for i := 0; i < len(to); i += 2 {
			p, err := g.start("ferry send", command(ctx, hosts[0], b.ferry, args(to[i], to[i+1])...))
			if err != nil {
				return 0, nil, err
			}
			sends = append(sends, p)
		}
	}
	var end time.Time
	for _, p := range sends {
		if err := p.wait(ctx); err != nil {
			return 0, nil, err
		}
		end = maxTime(end, p.end)
	}
	for _, p := range recvs {
		if err := p.wait(ctx); err != nil {
			return 0, nil, err
		}
	}
	after, err := uploads(ctx, hosts)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range dsts {
		if err := src.verify(d); err != nil {
			return 0, nil, err
		}
	}
	up := make([]float64, len(hosts))
	for i := range up {
		up[i] = float64(after[i]-before[i]) / float64(src.bytes)
	}
	return end.Sub(start).Seconds(), up, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// uploads reads each host's eth0 tx_bytes.
func uploads(ctx context.Context, hosts []*netlab.Host) ([]int64, error) {
	out := make([]int64, len(hosts))
	for i, h := range hosts {
		b, err := h.Run(ctx, "cat", "/sys/class/net/eth0/statistics/tx_bytes")
		if err != nil {
			return nil, err
		}
		if out[i], err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseRate reads a tc rate such as "20mbit" as bits a second.
func parseRate(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f * u.mult, err
		}
	}
	return 0, fmt.Errorf("rate %q", s)
}

// printSwarm prints case g.
func (rep *report) printSwarm(w *os.File) {
	for _, r := range rep.Swarm {
		if r.Err != "" {
			fmt.Fprintf(w, "g  swarm, %d receivers, %s, uplinks %s: FAILED: %s\n", r.Receivers, human(r.Bytes), r.Rate, r.Err)
			continue
		}
		f := func(v []float64) string {
			s := make([]string, len(v))
			for i, x := range v {
				s[i] = fmt.Sprintf("%.2f", x)
			}
			return strings.Join(s, " ")
		}
		fmt.Fprintf(w, "g  swarm, %d receivers, %s, uplinks %s (target: sender <= 1.25x, all done <= %.1f s): "+
			"separate sends %.1f s, uploads %s; swarm %.1f s (%.2fx the time), uploads %s; meets %s\n",
			r.Receivers, human(r.Bytes), r.Rate, r.Target, r.BaseSecs, f(r.BaseUp), r.SwarmSecs, r.SwarmSecs/r.BaseSecs, f(r.SwarmUp), r.Meets)
	}
}
