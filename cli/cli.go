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

	"github.com/spf13/cobra"
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
	// ExitPartial: a send to several receivers delivered everything to
	// some of them and not to the others.
	ExitPartial = 6
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

// Main runs ferry with args (without the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // cobra would read os.Args
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if path := os.Getenv("FERRY_CPUPROFILE"); path != "" { // for developers: pprof CPU profile
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if e.out == nil {
		// The command line failed before the command started (cobra's own
		// checks return plain errors): a usage error.
		e.out = newOutput(stdout, stderr, e.json || jsonFlag(args))
		if !errors.Is(err, errUsage) {
			err = usagef("%v", err)
		}
	}
	code := exitCode(err)
	if code == ExitUsage {
		e.usageError(cmd, err)
		return code
	}
	e.out.error(err)
	return code
}

// start sets up logging and the output once the command line is parsed.
func (e *env) start() {
	level := slog.LevelWarn
	if e.verbose {
		level = slog.LevelDebug
	}
	e.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	// The mDNS and QUIC libraries log through the standard log package.
	log.SetFlags(0)
	log.SetOutput(newLibraryLog(e.log))
	e.out = newOutput(e.stdout, e.stderr, e.json)
}

// usageError tells what is wrong with the command line: with --json an
// error event on standard output, else a line on standard error that names
// the command. A missing command shows the help.
func (e *env) usageError(cmd *cobra.Command, err error) {
	msg := strings.TrimPrefix(errText(err), "usage: ")
	if e.out.json {
		e.out.emit(map[string]any{"event": "error", "message": msg})
		return
	}
	if errors.Is(err, errNoCommand) {
		cmd.SetOut(e.stderr)
		cmd.Help()
		return
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", cmd.CommandPath(), msg)
}

// jsonFlag reports whether args ask for --json, for a command line that
// failed to parse before pflag reached it.
func jsonFlag(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// exitCode maps an error to ferry's documented exit codes; the one place
// that does.
func exitCode(err error) int {
	switch {
	case errors.Is(err, errPartial):
		return ExitPartial
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

// device loads (or creates) the device identity and works out the display
// name: --name, which is then remembered next to the key; else the name
// remembered from an earlier --name; else the host name.
func (e *env) device() (*identity.Device, string, error) {
	home, err := identity.ResolveHome(e.home)
	if err != nil {
		return nil, "", err
	}
	stored, err := identity.LoadName(home)
	name := e.name
	switch {
	case name != "":
	case err != nil:
		return nil, "", err
	case stored != "":
		name = stored
	default:
		if name, err = os.Hostname(); err != nil {
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
	if e.name != "" && e.name != stored {
		// Remembering the name is a convenience: a read-only home still works.
		if err := identity.SaveName(home, e.name); err != nil {
			e.log.Warn("could not remember the device name", "err", err)
		}
	}
	return dev, name, nil
}

// deviceAndTrust loads the device as device does, and opens the trust
// store in the same home.
func (e *env) deviceAndTrust() (*identity.Device, string, *identity.TrustStore, error) {
	dev, name, err := e.device()
	if err != nil {
		return nil, "", nil, err
	}
	trust, err := identity.OpenTrustStore(dev.Home)
	if err != nil {
		return nil, "", nil, err
	}
	return dev, name, trust, nil
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
