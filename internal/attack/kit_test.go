// Package attack is a black-box attack kit against ferry's protocol 2,
// written from transfer/doc.go and SECURITY.md only. It runs the real ferry
// binary as child processes on 127.0.0.1 and talks to them with its own
// implementation of the wire protocol. A test that fails with "FINDING:"
// found a claim of doc.go or SECURITY.md that does not hold.
//
// Receivers run with --port 0 and are reached on 127.0.0.1 only, in a
// private network namespace (internal/testnet): their mDNS announcements
// stay on its loopback interface.
package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ferry-lan/ferry/internal/testnet"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/identity"
	"github.com/quic-go/quic-go"
	"github.com/zeebo/blake3"
)

// ferryBin is the ferry binary built once for the whole package; empty when
// the build failed (buildErr says why), and then every test skips.
var (
	ferryBin string
	buildErr error
)

func TestMain(m *testing.M) {
	// Every test starts ferry receivers, which announce themselves by mDNS:
	// as root the kit runs in a private network namespace of its own.
	if code, done := testnet.Isolate(); done {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "ferry-attack-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build: %v\n%s", err, out)
	} else {
		ferryBin = bin
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needFerry(t *testing.T) {
	t.Helper()
	testnet.Require(t)
	if ferryBin == "" {
		t.Skipf("cannot build ferry: %v", buildErr)
	}
}

// ---------------------------------------------------------------------------
// Child processes

// proc is a running ferry child with its --json events and standard error.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	mu      sync.Mutex
	events  []map[string]any
	stderr  strings.Builder
	changed chan struct{} // closed and replaced on every event and at exit
	done    chan struct{}
	err     error // cmd.Wait's result, once done
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	needFerry(t)
	p := &proc{t: t, name: name, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(ferryBin, args...)
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if name == "receiver" {
		// The runtime's GC trace gives the live heap after each GC, which
		// the memory test reads (RSS alone includes the GC's slack).
		p.cmd.Env = append(p.cmd.Env, "GODEBUG=gctrace=1")
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			ev := map[string]any{}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				ev = map[string]any{"event": "_raw", "line": sc.Text()}
			}
			p.mu.Lock()
			p.events = append(p.events, ev)
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
	go func() {
		wg.Wait()
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.notifyLocked()
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			t.Logf("%s events: %v\n%s stderr:\n%s", p.name, p.Events(), p.name, p.Stderr())
		}
	})
	return p
}

func (p *proc) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *proc) kill() {
	if p.alive() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) Events() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.events...)
}

func (p *proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// count returns how many events named name arrived so far.
func (p *proc) count(name string) int {
	n := 0
	for _, ev := range p.Events() {
		if ev["event"] == name {
			n++
		}
	}
	return n
}

// waitFor waits until cond holds (checked on every event, stderr line and at
// exit) or d passes.
func (p *proc) waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond()
		}
	}
}

// waitEvent waits for the n-th (1-based) event named name.
func (p *proc) waitEvent(name string, n int, d time.Duration) (map[string]any, bool) {
	var found map[string]any
	ok := p.waitFor(d, func() bool {
		k := 0
		for _, ev := range p.Events() {
			if ev["event"] == name {
				k++
				if k == n {
					found = ev
					return true
				}
			}
		}
		return false
	})
	return found, ok
}

// waitExit waits for the process to end and returns its exit code (-1 when
// it did not end in time).
func (p *proc) waitExit(d time.Duration) int {
	select {
	case <-p.done:
		if p.err == nil {
			return 0
		}
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return ee.ExitCode()
		}
		return -2
	case <-time.After(d):
		return -1
	}
}

// vmStatus returns a field of /proc/PID/status (VmHWM, VmRSS) in KiB.
func (p *proc) vmStatus(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%d", &kb)
			return kb
		}
	}
	return -1
}

