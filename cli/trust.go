package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/identity"
)

func trustCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) == 0 {
			return usagef("trust needs a subcommand: list, or remove ID")
		}
		_, _, trust, err := e.deviceAndTrust()
		if err != nil {
			return err
		}
		switch args[0] {
		case "list":
			if len(args) > 1 {
				return usagef("trust list takes no arguments")
			}
			peers := trust.Peers()
			if e.json {
				for _, p := range peers {
					e.out.emit(map[string]any{"name": p.Name, "id": p.ID.String(), "paired_at": p.PairedAt.UTC().Format(time.RFC3339), "via": p.Via})
				}
				return nil
			}
			rows := make([]string, len(peers))
			for i, p := range peers {
				rows[i] = fmt.Sprintf("%s\t%s\t%s\t%s", printable(p.Name), p.ID, p.PairedAt.Local().Format("2006-01-02 15:04"), p.Via)
			}
			return e.table("NAME\tID\tPAIRED\tVIA", rows, "no paired devices (pair one with `ferry pair`)")
		case "remove":
			if len(args) != 2 {
				return usagef("trust remove takes one device name or ID")
			}
			p, err := findPaired(trust.Peers(), args[1])
			if err != nil {
				return err
			}
			if _, err := trust.Remove(p.ID); err != nil {
				return err
			}
			e.out.event(map[string]any{"event": "removed", "name": p.Name, "id": p.ID.String()},
				fmt.Sprintf("removed %s (%s); it is a stranger again", printable(p.Name), p.ID))
			return nil
		}
		return usagef("unknown trust subcommand %q (list, remove)", args[0])
	}
}

// findPaired finds the paired device that arg names: by its name (any
// case), else by the start of its ID, at least minPairedPrefix characters.
// Several matches, or a prefix too short, are usage errors that say so.
func findPaired(peers []identity.Peer, arg string) (identity.Peer, error) {
	var hits []identity.Peer
	for _, p := range peers {
		if strings.EqualFold(p.Name, arg) {
			hits = append(hits, p)
		}
	}
	byName := len(hits) > 0
	if !byName {
		if n := len(normalizeIDText(arg)); n > 0 && n < minPairedPrefix && slices.ContainsFunc(peers, func(p identity.Peer) bool { return p.ID.HasPrefix(arg) }) {
			return identity.Peer{}, usagef("%q is too short for an ID prefix: give at least %d characters of the ID (see `ferry trust list`)", arg, minPairedPrefix)
		}
		for _, p := range peers {
			if hasIDPrefix(p.ID, arg, minPairedPrefix) {
				hits = append(hits, p)
			}
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		names := make([]string, len(peers))
		for i, p := range peers {
			names[i] = p.Name
		}
		msg := fmt.Sprintf("no paired device is named %q or has an ID that starts with it (see `ferry trust list`)", arg)
		if s := closestName(arg, names); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", printable(s))
		}
		return identity.Peer{}, errors.New(msg)
	}
	var list []string
	for _, p := range hits {
		list = append(list, fmt.Sprintf("%s %s", printable(p.Name), p.ID.Short()))
	}
	if byName {
		return identity.Peer{}, usagef("%d paired devices are named %q (%s); give the start of the ID instead", len(hits), arg, strings.Join(list, ", "))
	}
	return identity.Peer{}, usagef("%q starts the ID of %d paired devices (%s); give more of the ID", arg, len(hits), strings.Join(list, ", "))
}
