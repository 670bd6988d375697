package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ferry-lan/ferry/identity"
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
	// Text, if set, is sent as a text message instead of Paths (at most
	// MaxText bytes of UTF-8; see CheckText).
	Text  string
	Stdin io.Reader // read when Paths has "-"
	As    string    // the name of standard input on the receiver
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
	// NoSwarm (SendMany): send every receiver everything directly, as
	// separate sends would, rather than having receivers fetch from one
	// another.
	NoSwarm bool
	Events  func(Event)
	Logger  *slog.Logger
}

// Result sums up a finished Send.
type Result struct {
	Info      OfferInfo
	Files     int
	Bytes     int64 // size of all files
	BytesSent int64 // file bytes put on the wire in this run
	// FromPeers: file bytes the receiver took from the other receivers of
	// a swarm in this run.
	FromPeers int64
}

type sender struct {
	opt      SendOptions
	src      []source
	offer    wire.Offer
	d        *dialer
	log      *slog.Logger
	prog     *Progress
	info     OfferInfo
	text     string // a text message (sender_text.go), not files
	streamed bool   // standard input is part of the offer: it cannot be sent twice
	stdinUse bool   // standard input was read from

	offerFrame []byte // the offer as sent, the same bytes on every attempt
	digest     []byte // OfferDigest of its body
	accepted   bool   // the receiver accepted the offer in this run

	readingStdin atomic.Bool // waiting for standard input, not for the receiver

	cache *readCache // chunks shared with the other sessions of a SendMany; nil for Send
	sw    *swarmOut  // the swarm of a SendMany; nil without one
	// member is this session's current attempt in the swarm: nil if the
	// receiver did not join it (an ordinary transfer).
	member *member
}

// Send offers paths to a receiver and moves them. A broken connection is
// retried for opt.RetryFor, resuming from what the receiver verified; after
// that Send returns an error wrapping ErrInterrupted, and running it again
// resumes.
func Send(ctx context.Context, opt SendOptions) (Result, error) {
	opt = sendDefaults(opt)
	if opt.Text != "" {
		return sendText(ctx, opt)
	}
	src, err := buildManifest(opt.Paths, opt.As, opt.Logger)
	if err != nil {
		return Result{}, err
	}
	s, err := prepareSender(opt, src, nil)
	if err != nil {
		return Result{}, err
	}
	return s.runAlone(ctx)
}

// runAlone runs s over a dialer of its own, closed when it is done.
func (s *sender) runAlone(ctx context.Context) (Result, error) {
	d, err := newDialer()
	if err != nil {
		return Result{}, err
	}
	defer d.Close()
	s.d = d
	return s.run(ctx)
}

// sendDefaults fills in the options left zero.
func sendDefaults(opt SendOptions) SendOptions {
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
	return opt
}

// prepareSender prepares a session of src (shared, read-only) for opt's
// receiver: the offer, its frame and digest, the progress.
func prepareSender(opt SendOptions, src []source, sw *swarmOut) (*sender, error) {
	s := &sender{opt: opt, src: src, log: opt.Logger, sw: sw}
	s.offer = wire.Offer{Version: wire.Version, Name: opt.Name, Swarm: sw != nil}
	var total int64
	for _, e := range src {
		s.offer.Entries = append(s.offer.Entries, e.Entry)
		if e.Stream {
			if opt.Stdin == nil {
				return nil, errors.New("sending standard input needs a reader (SendOptions.Stdin)")
			}
			s.streamed = true
			total = -1
		} else if total >= 0 {
			total += e.Size
		}
	}
	s.offer.Session = sessionID(s.offer.Entries)
	var err error
	if s.offerFrame, err = wire.AppendFrame(nil, wire.TypeOffer, s.offer); err != nil {
		return nil, err
	}
	s.digest = wire.OfferDigest(s.offerFrame[5:])
	s.prog = &Progress{Total: total}
	return s, nil
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
			// wire/verify.go). Only a receiver that says it is busy is tried
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
