//go:build linux

package main

// One measured run of each kind: the baseline copy, ferry with one large
// file, ferry with a folder of small files. Every run checks what arrived.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-lan/ferry/internal/netlab"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// source is test data on disk and what it must look like on arrival.
type source struct {
	path  string
	files int
	bytes int64
	sums  map[string][32]byte // BLAKE3 per file, by path relative to the source's parent
}

// result is one run.
type result struct {
	Kind       string  `json:"kind"` // baseline-1, baseline-4, ferry
	Secs       float64 `json:"secs"`
	Bytes      int64   `json:"bytes"`
	Files      int     `json:"files"`
	MBps       float64 `json:"mb_per_s"`
	FilesPerS  float64 `json:"files_per_s"`
	RSSSendKiB int64   `json:"rss_send_kib"`
	RSSRecvKiB int64   `json:"rss_recv_kib"`
	CPUSend    float64 `json:"cpu_send_s"` // user + system seconds
	CPURecv    float64 `json:"cpu_recv_s"`
	SysSend    float64 `json:"sys_send_s"` // of which system
	SysRecv    float64 `json:"sys_recv_s"`
	// From the sender's start: ferry's "accepted" event, and the first data
	// seen by the receiver (ferry: its interface's rx_bytes 64 KiB above
	// their value at "accepted"; baseline: the first stream byte read).
	AcceptedSecs  float64 `json:"accepted_s,omitempty"`
	FirstDataSecs float64 `json:"first_data_s,omitempty"`
	PacketsLost   uint64  `json:"packets_lost,omitempty"` // baseline: quic-go's count
	PacketsSent   uint64  `json:"packets_sent,omitempty"`
	MinRTTms      float64 `json:"min_rtt_ms,omitempty"` // baseline: quic-go's, the largest over its connections
	SRTTms        float64 `json:"srtt_ms,omitempty"`
	// Other processes' average CPU use during the run, in cores (of 2).
	OthersCores float64 `json:"others_cores"`
}

func (r *result) finish(secs float64) {
	r.Secs = secs
	r.MBps = float64(r.Bytes) / 1e6 / secs
	r.FilesPerS = float64(r.Files) / secs
}

// runLimit bounds one run: generous, it only stops a hung one.
func runLimit(bytes int64) time.Duration {
	return time.Minute + time.Duration(bytes/2e6)*time.Second
}

const readyTimeout = 20 * time.Second

// makeFile writes size bytes of ChaCha8 output, flushed to disk so that no
// writeback runs during the measurements.
func makeFile(path string, size int64, seed byte) ([32]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{seed, 'f', 'e', 'r', 'r', 'y'})
	h := blake3.New()
	buf := make([]byte, 4<<20)
	for left := size; left > 0; {
		b := buf[:min(int64(len(buf)), left)]
		rng.Read(b)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			return [32]byte{}, err
		}
		left -= int64(len(b))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if err := f.Sync(); err != nil {
		return sum, err
	}
	return sum, f.Close()
}

func bigSource(path string, size int64, seed byte) (*source, error) {
	sum, err := makeFile(path, size, seed)
	if err != nil {
		return nil, err
	}
	return &source{path: path, files: 1, bytes: size, sums: map[string][32]byte{filepath.Base(path): sum}}, nil
}

// smallSource makes a folder of n files of size bytes each.
func smallSource(dir string, n int, size int64) (*source, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	s := &source{path: dir, files: n, bytes: int64(n) * size, sums: map[string][32]byte{}}
	rng := rand.NewChaCha8([32]byte{'s', 'm', 'a', 'l', 'l'})
	buf := make([]byte, size)
	for i := range n {
		rng.Read(buf)
		name := fmt.Sprintf("f%06d.bin", i)
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			return nil, err
		}
		s.sums[filepath.Join(filepath.Base(dir), name)] = blake3.Sum256(buf)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return s, unix.Syncfs(int(d.Fd()))
}