// maxLiveHeapMB returns the largest live heap after a GC the runtime
// reported (GODEBUG=gctrace=1: "gc N @…: …, A->B->C MB, …": C is live).
func (p *proc) maxLiveHeapMB() int {
	max := 0
	for _, line := range strings.Split(p.Stderr(), "\n") {
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		i := strings.Index(line, " MB,")
		if i < 0 {
			continue
		}
		f := strings.Split(line[:i], "->")
		var mb int
		fmt.Sscanf(f[len(f)-1], "%d", &mb)
		if mb > max {
			max = mb
		}
	}
	return max
}

// receiver is a running `ferry receive --json`.
type receiver struct {
	*proc
	port int
	id   identity.DeviceID
	dir  string
}

func startReceiver(t *testing.T, accept string, extra ...string) *receiver {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"--json", "--home", t.TempDir(), "--name", "victim-receiver",
		"receive", "--accept", accept, "--port", "0", "--dir", dir}, extra...)
	p := startProc(t, "receiver", args...)
	ev, ok := p.waitEvent("listening", 1, 10*time.Second)
	if !ok {
		t.Fatalf("receiver did not listen: %s", p.Stderr())
	}
	r := &receiver{proc: p, dir: dir, port: int(ev["port"].(float64))}
	id, err := identity.ParseDeviceID(ev["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	r.id = id
	return r
}

func (r *receiver) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// sessions returns the receiver's "session" events.
func (r *receiver) sessions() int { return r.count("session") }

// sendFile runs a real `ferry send` of a small fresh file to addr with a new
// device and returns the process.
func sendFile(t *testing.T, addr string, extra ...string) *proc {
	t.Helper()
	src := filepath.Join(t.TempDir(), fmt.Sprintf("real-%d.txt", time.Now().UnixNano()))
	if err := os.WriteFile(src, []byte("the real sender's file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--json", "--home", t.TempDir(), "--name", "real-sender", "send", "--to", addr}, extra...)
	return startProc(t, "sender", append(args, src)...)
}

// realSenderServed runs a real sender against r and returns how long it took
// to deliver its file; it fails the test when that does not happen within d.
func realSenderServed(t *testing.T, r *receiver, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	s := sendFile(t, r.addr())
	if code := s.waitExit(d); code != 0 {
		s.kill()
		t.Fatalf("real sender not served within %v: exit %d, events %v, stderr %s", d, code, s.Events(), s.Stderr())
	}
	if s.count("done") != 1 {
		t.Fatalf("real sender exited 0 without a done event: %v", s.Events())
	}
	if !r.alive() {
		t.Fatalf("receiver died: %s", r.Stderr())
	}
	return time.Since(start)
}

// ---------------------------------------------------------------------------
// Devices, TLS and QUIC

type device struct {
	cert tls.Certificate
	id   identity.DeviceID
	alpn string // the ALPN clientTLS offers by default ("" is ferry/2)
}

func newDevice(t testing.TB) device {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := identity.SelfSign(key, "attacker")
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cert.Leaf = leaf
	return device{cert: cert, id: identity.IDFromCert(leaf)}
}

func (d device) clientTLS(alpn ...string) *tls.Config {
	if len(alpn) == 0 && d.alpn != "" {
		alpn = []string{d.alpn}
	}
	if len(alpn) == 0 {
		alpn = []string{"ferry/2"}
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{d.cert},
		InsecureSkipVerify: true, // devices are self-signed; the ID is checked by hand
		NextProtos:         alpn,
		MinVersion:         tls.VersionTLS13,
		ServerName:         "ferry",
	}
}

func (d device) serverTLS(alpn ...string) *tls.Config {
	if len(alpn) == 0 {
		alpn = []string{"ferry/2"}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{d.cert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   alpn,
		MinVersion:   tls.VersionTLS13,
	}
}

func quicConf() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  5 * time.Second,
		MaxIdleTimeout:        60 * time.Second,
		KeepAlivePeriod:       3 * time.Second,
		MaxIncomingStreams:    100,
		MaxIncomingUniStreams: 100,
	}
}

