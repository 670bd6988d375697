//go:build linux

package main

// The delay for case (d). This kernel has no netem, so the receiving host
// hands every UDP packet that arrives on its interface to this program
// through NFQUEUE (iptables' NFQUEUE target; nftables' own queue is not
// built in), which lets each one through after a fixed delay, in arrival
// order, like `tc qdisc add ... netem delay` on the receiver's ingress. The
// receiver's packets leave at once, so the round trip grows by the delay.
// Only packet IDs cross to this program (copy mode "meta"), and one batch
// verdict releases every packet that is due, so it costs little CPU next to
// the two ends. Loss (lossOn) is applied after the delay, in nftables.

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// nfnetlink_queue (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue    = 3
	nfqnlMsgPacket     = 0
	nfqnlMsgConfig     = 2
	nfqnlMsgVerdictBat = 3
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2
	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqnlCfgCmdBind    = 1
	nfqnlCopyMeta      = 1
	nfAccept           = 1
	nfqQueueNum        = 7
	nfqMaxLen          = 1 << 16
	nfqSlack           = 100 * time.Microsecond
	nfqRecvBuffer      = 32 << 20
)

// nfqMain runs the "nfq-delay" role: take queue nfqQueueNum in this
// network namespace, print {"event":"listening"} and delay every packet by
// -delay until stopped.
func nfqMain(args []string) int {
	fs := flag.NewFlagSet("nfq-delay", flag.ContinueOnError)
	delay := fs.Duration("delay", 2*time.Millisecond, "delay of each queued packet")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), roleLimit)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := nfqDelay(ctx, *delay); err != nil {
		fmt.Fprintf(os.Stderr, "nfq-delay: %v\n", err)
		return 1
	}
	return 0
}

// nlMsg builds one nfnetlink message for the queue subsystem.
func nlMsg(typ uint16, flags uint16, seq uint32, attrs ...[]byte) []byte {
	b := make([]byte, 16, 64)
	binary.NativeEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|typ)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0) // nfgenmsg
	binary.BigEndian.PutUint16(b[len(b)-2:], nfqQueueNum)
	for _, a := range attrs {
		b = append(b, a...)
	}
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	return b
}

// nlAttr is one netlink attribute, padded to 4 bytes.
func nlAttr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func nfqDelay(ctx context.Context, delay time.Duration) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nfqRecvBuffer)
	// Bind the queue, copy no payload, allow a deep queue.
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, unix.AF_INET}
	params := []byte{0, 0, 0, 0, nfqnlCopyMeta}
	var maxlen [4]byte
	binary.BigEndian.PutUint32(maxlen[:], nfqMaxLen)
	for i, m := range [][]byte{
		nlMsg(nfqnlMsgConfig, unix.NLM_F_ACK, 1, nlAttr(nfqaCfgCmd, cmd)),
		nlMsg(nfqnlMsgConfig, unix.NLM_F_ACK, 2, nlAttr(nfqaCfgParams, params), nlAttr(nfqaCfgQueueMaxlen, maxlen[:])),
	} {
		if err := unix.Sendto(fd, m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("configure queue: %w", err)
		}
		if err := nlAck(fd, uint32(i+1)); err != nil {
			return fmt.Errorf("configure queue: %w", err)
		}
	}
	emit(map[string]any{"event": "listening"})

	type held struct {
		id  uint32
		due time.Time
	}
	queue := make(chan held, nfqMaxLen)
	g, gctx := errgroup.WithContext(ctx)
	// Reads block; shutting the socket down ends them.
	stop := context.AfterFunc(gctx, func() { unix.Shutdown(fd, unix.SHUT_RDWR) })
	defer stop()
	g.Go(func() error { // packets in: note their IDs and arrival times
		buf := make([]byte, 1<<20)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if gctx.Err() != nil || errors.Is(err, unix.EBADF) {
					return nil
				}
				if errors.Is(err, unix.ENOBUFS) {
					continue // the kernel dropped messages: their packets are lost
				}
				return fmt.Errorf("netlink read: %w", err)
			}
			if n == 0 && gctx.Err() != nil {
				return nil
			}
			now := time.Now()
			for b := buf[:n]; len(b) >= 16; {
				l := int(binary.NativeEndian.Uint32(b[0:]))
				typ := binary.NativeEndian.Uint16(b[4:])
				if l < 16 || l > len(b) {
					break
				}
				if typ == nfnlSubsysQueue<<8|nfqnlMsgPacket && l >= 20 {
					for a := b[20:l]; len(a) >= 4; {
						al := int(binary.NativeEndian.Uint16(a[0:]))
						at := binary.NativeEndian.Uint16(a[2:]) & 0x3fff
						if al < 4 || al > len(a) {
							break
						}
						if at == nfqaPacketHdr && al >= 8 {
							select {
							case queue <- held{id: binary.BigEndian.Uint32(a[4:]), due: now.Add(delay)}:
							case <-gctx.Done():
								return nil
							}
						}
						a = a[min(len(a), (al+3)&^3):]
					}
				}
				b = b[min(len(b), (l+3)&^3):]
			}
		}
	})
	g.Go(func() error { // packets out: accept everything due with one verdict
		runtime.LockOSThread() // nanosleep on a thread of its own: timers are too coarse
		defer runtime.UnlockOSThread()
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[0:], nfAccept)
		for {
			var p held
			select {
			case p = <-queue:
			case <-gctx.Done():
				return nil
			}
			if d := time.Until(p.due); d > 0 {
				// Wake once for all packets due in the next nfqSlack: each
				// is held between delay and delay+nfqSlack.
				ts := unix.NsecToTimespec((d + nfqSlack).Nanoseconds())
				for unix.Nanosleep(&ts, &ts) == unix.EINTR {
				}
			}
			last := p.id
			now := time.Now()
		drain:
			for {
				select {
				case q := <-queue:
					if q.due.After(now) {
						// Not yet due: release what is, then wait for it.
						if err := nfqVerdict(fd, hdr, last); err != nil {
							return err
						}
						d := time.Until(q.due)
						ts := unix.NsecToTimespec((d + nfqSlack).Nanoseconds())
						for d > 0 && unix.Nanosleep(&ts, &ts) == unix.EINTR {
						}
						now = time.Now()
					}
					last = q.id
				default:
					break drain
				}
			}
			if err := nfqVerdict(fd, hdr, last); err != nil {
				return err
			}
		}
	})
	return g.Wait()
}

