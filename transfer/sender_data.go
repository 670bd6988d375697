package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/quic-go/quic-go"
	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/internal/human"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

type workItem struct {
	sf    *sendFile
	chunk int64
}

// schedule puts the session's work in order on work, file by file, chunk
// by chunk, and closes it. A file with no chunk to send is ended at once;
// standard input and files the receiver has are not scheduled.
func (s *sender) schedule(ctx context.Context, files []*sendFile, ctrl *control, work chan<- workItem) error {
	defer close(work)
	for _, sf := range files {
		if sf == nil || sf.src.Stream || sf.skip { // standard input is sendStdin's
			continue
		}
		if len(sf.need) == 0 {
			if err := s.endFile(sf, ctrl); err != nil {
				return err
			}
			continue
		}
		for _, c := range sf.need {
			select {
			case work <- workItem{sf, c}:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

// dataWriter is a data stream being written: its hello, then chunks.
type dataWriter struct {
	str  *quic.SendStream
	bw   *bufio.Writer
	stop func() bool // releases the cancellation of the stream's writes
}

// openData opens a data stream on conn and writes its hello with token.
// The stream's writes are cancelled when ctx ends, until stop.
func openData(ctx context.Context, conn *quic.Conn, token []byte) (*dataWriter, error) {
	str, err := conn.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, classify(err)
	}
	d := &dataWriter{str: str, bw: bufio.NewWriterSize(str, 256<<10)}
	d.stop = context.AfterFunc(ctx, func() { str.CancelWrite(0) })
	if _, err := d.bw.Write(wire.AppendStreamHello(nil, token)); err != nil {
		d.stop()
		return nil, classify(err)
	}
	return d, nil
}

// header writes a chunk's header.
func (d *dataWriter) header(h wire.ChunkHeader) error {
	var b [wire.ChunkHeaderLen]byte
	h.Put(b[:])
	_, err := d.bw.Write(b[:])
	return classify(err)
}

// trailer writes a chunk's trailer, its hash.
func (d *dataWriter) trailer(sum [wire.HashLen]byte) error {
	return classify(wire.WriteChunkTrailer(d.bw, sum))
}

// close flushes the stream and ends it.
func (d *dataWriter) close() error {
	if err := d.bw.Flush(); err != nil {
		return classify(err)
	}
	return classify(d.str.Close())
}

// dataStream sends chunks from the work queue on one QUIC stream.
func (s *sender) dataStream(ctx context.Context, conn *quic.Conn, token []byte, work <-chan workItem, ctrl *control) error {
	d, err := openData(ctx, conn, token)
	if err != nil {
		return err
	}
	defer d.stop()
	buf := make([]byte, pieceSize)
	for item := range work {
		if ctx.Err() != nil {
			return nil
		}
		sum, err := s.sendChunk(d, item, buf)
		if err != nil {
			return err
		}
		if len(work) == 0 {
			if err := d.bw.Flush(); err != nil {
				return classify(err)
			}
		}
		if m := s.member; m != nil {
			item.sf.sent.Add(item.sf.src.ChunkLen(item.chunk))
			if err := s.sw.sent(m, item, sum); err != nil {
				return err
			}
		} else if err := item.sf.chunkSent(item.chunk, sum, func() error { return s.endFile(item.sf, ctrl) }); err != nil {
			return err
		}
	}
	return d.close()
}

// sendChunk writes one chunk: header, data read from the source, hash.
func (s *sender) sendChunk(d *dataWriter, it workItem, buf []byte) ([wire.HashLen]byte, error) {
	var sum [wire.HashLen]byte
	f, err := it.sf.open()
	if err != nil {
		return sum, err
	}
	length := it.sf.src.ChunkLen(it.chunk)
	if s.cache != nil && length <= maxCachedChunk {
		return s.sendShared(d, it, f, length)
	}
	if err := d.header(wire.ChunkHeader{File: uint32(it.sf.idx), Chunk: uint32(it.chunk), Len: uint32(length)}); err != nil {
		return sum, err
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
		if _, err := d.bw.Write(buf[:n]); err != nil {
			return sum, classify(err)
		}
		off += n
		left -= n
		s.prog.add(it.sf.fp, n)
	}
	h.Sum(sum[:0])
	return sum, d.trailer(sum)
}

// sendShared writes one chunk taken from the read cache: read and hashed
// once for all the sessions of a SendMany.
func (s *sender) sendShared(d *dataWriter, it workItem, f *os.File, length int64) ([wire.HashLen]byte, error) {
	data, sum, err := s.cache.get(chunkKey{it.sf.src, it.chunk}, length, func() ([]byte, [wire.HashLen]byte, error) {
		return readChunk(f, it.sf.src, it.chunk, length)
	})
	if err != nil {
		return sum, err
	}
	if err := d.header(wire.ChunkHeader{File: uint32(it.sf.idx), Chunk: uint32(it.chunk), Len: uint32(length)}); err != nil {
		return sum, err
	}
	for len(data) > 0 { // piece by piece, so that progress moves as the stream does
		n := min(len(data), pieceSize)
		if _, err := d.bw.Write(data[:n]); err != nil {
			return sum, classify(err)
		}
		s.prog.add(it.sf.fp, int64(n))
		data = data[n:]
	}
	return sum, d.trailer(sum)
}

// readChunk reads a chunk of src into a new buffer and hashes it.
func readChunk(f *os.File, src *source, chunk, length int64) ([]byte, [wire.HashLen]byte, error) {
	var sum [wire.HashLen]byte
	buf := make([]byte, length)
	m, err := f.ReadAt(buf, chunk*src.Chunk)
	if int64(m) < length {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, sum, fmt.Errorf("%w: %s is shorter than when the transfer started", ErrSourceChanged, src.abs)
		}
		return nil, sum, fmt.Errorf("read %s: %w", src.abs, err)
	}
	return buf, blake3.Sum256(buf), nil
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
func (s *sender) endFile(sf *sendFile, ctrl *control) error {
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
	return ctrl.send(wire.TypeFileEnd, wire.FileEnd{File: sf.idx, Size: sf.src.Size, Hash: sum[:]})
}

// sendStdin streams standard input on its own data stream, chunk by chunk.
func (s *sender) sendStdin(ctx context.Context, conn *quic.Conn, token []byte, files []*sendFile, ctrl *control) error {
	var sf *sendFile
	for _, f := range files {
		if f != nil && f.src.Stream {
			sf = f
		}
	}
	if sf == nil {
		return nil
	}
	d, err := openData(ctx, conn, token)
	if err != nil {
		return err
	}
	defer d.stop()
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
			// An error writing sticks in the buffered writer: the trailer's
			// write reports it.
			d.header(wire.ChunkHeader{File: uint32(sf.idx), Chunk: uint32(c), Len: uint32(n)})
			d.bw.Write(buf[:n])
			if err := d.trailer(sum); err != nil {
				return err
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
	if err := d.close(); err != nil {
		return err
	}
	sum := wire.FileHash(size, sf.src.Chunk, hashes)
	return ctrl.send(wire.TypeFileEnd, wire.FileEnd{File: sf.idx, Size: size, Hash: sum[:]})
}
