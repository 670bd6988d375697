package netlab

// Impairments: what a test or the bench does to a LAN to make it slow or
// lossy. This kernel has no netem: rates are tc tbf, loss is nftables.

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Shape limits what leaves the switch through port (what the host plugged
// there receives) to rate, as tc writes it ("16mbit"), with tc tbf.
func (s *Switch) Shape(ctx context.Context, port, rate string) error {
	_, err := s.admin(ctx, "tc", "qdisc", "add", "dev", port, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "100ms")
	return err
}

// Unshape lifts the limit Shape put on port.
func (s *Switch) Unshape(ctx context.Context, port string) error {
	_, err := s.admin(ctx, "tc", "qdisc", "del", "dev", port, "root")
	return err
}

// A Drop is an nftables table, inet lossy, that drops a share of the UDP
// packets a host receives.
type Drop struct {
	h *Host
}

// DropUDP makes the host drop percent (0 to 100) of the UDP packets it receives on
// iface ("": on every interface, lo included), chosen at random, as a lossy
// link would. The rule sees packets as the stack has them: a sender's GSO
// batch crosses a veth as one packet (set gso_max_segs 1 on the sender's
// interface to drop wire packets one by one).
func (h *Host) DropUDP(ctx context.Context, iface string, percent int) (*Drop, error) {
	match := ""
	if iface != "" {
		match = fmt.Sprintf("iifname %q ", iface)
	}
	share := fmt.Sprintf("numgen random mod 100 < %d ", percent)
	if percent >= 100 {
		share = "" // nft takes no 100 after "mod 100 <"
	}
	rules := fmt.Sprintf(`table inet lossy {
	chain in {
		type filter hook input priority 0; policy accept;
		%[1]smeta l4proto udp counter
		%[1]smeta l4proto udp %[2]scounter drop
	}
}
`, match, share)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	cmd := h.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if _, err := output(cmd); err != nil {
		return nil, err
	}
	return &Drop{h: h}, nil
}

var counterRe = regexp.MustCompile(`counter packets (\d+)`)

// Counts reads how many UDP packets the rule saw and how many it dropped.
func (d *Drop) Counts(ctx context.Context) (seen, dropped int64, err error) {
	out, err := d.h.admin(ctx, "nft", "list", "table", "inet", "lossy")
	if err != nil {
		return 0, 0, err
	}
	m := counterRe.FindAllSubmatch(out, -1)
	if len(m) != 2 {
		return 0, 0, fmt.Errorf("nft list table inet lossy in %s: %d counters, want 2", d.h.ns, len(m))
	}
	if seen, err = strconv.ParseInt(string(m[0][1]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("nft counter: %w", err)
	}
	if dropped, err = strconv.ParseInt(string(m[1][1]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("nft counter: %w", err)
	}
	return seen, dropped, nil
}

// Remove deletes the table: the host stops dropping.
func (d *Drop) Remove(ctx context.Context) error {
	_, err := d.h.admin(ctx, "nft", "delete", "table", "inet", "lossy")
	return err
}
