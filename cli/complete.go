package cli

import (
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-lan/ferry/discovery"
	"github.com/ferry-lan/ferry/identity"
)

// completionBrowse is how long completing --to looks for receivers: long
// enough for the ones that answer at once, short enough for a Tab.
const completionBrowse = time.Second

// completions declares how the shell completes each command's arguments and
// flags (ferry completion SHELL prints the script that asks ferry).
func (e *env) completions(root *cobra.Command) {
	noFiles := func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "receive":
			c.ValidArgsFunction = noFiles
			c.RegisterFlagCompletionFunc("accept", cobra.FixedCompletions([]cobra.Completion{
				cobra.CompletionWithDesc("ask", "ask on the terminal about unpaired senders"),
				cobra.CompletionWithDesc("all", "accept every sender"),
				cobra.CompletionWithDesc("trusted", "accept paired devices only"),
			}, cobra.ShellCompDirectiveNoFileComp))
			c.RegisterFlagCompletionFunc("dir", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveFilterDirs
			})
			c.RegisterFlagCompletionFunc("port", noFiles)
		case "send":
			c.RegisterFlagCompletionFunc("to", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return e.deviceNames(cmd, toComplete, true), cobra.ShellCompDirectiveNoFileComp
			})
			for _, f := range []string{"as", "streams", "timeout"} {
				c.RegisterFlagCompletionFunc(f, noFiles)
			}
		case "peers", "id":
			c.ValidArgsFunction = noFiles
		case "pair":
			c.ValidArgsFunction = noFiles
			c.RegisterFlagCompletionFunc("to", noFiles)
			c.RegisterFlagCompletionFunc("timeout", noFiles)
		case "trust":
			c.ValidArgsFunction = noFiles
			for _, sub := range c.Commands() {
				sub.ValidArgsFunction = noFiles
				if sub.Name() == "remove" {
					sub.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
						if len(args) > 0 {
							return nil, cobra.ShellCompDirectiveNoFileComp
						}
						return e.deviceNames(cmd, toComplete, false), cobra.ShellCompDirectiveNoFileComp
					}
				}
			}
		}
		if c.Flags().Lookup("iface") != nil {
			c.RegisterFlagCompletionFunc("iface", completeInterfaces)
		}
	}
}

// deviceNames offers the names of the paired devices (the trust store) and,
// with browse, of the receivers that answer on the network within
// completionBrowse; each with what it is and its short ID. It never creates
// an identity or a trust store.
func (e *env) deviceNames(cmd *cobra.Command, toComplete string, browse bool) []cobra.Completion {
	home, err := identity.ResolveHome(e.home)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	seen := map[string]bool{}
	add := func(name, desc string) {
		// A completion is a line, and a tab starts its description.
		if name == "" || seen[name] || strings.ContainsAny(name, "\t\r\n") || !strings.HasPrefix(name, toComplete) {
			return
		}
		seen[name] = true
		out = append(out, cobra.CompletionWithDesc(name, desc))
	}
	if trust, err := identity.OpenTrustStore(home); err == nil {
		for _, p := range trust.Peers() {
			add(p.Name, "paired, "+p.ID.Short())
		}
	}
	if !browse {
		return out
	}
	var self identity.DeviceID
	if dev, err := identity.Load(home); err == nil {
		self = dev.ID
	}
	ifaces, _ := cmd.Flags().GetStringArray("iface")
	peers, _ := discovery.List(cmd.Context(), completionBrowse, discovery.Options{Interfaces: ifaces, Logger: e.log})
	for _, p := range peers {
		if p.ID != self {
			add(p.Name, "on the network, "+p.ID.Short())
		}
	}
	return out
}

// completeInterfaces offers the names of the network interfaces that can
// carry multicast.
func completeInterfaces(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, i := range ifs {
		if i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
			names = append(names, i.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
