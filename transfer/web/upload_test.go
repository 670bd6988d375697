package web

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer"
	"github.com/ferry-lan/ferry/transfer/web/webauth"
)

// TestUploadFiles: two files (one of several chunks, one empty) and one in
// a folder arrive whole under their names; a name taken already gets
// "name (1).ext"; the events say so.
func TestUploadFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.bin"), []byte("old"), 0o644)
	ts := startServer(t, dir, 0, nil)
	c := newClient(t, ts, "")
	big := randomBytes(3*testChunk+123, 1)
	small := []byte("hello from a phone")
	files := []fileSpec{{"a.bin", int64(len(big)), 1_700_000_000_000}, {"empty.txt", 0, 0}, {"photos/x.jpg", int64(len(small)), 0}}
	a, _ := c.offer(files, 200)
	if a.Chunk != testChunk || len(a.Files) != 3 || a.Code == "" {
		t.Fatalf("answer %+v", a)
	}
	if !a.Files[1].Done {
		t.Errorf("the empty file is not done at once")
	}
	c.upload(a.Files[0], a.Chunk, big, 0)
	c.upload(a.Files[2], a.Chunk, small, 0)
	res, end := c.events(a.Offer)
	if end != "done" || len(res) != 3 {
		t.Fatalf("events %+v, end %q", res, end)
	}
	names := map[int]string{}
	for _, r := range res {
		if r.Error != "" {
			t.Fatalf("file %d: %s", r.Index, r.Error)
		}
		names[r.Index] = r.Name
	}
	if names[0] != "a (1).bin" || names[1] != "empty.txt" || names[2] != "photos/x.jpg" {
		t.Fatalf("names %v", names)
	}
	for name, want := range map[string][]byte{"a (1).bin": big, "empty.txt": {}, "photos/x.jpg": small, "a.bin": []byte("old")} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "a (1).bin")); fi.ModTime().UnixMilli() != 1_700_000_000_000 {
		t.Errorf("mtime %v", fi.ModTime())
	}
	if got := tree(t, dir); len(got) != 4 {
		t.Errorf("left in the folder: %v", got)
	}
	var sawSession, sawEnd bool
	for _, ev := range ts.evs() {
		switch ev := ev.(type) {
		case transfer.EventSession:
			sawSession = ev.Info.PeerName == "web browser at 127.0.0.1" && ev.Info.Files == 3
		case transfer.EventSessionEnd:
			sawEnd = ev.Err == nil && ev.Files == 3
		}
	}
	if !sawSession || !sawEnd {
		t.Errorf("events %v", ts.evs())
	}
}

// TestTornChunk: a PATCH whose body stops half way, and one whose body
// does not match its hash, count for nothing; the chunk sent again does.
func TestTornChunk(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, 0, nil)
	c := newClient(t, ts, "")
	data := randomBytes(2*testChunk, 2)
	a, _ := c.offer([]fileSpec{{"f.bin", int64(len(data)), 0}}, 200)
	up := a.Files[0].Upload

	// Torn: the request says a whole chunk and sends half, then the
	// connection drops.
	conn, err := net.Dial("tcp", ts.host)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PATCH", ts.base+up, bytes.NewReader(data[:testChunk]))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	c.sec.SignRequest(req, data[:testChunk])
	var head bytes.Buffer
	req.Write(&head)
	raw := head.Bytes()
	conn.Write(raw[:len(raw)-testChunk/2])
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		off, code := c.head(up)
		if code != 200 || off != 0 {
			t.Fatalf("after a torn chunk: HEAD %d, offset %d", code, off)
		}
		// The torn chunk was given back once its writer is gone: the
		// same chunk can be begun again.
		if code, off := c.patch(up, 0, data[:testChunk]); code == http.StatusNoContent && off == testChunk {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("chunk 0 again: %d %d", code, off)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A body that does not match its hash.
	bad := bytes.Clone(data[testChunk:])
	bad[7] ^= 1
	resp := c.req("PATCH", up, bad, map[string]string{"Upload-Offset": strconv.Itoa(testChunk), "X-Ferry-Chunk-Hash": webauth.BodyHash(data[testChunk:])})
	resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		t.Fatal("a chunk that does not match its hash was taken")
	}
	if off, _ := c.head(up); off != testChunk {
		t.Fatalf("offset %d after a bad chunk", off)
	}
	c.upload(a.Files[0], testChunk, data, 0)
	if res, end := c.events(a.Offer); end != "done" || res[0].Name != "f.bin" {
		t.Fatalf("%+v %s", res, end)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.bin")); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
}

// TestRestartResume: the receiver stops at 40 % and a new one (a new
// secret, the same folder and port) takes the same browser's offer: the
// upload continues where the journal says, and at most one chunk more
// than the file goes over the wire.
func TestRestartResume(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, 0, nil)
	client := webauth.NewNonce()
	c := newClient(t, ts, client)
	data := randomBytes(10*testChunk+5, 3)
	files := []fileSpec{{"big.bin", int64(len(data)), 0}}
	a, _ := c.offer(files, 200)
	c.upload(a.Files[0], testChunk, data, int64(len(data))*4/10)
	sent := c.sent
	ts.stop()

	port := ts.host[len("127.0.0.1:"):]
	p, _ := strconv.Atoi(port)
	ts2 := startServer(t, dir, p, nil)
	c2 := newClient(t, ts2, client)
	a2, _ := c2.offer(files, 200)
	if a2.Files[0].Offset != sent || len(a2.Files[0].Kept) != 1 || sent < int64(len(data))*4/10 {
		t.Fatalf("after the restart: offset %d, kept %v", a2.Files[0].Offset, a2.Files[0].Kept)
	}
	c2.upload(a2.Files[0], testChunk, data, 0)
	if _, end := c2.events(a2.Offer); end != "done" {
		t.Fatalf("end %q", end)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
	if total := sent + c2.sent; total > int64(len(data))+testChunk {
		t.Fatalf("%d bytes sent for a file of %d", total, len(data))
	}
	if got := tree(t, dir); !slices.Equal(got, []string{"big.bin"}) {
		t.Fatalf("left: %v", got)
	}
}
