package transfer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// SendOptions configures Send.
type SendOptions struct {
	Device *identity.Device
	Name   string   // display name sent to the receiver
	Addrs  []string // receiver addresses "host:port", dialled at once; the first handshake wins
	// Expect, if set, is the receiver's device ID: any other key is refused.
	Expect identity.DeviceID
	Paths  []string
	Stdin  io.Reader // read when Paths has "-"
	As     string    // the name of standard input on the receiver
	// Streams is the number of data streams (default 4).
	Streams int
	// Conns is the number of QUIC connections the streams are spread over
	// (default 4, at most Streams).
	Conns int
	// RetryFor is how long a broken session keeps reconnecting (default 30 s).
	RetryFor time.Duration
	// ConnectFor is how long the first connection is tried (default 10 s).
	ConnectFor time.Duration
	// Paired says Expect is the key of a paired device: no verification
	// code needs comparing.
	Paired bool
	// StallTimeout is how long a session goes on with nothing taken or
	// confirmed by the receiver before Send gives up (default 2 minutes).
	StallTimeout time.Duration
	Events       func(Event)
	Logger       *slog.Logger
}

// Result sums up a finished Send.
type Result struct {
	Info      OfferInfo
	Files     int
	Bytes     int64 // size of all files
	BytesSent int64 // file bytes put on the wire in this run
}

type sender struct {
	opt      SendOptions
	src      []source
	offer    wire.Offer
	d        *dialer
	log      *slog.Logger
	prog     *Progress
	info     OfferInfo
	streamed bool // standard input is part of the offer: it cannot be sent twice
	stdinUse bool // standard input was read from

	offerFrame []byte // the offer as sent, the same bytes on every attempt
	digest     []byte // offerDigest of its body
	accepted   bool   // the receiver accepted the offer in this run

	readingStdin atomic.Bool // waiting for standard input, not for the receiver
}

