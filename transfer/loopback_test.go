package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

const mib = 1 << 20

func TestSendFileAndTree(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()

	writeFile(t, src, "single.bin", 300_000)
	writeFile(t, src, "tree/a.txt", 10)
	writeFile(t, src, "tree/sub/b.bin", 2*mib+17)
	writeFile(t, src, "tree/sub/deeper/c", 1)
	writeFile(t, src, "tree/run.sh", 100)
	if err := os.Chmod(filepath.Join(src, "tree/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "tree/empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Times in the past, folders last (writing into a folder changes its time).
	old := time.Date(2021, 3, 4, 5, 6, 7, 891011121, time.UTC)
	for i, p := range []string{"single.bin", "tree/a.txt", "tree/sub/b.bin", "tree/sub/deeper/c", "tree/run.sh",
		"tree/empty", "tree/sub/deeper", "tree/sub", "tree"} {
		tm := old.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(src, p), tm, tm); err != nil {
			t.Fatal(err)
		}
	}

	res := s.mustSend(t, r, []string{filepath.Join(src, "single.bin"), filepath.Join(src, "tree")})
	if res.Files != 5 {
		t.Errorf("Result.Files = %d, want 5", res.Files)
	}
	wantBytes := int64(300_000 + 10 + 2*mib + 17 + 1 + 100)
	if res.Bytes != wantBytes || res.BytesSent != wantBytes {
		t.Errorf("Result: Bytes %d, BytesSent %d, want %d", res.Bytes, res.BytesSent, wantBytes)
	}
	for _, p := range []string{"single.bin", "tree/a.txt", "tree/sub/b.bin", "tree/sub/deeper/c", "tree/run.sh"} {
		sameFile(t, filepath.Join(src, p), filepath.Join(r.Dir(), p))
	}
	if fi, err := os.Stat(filepath.Join(r.Dir(), "tree/run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh: %v %v, want mode 0755", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(r.Dir(), "tree/a.txt")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("a.txt: %v %v, want mode 0644", fi.Mode(), err)
	}
	for _, d := range []string{"tree/empty", "tree/sub/deeper", "tree/sub", "tree"} {
		a, _ := os.Stat(filepath.Join(src, d))
		b, err := os.Stat(filepath.Join(r.Dir(), d))
		if err != nil || !b.IsDir() {
			t.Fatalf("folder %s: %v", d, err)
		}
		if !a.ModTime().Equal(b.ModTime()) {
			t.Errorf("folder %s: mtime %v, want %v", d, b.ModTime(), a.ModTime())
		}
	}
	noLeftovers(t, r.Dir())

	// The receiver reported each file with its final path and hash.
	var files int
	for _, e := range r.events.all() {
		if ev, ok := e.(EventFile); ok {
			files++
			if len(ev.Hash) != 2*wire.HashLen || !strings.HasPrefix(ev.Path, r.Dir()) {
				t.Errorf("file event %+v", ev)
			}
		}
	}
	if files != 5 {
		t.Errorf("%d file events, want 5", files)
	}
}

// noLeftovers checks that no partial file or journal stayed behind.
func noLeftovers(t testing.TB, dir string) {
	t.Helper()
	for p := range listing(t, dir) {
		if strings.Contains(p, ".ferry-") {
			t.Errorf("leftover %s", p)
		}
	}
}

func TestManySmallFiles(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	const n = 400
	for i := range n {
		writeFile(t, src, fmt.Sprintf("many/d%d/f%03d", i%7, i), i*13%4096)
	}
	res := s.mustSend(t, r, []string{filepath.Join(src, "many")})
	if res.Files != n {
		t.Fatalf("Result.Files = %d, want %d", res.Files, n)
	}
	got := finalFiles(t, r.Dir())
	if len(got) != n {
		t.Fatalf("%d files arrived, want %d", len(got), n)
	}
	for i := range n {
		p := fmt.Sprintf("many/d%d/f%03d", i%7, i)
		want, _ := os.ReadFile(filepath.Join(src, p))
		if !bytes.Equal(got[p], want) {
			t.Fatalf("%s differs", p)
		}
	}
	noLeftovers(t, r.Dir())
}

func TestChunkBoundaries(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	sizes := map[string]int{
		"empty":       0,
		"one-byte":    1,
		"chunk-1":     mib - 1,
		"chunk":       mib,
		"chunk+1":     mib + 1,
		"two-chunks":  2 * mib,
		"two-chunks+": 2*mib + 1,
	}
	var paths []string
	for name, n := range sizes {
		writeFile(t, src, name, n)
		paths = append(paths, filepath.Join(src, name))
	}
	res := s.mustSend(t, r, paths)
	if res.Files != len(sizes) {
		t.Fatalf("Result.Files = %d, want %d", res.Files, len(sizes))
	}
	for name := range sizes {
		sameFile(t, filepath.Join(src, name), filepath.Join(r.Dir(), name))
	}
	noLeftovers(t, r.Dir())
}

func TestSendStdin(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty.txt", 0},
		{"small.txt", 1000},
		{"exact.bin", mib},
		{"big.bin", 2*mib + 12345},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			res := s.mustSend(t, r, []string{StdinPath}, func(o *SendOptions) {
				o.Stdin = bytes.NewReader(data)
				o.As = tc.name
			})
			if res.Files != 1 || res.Bytes != int64(tc.size) || res.BytesSent != int64(tc.size) {
				t.Errorf("Result %+v", res)
			}
			got, err := os.ReadFile(filepath.Join(r.Dir(), tc.name))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("received %d bytes (%v), want %d", len(got), err, len(data))
			}
		})
	}
	noLeftovers(t, r.Dir())
}

