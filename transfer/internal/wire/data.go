package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// The framing of data streams (specified in the transfer package's doc.go,
// "Data streams and connections"): a unidirectional stream from the sender
// opens with a hello and carries chunks back to back, each a header, the
// data and a trailer, and ends cleanly only between chunks.
//
//	hello:   0x10 | token (TokenLen bytes)
//	chunk:   0x11 | u32 file | u32 chunk | u32 length | length bytes | trailer
//	trailer: BLAKE3-256 of the bytes (HashLen bytes)

// AppendStreamHello appends the hello that opens a data stream to b.
func AppendStreamHello(b, token []byte) []byte {
	b = append(b, TypeStreamHello)
	return append(b, token...)
}

// ReadStreamHello reads the hello that opens a data stream and returns its
// token.
func ReadStreamHello(r io.Reader) ([]byte, error) {
	var b [1 + TokenLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("read data stream hello: %w", Unexpected(err))
	}
	if b[0] != TypeStreamHello {
		return nil, Errorf("data stream starts with frame type %#x", b[0])
	}
	return b[1:], nil
}

// ChunkHeader precedes a chunk's data on a data stream.
type ChunkHeader struct {
	File  uint32
	Chunk uint32
	Len   uint32
}

// Put encodes the header, frame type included, into b[:ChunkHeaderLen].
func (h ChunkHeader) Put(b []byte) {
	b[0] = TypeChunk
	binary.BigEndian.PutUint32(b[1:], h.File)
	binary.BigEndian.PutUint32(b[5:], h.Chunk)
	binary.BigEndian.PutUint32(b[9:], h.Len)
}

// ReadChunkHeader reads the next chunk header of a data stream. It returns
// io.EOF at a clean end of stream.
func ReadChunkHeader(r *bufio.Reader) (ChunkHeader, error) {
	var b [ChunkHeaderLen]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return ChunkHeader{}, err // io.EOF: the stream ended between chunks
	}
	if b[0] != TypeChunk {
		return ChunkHeader{}, Errorf("unknown data frame type %#x", b[0])
	}
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return ChunkHeader{}, fmt.Errorf("read chunk header: %w", Unexpected(err))
	}
	return ChunkHeader{
		File:  binary.BigEndian.Uint32(b[1:]),
		Chunk: binary.BigEndian.Uint32(b[5:]),
		Len:   binary.BigEndian.Uint32(b[9:]),
	}, nil
}

// WriteChunkTrailer writes the trailer that follows a chunk's data: the
// chunk's hash.
func WriteChunkTrailer(w io.Writer, sum [HashLen]byte) error {
	_, err := w.Write(sum[:])
	return err
}

// ReadChunkTrailer reads the trailer that follows a chunk's data. A stream
// that ends inside it is io.ErrUnexpectedEOF.
func ReadChunkTrailer(r io.Reader) ([HashLen]byte, error) {
	var sum [HashLen]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return [HashLen]byte{}, Unexpected(err)
	}
	return sum, nil
}