// Send offers paths to a receiver and moves them. A broken connection is
// retried for opt.RetryFor, resuming from what the receiver verified; after
// that Send returns an error wrapping ErrInterrupted, and running it again
// resumes.
func Send(ctx context.Context, opt SendOptions) (Result, error) {
	if opt.Streams <= 0 {
		opt.Streams = 4
	}
	opt.Streams = min(opt.Streams, maxDataStreams-1)
	if opt.Conns <= 0 {
		opt.Conns = 4
	}
	if opt.RetryFor <= 0 {
		opt.RetryFor = 30 * time.Second
	}
	if opt.ConnectFor <= 0 {
		opt.ConnectFor = 10 * time.Second
	}
	if opt.StallTimeout <= 0 {
		opt.StallTimeout = 2 * time.Minute
	}
	if opt.Events == nil {
		opt.Events = func(Event) {}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	src, err := buildManifest(opt.Paths, opt.As, opt.Logger)
	if err != nil {
		return Result{}, err
	}
	s := &sender{opt: opt, src: src, log: opt.Logger}
	s.offer = wire.Offer{Version: wire.Version, Name: opt.Name}
	var total int64
	for _, e := range src {
		s.offer.Entries = append(s.offer.Entries, e.Entry)
		if e.Stream {
			if opt.Stdin == nil {
				return Result{}, errors.New("sending standard input needs a reader (SendOptions.Stdin)")
			}
			s.streamed = true
			total = -1
		} else if total >= 0 {
			total += e.Size
		}
	}
	s.offer.Session = sessionID(s.offer.Entries)
	if s.offerFrame, err = wire.AppendFrame(nil, wire.TypeOffer, s.offer); err != nil {
		return Result{}, err
	}
	s.digest = wire.OfferDigest(s.offerFrame[5:])
	s.prog = &Progress{Total: total}
	d, err := newDialer()
	if err != nil {
		return Result{}, err
	}
	defer d.Close()
	s.d = d
	return s.run(ctx)
}

func (s *sender) run(ctx context.Context) (Result, error) {
	connected := false
	var lostAt time.Time // when the current outage began
	wireAtLoss := int64(-1)
	start := time.Now()
	backoff := 250 * time.Millisecond
	for {
		res, err := s.attempt(ctx, &connected)
		if err == nil {
			res.BytesSent = s.prog.Wire.Load()
			return res, nil
		}
		if ctx.Err() != nil {
			if !s.accepted {
				return Result{Info: s.info}, fmt.Errorf("%w: cancelled; the receiver was told", ErrInterrupted)
			}
			return Result{Info: s.info, BytesSent: s.prog.Wire.Load()}, fmt.Errorf("%w: stopped; run the same command again to resume", ErrInterrupted)
		}
		var de *dialError
		isDial := errors.As(err, &de)
		if !isDial && !isConnLost(err) {
			return Result{Info: s.info, BytesSent: s.prog.Wire.Load()}, err
		}
		if !isDial && !s.accepted && !errors.Is(err, errBusy) {
			// Not reconnected: an attempt whose verification code was
			// shown, or could have been, is never repeated unseen (see
			// verify.go). Only a receiver that says it is busy is tried
			// again, and each new attempt shows its code.
			return Result{Info: s.info}, fmt.Errorf("%w: the connection to the receiver was lost before it accepted the offer (%v); run the same command again", ErrInterrupted, err)
		}
		if s.stdinUse {
			return Result{Info: s.info}, fmt.Errorf("%w; standard input cannot be sent again", err)
		}
		now := time.Now()
		if !connected {
			if now.Sub(start) > s.opt.ConnectFor {
				return Result{}, fmt.Errorf("%w: %v", ErrUnreachable, errors.Unwrap(err))
			}
		} else {
			if w := s.prog.Wire.Load(); w != wireAtLoss { // bytes moved since the last failure: a new outage
				lostAt, wireAtLoss = now, w
				backoff = 250 * time.Millisecond
			}
			if now.Sub(lostAt) > s.opt.RetryFor {
				return Result{Info: s.info, BytesSent: s.prog.Wire.Load()},
					fmt.Errorf("%w: %v; run the same command again to resume", ErrInterrupted, err)
			}
			s.opt.Events(EventRetry{Err: err, Until: lostAt.Add(s.opt.RetryFor)})
		}
		s.log.Debug("retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(backoff*2, 4*time.Second)
	}
}

// dialError marks a failure to establish a connection.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// sendFile is the sending side of one file entry.
type sendFile struct {
	src    *source
	idx    int
	need   []int64 // chunks to put on the wire
	skip   bool    // the receiver has it already
	hashes [][wire.HashLen]byte

	fp *FileProgress

	mu   sync.Mutex
	left int // chunks of need not yet written
	f    *os.File
}

func (s *sender) attempt(ctx context.Context, connected *bool) (Result, error) {
	dctx, cancel := context.WithTimeout(ctx, s.opt.ConnectFor)
	conn, err := s.d.dialAny(dctx, s.opt.Addrs, clientTLS(s.opt.Device, s.opt.Expect))
	cancel()
	if err != nil {
		if errors.Is(err, ErrPeerMismatch) {
			return Result{}, err
		}
		return Result{}, &dialError{err}
	}
	defer conn.CloseWithError(codeCanceled, "sender stopped")
	if conn.ConnectionState().TLS.NegotiatedProtocol != ALPN {
		conn.CloseWithError(codeVersion, fmt.Sprintf("update ferry: this sender speaks transfer protocol %d", wire.Version))
		return Result{}, fmt.Errorf("%w: the receiver runs an older version of ferry (transfer protocol 1, this sender speaks %d): update ferry on the receiving computer",
			ErrVersion, wire.Version)
	}
	peer, err := identity.PeerID(conn.ConnectionState().TLS)
	if err != nil {
		return Result{}, err
	}
	if !*connected {
		s.info = OfferInfo{PeerID: peer, Bytes: s.prog.Total, Paths: pathsOf(s.src), Trusted: s.opt.Paired && peer == s.opt.Expect}
		for _, e := range s.src {
			if e.Dir {
				s.info.Dirs++
			} else {
				s.info.Files++
			}
		}
	}
	*connected = true

	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return Result{}, classify(err)
	}
	// Until the data flows, a cancellation (Ctrl-C while the receiver's
	// user decides) ends the wait at once; the deferred close tells the
	// receiver, whose question goes away.
	stopWait := context.AfterFunc(ctx, func() { ctrl.SetReadDeadline(time.Now()) })
	defer stopWait()
	ctrl.SetWriteDeadline(time.Now().Add(idleTimeout))
	if _, err := ctrl.Write(s.offerFrame); err != nil {
		return Result{}, classify(err)
	}
	// The receiver answers at once: a commitment to its verification nonce,
	// or a refusal.
	ctrl.SetReadDeadline(time.Now().Add(offerTimeout))
	br := bufio.NewReader(ctrl)
	t, body, err := wire.ReadFrame(br)
	if err != nil {
		return Result{}, readErr(err)
	}
	verified := t == wire.TypeCommit
	if verified {
		code, err := s.verify(conn, ctrl, br, body, peer)
		if err != nil {
			return Result{}, err
		}
		s.info.Code = code
		if !s.accepted { // each attempt that may be asked about shows its code
			s.opt.Events(EventConnected{Info: s.info})
		} else {
			s.opt.Events(EventReconnected{Info: s.info})
		}
		ctrl.SetReadDeadline(time.Now().Add(askTimeout + offerTimeout))
		if t, body, err = wire.ReadFrame(br); err != nil {
			return Result{}, readErr(err)
		}
	}
	var dec wire.Decision
	if err := wire.DecodeFrame(t, wire.TypeDecision, body, &dec); err != nil {
		return Result{}, err
	}
	ctrl.SetReadDeadline(time.Time{})
	s.info.PeerName = dec.Name
	if identity.CheckName(dec.Name) != nil {
		s.info.PeerName = "" // shows as nothing or as control characters
	}
	if !dec.Accept {
		conn.CloseWithError(codeDone, "")
		msg := wire.PeerText(dec.Reason)
		if msg == "" {
			msg = "declined"
		}
		switch dec.Code {
		case wire.DeclineNo, wire.DeclineNotTrusted:
			return Result{}, fmt.Errorf("%w: %s", ErrDeclined, msg)
		case wire.DeclineBusy:
			return Result{}, &connLost{fmt.Errorf("%w: %s", errBusy, msg)}
		case wire.DeclineVersion:
			return Result{}, fmt.Errorf("%w: %s", ErrVersion, msg)
		}
		return Result{}, fmt.Errorf("the receiver refused: %s", msg)
	}
	if !verified {
		// Only a refusal may skip the verification code.
		return Result{}, wire.Errorf("the receiver accepted without a verification code")
	}
	s.accepted = true
	if len(dec.Token) != wire.TokenLen {
		return Result{}, wire.Errorf("session token of %d bytes", len(dec.Token))
	}

	files, plan, kept, err := s.plan(ctx, dec.Have)
	if err != nil {
		return Result{}, err
	}
	ctrl.SetWriteDeadline(time.Now().Add(idleTimeout)) // the decision may have taken a while
	if err := wire.WriteFrame(ctrl, wire.TypePlan, plan); err != nil {
		return Result{}, classify(err)
	}
	s.prog.Done.Store(kept)
	s.opt.Events(EventSession{Info: s.info, Progress: s.prog, Resumed: kept})

	g, gctx := errgroup.WithContext(ctx)
	var ctrlMu sync.Mutex
	writeCtrl := func(t byte, v any) error {
		ctrlMu.Lock()
		defer ctrlMu.Unlock()
		ctrl.SetWriteDeadline(time.Now().Add(idleTimeout))
		return classify(wire.WriteFrame(ctrl, t, v))
	}
	work := make(chan workItem, 64)
	g.Go(func() error { // the order of the work: file by file, chunk by chunk
		defer close(work)
		for _, sf := range files {
			if sf == nil {
				continue
			}
			if sf.src.Stream {
				continue // sendStdin's
			}
			if sf.skip {
				continue
			}
			if len(sf.need) == 0 {
				if err := s.endFile(sf, writeCtrl); err != nil {
					return err
				}
				continue
			}
			for _, c := range sf.need {
				select {
				case work <- workItem{sf, c}:
				case <-gctx.Done():
					return nil
				}
			}
		}
		return nil
	})
	// Each QUIC connection has its own congestion controller: spreading the
	// streams over several connections keeps the link full when one of
	// them backs off after a loss (quic-go's NewReno halves on every loss).
	conns := []*quic.Conn{conn}
	if len(files) > 0 {
		for _, c := range s.extraConns(ctx, conn, peer) {
			defer c.CloseWithError(codeDone, "")
			conns = append(conns, c)
		}
	}
	for k := range s.opt.Streams {
		c := conns[k%len(conns)]
		g.Go(func() error { return s.dataStream(gctx, c, dec.Token, work, writeCtrl) })
	}
	if s.streamed {
		g.Go(func() error { return s.sendStdin(gctx, conn, dec.Token, files, writeCtrl) })
	}
	var res Result
	var heard atomic.Int64 // frames from the receiver, for the watchdog
	g.Go(func() error { return s.watchdog(gctx, &heard) })
	g.Go(func() error { // the receiver's reports
		defer ctrl.CancelRead(0)
		stop := context.AfterFunc(gctx, func() { ctrl.SetReadDeadline(time.Now()) })
		defer stop()
		for {
			t, body, err := wire.ReadFrame(br)
			if err != nil {
				if gctx.Err() != nil {
					return nil
				}
				if errors.Is(err, ErrProtocol) {
					return err
				}
				return classify(err)
			}
			heard.Add(1)
			switch t {
			case wire.TypeFileDone:
				var fd wire.FileDone
				if err := wire.DecodeFrame(t, wire.TypeFileDone, body, &fd); err != nil {
					return err
				}
				if fd.File < 0 || fd.File >= len(files) || files[fd.File] == nil {
					return wire.Errorf("receiver reports entry %d done, which is not a file", fd.File)
				}
				s.opt.Events(EventFile{Path: files[fd.File].src.Path, Name: fd.Name, Size: files[fd.File].src.Size, Existing: files[fd.File].skip})
			case wire.TypeDone:
				var df wire.DoneFrame
				if err := wire.DecodeFrame(t, wire.TypeDone, body, &df); err != nil {
					return err
				}
				res = Result{Info: s.info, Files: df.Files, Bytes: df.Bytes}
				return errComplete
			default:
				var v struct{}
				return wire.DecodeFrame(t, wire.TypeFileDone, body, &v)
			}
		}
	})
	err = g.Wait()
	if errors.Is(err, errComplete) {
		conn.CloseWithError(codeDone, "")
		return res, nil
	}
	if err == nil {
		err = &connLost{errors.New("the session ended early")}
	}
	return Result{}, err
}

// watchdog ends a session in which the receiver has taken no data and
// confirmed nothing for StallTimeout: QUIC keep-alives hold the connection
// open, so a receiver that accepts and then stops reading (or never
// confirms) would otherwise keep the sender waiting for ever. Time spent
// waiting for standard input does not count.
func (s *sender) watchdog(ctx context.Context, heard *atomic.Int64) error {
	limit := s.opt.StallTimeout
	t := time.NewTicker(min(limit/4, time.Second))
	defer t.Stop()
	wire, frames, last := s.prog.Wire.Load(), heard.Load(), time.Now()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return nil
		case now = <-t.C:
		}
		if w, f := s.prog.Wire.Load(), heard.Load(); w != wire || f != frames || s.readingStdin.Load() {
			wire, frames, last = w, f, now
			continue
		}
		if now.Sub(last) >= limit {
			return fmt.Errorf("%w: the receiver took no data and confirmed nothing for %s; run the same command again to resume",
				ErrInterrupted, limit.Round(time.Second))
		}
	}
}