func dial(ctx context.Context, addr string, d device, alpn ...string) (*quic.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return quic.DialAddr(ctx, addr, d.clientTLS(alpn...), quicConf())
}

func peerID(c *quic.Conn) identity.DeviceID {
	id, err := identity.PeerID(c.ConnectionState().TLS)
	if err != nil {
		panic(err)
	}
	return id
}

func exporter(c *quic.Conn) []byte {
	cs := c.ConnectionState().TLS
	b, err := cs.ExportKeyingMaterial("EXPORTER-ferry/2 verification", nil, 32)
	if err != nil {
		panic(err)
	}
	return b
}

var errStillOpen = errors.New("connection still open")

// closeCode returns the application error code a connection was closed with
// by its peer, or -1.
func closeCode(c *quic.Conn, d time.Duration) (int64, error) {
	select {
	case <-c.Context().Done():
	case <-time.After(d):
		return -1, errStillOpen
	}
	err := context.Cause(c.Context())
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return int64(ae.ErrorCode), err
	}
	return -1, err
}

// ---------------------------------------------------------------------------
// Frames

const (
	tOffer    = 1
	tDecision = 2
	tPlan     = 3
	tFileEnd  = 4
	tFileDone = 5
	tError    = 6
	tDone     = 7
	tCommit   = 8
	tNonce    = 9
	tReveal   = 10
)

func frame(typ byte, body []byte) []byte {
	b := make([]byte, 5, 5+len(body))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)))
	return append(b, body...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func writeFrame(w io.Writer, typ byte, body []byte) error {
	_, err := w.Write(frame(typ, body))
	return err
}

// deadliner is a stream with a read deadline.
type deadliner interface {
	io.Reader
	SetReadDeadline(time.Time) error
}

// readFrame reads one frame within d.
func readFrame(r deadliner, d time.Duration) (byte, []byte, error) {
	r.SetReadDeadline(time.Now().Add(d))
	defer r.SetReadDeadline(time.Time{})
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > 64<<20 {
		return h[0], nil, fmt.Errorf("frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return h[0], nil, err
	}
	return h[0], body, nil
}

// value is the body of Commit, Nonce and Reveal.
type value struct {
	Value []byte `json:"value"`
}

func valueBody(b []byte) []byte { return mustJSON(value{b}) }

type decision struct {
	Accept bool            `json:"accept"`
	Code   string          `json:"code"`
	Reason string          `json:"reason"`
	Token  []byte          `json:"token"`
	Name   string          `json:"name"`
	Have   json.RawMessage `json:"have"`
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ---------------------------------------------------------------------------
// Verification code, as transfer/doc.go specifies it

func commitment(nonceR []byte) []byte {
	h := sha256.New()
	h.Write([]byte("ferry/2 verification commit\x00"))
	h.Write(nonceR)
	return h.Sum(nil)
}

func verificationCode(sender, receiver identity.DeviceID, exp, offerBody, nonceS, nonceR []byte) string {
	h := sha3.NewSHAKE256()
	h.Write([]byte("ferry/2 verification code\x00"))
	digest := sha256.Sum256(offerBody)
	for _, f := range [][]byte{sender[:], receiver[:], exp, digest[:], nonceS, nonceR} {
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(f)))
		h.Write(l[:])
		h.Write(f)
	}
	limit := uint64(math.MaxUint64) - (uint64(math.MaxUint64)%1e6+1)%1e6
	for i := 0; i < 1000; i++ {
		var w [8]byte
		h.Read(w[:])
		v := binary.BigEndian.Uint64(w[:])
		if v <= limit {
			c := v % 1e6
			return fmt.Sprintf("%03d-%03d", c/1000, c%1000)
		}
	}
	panic("no code")
}

// ---------------------------------------------------------------------------
// Offers

type entry struct {
	Path    string `json:"path"`
	Dir     bool   `json:"dir,omitempty"`
	Size    int64  `json:"size"`
	Chunk   int64  `json:"chunk,omitempty"`
	Exec    bool   `json:"exec,omitempty"`
	Private bool   `json:"private,omitempty"`
	Mtime   any    `json:"mtime,omitempty"`
	Stream  bool   `json:"stream,omitempty"`
}

type offer struct {
	V       int     `json:"v"`
	Name    string  `json:"name"`
	Session string  `json:"session"`
	Entries []entry `json:"entries"`
}

func smallOffer(name, path string, size int64) offer {
	return offer{V: 2, Name: name, Session: hex.EncodeToString(random(16)), Entries: []entry{{Path: path, Size: size, Chunk: 1 << 20}}}
}

// ---------------------------------------------------------------------------
// The attacker's sender side

// attempt is one connection of the attacker as a sender.
type attempt struct {
	conn      *quic.Conn
	ctl       *quic.Stream
	dev       device
	offerBody []byte
	commit    []byte
	nonceS    []byte
	nonceR    []byte
	code      string
	dec       decision
}

// connect dials addr as dev, opens the control stream and sends offerBody.
func connect(t testing.TB, addr string, dev device, offerBody []byte) *attempt {
	t.Helper()
	a, err := tryConnect(addr, dev, offerBody)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.conn.CloseWithError(0, "") })
	return a
}