// A Send with "-" and no reader is a caller's mistake, not a crash.
func TestSendStdinWithoutReader(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	_, err := s.send(context.Background(), r, []string{StdinPath}, func(o *SendOptions) { o.As = "x" })
	if err == nil || !strings.Contains(err.Error(), "standard input") {
		t.Fatalf("Send: %v, want an error about standard input", err)
	}
}

func TestExistingNameGetsNumbered(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	data := writeFile(t, src, "report.tar.gz", 1000)
	other := []byte("the receiver's own file")
	for _, name := range []string{"report.tar.gz", "report (1).tar.gz"} {
		if err := os.WriteFile(filepath.Join(r.Dir(), name), other, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var fileEv EventFile
	s.mustSend(t, r, []string{filepath.Join(src, "report.tar.gz")})
	fileEv = r.events.wait(t, "file", func(e Event) bool { _, ok := e.(EventFile); return ok }).(EventFile)
	if fileEv.Name != "report (2).tar.gz" {
		t.Errorf("final name %q, want %q", fileEv.Name, "report (2).tar.gz")
	}
	got := finalFiles(t, r.Dir())
	if !bytes.Equal(got["report.tar.gz"], other) || !bytes.Equal(got["report (1).tar.gz"], other) {
		t.Error("an existing file was overwritten")
	}
	if !bytes.Equal(got["report (2).tar.gz"], data) {
		t.Error("the new file is not under the free name")
	}
}

// changeKeepingTime flips a bit of the file at p and puts its modification
// time back: a file that looks unchanged by size and time.
func changeKeepingTime(t testing.TB, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// The same with a folder of many files, whose names the receiver reads
// once instead of looking each up: files already there are skipped, new
// ones arrive, and a changed one arrives under a numbered name.
func TestResendManyIdenticalIsSkipped(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	const n = 3 * store.ListFrom
	for i := range n {
		writeFile(t, src, fmt.Sprintf("dir/f%02d", i), 100+i)
	}
	paths := []string{filepath.Join(src, "dir")}
	s.mustSend(t, r, paths)
	writeFile(t, src, "dir/new", 1000)
	p := filepath.Join(src, "dir/f07")
	changeKeepingTime(t, p)

	second := s.mustSend(t, r, paths)
	if want := int64(1000 + 100 + 7); second.BytesSent != want || second.Files != n+1 {
		t.Errorf("second send: %+v, want %d files and %d bytes sent (the new and the changed file)", second, n+1, want)
	}
	sameFile(t, filepath.Join(src, "dir/new"), filepath.Join(r.Dir(), "dir/new"))
	sameFile(t, p, filepath.Join(r.Dir(), "dir/f07 (1)"))
	if got := finalFiles(t, r.Dir()); len(got) != n+2 {
		t.Errorf("%d files, want %d", len(got), n+2)
	}
}

func TestResendIdenticalIsSkipped(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "dir/a.bin", 3*mib+5)
	writeFile(t, src, "dir/empty", 0)
	paths := []string{filepath.Join(src, "dir")}
	first := s.mustSend(t, r, paths)
	if first.BytesSent != 3*mib+5 {
		t.Fatalf("first send: BytesSent %d", first.BytesSent)
	}
	second := s.mustSend(t, r, paths)
	if second.BytesSent != 0 || second.Files != 2 {
		t.Errorf("second send: %+v, want 2 files and nothing sent", second)
	}
	got := finalFiles(t, r.Dir())
	if len(got) != 2 {
		t.Errorf("files after two sends: %v", keys(got))
	}
	sameFile(t, filepath.Join(src, "dir/a.bin"), filepath.Join(r.Dir(), "dir/a.bin"))

	// The same name with other contents (same size and time) is not skipped.
	p := filepath.Join(src, "dir/a.bin")
	changeKeepingTime(t, p)
	third := s.mustSend(t, r, paths)
	if third.BytesSent != 3*mib+5 {
		t.Errorf("third send: BytesSent %d, want the whole changed file", third.BytesSent)
	}
	sameFile(t, p, filepath.Join(r.Dir(), "dir/a (1).bin"))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPolicyTrustedDeclines(t *testing.T) {
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) { c.Policy = PolicyTrusted }))
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "x", 10)
	_, err := s.send(context.Background(), r, []string{filepath.Join(src, "x")})
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("Send: %v, want ErrDeclined", err)
	}
	r.events.wait(t, "declined", func(e Event) bool { _, ok := e.(EventDeclined); return ok })
	if got := listing(t, r.Dir()); len(got) != 1 {
		t.Errorf("a declined offer left %v", got)
	}
}

