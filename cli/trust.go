package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/identity"
)

func trustCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) == 0 {
			return usagef("trust needs a subcommand: list, or remove ID")
		}
		dev, _, err := e.device()
		if err != nil {
			return err
		}
		trust, err := identity.OpenTrustStore(dev.Home)
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
			if len(peers) == 0 {
				fmt.Fprintln(e.stdout, "no paired devices (pair one with `ferry pair`)")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tPAIRED\tVIA")
			for _, p := range peers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(p.Name), p.ID, p.PairedAt.Local().Format("2006-01-02 15:04"), p.Via)
			}
			return tw.Flush()
		case "remove":
			if len(args) != 2 {
				return usagef("trust remove takes one device ID")
			}
			var hits []identity.Peer
			for _, p := range trust.Peers() {
				if p.ID.HasPrefix(args[1]) && len(normalizeIDText(args[1])) >= 4 {
					hits = append(hits, p)
				}
			}
			switch len(hits) {
			case 0:
				return fmt.Errorf("no paired device has the ID %q (see `ferry trust list`)", args[1])
			case 1:
			default:
				var names []string
				for _, p := range hits {
					names = append(names, p.ID.Short())
				}
				return usagef("%q matches %d paired devices (%s); give more of the ID", args[1], len(hits), strings.Join(names, ", "))
			}
			if _, err := trust.Remove(hits[0].ID); err != nil {
				return err
			}
			e.out.event(map[string]any{"event": "removed", "name": hits[0].Name, "id": hits[0].ID.String()},
				fmt.Sprintf("removed %s (%s); it is a stranger again", printable(hits[0].Name), hits[0].ID))
			return nil
		}
		return usagef("unknown trust subcommand %q (list, remove)", args[0])
	}
}