// tryConnect is connect for other goroutines than the test's: the caller
// closes the connection.
func tryConnect(addr string, dev device, offerBody []byte) (*attempt, error) {
	c, err := dial(context.Background(), addr, dev)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctl, err := c.OpenStreamSync(ctx)
	if err != nil {
		c.CloseWithError(0, "")
		return nil, fmt.Errorf("open control stream: %w", err)
	}
	a := &attempt{conn: c, ctl: ctl, dev: dev, offerBody: offerBody}
	if offerBody != nil {
		// A receiver may refuse (and close) before the whole offer is in.
		writeFrame(ctl, tOffer, offerBody)
	}
	return a, nil
}

// verify runs Commit, Nonce, Reveal and reads the Decision.
func (a *attempt) verify(t testing.TB) {
	t.Helper()
	a.reveal(t)
	a.readDecision(t)
}

// reveal reads the Commit, sends a Nonce, reads and checks the Reveal and
// computes the code.
func (a *attempt) reveal(t testing.TB) {
	t.Helper()
	typ, body, err := readFrame(a.ctl, 10*time.Second)
	if err != nil || typ != tCommit {
		t.Fatalf("want Commit, got type %d %q %v", typ, body, err)
	}
	var v value
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	a.commit = v.Value
	a.nonceS = random(32)
	if err := writeFrame(a.ctl, tNonce, valueBody(a.nonceS)); err != nil {
		t.Fatal(err)
	}
	typ, body, err = readFrame(a.ctl, 10*time.Second)
	if err != nil || typ != tReveal {
		t.Fatalf("want Reveal, got type %d %q %v", typ, body, err)
	}
	v = value{}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	a.nonceR = v.Value
	if !bytes.Equal(commitment(a.nonceR), a.commit) {
		t.Fatalf("receiver's reveal does not open its commitment")
	}
	a.code = verificationCode(a.dev.id, peerID(a.conn), exporter(a.conn), a.offerBody, a.nonceS, a.nonceR)
}

func (a *attempt) readDecision(t testing.TB) {
	t.Helper()
	typ, body, err := readFrame(a.ctl, 15*time.Second)
	if err != nil || typ != tDecision {
		t.Fatalf("want Decision, got type %d %q %v", typ, body, err)
	}
	if err := json.Unmarshal(body, &a.dec); err != nil {
		t.Fatal(err)
	}
}

