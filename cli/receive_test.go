package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/internal/testnet"
)

// TestPortInUse: a receiver whose port is taken says what to do.
func TestPortInUse(t *testing.T) {
	testnet.Require(t)
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	var out, errOut bytes.Buffer
	code := Main([]string{"--home", t.TempDir(), "receive", "--port", port, "--accept", "all", "--dir", t.TempDir()},
		strings.NewReader(""), &out, &errOut)
	if code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	want := "address already in use; is another ferry receive running? Use --port 0 for any free port\n"
	if !strings.HasPrefix(errOut.String(), "ferry: listen on UDP port "+port) || !strings.HasSuffix(errOut.String(), want) {
		t.Errorf("stderr %q, want the port and …%q", errOut.String(), want)
	}
}

// TestJSONReceivePolicy: ferry --json receive cannot ask, says that it
// accepts paired devices only, and the listening event carries the policy.
func TestJSONReceivePolicy(t *testing.T) {
	testnet.Require(t)
	for _, tc := range []struct {
		flags   []string
		accept  string
		warning bool
	}{
		{nil, "trusted", true},
		{[]string{"--accept", "all"}, "all", false},
		{[]string{"--accept", "trusted"}, "trusted", false},
	} {
		args := append([]string{"--json", "receive", "--port", "0", "--dir", t.TempDir()}, tc.flags...)
		events := runUntil(t, args, "listening")
		listening := events[len(events)-1]
		if listening["accept"] != tc.accept {
			t.Errorf("%q: listening event %v, want accept %q", tc.flags, listening, tc.accept)
		}
		warned := slices.ContainsFunc(events, func(ev map[string]any) bool {
			msg, _ := ev["message"].(string)
			return ev["event"] == "warning" && strings.Contains(msg, "--json cannot ask questions, so only paired devices are accepted (--accept trusted)")
		})
		if warned != tc.warning {
			t.Errorf("%q: warned %v, want %v: %v", tc.flags, warned, tc.warning, events)
		}
	}
}

// runUntil runs this test binary as ferry (see TestMain) with args, reads
// its JSON events until one of kind event, interrupts it and returns them.
func runUntil(t *testing.T, args []string, event string) []map[string]any {
	t.Helper()
	cmd := &exec.Cmd{Path: os.Args[0], Args: append([]string{"ferry"}, args...),
		Env: append(os.Environ(), "FERRY_HOME="+t.TempDir()), Stderr: os.Stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	got := make(chan []map[string]any, 1)
	go func() {
		var events []map[string]any
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				t.Errorf("not a JSON event: %q", sc.Text())
				continue
			}
			events = append(events, ev)
			if ev["event"] == event {
				got <- events
				return
			}
		}
		got <- events
	}()
	select {
	case events := <-got:
		if len(events) == 0 || events[len(events)-1]["event"] != event {
			t.Fatalf("ferry %q ended without a %s event: %v", args, event, events)
		}
		return events
	case <-time.After(20 * time.Second):
		t.Fatalf("ferry %q: no %s event within 20 s", args, event)
	}
	return nil
}

// TestReceiveChecksTheFolder: a folder received files cannot be written
// into stops ferry receive at start-up, with the reason and what to do.
func TestReceiveChecksTheFolder(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{filepath.Join(file, "in"): "not a directory"}
	ro := filepath.Join(base, "ro")
	os.Mkdir(ro, 0o755)
	if os.Geteuid() == 0 { // root writes whatever the mode: a read-only mount
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro).CombinedOutput(); err == nil {
			t.Cleanup(func() { exec.Command("umount", ro).Run() })
			cases[ro] = "read-only file system"
		} else {
			t.Logf("no read-only case: mount: %v: %s", err, out)
		}
	} else {
		os.Chmod(ro, 0o500)
		cases[ro] = "permission denied"
	}
	for dir, why := range cases {
		var out, errOut bytes.Buffer
		ended := make(chan int, 1)
		go func() {
			ended <- Main([]string{"receive", "--home", t.TempDir(), "--dir", dir, "--port", "0"}, strings.NewReader(""), &out, &errOut)
		}()
		var code int
		select {
		case code = <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("--dir %s: ferry receive started and is still running", dir)
		}
		want := "ferry: cannot receive into " + dir + ": " + why + " (choose another folder with --dir)\n"
		if code != ExitError || errOut.String() != want || out.Len() > 0 {
			t.Errorf("--dir %s: exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, stderr %q", dir, code, out.String(), errOut.String(), want)
		}
	}
}
