package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitDeclined    = 3
	ExitUnreachable = 4
	ExitInterrupted = 5
)

// errUsage marks a command line that makes no sense.
var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// env is what every command gets: the streams, the global flags, the output.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	home           string
	name           string
	json           bool
	verbose        bool
	log            *slog.Logger
	out            *output
}

const usageText = `ferry moves files between computers on the same network.

Usage:
  ferry receive [--dir DIR] [--port N] [--once] [--accept ask|all|trusted] [--overwrite] [--iface NAME]...
  ferry send [--to NAME|DEVICE-ID|HOST:PORT] [--timeout D] [--streams N] [--iface NAME]... PATH...
             (PATH "-" is standard input, named by --as NAME)
  ferry peers [--timeout D] [--watch] [--iface NAME]...
  ferry pair [--timeout D] [--qr-png FILE] [--iface NAME]...   show a PIN and QR code for another device
  ferry pair PIN|CODE [--to NAME|HOST:PORT] [--timeout D]      pair with the device showing them
  ferry trust list | ferry trust remove ID
  ferry id

Flags every command accepts, before or after the command:
  --home DIR    where the device identity lives (default $FERRY_HOME, else the user config folder)
  --name NAME   the name other devices see (default: the host name)
  --json        newline-delimited JSON events on standard output
  -v            debug logging on standard error

Exit codes: 0 done, 1 error, 2 usage, 3 declined, 4 receiver unreachable, 5 interrupted (run again to resume).
`

// A command declares its flags on fs and returns the function that runs it.
type command func(fs *pflag.FlagSet) func(ctx context.Context, e *env, args []string) error

func lookup(verb string) (command, bool) {
	switch verb {
	case "receive":
		return receiveCmd, true
	case "send":
		return sendCmd, true
	case "id":
		return idCmd, true
	case "peers":
		return peersCmd, true
	case "pair":
		return pairCmd, true
	case "trust":
		return trustCmd, true
	}
	return nil, false
}

// Main runs ferry with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	verb, rest := splitVerb(args)
	if verb == "" || verb == "help" {
		if hasHelp(args) || verb == "help" {
			fmt.Fprint(stdout, usageText)
			return ExitOK
		}
		fmt.Fprint(stderr, usageText)
		return ExitUsage
	}
	cmd, ok := lookup(verb)
	if !ok {
		fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", verb, usageText)
		return ExitUsage
	}
	fs := pflag.NewFlagSet("ferry "+verb, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.home, "home", "", "")
	fs.StringVar(&e.name, "name", "", "")
	fs.BoolVar(&e.json, "json", false, "")
	fs.BoolVarP(&e.verbose, "verbose", "v", false, "")
	run := cmd(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return ExitOK
		}
		fmt.Fprintf(stderr, "ferry %s: %s\n", verb, errText(err))
		return ExitUsage
	}
	level := slog.LevelWarn
	if e.verbose {
		level = slog.LevelDebug
	}
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The mDNS and QUIC libraries log through the standard log package.
	log.SetFlags(0)
	log.SetOutput(newLibraryLog(e.log))
	e.out = newOutput(stdout, stderr, e.json)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if path := os.Getenv("FERRY_CPUPROFILE"); path != "" { // for developers: pprof CPU profile
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	err := run(ctx, e, fs.Args())
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if code == ExitUsage {
		fmt.Fprintf(stderr, "ferry %s: %s\n", verb, strings.TrimPrefix(errText(err), "usage: "))
		return code
	}
	e.out.error(err)
	return code
}

// exitCode maps an error to ferry's documented exit codes; the one place
// that does.
func exitCode(err error) int {
	switch {
	case errors.Is(err, errUsage):
		return ExitUsage
	case errors.Is(err, transfer.ErrDeclined):
		return ExitDeclined
	case errors.Is(err, transfer.ErrUnreachable):
		return ExitUnreachable
	case errors.Is(err, transfer.ErrInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitError
}

// splitVerb finds the command among args, skipping global flags and their
// values, and returns it with the other arguments.
func splitVerb(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return "", args
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			if (a == "--home" || a == "--name") && i+1 < len(args) {
				i++
			}
			continue
		}
		rest := append(append([]string{}, args[:i]...), args[i+1:]...)
		return a, rest
	}
	return "", args
}

func hasHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			return true
		}
	}
	return false
}

// device loads (or creates) the device identity and works out the display name.
func (e *env) device() (*identity.Device, string, error) {
	home, err := identity.ResolveHome(e.home)
	if err != nil {
		return nil, "", err
	}
	name := e.name
	if name == "" {
		if h, err := os.Hostname(); err == nil {
			name = h
		} else {
			name = "ferry"
		}
	}
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	dev, err := identity.LoadOrCreate(home, name)
	if err != nil {
		return nil, "", err
	}
	return dev, name, nil
}

func checkName(name string) error {
	if err := identity.CheckName(name); err != nil {
		return usagef("--name: %v", err)
	}
	return nil
}

func idCmd(fs *pflag.FlagSet) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 {
			return usagef("id takes no arguments")
		}
		dev, name, err := e.device()
		if err != nil {
			return err
		}
		if e.json {
			e.out.emit(map[string]any{"name": name, "id": dev.ID.String()})
			return nil
		}
		fmt.Fprintf(e.stdout, "%s\n%s\n", name, dev.ID)
		return nil
	}
}