// verify runs the sender's side of the verification code exchange (see
// verify.go): take the receiver's commitment, send our nonce, check the
// receiver's against its commitment, compute the code.
func (s *sender) verify(conn *quic.Conn, ctrl *quic.Stream, br *bufio.Reader, commitBody []byte, peer identity.DeviceID) (string, error) {
	var commit wire.NonceFrame
	if err := wire.DecodeFrame(wire.TypeCommit, wire.TypeCommit, commitBody, &commit); err != nil {
		return "", err
	}
	if len(commit.Value) != sha256.Size {
		return "", wire.Errorf("verification commitment of %d bytes", len(commit.Value))
	}
	ekm, err := wire.Exporter(conn.ConnectionState().TLS)
	if err != nil {
		return "", err
	}
	mine := wire.NewNonce()
	ctrl.SetWriteDeadline(time.Now().Add(idleTimeout))
	if err := wire.WriteFrame(ctrl, wire.TypeNonce, wire.NonceFrame{Value: mine}); err != nil {
		return "", classify(err)
	}
	t, body, err := wire.ReadFrame(br)
	if err != nil {
		// Whoever holds the other end now knows this attempt's code. Were
		// the sender to reconnect (say on a close as busy), it could drop
		// every attempt whose code does not suit it, unseen: this attempt
		// ends the command instead.
		return "", fmt.Errorf("%w: the connection ended in the middle of the verification code exchange (%v); run the same command again",
			ErrInterrupted, readErr(err))
	}
	var reveal wire.NonceFrame
	if err := wire.DecodeFrame(t, wire.TypeReveal, body, &reveal); err != nil {
		return "", err
	}
	if !wire.CheckCommitment(commit.Value, reveal.Value) {
		return "", wire.Errorf("the receiver's verification nonce does not open its commitment")
	}
	return wire.VerificationCode(wire.SASInput{
		Sender: s.opt.Device.ID, Receiver: peer, Exporter: ekm, Offer: s.digest,
		SenderNonce: mine, ReceiverNonce: reveal.Value,
	}), nil
}