// bigSource makes a random source file and returns its path.
func bigSource(t testing.TB, size int) (string, []byte) {
	src := t.TempDir()
	data := writeFile(t, src, "big.bin", size)
	return filepath.Join(src, "big.bin"), data
}

// sessionProgress waits for the receiver's session to start and returns
// its progress.
func sessionProgress(t testing.TB, r *testReceiver, after int) *Progress {
	t.Helper()
	ev := r.events.waitNth(t, "session", after, func(e Event) bool { _, ok := e.(EventSession); return ok })
	return ev.(EventSession).Progress
}

// Cancel the sender half-way, then send again: only the rest moves.
// Files of one chunk are written as unnamed files (O_TMPFILE) and named when
// complete; where the file system cannot, as named partial files. Both ways
// deliver the same tree.
func TestManySmallFilesNamedPartials(t *testing.T) {
	r := startReceiver(t, func(_ *ReceiverConfig, r *Receiver) {
		if r != nil {
			r.noTmpFiles = true
		}
	})
	s := newSender(t)
	src := t.TempDir()
	const n = 200
	for i := range n {
		writeFile(t, src, fmt.Sprintf("many/d%d/f%03d", i%5, i), i*37%9000)
	}
	if res := s.mustSend(t, r, []string{filepath.Join(src, "many")}); res.Files != n {
		t.Fatalf("Result.Files = %d, want %d", res.Files, n)
	}
	for i := range n {
		p := fmt.Sprintf("many/d%d/f%03d", i%5, i)
		sameFile(t, filepath.Join(src, p), filepath.Join(r.Dir(), p))
	}
	noLeftovers(t, r.Dir())
}

// A named partial of a one-chunk file, left by an attempt that could not
// use an unnamed file, is removed when the file is received unnamed: in a
// folder whose names are read once and in one whose are not.
func TestStaleOneChunkPartialRemoved(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	paths := []string{"few/a.txt"}
	for i := range store.ListFrom {
		paths = append(paths, fmt.Sprintf("many/f%02d", i))
	}
	for _, p := range paths {
		writeFile(t, src, p, 500)
		stale := filepath.Join(r.Dir(), filepath.FromSlash(store.PartialPath(s.dev.ID, p)))
		writeFile(t, filepath.Dir(stale), filepath.Base(stale), 100)
	}
	s.mustSend(t, r, []string{filepath.Join(src, "few"), filepath.Join(src, "many")})
	for _, p := range paths {
		sameFile(t, filepath.Join(src, p), filepath.Join(r.Dir(), p))
	}
	noLeftovers(t, r.Dir())
}

