package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A command declares its flags on fs and returns the function that runs it.
type command func(fs *pflag.FlagSet) func(ctx context.Context, e *env, args []string) error

// errNoCommand is ferry run without a command: the help goes to standard
// error and ferry exits 2.
var errNoCommand = fmt.Errorf("%w: no command given (receive, send, peers, pair, trust or id)", errUsage)

const rootLong = `ferry moves files between computers on the same network: no accounts, no server,
no setup. Every connection is QUIC with mutual TLS between two device keys; an
interrupted transfer resumes where it stopped.

Exit codes: 0 done, 1 error, 2 usage, 3 declined, 4 receiver unreachable,
5 interrupted (run the same command again to resume), 6 a send to several
receivers reached some of them but not all (run it again to resume the others).`

// newRoot builds ferry's commands and flags, the one set of definitions
// that parsing, help, suggestions, completion and the man pages read.
func newRoot(e *env) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "ferry",
		Short: "move files between computers on the same network",
		Long:  rootLong,
		Example: `  ferry receive                    # on the receiving computer
  ferry send report.pdf photos/    # on the sending one`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				e.printVersion()
				return nil
			}
			return errNoCommand
		},
		PersistentPreRun: func(*cobra.Command, []string) { e.start() },
		SilenceErrors:    true,
		SilenceUsage:     true,
	}
	root.SuggestionsMinimumDistance = 2
	pf := root.PersistentFlags()
	pf.StringVar(&e.home, "home", "", "keep this device's identity in `DIR` (default $FERRY_HOME, else the user config folder, e.g. ~/.config/ferry)")
	pf.StringVar(&e.name, "name", "", "the `NAME` other devices see, remembered for later commands (default: the host name; at most 63 bytes)")
	pf.BoolVar(&e.json, "json", false, "print newline-delimited JSON events on standard output instead of text")
	pf.BoolVarP(&e.verbose, "verbose", "v", false, "debug logging on standard error")
	root.Flags().BoolVar(&showVersion, "version", false, "print ferry's version, commit and protocol versions")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c == c.Root() && c.Flags().NArg() > 0 { // ferry recieve --to x
			return unknownCommand(c, c.Flags().Arg(0))
		}
		return usagef("%v", err)
	})

	receive := e.leaf(receiveCmd, &cobra.Command{
		Use:        "receive [flags]",
		Short:      "receive files from other computers",
		SuggestFor: []string{"recv", "get", "listen"},
		Long: `Listens for senders and saves what they send into --dir, asking on the terminal
before accepting a device that is not paired (--accept). The question shows the
sender's name, its device ID, a verification code, and the files; compare the
code with the sender's before answering y.

An existing file is never overwritten (without --overwrite): the new one is
saved as "name (1).ext". A re-sent identical file is recognised and not
duplicated.

A text message (ferry send --text) is asked about like files and shown with
its control characters and escape sequences made visible; --stdout writes it,
as sent, to standard output when that is not a terminal.`,
		Example: `  ferry receive                        # ask before accepting; save into ~/Downloads/ferry
  ferry receive --dir ~/inbox --once   # exit after the first complete session
  ferry receive --accept trusted       # paired devices only, e.g. as a service
  ferry receive --json --accept all    # for scripts: one JSON event per line
  ferry receive --once --stdout | wl-copy   # a text message, as sent, to the clipboard`,
	})
	send := e.leaf(sendCmd, &cobra.Command{
		Use:        "send [flags] PATH...",
		Short:      "send files and folders to a receiver",
		SuggestFor: []string{"put", "push"},
		Long: `Sends files and folders (recursively) to a running "ferry receive". Without --to,
the only receiver on the network; with several, a picker on a terminal. PATH "-"
is standard input, saved under the name --as gives.

Both sides show the same verification code; the receiver compares it before
accepting. If the connection breaks, the sender reconnects for 30 s; after
that, run the same command again and only the missing chunks move.

With --web, the files are offered to web browsers instead: a phone scans the QR
code and downloads them (one by one, resumable, or all as one zip); nothing needs
to be installed on it.

--to given several times, or --all, sends to several receivers at once: each
has its own code and decision, and a line of the display. Exit 6 means some got
everything and some did not; running the same command again resumes them.`,
		Example: `  ferry send report.pdf photos/               # the only receiver on the network
  ferry send --to laptop-anna notes.txt       # a receiver by name (see ferry peers)
  ferry send --to 192.168.1.20 big.iso        # by address, without discovery
  ferry send --to anna --to ben slides.pdf    # two receivers at once
  ferry send --all --paired notes.txt         # every paired receiver found
  tar c dir | ferry send --as dir.tar -       # standard input
  ferry send --text "the meeting moved to room 4"   # a text message (at most 64 KiB)
  wl-paste | ferry send --text -              # a text message from standard input
  ferry send --web --once photos/             # to a phone's browser, by QR code`,
	})
	peers := e.leaf(peersCmd, &cobra.Command{
		Use:        "peers [flags]",
		Short:      "list the receivers on the network",
		SuggestFor: []string{"list", "ls", "discover"},
		Long: `Lists the receivers on the network: name, short device ID, addresses, port and
whether the device is paired. --watch keeps running and prints each arrival
(up), change and departure (down).`,
		Example: `  ferry peers
  ferry peers --watch --json`,
	})
	pair := e.leaf(pairCmd, &cobra.Command{
		Use:   "pair [PIN|CODE] [flags]",
		Short: "pair with another device, once, to skip the questions",
		Long: `Without an argument, opens a pairing window (2 minutes) and shows a QR code, the
same code as text, and a 6-digit PIN. On the other device, run "ferry pair" with
the PIN (the window is found on the network, or with --to) or with the code text.
A paired device is accepted without a question, and "ferry send --to NAME"
checks its key whatever the network says.`,
		Example: `  ferry pair            # on one device: shows a QR code and a PIN
  ferry pair 123456     # on the other: the PIN`,
	})
	trust := e.leaf(trustCmd, &cobra.Command{
		Use:   "trust",
		Short: "list or forget paired devices",
		Long: `Paired devices (see ferry pair) are accepted without a question and identified
by their key. "ferry trust list" shows them; "ferry trust remove NAME|ID" forgets one.`,
		Example: "  ferry trust list\n  ferry trust remove desk-bob",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
	})
	trust.SuggestionsMinimumDistance = 2
	trust.AddCommand(
		e.leaf(trustSub("list"), &cobra.Command{
			Use:     "list",
			Short:   "list paired devices",
			Example: "  ferry trust list\n  ferry trust list --json",
		}),
		e.leaf(trustSub("remove"), &cobra.Command{
			Use:        "remove NAME|ID",
			Short:      "forget a paired device",
			SuggestFor: []string{"rm", "delete", "forget"},
			Long: `Forgets a paired device, named by its name or by the start of its device ID
(at least 4 characters). It is then a stranger again: "ferry receive" asks
before accepting it.`,
			Example: "  ferry trust remove desk-bob\n  ferry trust remove GKA3",
		}),
	)
	id := e.leaf(idCmd, &cobra.Command{
		Use:        "id",
		Short:      "print this device's name and device ID",
		SuggestFor: []string{"whoami"},
		Long: `Prints this device's name and device ID. The device ID is the SHA-256 of the
device's public key in base32, in groups of four; the first two groups are its
short form.`,
		Example: "  ferry id\n  ferry --name laptop-anna id    # name the device; later commands remember it",
	})
	doctorC := e.leaf(doctorCmd, &cobra.Command{
		Use:        "doctor [--peer NAME|ADDR] [--listen]",
		Short:      "say why another computer is invisible: network, multicast, firewall",
		SuggestFor: []string{"check", "diagnose", "debug"},
		Long:       doctorLong,
		Example: `  ferry doctor                      # the local checks
  ferry doctor --listen             # on the other computer, then here:
  ferry doctor --peer 192.168.1.20  # the two-sided test
  sudo ferry doctor --json          # with the firewall; one JSON object per check`,
	})
	daemonC := e.leaf(daemonCmd, &cobra.Command{
		Use:        "daemon [--install|--uninstall] [flags]",
		Short:      "receive from paired devices as a systemd user service",
		SuggestFor: []string{"service", "serve"},
		Long:       daemonLong,
		Example: `  ferry daemon --install     # write, enable and start ~/.config/systemd/user/ferry.service
  ferry daemon --uninstall   # stop and remove it
  ferry daemon               # in the foreground, as the unit runs it`,
	})
	root.AddCommand(doctorC, daemonC)
	root.AddCommand(receive, send, peers, pair, trust, id)
	root.SetHelpCommand(helpCommand())
	completionCommand(root)
	e.completions(root)
	return root
}