// nfqVerdict accepts every queued packet with an ID up to id.
func nfqVerdict(fd int, hdr [8]byte, id uint32) error {
	binary.BigEndian.PutUint32(hdr[4:], id)
	err := unix.Sendto(fd, nlMsg(nfqnlMsgVerdictBat, 0, 0, nlAttr(nfqaVerdictHdr, hdr[:])), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	if err != nil && !errors.Is(err, unix.EBADF) {
		return fmt.Errorf("verdict: %w", err)
	}
	return nil
}

// nlAck reads the kernel's answer to request seq.
func nlAck(fd int, seq uint32) error {
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= 16; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < 16 || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == unix.NLMSG_ERROR && binary.NativeEndian.Uint32(b[8:]) == seq && l >= 20 {
				if e := int32(binary.NativeEndian.Uint32(b[16:])); e != 0 {
					return syscall.Errno(-e)
				}
				return nil
			}
			b = b[min(len(b), (l+3)&^3):]
		}
	}
}

// delayOn delays every UDP packet that arrives on the receiving interface
// of s by delay, until off is called; off returns the CPU seconds the
// delaying program used.
func (b *bench) delayOn(ctx context.Context, s *setup, delay time.Duration) (off func() float64, err error) {
	ipt := func(op string) error {
		_, err := s.recv.Run(ctx, "iptables-legacy", "-t", "mangle", op, "PREROUTING",
			"-i", s.recvIf, "-p", "udp", "-j", "NFQUEUE", "--queue-num", strconv.Itoa(nfqQueueNum))
		return err
	}
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		return nil, fmt.Errorf("the delay needs iptables-legacy (Debian: apt-get install iptables): %w", err)
	}
	p, err := startProc("delay (nfq-delay)", command(ctx, s.recv, b.self, "nfq-delay", "-delay", delay.String()))
	if err != nil {
		return nil, err
	}
	if _, err := p.waitEvent(ctx, "listening", readyTimeout); err != nil {
		stopProc(p)
		return nil, err
	}
	if err := ipt("-A"); err != nil {
		stopProc(p)
		return nil, err
	}
	return func() float64 {
		if err := ipt("-D"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
		}
		stopProc(p)
		_, cpu, _ := p.usage()
		return cpu
	}, nil
}
