package transfer

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// readControl takes the sender's FileEnd frames during the data phase.
func (s *session) readControl() error {
	for {
		t, body, err := s.ctrl.recv()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return wire.Errorf("the sender closed the control stream")
		}
		if err != nil {
			return err
		}
		s.touch()
		switch {
		case s.swarm != nil && t == wire.TypeSwarm:
			err = s.swarm.onSwarm(body)
		case s.swarm != nil && t == wire.TypeHave:
			err = s.swarm.onHave(body)
		default:
			err = s.fileEnd(t, body)
		}
		if err != nil {
			return err
		}
	}
}

// fileEnd takes a FileEnd frame.
func (s *session) fileEnd(t byte, body []byte) error {
	var fe wire.FileEnd
	if err := wire.DecodeFrame(t, wire.TypeFileEnd, body, &fe); err != nil {
		return err
	}
	f := s.file(fe.File)
	if f == nil {
		return wire.Errorf("end of entry %d, which is not a file", fe.File)
	}
	ready, err := f.End(fe.Size, fe.Hash)
	if err != nil || !ready {
		return err
	}
	return s.enqueue(f)
}

// acceptData takes the sender's data streams on conn.
func (s *session) acceptData(ctx context.Context, conn *quic.Conn, g *errgroup.Group) error {
	for {
		str, err := conn.AcceptUniStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return classify(err)
		}
		g.Go(func() error { return s.readData(ctx, str) })
	}
}

// readData receives the chunks of one data stream, which starts with the
// session's token. A read blocked on the stream ends with ctx.
//
// No CancelRead when this returns: the connection closes right after with
// the reason, and a STOP_SENDING ahead of it would make the sender take a
// disk-full or integrity error for a lost connection and retry.
func (s *session) readData(ctx context.Context, str *quic.ReceiveStream) error {
	defer unblock(ctx, str)()
	br := bufio.NewReaderSize(str, 64<<10)
	tok, err := wire.ReadStreamHello(br)
	if err != nil {
		return streamErr(err)
	}
	if subtle.ConstantTimeCompare(tok, s.token) != 1 {
		return wire.Errorf("data stream with a wrong session token")
	}
	return s.readChunks(ctx, br)
}

// unblock ends a read blocked on str when ctx ends; the function it
// returns stops that.
func unblock(ctx context.Context, str *quic.ReceiveStream) func() {
	stop := context.AfterFunc(ctx, func() { str.SetReadDeadline(time.Now()) })
	return func() { stop() }
}

// readChunks receives chunks until the stream ends.
func (s *session) readChunks(ctx context.Context, br *bufio.Reader) error {
	buf := make([]byte, pieceSize)
	for {
		if ctx.Err() != nil {
			return nil
		}
		h, err := wire.ReadChunkHeader(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamErr(err)
		}
		s.touch()
		if err := s.readChunk(br, h, buf); err != nil {
			return err
		}
	}
}

// streamErr classifies an error reading a data stream: a stream that ends
// in the middle of a frame broke the protocol (a peer that goes away resets
// its streams or closes the connection instead).
func streamErr(err error) error {
	switch {
	case errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return wire.Errorf("a data stream ends inside a frame")
	}
	return classify(err)
}

// readChunk takes one chunk into the store: the bytes are written as they
// come, and the chunk counts once it matches the hash that follows it.
func (s *session) readChunk(br *bufio.Reader, h wire.ChunkHeader, buf []byte) error {
	f := s.file(int(h.File))
	if f == nil {
		return wire.Errorf("chunk for entry %d, which is not a file", h.File)
	}
	c, err := f.Begin(int64(h.Chunk), int64(h.Len))
	if err != nil {
		return err
	}
	fp := s.fps[h.File] // nil for a small file
	for left := int64(h.Len); left > 0; {
		n := min(int64(len(buf)), left)
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return streamErr(wire.Unexpected(err))
		}
		s.touch()
		if err := c.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
		s.prog.Wire.Add(n)
		if fp != nil {
			fp.Done.Add(n)
			s.prog.cur.Store(fp)
		}
	}
	trailer, err := wire.ReadChunkTrailer(br)
	if err != nil {
		return streamErr(err)
	}
	ready, err := c.Commit(trailer)
	if err != nil {
		return err
	}
	s.prog.Done.Add(int64(h.Len))
	if ready {
		return s.enqueue(f)
	}
	return nil
}
