package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what is written to the master is typed on
// the terminal.
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var n int
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { term.Close() })
	term.Fd() // blocking, as standard input usually is
	return master, term
}

// waitEcho reads what the terminal echoes until it has shown want, so that
// what was typed is known to be in the terminal's input queue.
func waitEcho(t *testing.T, master *os.File, want string) {
	t.Helper()
	master.SetReadDeadline(time.Now().Add(waitLimit))
	defer master.SetReadDeadline(time.Time{})
	var seen strings.Builder
	buf := make([]byte, 64)
	for !strings.Contains(seen.String(), want) {
		n, err := master.Read(buf)
		if err != nil {
			t.Fatalf("the terminal did not echo %q (saw %q): %v", want, seen.String(), err)
		}
		seen.Write(buf[:n])
	}
}

// TestPromptTerminalDropsEarlierTyping: on a terminal, a line half typed
// before the question appeared is flushed: finishing it with Enter once the
// question is shown does not answer yes.
func TestPromptTerminalDropsEarlierTyping(t *testing.T) {
	master, term := openPTY(t)
	write(t, master, "y")
	waitEcho(t, master, "y")
	a := newAsker(t, term)
	q := a.ask(context.Background(), 1)
	write(t, master, "\n")
	a.expect(q, false, "a y typed before the question answered it")
	q = a.ask(context.Background(), 2)
	write(t, master, "y\n")
	a.expect(q, true, "y typed for the question")
}