// refused reports how the receiver answered a hostile control exchange
// within d: "decision:<code>" for a refusing Decision, "closed:<code>" for a
// closed connection or stream, or "frame:<type>" for anything else, which a
// test reads as "not refused".
func refused(a *attempt, d time.Duration) string {
	deadline := time.Now().Add(d)
	for i := 0; i < 8 && time.Now().Before(deadline); i++ {
		typ, body, err := readFrame(a.ctl, time.Until(deadline))
		if err != nil {
			code, _ := closeCode(a.conn, time.Until(deadline))
			return fmt.Sprintf("closed:%d", code)
		}
		if typ == tDecision {
			var dec decision
			json.Unmarshal(body, &dec)
			if !dec.Accept {
				return "decision:" + dec.Code
			}
		}
		return fmt.Sprintf("frame:%d", typ)
	}
	return "timeout"
}

// fileHash is ferry's file hash: BLAKE3-256 of "ferryF01", size and chunk
// size (u64 BE) and the chunk hashes in order.
func fileHash(data []byte, chunk int) []byte {
	h := blake3.New()
	h.Write([]byte("ferryF01"))
	var u [8]byte
	binary.BigEndian.PutUint64(u[:], uint64(len(data)))
	h.Write(u[:])
	binary.BigEndian.PutUint64(u[:], uint64(chunk))
	h.Write(u[:])
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		s := blake3.Sum256(data[off:end])
		h.Write(s[:])
	}
	return h.Sum(nil)
}

// dataHello is the start of a data stream: 0x10 and the session token.
func dataHello(token []byte) []byte { return append([]byte{0x10}, token...) }

// chunkFrame is 0x11 | u32 file | u32 chunk | u32 length | bytes | BLAKE3.
func chunkFrame(file, chunk uint32, data []byte) []byte {
	b := make([]byte, 13, 13+len(data)+32)
	b[0] = 0x11
	binary.BigEndian.PutUint32(b[1:], file)
	binary.BigEndian.PutUint32(b[5:], chunk)
	binary.BigEndian.PutUint32(b[9:], uint32(len(data)))
	b = append(b, data...)
	s := blake3.Sum256(data)
	return append(b, s[:]...)
}

// deliver completes an accepted attempt whose offer is one file holding
// data in one chunk of 1 MiB: plan, data stream, FileEnd, and waits for
// FileDone and Done.
func (a *attempt) deliver(t testing.TB, data []byte) {
	t.Helper()
	if err := writeFrame(a.ctl, tPlan, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	a.deliverPlanned(t, data)
}

// deliverPlanned is deliver after the plan was sent.
func (a *attempt) deliverPlanned(t testing.TB, data []byte) {
	t.Helper()
	u, err := a.conn.OpenUniStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u.Write(dataHello(a.dec.Token))
	u.Write(chunkFrame(0, 0, data))
	u.Close()
	writeFrame(a.ctl, tFileEnd, mustJSON(map[string]any{"file": 0, "size": len(data), "hash": fileHash(data, 1<<20)}))
	for _, want := range []byte{tFileDone, tDone} {
		typ, body, err := readFrame(a.ctl, 10*time.Second)
		if err != nil || typ != want {
			t.Fatalf("want frame %d, got %d %s %v", want, typ, body, err)
		}
	}
}

// acceptedSession offers one file of size bytes as dev to r (under
// --accept all), verifies and checks the acceptance; with plan it also
// sends the plan and waits for the receiver's session event.
func acceptedSession(t *testing.T, r *receiver, dev device, path string, size int64, plan bool) *attempt {
	t.Helper()
	a := connect(t, r.addr(), dev, mustJSON(smallOffer("attacker", path, size)))
	a.verify(t)
	if !a.dec.Accept {
		t.Fatalf("not accepted: %+v", a.dec)
	}
	if plan {
		writeFrame(a.ctl, tPlan, []byte(`{}`))
		if _, ok := r.waitEvent("session", 1, 5*time.Second); !ok {
			t.Fatal("session did not start")
		}
	}
	return a
}
