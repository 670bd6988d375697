package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
)

func peersCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	timeout := fs.Duration("timeout", time.Second, "how long to listen for receivers")
	watch := fs.Bool("watch", false, "keep running and print each arrival, change and departure")
	ifaces := fs.StringArray("iface", nil, "listen only on the network interface `NAME` (repeatable)")
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return usagef("peers takes no arguments")
		}
		if *timeout <= 0 {
			return usagef("--timeout must be positive")
		}
		dev, _, trust, err := e.deviceAndTrust()
		if err != nil {
			return err
		}
		self := dev.ID
		opts := discovery.Options{Interfaces: *ifaces, Logger: e.log}
		if *watch {
			return watchPeers(ctx, e, opts, trust, self)
		}
		peers, err := discovery.List(ctx, *timeout, opts)
		if err != nil && ctx.Err() == nil {
			return discoveryErr(err)
		}
		peers = slices.DeleteFunc(peers, func(p discovery.Peer) bool { return p.ID == self })
		if e.json {
			for _, p := range peers {
				e.out.emit(peerJSON(p, trust, ""))
			}
			return nil
		}
		rows := make([]string, len(peers))
		for i, p := range peers {
			rows[i] = fmt.Sprintf("%s\t%s\t%s\t%d\t%s", printable(p.Name), p.ID.Short(), addrList(p.Addrs), p.Port, pairedWord(trust, p.ID))
		}
		return e.table("NAME\tID\tADDRESSES\tPORT\tPAIRED", rows,
			"no ferry receivers found (is `ferry receive` running on the other computer, on this network?)")
	}
}

func watchPeers(ctx context.Context, e *env, opts discovery.Options, trust *identity.TrustStore, self identity.DeviceID) error {
	b, err := discovery.Browse(ctx, opts)
	if err != nil {
		return discoveryErr(err)
	}
	defer b.Close()
	if !e.json {
		fmt.Fprintln(e.stdout, "watching for ferry receivers (Ctrl-C to stop)")
	}
	for ev := range b.Events() {
		if ev.Peer.ID == self {
			continue
		}
		kind := ev.Type.String()
		e.out.event(peerJSON(ev.Peer, trust, kind),
			fmt.Sprintf("%-7s %s %s %s port %d %s", kind, printable(ev.Peer.Name), ev.Peer.ID.Short(), addrList(ev.Peer.Addrs), ev.Peer.Port, pairedWord(trust, ev.Peer.ID)))
	}
	if err := b.Close(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func peerJSON(p discovery.Peer, trust *identity.TrustStore, event string) map[string]any {
	addrs := make([]string, len(p.Addrs))
	for i, a := range p.Addrs {
		addrs[i] = a.String()
	}
	m := map[string]any{"name": p.Name, "id": p.ID.String(), "addrs": addrs, "port": p.Port,
		"paired": trust.Trusted(p.ID), "instance": p.Instance}
	if len(p.Flags) > 0 {
		m["flags"] = p.Flags
	}
	if event != "" {
		m["event"] = event
	}
	return m
}

func pairedWord(trust *identity.TrustStore, id identity.DeviceID) string {
	if trust.Trusted(id) {
		return "paired"
	}
	return "unpaired"
}

func addrList(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// printable shows a name from the network with every control character
// escaped.
func printable(s string) string {
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

func discoveryErr(err error) error {
	if errors.Is(err, discovery.ErrNoInterface) {
		return fmt.Errorf("discovery: %w (use --iface NAME, or --to HOST:PORT to skip discovery)", err)
	}
	return fmt.Errorf("discovery: %w", err)
}