// extraConns opens up to opt.Conns-1 further connections to the receiver
// of conn, which must present the same key. A connection that cannot be
// made is left out: the session goes on with fewer.
func (s *sender) extraConns(ctx context.Context, conn *quic.Conn, peer identity.DeviceID) []*quic.Conn {
	n := min(s.opt.Conns, s.opt.Streams) - 1
	if n <= 0 {
		return nil
	}
	ua, ok := conn.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return nil
	}
	tr, err := s.d.transport(ua)
	if err != nil {
		return nil
	}
	out := make([]*quic.Conn, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
			defer cancel()
			c, err := tr.Dial(dctx, ua, clientTLS(s.opt.Device, peer), quicConfig())
			if err != nil {
				s.log.Debug("extra connection failed", "err", err)
				return
			}
			out[i] = c
		})
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(c *quic.Conn) bool { return c == nil })
}

// plan checks what the receiver kept against the source and decides which
// chunks to send. Kept chunks are hashed again from the source: a file that
// changed since the last attempt restarts rather than being spliced.
func (s *sender) plan(ctx context.Context, have []wire.Have) ([]*sendFile, wire.Plan, int64, error) {
	files := make([]*sendFile, len(s.src))
	for i := range s.src {
		if s.src[i].Dir {
			continue
		}
		n := s.src[i].Chunks()
		files[i] = &sendFile{src: &s.src[i], idx: i, hashes: make([][wire.HashLen]byte, n)}
	}
	kept := make([][]int64, len(files))
	complete := make(map[int][]byte)
	for _, h := range have {
		if h.File < 0 || h.File >= len(files) || files[h.File] == nil || files[h.File].src.Stream || kept[h.File] != nil || complete[h.File] != nil {
			return nil, wire.Plan{}, 0, wire.Errorf("receiver claims chunks of entry %d", h.File)
		}
		if h.Complete {
			if len(h.Hash) != wire.HashLen {
				return nil, wire.Plan{}, 0, wire.Errorf("file hash of %d bytes", len(h.Hash))
			}
			complete[h.File] = h.Hash
			continue
		}
		idx, err := wire.IndexesOf(h.Ranges, files[h.File].src.Chunks())
		if err != nil {
			return nil, wire.Plan{}, 0, err
		}
		kept[h.File] = idx
	}
	var plan wire.Plan
	var keptBytes int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	var mu sync.Mutex
	for i, sf := range files {
		if sf == nil || len(kept[i]) == 0 {
			continue
		}
		g.Go(func() error {
			ok, n, err := s.checkKept(gctx, sf, kept[i], have)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				keptBytes += n
			} else {
				plan.Restart = append(plan.Restart, i)
				kept[i] = nil
			}
			return nil
		})
	}
	for i, want := range complete {
		sf := files[i]
		g.Go(func() error {
			all := make([]int64, sf.src.Chunks())
			for c := range all {
				all[c] = int64(c)
			}
			hs, n, err := s.hashChunks(gctx, sf, all)
			if err != nil || n < 0 {
				return err
			}
			if sum := wire.FileHash(sf.src.Size, sf.src.Chunk, hs); string(sum[:]) == string(want) {
				mu.Lock()
				plan.Skip = append(plan.Skip, i)
				keptBytes += n
				sf.skip = true
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, wire.Plan{}, 0, err
	}
	for i, sf := range files {
		if sf == nil || sf.skip {
			continue
		}
		skip := make(map[int64]bool, len(kept[i]))
		for _, c := range kept[i] {
			skip[c] = true
		}
		for c := int64(0); c < sf.src.Chunks(); c++ {
			if !skip[c] {
				sf.need = append(sf.need, c)
			}
		}
		sf.left = len(sf.need)
		var keptLen int64
		for _, c := range kept[i] {
			keptLen += sf.src.ChunkLen(c)
		}
		sf.fp = newFileProgress(sf.src.Path, sf.src.Size, keptLen)
	}
	return files, plan, keptBytes, nil
}

// checkKept hashes the kept chunks of a file from the source and compares
// their digest with the receiver's.
func (s *sender) checkKept(ctx context.Context, sf *sendFile, idx []int64, have []wire.Have) (bool, int64, error) {
	var want []byte
	for _, h := range have {
		if h.File == sf.idx {
			want = h.Digest
		}
	}
	hs, n, err := s.hashChunks(ctx, sf, idx)
	if err != nil || n < 0 {
		return false, 0, err
	}
	if string(wire.HaveDigest(idx, hs)) != string(want) {
		s.log.Info("source changed since the last attempt; restarting it", "path", sf.src.Path)
		return false, 0, nil
	}
	for k, c := range idx {
		sf.hashes[c] = hs[k]
	}
	return true, n, nil
}

// hashChunks hashes chunks of a source file. n < 0 means the file is
// shorter than when the session started.
func (s *sender) hashChunks(ctx context.Context, sf *sendFile, idx []int64) ([][wire.HashLen]byte, int64, error) {
	f, err := os.Open(sf.src.abs)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", sf.src.abs, err)
	}
	defer f.Close()
	buf := make([]byte, pieceSize)
	hs := make([][wire.HashLen]byte, len(idx))
	var n int64
	for k, c := range idx {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		h := blake3.New()
		m, err := io.CopyBuffer(h, io.NewSectionReader(f, c*sf.src.Chunk, sf.src.ChunkLen(c)), buf)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", sf.src.abs, err)
		}
		if m != sf.src.ChunkLen(c) {
			return nil, -1, nil
		}
		h.Sum(hs[k][:0])
		n += m
	}
	return hs, n, nil
}

