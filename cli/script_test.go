package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/ferry-lan/ferry/internal/testnet"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as ferry in the scripts of
// testdata/script: testscript puts a "ferry" on their PATH that is this
// binary calling Main.
func TestMain(m *testing.M) {
	// Tests here start receivers and discoveries: as root they run in a
	// private network namespace, so no mDNS packet leaves the machine.
	if code, done := testnet.Isolate(); done {
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"ferry": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI transcripts in testdata/script: help, version,
// suggestions, usage errors and exit codes, one scenario a file.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("FERRY_HOME", env.WorkDir+"/home")
			env.Setenv("XDG_DOWNLOAD_DIR", env.WorkDir+"/downloads")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "netns" { // a private network namespace (see testnet)
				return os.Getenv("FERRY_TESTNET") != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
		},
	})
}

// cmdExits runs a program and checks its exit code: exits 2 ferry recieve.
// Its output is then checked with stdout and stderr as after exec.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("exits: %v", err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}
