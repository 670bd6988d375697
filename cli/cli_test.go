package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/transfer"
)

// TestGlobalFlagsAnywhere: --home, --name, --json and -v go before or
// after the command, and a flag's value is never taken for the command.
func TestGlobalFlagsAnywhere(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{
		{"--home", home, "id"},
		{"id", "--home", home},
		{"--home", home, "--json", "id"},
		{"--name=n", "-v", "--home", home, "id"},
		{"--name", "receive", "--home=" + home, "id"},
		{"-v", "id", "--name", "n", "--home", home, "--json"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, strings.NewReader(""), &out, &errOut); code != ExitOK {
			t.Errorf("ferry %q exited %d (stderr %q)", args, code, errOut.String())
		}
	}
}

func TestExitCodes(t *testing.T) {
	for err, want := range map[error]int{
		usagef("x"): ExitUsage,
		fmt.Errorf("a: %w", transfer.ErrDeclined):    ExitDeclined,
		fmt.Errorf("a: %w", transfer.ErrUnreachable): ExitUnreachable,
		fmt.Errorf("a: %w", transfer.ErrInterrupted): ExitInterrupted,
		errors.New("disk on fire"):                   ExitError,
		said("2 of 3", errPartial):                   ExitPartial,
	} {
		if got := exitCode(err); got != want {
			t.Errorf("exitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.2:5000": "10.0.0.2:5000",
		"10.0.0.2":      "10.0.0.2:47100",
		"[fd00::1]:9":   "[fd00::1]:9",
		"fd00::1":       "[fd00::1]:47100",
	} {
		if got, err := normalizeAddr(in); err != nil || got != want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"host:0", "host:99999", ":5", "a:b:c"} {
		if _, err := normalizeAddr(bad); err == nil {
			t.Errorf("normalizeAddr(%q) accepted", bad)
		}
	}
	for s, want := range map[string]bool{"10.0.0.2": true, "h.lan:47100": true, "[fd00::1]:1": true, "beta": false, "ABCD-EFGH": false, "my laptop": false} {
		if looksLikeAddr(s) != want {
			t.Errorf("looksLikeAddr(%q) = %v", s, !want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{
		{"--home", home, "frobnicate"},
		{"--home", home, "send"},
		{"--home", home, "send", "-", "--to", "10.0.0.1:1"},
		{"--home", home, "receive", "--accept", "sometimes"},
		{"--home", home, "receive", "--port", "70000"},
		{"--home", home, "id", "extra"},
		{"--home", home, "send", "--streams", "0", "x"},
		{"--home", home, "send", "--paired", "x"},
		{"--home", home, "send", "--all", "--to", "a", "x"},
		{"--home", home, "send", "--to", "10.0.0.1:1", "--to", "10.0.0.2:1", "-", "--as", "x"},
		{"--home", home, "--name", strings.Repeat("n", 64), "id"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(args, strings.NewReader(""), &out, &errOut); code != ExitUsage {
			t.Errorf("ferry %q exited %d, want %d (stderr %q)", args, code, ExitUsage, errOut.String())
		}
	}
}

func TestIDJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"id", "--json", "--home", t.TempDir(), "--name", "n"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), `{"id":"`) || !strings.Contains(out.String(), `"name":"n"`) {
		t.Fatalf("ferry id --json printed %q", out.String())
	}
}
