//go:build unix

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// fileInput reads answers from a file descriptor (the terminal; a pipe in
// tests), and only while a question waits for one: it waits in poll(2) for
// the input or for a wake-up pipe written when the question is withdrawn,
// so no read is left pending between questions.
type fileInput struct {
	in           syscall.RawConn
	tty          bool
	wakeR, wakeW *os.File
	wake         syscall.RawConn // wakeR's
}

// maxAnswer bounds the line kept; a longer line answers no.
const maxAnswer = 256

// maxDiscard bounds what discard reads from a non-terminal, so a writer
// that never stops cannot hold a question back.
const maxDiscard = 1 << 20

func newAnswerInput(r io.Reader) (answerInput, error) {
	f, ok := r.(*os.File)
	if !ok {
		return newLineInput(r), nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("standard input: %w", err)
	}
	in := &fileInput{in: rc}
	if err := rc.Control(func(fd uintptr) { in.tty = term.IsTerminal(int(fd)) }); err != nil {
		return nil, fmt.Errorf("standard input: %w", err)
	}
	if in.wakeR, in.wakeW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("make a wake-up pipe: %w", err)
	}
	if in.wake, err = in.wakeR.SyscallConn(); err != nil {
		in.close()
		return nil, fmt.Errorf("make a wake-up pipe: %w", err)
	}
	return in, nil
}

func (in *fileInput) close() error {
	return errors.Join(in.wakeR.Close(), in.wakeW.Close())
}

// discard drops what was typed before now: on a terminal it flushes the
// input queue (a half-typed line too); elsewhere it reads and drops what
// can be read without waiting.
func (in *fileInput) discard() error {
	if in.tty {
		var err error
		if cerr := in.in.Control(func(fd uintptr) { err = flushInput(int(fd)) }); cerr != nil {
			return cerr
		}
		if !errors.Is(err, errNoFlush) {
			return err
		}
	}
	buf := make([]byte, 4096)
	for dropped := 0; dropped < maxDiscard; {
		ready, err := in.wait(0)
		if err != nil || !ready {
			return err
		}
		n, err := in.read(buf)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil || n == 0 {
			return err // at the end of the input, readLine reports it
		}
		dropped += n
	}
	return nil
}

func (in *fileInput) readLine(ctx context.Context) (string, error) {
	in.drainWake()
	stop := context.AfterFunc(ctx, func() { in.wakeW.Write([]byte{0}) })
	defer stop()
	var line []byte
	long := false
	buf := make([]byte, 4096)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		ready, err := in.wait(-1)
		if err != nil {
			return "", fmt.Errorf("wait for standard input: %w", err)
		}
		if !ready { // woken: the loop checks ctx
			in.drainWake()
			continue
		}
		n, err := in.read(buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			return "", fmt.Errorf("read standard input: %w", err)
		case n == 0:
			return "", io.EOF
		}
		if err := ctx.Err(); err != nil {
			return "", err // typed for a question that is gone
		}
		chunk := buf[:n]
		end := bytes.IndexByte(chunk, '\n')
		if end >= 0 {
			chunk = chunk[:end] // the rest of this read is dropped
		}
		if len(line)+len(chunk) > maxAnswer {
			long = true
		} else {
			line = append(line, chunk...)
		}
		if end >= 0 {
			if long {
				return "", nil
			}
			return string(line), nil
		}
	}
}

// wait blocks in poll(2) until the input can be read (ready: data, its end
// or an error) or the wake-up pipe is written. timeout is in milliseconds,
// -1 for none.
func (in *fileInput) wait(timeout int) (ready bool, err error) {
	var fds [2]unix.PollFd
	cerr := in.in.Control(func(fd uintptr) {
		cerr := in.wake.Control(func(wfd uintptr) {
			fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
			fds[1] = unix.PollFd{Fd: int32(wfd), Events: unix.POLLIN}
			for {
				_, err = unix.Poll(fds[:], timeout)
				if !errors.Is(err, unix.EINTR) {
					return
				}
			}
		})
		if err == nil {
			err = cerr
		}
	})
	if err == nil {
		err = cerr
	}
	return err == nil && fds[0].Revents != 0, err
}

func (in *fileInput) read(b []byte) (n int, err error) {
	cerr := in.in.Control(func(fd uintptr) {
		for {
			n, err = unix.Read(int(fd), b)
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	})
	if cerr != nil {
		return 0, cerr
	}
	return max(n, 0), err
}

// drainWake empties the wake-up pipe (its end does not block).
func (in *fileInput) drainWake() {
	var b [64]byte
	in.wake.Control(func(fd uintptr) {
		for {
			if n, err := unix.Read(int(fd), b[:]); n <= 0 || err != nil {
				return
			}
		}
	})
}

// errNoFlush: flushInput cannot flush a terminal's input on this system.
var errNoFlush = errors.New("flushing terminal input is not supported here")