// verify checks that dir holds exactly the source's files, byte for byte
// (size and BLAKE3).
func (s *source) verify(dir string) error {
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		want, ok := s.sums[rel]
		if !ok {
			return fmt.Errorf("unexpected file %s in the received folder", rel)
		}
		if got, err := hashFile(p); err != nil {
			return err
		} else if got != want {
			return fmt.Errorf("%s differs from its source", rel)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != s.files {
		return fmt.Errorf("%d of %d files arrived", seen, s.files)
	}
	return nil
}

func hashFile(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

// discard gets rid of a run's output: at once, with the deletion flushed
// (syncfs), for large files; at the end of the bench for a folder of many
// files. ext4 without a journal (as on these VMs) does not reuse an inode
// freed in the last 60 s (300 s while its inode table block is dirty) and
// scans past every such inode when it allocates one, so creating the next
// run's 10,000 files right after deleting the last run's costs the receiver
// about four times the CPU: the runs would not be alike.
func (b *bench) discard(path string, files int) {
	if files > 100 {
		return // removed with b.tmp
	}
	os.RemoveAll(path)
	syncDir(b.tmp)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		unix.Syncfs(int(d.Fd()))
		d.Close()
	}
}

// recvAddr waits for a receiver of this setup to say it listens, and
// returns the HOST:PORT where it does.
func (s *setup) recvAddr(ctx context.Context, recv *proc) (string, error) {
	ev, err := recv.waitEvent(ctx, "listening", readyTimeout)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(s.recvIP, strconv.Itoa(int(ev.num("port")))), nil
}

// baselineRun copies src with the bare quic-go program over conns
// connections. Time runs from the sender's start to the receiver's last
// byte written.
func (b *bench) baselineRun(ctx context.Context, s *setup, src *source, conns int, prof string) (result, error) {
	r := result{Kind: "baseline-" + strconv.Itoa(conns), Bytes: src.bytes, Files: 1}
	ctx, g := newProcGroup(ctx, runLimit(src.bytes))
	defer g.end()
	dst := filepath.Join(b.tmp, "baseline.out")
	defer b.discard(dst, 1)
	others := startOthers()
	profArgs := func(side string) []string {
		if prof == "" {
			return nil
		}
		return []string{"-cpuprofile", prof + "-" + side + ".pprof"}
	}
	recv, err := g.start("baseline receiver", command(ctx, s.recv, b.self,
		append([]string{"quic-recv", "-listen", net.JoinHostPort(s.recvIP, "0"), "-out", dst, "-conns", strconv.Itoa(conns)}, profArgs("recv")...)...))
	if err != nil {
		return r, err
	}
	addr, err := s.recvAddr(ctx, recv)
	if err != nil {
		return r, err
	}
	send, err := g.start("baseline sender", command(ctx, s.send, b.self,
		append([]string{"quic-send", "-addr", addr, "-local", net.JoinHostPort(s.sendIP, "0"), "-file", src.path, "-conns", strconv.Itoa(conns)}, profArgs("send")...)...))
	if err != nil {
		return r, err
	}
	if err := waitPair(ctx, send, recv); err != nil {
		return r, err
	}
	r.OthersCores = others.cores(send, recv)
	done, ok := recv.event("done")
	if !ok || int64(done.num("bytes")) != src.bytes {
		return r, fmt.Errorf("baseline receiver did not report %d bytes", src.bytes)
	}
	if sd, ok := send.event("done"); ok {
		r.PacketsLost, r.PacketsSent = uint64(sd.num("packets_lost")), uint64(sd.num("packets_sent"))
		r.MinRTTms, r.SRTTms = sd.num("min_rtt_ms"), sd.num("srtt_ms")
	}
	t0 := send.start.UnixNano()
	r.FirstDataSecs = float64(int64(done.num("first_ns"))-t0) / 1e9
	r.finish(float64(int64(done.num("last_ns"))-t0) / 1e9)
	r.RSSSendKiB, r.CPUSend, r.SysSend = send.usage()
	r.RSSRecvKiB, r.CPURecv, r.SysRecv = recv.usage()
	if got, err := hashFile(dst); err != nil || got != src.sums[filepath.Base(src.path)] {
		return r, fmt.Errorf("baseline: the received file differs from the source (%v)", err)
	}
	return r, nil
}

// ferryRun sends src with the real ferry binary: `ferry receive --once` in
// the background, then `ferry send`, timed from the sender's start until both
// have exited 0. prof, if set, runs the bench binary's profiling ferry
// ("ferry-prof") instead and writes CPU profiles prof-{send,recv}.pprof.
func (b *bench) ferryRun(ctx context.Context, s *setup, src *source, prof string, discover bool) (result, error) {
	r := result{Kind: "ferry", Bytes: src.bytes, Files: src.files}
	ctx, g := newProcGroup(ctx, runLimit(src.bytes))
	defer g.end()
	parent := b.tmp
	if src == b.small {
		parent = b.smallDst
	}
	dst, err := os.MkdirTemp(parent, "received-")
	if err != nil {
		return r, err
	}
	defer b.discard(dst, src.files)
	others := startOthers()
	ferry := func(h *netlab.Host, side string, args ...string) (*proc, error) {
		if prof == "" {
			return g.start("ferry "+args[0], command(ctx, h, b.ferry, args...))
		}
		return g.start("ferry "+args[0]+" (profiled)", command(ctx, h, b.self, append([]string{"ferry-prof"}, args...)...),
			"BENCH_CPUPROFILE="+prof+"-"+side+".pprof")
	}
	recv, err := ferry(s.recv, "recv", "receive", "--once", "--accept", "all", "--port", "0", "--json",
		"--dir", dst, "--home", b.homeRecv, "--name", "bench-recv")
	if err != nil {
		return r, err
	}
	addr, err := s.recvAddr(ctx, recv)
	if err != nil {
		return r, err
	}
	to := []string{"--to", addr}
	if discover {
		to = nil // the only receiver on the link, found by mDNS
	}
	send, err := ferry(s.send, "send", append(append([]string{"send"}, to...), src.path, "--json", "--home", b.homeSend, "--name", "bench-send")...)
	if err != nil {
		return r, err
	}
	first := watchFirstData(recv.cmd.Process.Pid, s.recvIf, send)

	err = waitPair(ctx, send, recv)
	firstAt := first()
	if err != nil {
		return r, err
	}
	r.OthersCores = others.cores(send, recv)
	done, ok := send.event("done")
	switch {
	case !ok:
		return r, fmt.Errorf("ferry send printed no done event")
	case int(done.num("files")) != src.files || int64(done.num("bytes")) != src.bytes || int64(done.num("bytes_sent")) != src.bytes:
		return r, fmt.Errorf("ferry send: done event %v, want %d files, %d bytes, all sent", done.fields, src.files, src.bytes)
	}
	r.finish(recv.end.Sub(send.start).Seconds())
	if send.end.After(recv.end) {
		r.finish(send.end.Sub(send.start).Seconds())
	}
	if acc, ok := send.event("accepted"); ok {
		r.AcceptedSecs = acc.at.Sub(send.start).Seconds()
	}
	if !firstAt.IsZero() {
		r.FirstDataSecs = firstAt.Sub(send.start).Seconds()
	}
	r.RSSSendKiB, r.CPUSend, r.SysSend = send.usage()
	r.RSSRecvKiB, r.CPURecv, r.SysRecv = recv.usage()
	if err := src.verify(dst); err != nil {
		return r, fmt.Errorf("ferry: %w", err)
	}
	return r, nil
}

// waitPair waits for a sender and then its receiver. A receiver whose sender
// failed would wait for another one: it is stopped; one that has not exited
// 30 s after its sender did is stopped too.
func waitPair(ctx context.Context, send, recv *proc) error {
	if err := send.wait(ctx); err != nil {
		stopProc(recv)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case <-recv.done:
	case <-ctx.Done():
		stopProc(recv)
		return fmt.Errorf("%s did not exit after the sender finished%s", recv.name, recv.stderrTail())
	}
	return recv.wait(ctx)
}

// watchFirstData polls the receiving host's rx_bytes and returns a function
// that stops polling and gives the time at which, after the sender printed
// "accepted", 64 KiB more had arrived: the first data on the wire. (Before
// "accepted" only the handshake, offer and decision move.) On loopback the
// counter is shared with the rest of the host, so the figure may be early,
// never before "accepted".
func watchFirstData(recvPID int, iface string, send *proc) (stop func() time.Time) {
	const threshold = 64 << 10
	quit := make(chan struct{})
	var at time.Time
	var wg sync.WaitGroup
	wg.Go(func() {
		base, err := rxBytes(recvPID, iface)
		if err != nil {
			return
		}
		for {
			select {
			case <-quit:
				return
			case <-send.done:
				return
			default:
			}
			n, err := rxBytes(recvPID, iface)
			if err != nil {
				return
			}
			if _, accepted := send.event("accepted"); !accepted {
				base = n
			} else if n-base >= threshold {
				at = time.Now()
				return
			}
			time.Sleep(250 * time.Microsecond)
		}
	})
	return func() time.Time {
		close(quit)
		wg.Wait()
		return at
	}
}
