package transfer

import (
	"bufio"
	"errors"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// control is one end of a session's control stream, for either side.
// Writers take turns: a frame, or a run of frames, goes out whole, in
// pieces of at most ctrlPiece bytes, each with its own write deadline, so
// that a long run is held to the same pace as a single frame. Reads are
// buffered and their errors classified (a peer's protocol violation as is,
// anything from the connection in ferry's terms, see classify).
type control struct {
	str *quic.Stream
	br  *bufio.Reader // every read of the stream goes through it
	mu  sync.Mutex    // one writer at a time
}

const ctrlPiece = 64 << 10

func newControl(str *quic.Stream) *control {
	return &control{str: str, br: bufio.NewReader(str)}
}

// send writes one frame.
func (c *control) send(t byte, v any) error {
	b, err := wire.AppendFrame(nil, t, v)
	if err != nil {
		return err
	}
	return c.sendFrames(b)
}

// sendFrames writes frames encoded with wire.AppendFrame.
func (c *control) sendFrames(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		n := min(len(b), ctrlPiece)
		c.str.SetWriteDeadline(time.Now().Add(idleTimeout))
		if _, err := c.str.Write(b[:n]); err != nil {
			return classify(err)
		}
		b = b[n:]
	}
	return nil
}

// recv reads the next frame.
func (c *control) recv() (byte, []byte, error) {
	t, body, err := wire.ReadFrame(c.br)
	if err != nil {
		return 0, nil, readErr(err)
	}
	return t, body, nil
}

// expect reads the next frame, which must be of type want, into v.
func (c *control) expect(want byte, v any) error {
	t, body, err := c.recv()
	if err != nil {
		return err
	}
	return wire.DecodeFrame(t, want, body, v)
}

// readErr classifies an error reading a control frame.
func readErr(err error) error {
	if errors.Is(err, ErrProtocol) {
		return err
	}
	return classify(err)
}

// deadline sets the read deadline (zero: none).
func (c *control) deadline(t time.Time) { c.str.SetReadDeadline(t) }