type workItem struct {
	sf    *sendFile
	chunk int64
}

// dataStream sends chunks from the work queue on one QUIC stream.
func (s *sender) dataStream(ctx context.Context, conn *quic.Conn, token []byte, work <-chan workItem, writeCtrl func(byte, any) error) error {
	str, err := conn.OpenUniStreamSync(ctx)
	if err != nil {
		return classify(err)
	}
	stop := context.AfterFunc(ctx, func() { str.CancelWrite(0) })
	defer stop()
	bw := bufio.NewWriterSize(str, 256<<10)
	if err := bw.WriteByte(wire.TypeStreamHello); err != nil {
		return classify(err)
	}
	bw.Write(token)
	buf := make([]byte, pieceSize)
	for item := range work {
		if ctx.Err() != nil {
			return nil
		}
		sum, err := s.sendChunk(bw, item, buf)
		if err != nil {
			return err
		}
		if len(work) == 0 {
			if err := bw.Flush(); err != nil {
				return classify(err)
			}
		}
		if err := item.sf.chunkSent(item.chunk, sum, func() error { return s.endFile(item.sf, writeCtrl) }); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return classify(err)
	}
	return classify(str.Close())
}

// sendChunk writes one chunk: header, data read from the source, hash.
func (s *sender) sendChunk(bw *bufio.Writer, it workItem, buf []byte) ([wire.HashLen]byte, error) {
	var sum [wire.HashLen]byte
	f, err := it.sf.open()
	if err != nil {
		return sum, err
	}
	length := it.sf.src.ChunkLen(it.chunk)
	var hdr [wire.ChunkHeaderLen]byte
	wire.ChunkHeader{File: uint32(it.sf.idx), Chunk: uint32(it.chunk), Len: uint32(length)}.Put(hdr[:])
	if _, err := bw.Write(hdr[:]); err != nil {
		return sum, classify(err)
	}
	h := blake3.New()
	off := it.chunk * it.sf.src.Chunk
	for left := length; left > 0; {
		n := min(int64(len(buf)), left)
		m, err := f.ReadAt(buf[:n], off)
		if int64(m) < n {
			if err == nil || errors.Is(err, io.EOF) {
				return sum, fmt.Errorf("%w: %s is shorter than when the transfer started", ErrSourceChanged, it.sf.src.abs)
			}
			return sum, fmt.Errorf("read %s: %w", it.sf.src.abs, err)
		}
		h.Write(buf[:n])
		if _, err := bw.Write(buf[:n]); err != nil {
			return sum, classify(err)
		}
		off += n
		left -= n
		s.prog.add(it.sf.fp, n)
	}
	h.Sum(sum[:0])
	if _, err := bw.Write(sum[:]); err != nil {
		return sum, classify(err)
	}
	return sum, nil
}

