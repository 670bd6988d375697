//go:build linux

package main

// The baseline: a bare quic-go copy of a file, one stream per connection,
// run as two child processes of the bench binary ("quic-recv", "quic-send").
// quic-go's defaults (nil *quic.Config, GSO on), TLS 1.3 with a self-signed
// Ed25519 certificate on each side and client certificates required, as
// ferry does. Each stream carries a 16-byte header (offset, length) and then
// that range of the file; the receiver writes it at the offset and answers
// one byte when the range is on disk (no fsync), so the sender can close.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"
)

const (
	baseALPN   = "ferry-bench"
	copyBuffer = 1 << 20 // read and write size on both sides
	roleLimit  = 30 * time.Minute
)

// selfSigned makes a throwaway Ed25519 certificate, as ferry's device
// certificates are.
func selfSigned() (tls.Certificate, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func baseTLS(server bool) (*tls.Config, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{baseALPN},
	}
	if server {
		c.ClientAuth = tls.RequireAnyClientCert
	} else {
		c.ServerName = "bench"
		c.InsecureSkipVerify = true // self-signed, as in ferry (which pins the key instead)
	}
	return c, nil
}

// emit prints one JSON event line for the bench to read.
func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

// roleMain runs a child role with its own flags and returns the exit code.
func roleMain(role string, args []string) int {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "quic-recv: local address")
	out := fs.String("out", "", "quic-recv: file to write")
	addr := fs.String("addr", "", "quic-send: receiver address")
	local := fs.String("local", "", "quic-send: local address")
	file := fs.String("file", "", "quic-send: file to send")
	conns := fs.Int("conns", 1, "connections (one stream each)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), roleLimit)
	defer cancel()
	var err error
	switch role {
	case "quic-recv":
		err = quicRecv(ctx, *listen, *out, *conns)
	case "quic-send":
		err = quicSend(ctx, *addr, *local, *file, *conns)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	return 0
}

// endpoint opens a QUIC transport on a UDP socket bound to local ("": any
// address and port), with the TLS config of the server or the client side.
func endpoint(local string, server bool) (*quic.Transport, *tls.Config, error) {
	var la *net.UDPAddr
	if local != "" {
		var err error
		if la, err = net.ResolveUDPAddr("udp", local); err != nil {
			return nil, nil, err
		}
	}
	tlsConf, err := baseTLS(server)
	if err != nil {
		return nil, nil, err
	}
	udp, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, nil, err
	}
	return &quic.Transport{Conn: udp}, tlsConf, nil
}

func quicRecv(ctx context.Context, listen, out string, conns int) error {
	tr, tlsConf, err := endpoint(listen, true)
	if err != nil {
		return err
	}
	defer tr.Close()
	ln, err := tr.Listen(tlsConf, nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	emit(map[string]any{"event": "listening", "port": tr.Conn.LocalAddr().(*net.UDPAddr).Port})

	var first, last atomic.Int64 // unix ns of the first byte read, of the last byte written
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range conns {
		conn, err := ln.Accept(gctx)
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		g.Go(func() error {
			str, err := conn.AcceptStream(gctx)
			if err != nil {
				return fmt.Errorf("accept stream: %w", err)
			}
			var hdr [16]byte
			if _, err := io.ReadFull(str, hdr[:]); err != nil {
				return fmt.Errorf("read header: %w", err)
			}
			first.CompareAndSwap(0, time.Now().UnixNano())
			off := int64(binary.BigEndian.Uint64(hdr[:8]))
			n := int64(binary.BigEndian.Uint64(hdr[8:]))
			buf := make([]byte, copyBuffer)
			for left := n; left > 0; {
				m, err := io.ReadFull(str, buf[:min(int64(len(buf)), left)])
				if err != nil {
					return fmt.Errorf("read data: %w", err)
				}
				if _, err := f.WriteAt(buf[:m], off); err != nil {
					return err
				}
				off += int64(m)
				left -= int64(m)
			}
			now := time.Now().UnixNano()
			for l := last.Load(); now > l && !last.CompareAndSwap(l, now); l = last.Load() {
			}
			total.Add(n)
			if _, err := str.Write([]byte{1}); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			str.Close()
			select { // the sender closes once it has the ack
			case <-conn.Context().Done():
			case <-time.After(10 * time.Second):
				conn.CloseWithError(0, "")
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	emit(map[string]any{"event": "done", "bytes": total.Load(), "first_ns": first.Load(), "last_ns": last.Load()})
	return nil
}

func quicSend(ctx context.Context, addr, local, file string, conns int) error {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	tr, tlsConf, err := endpoint(local, false)
	if err != nil {
		return err
	}
	defer tr.Close()
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	part := (size + int64(conns) - 1) / int64(conns)
	var mu sync.Mutex
	var lost, sent uint64
	var minRTT, srtt time.Duration // the largest over the connections
	g, gctx := errgroup.WithContext(ctx)
	for i := range conns {
		off := int64(i) * part
		n := max(0, min(part, size-off))
		g.Go(func() error {
			conn, err := tr.Dial(gctx, ra, tlsConf, nil)
			if err != nil {
				return fmt.Errorf("dial: %w", err)
			}
			defer conn.CloseWithError(0, "")
			str, err := conn.OpenStreamSync(gctx)
			if err != nil {
				return err
			}
			var hdr [16]byte
			binary.BigEndian.PutUint64(hdr[:8], uint64(off))
			binary.BigEndian.PutUint64(hdr[8:], uint64(n))
			if _, err := str.Write(hdr[:]); err != nil {
				return err
			}
			buf := make([]byte, copyBuffer)
			for pos, end := off, off+n; pos < end; {
				m, err := f.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
				if m == 0 && err != nil {
					return fmt.Errorf("read %s: %w", file, err)
				}
				if _, err := str.Write(buf[:m]); err != nil {
					return err
				}
				pos += int64(m)
			}
			str.Close()
			var ack [1]byte
			if _, err := io.ReadFull(str, ack[:]); err != nil {
				return fmt.Errorf("wait for the ack: %w", err)
			}
			st := conn.ConnectionStats()
			mu.Lock()
			lost += st.PacketsLost
			sent += st.PacketsSent
			minRTT = max(minRTT, st.MinRTT)
			srtt = max(srtt, st.SmoothedRTT)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	emit(map[string]any{"event": "done", "bytes": size, "packets_sent": sent, "packets_lost": lost,
		"min_rtt_ms": minRTT.Seconds() * 1000, "srtt_ms": srtt.Seconds() * 1000})
	return nil
}
