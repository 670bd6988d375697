package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestDataStreamRoundTrip writes a data stream with the writing side's
// functions and reads it back with the reading side's.
func TestDataStreamRoundTrip(t *testing.T) {
	token := bytes.Repeat([]byte{0xab}, TokenLen)
	data := []byte("chunk data")
	var sum [HashLen]byte
	for i := range sum {
		sum[i] = byte(i)
	}
	hdr := ChunkHeader{File: 3, Chunk: 9, Len: uint32(len(data))}

	var buf bytes.Buffer
	buf.Write(AppendStreamHello(nil, token))
	var hb [ChunkHeaderLen]byte
	hdr.Put(hb[:])
	buf.Write(hb[:])
	buf.Write(data)
	if err := WriteChunkTrailer(&buf, sum); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.Len(), 1+TokenLen+ChunkHeaderLen+len(data)+HashLen; got != want {
		t.Fatalf("stream of %d bytes, want %d", got, want)
	}

	br := bufio.NewReader(&buf)
	tok, err := ReadStreamHello(br)
	if err != nil || !bytes.Equal(tok, token) {
		t.Fatalf("hello: %x, %v", tok, err)
	}
	h, err := ReadChunkHeader(br)
	if err != nil || h != hdr {
		t.Fatalf("header: %+v, %v", h, err)
	}
	got := make([]byte, h.Len)
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("data: %q, %v", got, err)
	}
	trailer, err := ReadChunkTrailer(br)
	if err != nil || trailer != sum {
		t.Fatalf("trailer: %x, %v", trailer, err)
	}
	if _, err := ReadChunkHeader(br); err != io.EOF {
		t.Fatalf("after the last chunk: %v, want io.EOF", err)
	}
}

func TestReadChunkTrailerShort(t *testing.T) {
	for _, n := range []int{0, 1, HashLen - 1} {
		_, err := ReadChunkTrailer(bytes.NewReader(make([]byte, n)))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("trailer of %d bytes: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
}

func TestAppendStreamHelloAppends(t *testing.T) {
	token := bytes.Repeat([]byte{1}, TokenLen)
	got := AppendStreamHello([]byte("x"), token)
	want := append([]byte{'x', TypeStreamHello}, token...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}