func (sf *sendFile) open() (*os.File, error) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.f == nil {
		f, err := os.Open(sf.src.abs)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", sf.src.abs, err)
		}
		sf.f = f
	}
	return sf.f, nil
}

// chunkSent records a chunk's hash; after the file's last one it calls end.
func (sf *sendFile) chunkSent(c int64, sum [wire.HashLen]byte, end func() error) error {
	sf.mu.Lock()
	sf.hashes[c] = sum
	sf.left--
	last := sf.left == 0
	sf.mu.Unlock()
	if last {
		return end()
	}
	return nil
}

// endFile checks that the source did not change while it was read and
// sends the file's hash.
func (s *sender) endFile(sf *sendFile, writeCtrl func(byte, any) error) error {
	sf.mu.Lock()
	f := sf.f
	sf.f = nil
	sf.mu.Unlock()
	var fi os.FileInfo
	var err error
	if f != nil {
		fi, err = f.Stat()
		f.Close()
	} else {
		fi, err = os.Stat(sf.src.abs)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", sf.src.abs, err)
	}
	if fi.Size() != sf.src.Size || fi.ModTime().UnixNano() != sf.src.MTime {
		return fmt.Errorf("%w: %s; send it again when it is complete", ErrSourceChanged, sf.src.abs)
	}
	sum := wire.FileHash(sf.src.Size, sf.src.Chunk, sf.hashes)
	return writeCtrl(wire.TypeFileEnd, wire.FileEnd{File: sf.idx, Size: sf.src.Size, Hash: sum[:]})
}