// completionCommand adds cobra's "completion SHELL" and makes a missing or
// unknown shell a usage error (cobra shows the help and exits 0).
func completionCommand(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	c, _, err := root.Find([]string{"completion"})
	if err != nil || c == root {
		return
	}
	c.Short = "print the shell completion script for bash, zsh, fish or powershell"
	c.Example = `  source <(ferry completion bash)
  ferry completion zsh > "${fpath[1]}/_ferry"
  ferry completion fish > ~/.config/fish/completions/ferry.fish`
	c.SuggestionsMinimumDistance = 1
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
	c.RunE = func(*cobra.Command, []string) error {
		return usagef("completion needs a shell: bash, zsh, fish or powershell")
	}
}

// leaf makes c run the command cmd, whose flags it declares on c.
func (e *env) leaf(cmd command, c *cobra.Command) *cobra.Command {
	c.Flags().SortFlags = false
	run := cmd(c.Flags())
	c.RunE = func(c *cobra.Command, args []string) error { return run(c.Context(), e, args) }
	return c
}

// trustSub runs trustCmd as "trust VERB".
func trustSub(verb string) command {
	return func(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
		run := trustCmd(fs)
		return func(ctx context.Context, e *env, args []string) error {
			return run(ctx, e, append([]string{verb}, args...))
		}
	}
}

// unknownCommand is the usage error for a command that parent does not
// have, with the likely ones.
func unknownCommand(parent *cobra.Command, name string) error {
	what := "command"
	if parent.HasParent() {
		what = parent.Name() + " command"
	}
	msg := fmt.Sprintf("unknown %s %q", what, name)
	if s := slices.Compact(parent.SuggestionsFor(name)); len(s) > 0 {
		return usagef("%s; did you mean %s?", msg, strings.Join(s, " or "))
	}
	var names []string
	for _, c := range parent.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return usagef("%s (commands: %s)", msg, strings.Join(names, ", "))
}

// helpCommand is "ferry help [COMMAND]": the command's help, or a usage
// error with suggestions for one that does not exist.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "help about any command",
		Long:  "Help shows a command's flags, their defaults, and examples: ferry help send.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range parent.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return usagef("%v", err)
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest[0])
			}
			target.InitDefaultHelpFlag() // as ferry COMMAND --help shows it
			return target.Help()
		},
	}
}