// A subfolder removed in the middle of a session (the receiving folder's
// removal is e2e's TestTargetProblems) is made again: files written after
// the removal, and files written into it before but named after, arrive;
// none is lost or delivered twice.
func TestSubfolderRemovedMidSession(t *testing.T) {
	src := t.TempDir()
	const n = 2000
	for i := range n {
		writeFile(t, src, fmt.Sprintf("tree/a/f%04d", i), 4096)
	}
	writeFile(t, src, "tree/b/x", 10)
	var mu sync.Mutex
	removed := -1 // files in tree/a when it was removed
	r := startReceiver(t, withConfig(func(c *ReceiverConfig) {
		prev, dir := c.Events, c.Dir
		c.Events = func(e Event) {
			prev(e)
			if ev, ok := e.(EventFile); !ok || !strings.HasPrefix(ev.Name, "tree/a/") {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if removed >= 0 {
				return
			}
			a := filepath.Join(dir, "tree", "a")
			list, err := os.ReadDir(a)
			if err != nil {
				t.Error(err)
			}
			removed = len(list)
			if err := os.RemoveAll(a); err != nil {
				t.Error(err)
			}
		}
	}))
	s := newSender(t)
	if res := s.mustSend(t, r, []string{filepath.Join(src, "tree")}); res.Files != n+1 {
		t.Fatalf("Result.Files = %d, want %d", res.Files, n+1)
	}
	got := finalFiles(t, r.Dir())
	present := 0
	for p, b := range got {
		if !strings.HasPrefix(p, "tree/a/") {
			continue
		}
		present++
		if want, err := os.ReadFile(filepath.Join(src, p)); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s differs from the source (%v)", p, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if present == 0 {
		t.Skipf("all %d files were named before the folder was removed", removed)
	}
	if removed+present != n {
		t.Errorf("%d files removed with the folder + %d there at the end = %d, want %d", removed, present, removed+present, n)
	}
	noLeftovers(t, r.Dir())
}

// A session of small files interrupted half-way leaves only complete, correct
// files under their final names and no partial files (a file of one chunk
// is unnamed until it is complete); sending again delivers the rest and
// skips what arrived.
func TestInterruptedSmallFilesLeaveNothing(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	src := t.TempDir()
	const n = 3000
	for i := range n {
		writeFile(t, src, fmt.Sprintf("many/f%04d", i), 16<<10)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := goSend(t, cancel, func() (Result, error) {
		return s.send(ctx, r, []string{filepath.Join(src, "many")}, func(o *SendOptions) { o.Conns = 1; o.Streams = 1 })
	})
	r.events.waitNth(t, "file", 20, func(e Event) bool { _, ok := e.(EventFile); return ok })
	cancel()
	if res := <-first; res.err == nil {
		t.Skip("the session finished before it could be interrupted")
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	got := finalFiles(t, r.Dir())
	if len(got) == 0 || len(got) == n {
		t.Fatalf("%d files arrived, want some but not all", len(got))
	}
	for p, b := range got {
		want, err := os.ReadFile(filepath.Join(src, p))
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s is under its final name but differs from the source (%v)", p, err)
		}
	}
	noLeftovers(t, r.Dir())

	r2 := startReceiverIn(t, filepath.Dir(r.Dir()), r.Dir(), 0)
	res := s.mustSend(t, r2, []string{filepath.Join(src, "many")})
	if want := int64(n-len(got)) * 16 << 10; res.BytesSent != want {
		t.Errorf("second send: %d bytes on the wire, want %d (only the missing files)", res.BytesSent, want)
	}
	if len(finalFiles(t, r.Dir())) != n {
		t.Errorf("%d files after the second send, want %d", len(finalFiles(t, r.Dir())), n)
	}
	noLeftovers(t, r.Dir())
}

func TestResumeAfterSenderStops(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	const size = 32*mib + 1234
	p, _ := bigSource(t, size)

	ctx, cancel := context.WithCancel(context.Background())
	first := goSend(t, cancel, func() (Result, error) { return s.send(ctx, r, []string{p}) })
	prog := sessionProgress(t, r, 0)
	waitUntil(t, "half the file verified", func() bool { return prog.Done.Load() >= size/2 })
	cancel()
	res1 := <-first
	if !errors.Is(res1.err, ErrInterrupted) {
		t.Fatalf("first send: %v, want ErrInterrupted", res1.err)
	}
	if len(finalFiles(t, r.Dir())) != 0 {
		t.Fatal("a file is under its final name after an interrupted send")
	}

	res := s.mustSend(t, r, []string{p})
	if res.BytesSent > size/2 || res.BytesSent == 0 {
		t.Errorf("resumed send put %d of %d bytes on the wire, want at most half", res.BytesSent, size)
	}
	sameFile(t, p, filepath.Join(r.Dir(), "big.bin"))
	noLeftovers(t, r.Dir())
}

// Stop the receiver half-way and start it again on the same port and
// folder: the sender reconnects on its own and the new receiver resumes.
func TestResumeAcrossReceiverRestart(t *testing.T) {
	dev := newDevice(t, "receiver")
	r1 := startReceiver(t, withDevice(dev))
	s := newSender(t)
	const size = 32*mib + 99
	p, _ := bigSource(t, size)

	ctx, cancel := context.WithCancel(context.Background())
	done := goSend(t, cancel, func() (Result, error) {
		return s.send(ctx, r1, []string{p}, func(o *SendOptions) { o.RetryFor = testTimeout })
	})
	prog := sessionProgress(t, r1, 0)
	waitUntil(t, "half the file verified", func() bool { return prog.Done.Load() >= size/2 })
	if err := r1.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	stopped := time.Now()
	retry := s.events.wait(t, "retry", func(e Event) bool { _, ok := e.(EventRetry); return ok }).(EventRetry)
	if retry.Until.Before(stopped) || retry.Until.After(time.Now().Add(testTimeout)) {
		t.Errorf("the retry event says the sender retries for %v more, want within RetryFor (%v) of the loss", retry.Until.Sub(stopped), testTimeout)
	}

	r2 := startReceiverIn(t, r1.base, r1.Dir(), r1.Port(), withDevice(dev))
	ev := r2.events.wait(t, "session", func(e Event) bool { _, ok := e.(EventSession); return ok }).(EventSession)
	if ev.Resumed < size/2 {
		t.Errorf("the restarted receiver resumed from %d bytes, want at least %d", ev.Resumed, size/2)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("send: %v", res.err)
	}
	sameFile(t, p, filepath.Join(r2.Dir(), "big.bin"))
	noLeftovers(t, r2.Dir())
	var order []string
	for _, e := range s.events.all() {
		switch e.(type) {
		case EventConnected, EventReconnected, EventSession:
			order = append(order, fmt.Sprintf("%T", e))
		}
	}
	if want := []string{"transfer.EventConnected", "transfer.EventSession", "transfer.EventReconnected", "transfer.EventSession"}; !slices.Equal(order, want) {
		t.Errorf("sender events %v, want %v", order, want)
	}
}

type sendResult struct {
	res Result
	err error
}

// goSend runs send in a goroutine that the test owns: when the test ends,
// cancel stops it and the test waits for it.
func goSend(t testing.TB, cancel context.CancelFunc, send func() (Result, error)) <-chan sendResult {
	ch := make(chan sendResult, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		res, err := send()
		ch <- sendResult{res, err}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return ch
}

// partialUpload leaves a partial copy of the file at p on the receiver:
// a sender with dev's identity offers it exactly as Send would, delivers
// the chunks in idx and goes away.
func partialUpload(t *testing.T, r *testReceiver, s *testSender, p string, idx ...int64) wire.Entry {
	t.Helper()
	src, err := buildManifest([]string{p}, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e := src[0].Entry
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sessions, ends := count[EventSession](r), count[EventSessionEnd](r)
	h := dialHostile(t, s.dev, r)
	h.offer(e)
	h.plan(wire.Plan{})
	str := h.dataStream(h.dec.Token)
	for _, i := range idx {
		off := i * e.Chunk
		h.chunk(str, 0, i, data[off:off+e.ChunkLen(i)])
	}
	str.Close()
	// Wait until the receiver verified them all, then vanish.
	prog := sessionProgress(t, r, sessions)
	var want int64
	for _, i := range idx {
		want += e.ChunkLen(i)
	}
	waitUntil(t, "the chunks verified", func() bool { return prog.Done.Load() >= want })
	h.close()
	r.events.waitNth(t, "session end", ends, func(e Event) bool { _, ok := e.(EventSessionEnd); return ok })
	return e
}

// count returns how many events of type E the receiver reported so far.
func count[E Event](r *testReceiver) int {
	n := 0
	for _, e := range r.events.all() {
		if _, ok := e.(E); ok {
			n++
		}
	}
	return n
}

// journalChunks returns the chunks the journal of the only partial file
// in dir records.
func journalChunks(t testing.TB, dir string) []int64 {
	t.Helper()
	js, _ := filepath.Glob(filepath.Join(dir, ".ferry-*.journal"))
	if len(js) != 1 {
		t.Fatalf("journals: %v", js)
	}
	f, err := os.Open(js[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := store.JournaledChunks(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResumeDeterministic(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	const size = 6*mib + 321
	p, _ := bigSource(t, size)
	partialUpload(t, r, s, p, 0, 2, 3, 6)
	if got := journalChunks(t, r.Dir()); len(got) != 4 {
		t.Fatalf("journal records %v, want 4 chunks", got)
	}
	res := s.mustSend(t, r, []string{p})
	// Chunks 1, 4 and 5 are missing.
	if res.BytesSent != 3*mib {
		t.Errorf("BytesSent %d, want %d", res.BytesSent, 3*mib)
	}
	sameFile(t, p, filepath.Join(r.Dir(), "big.bin"))
	noLeftovers(t, r.Dir())
}

// A kept chunk whose bytes changed on disk is checked, found bad and sent
// again; the others are kept.
func TestResumeCorruptPartial(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	const size = 5*mib + 1
	p, _ := bigSource(t, size)
	partialUpload(t, r, s, p, 0, 1, 2, 3)
	parts, _ := filepath.Glob(filepath.Join(r.Dir(), ".ferry-*.part"))
	if len(parts) != 1 {
		t.Fatalf("partial files: %v", parts)
	}
	f, err := os.OpenFile(parts[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("rot"), 2*mib+100); err != nil { // inside chunk 2
		t.Fatal(err)
	}
	f.Close()
	res := s.mustSend(t, r, []string{p})
	if res.BytesSent != 2*mib+1 { // chunks 2 and 4 and the last byte
		t.Errorf("BytesSent %d, want %d", res.BytesSent, 2*mib+1)
	}
	sameFile(t, p, filepath.Join(r.Dir(), "big.bin"))
	noLeftovers(t, r.Dir())
}

// A source changed between attempts restarts: with a new time through a
// new journal header, with the same size and time through the sender's
// check of the kept chunks' digest (Plan.Restart).
func TestResumeSourceChanged(t *testing.T) {
	for _, keepTime := range []bool{false, true} {
		t.Run(fmt.Sprintf("same-mtime=%v", keepTime), func(t *testing.T) {
			r := startReceiver(t)
			s := newSender(t)
			const size = 4*mib + 7
			p, data := bigSource(t, size)
			partialUpload(t, r, s, p, 0, 1, 2)
			fi, _ := os.Stat(p)
			data[mib+5] ^= 0xff // inside kept chunk 1
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			tm := fi.ModTime().Add(time.Second)
			if keepTime {
				tm = fi.ModTime()
			}
			os.Chtimes(p, tm, tm)
			res := s.mustSend(t, r, []string{p})
			if res.BytesSent != size {
				t.Errorf("BytesSent %d, want the whole file (%d)", res.BytesSent, size)
			}
			sameFile(t, p, filepath.Join(r.Dir(), "big.bin"))
			noLeftovers(t, r.Dir())
		})
	}
}

// A file that changes while it is sent is refused at its end.
func TestSourceChangedWhileSending(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	const size = 3 * mib
	p, data := bigSource(t, size)
	// Shorten the file as soon as the session starts: the reads come up short.
	s.events = newEventLog()
	var once bool
	res, err := s.send(context.Background(), r, []string{p}, func(o *SendOptions) {
		o.Events = func(e Event) {
			if _, ok := e.(EventSession); ok && !once {
				once = true
				os.WriteFile(p, data[:mib], 0o644)
			}
		}
	})
	if !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("Send: %+v %v, want ErrSourceChanged", res, err)
	}
	if len(finalFiles(t, r.Dir())) != 0 {
		t.Error("a changed source arrived under its final name")
	}
}

func TestServeReturnsWhenSocketFails(t *testing.T) {
	r := startReceiver(t)
	r.eps[0].conn.Close()
	select {
	case err := <-r.done:
		if err == nil {
			t.Error("Serve returned nil after its socket failed")
		}
		r.once.Do(func() {}) // already stopped
	case <-time.After(testTimeout):
		t.Fatal("Serve hangs after its socket failed")
	}
}

// hashOf is the BLAKE3 of b, as a chunk trailer.
func hashOf(b []byte) [wire.HashLen]byte { return blake3.Sum256(b) }

// A receiver that is closed without serving lets go of its port.
func TestCloseWithoutServe(t *testing.T) {
	r, err := Listen(ReceiverConfig{Device: newDevice(t, "receiver"), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	port := r.Port()
	if err := r.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		t.Fatalf("the port is still taken after Close: %v", err)
	}
	c.Close()
}

// Serve lets go of its port when it returns.
func TestServeReleasesPort(t *testing.T) {
	r := startReceiver(t)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: r.Port()})
	if err != nil {
		t.Fatalf("the port is still taken after Serve returned: %v", err)
	}
	c.Close()
}