// sendStdin streams standard input on its own data stream, chunk by chunk.
func (s *sender) sendStdin(ctx context.Context, conn *quic.Conn, token []byte, files []*sendFile, writeCtrl func(byte, any) error) error {
	var sf *sendFile
	for _, f := range files {
		if f != nil && f.src.Stream {
			sf = f
		}
	}
	if sf == nil {
		return nil
	}
	str, err := conn.OpenUniStreamSync(ctx)
	if err != nil {
		return classify(err)
	}
	stop := context.AfterFunc(ctx, func() { str.CancelWrite(0) })
	defer stop()
	bw := bufio.NewWriterSize(str, 256<<10)
	bw.WriteByte(wire.TypeStreamHello)
	bw.Write(token)
	buf := make([]byte, sf.src.Chunk)
	var size int64
	var hashes [][wire.HashLen]byte
	for c := int64(0); ; c++ {
		s.readingStdin.Store(true)
		n, err := io.ReadFull(s.opt.Stdin, buf)
		s.readingStdin.Store(false)
		if n > 0 {
			s.stdinUse = true
			sum := blake3.Sum256(buf[:n])
			var hdr [wire.ChunkHeaderLen]byte
			wire.ChunkHeader{File: uint32(sf.idx), Chunk: uint32(c), Len: uint32(n)}.Put(hdr[:])
			bw.Write(hdr[:])
			bw.Write(buf[:n])
			if _, err := bw.Write(sum[:]); err != nil {
				return classify(err)
			}
			hashes = append(hashes, sum)
			size += int64(n)
			s.prog.add(nil, int64(n))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		if c+1 >= wire.MaxChunksPerFile {
			return fmt.Errorf("standard input is longer than %s", human.Bytes(sf.src.Chunk*wire.MaxChunksPerFile))
		}
	}
	if err := bw.Flush(); err != nil {
		return classify(err)
	}
	if err := str.Close(); err != nil {
		return classify(err)
	}
	sum := wire.FileHash(size, sf.src.Chunk, hashes)
	return writeCtrl(wire.TypeFileEnd, wire.FileEnd{File: sf.idx, Size: size, Hash: sum[:]})
}
