package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	bigSize = 256 << 20 // the large file of the transfer and resume tests
	midSize = 64 << 20  // the file of the lossy-link and full-disk tests
)

// Exit codes of ferry, as documented.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitDeclined    = 3
	exitUnreachable = 4
	exitInterrupted = 5
)

// sendOK checks that a finished send exited 0 and returns its done event.
func sendOK(t *testing.T, s *proc) event {
	t.Helper()
	if code := s.exitCode(); code != exitOK {
		t.Fatalf("%s exited %d, want 0; error event: %v\nstderr: %s", s.label, code, s.last("error"), tail(s.stderr.String()))
	}
	return s.mustEvent("done")
}

// tree is a folder made by makeTree: what its files must look like on the
// other side.
type tree struct {
	root  string
	files map[string][32]byte // relative path → SHA-256
	dirs  []string            // relative paths of the folders, the root included as "."
	bytes int64
}

// makeTree builds a folder with nested and empty folders, an executable
// script, 300 small files (one empty), a name with spaces and non-ASCII
// letters, and distinct modification times with nanoseconds on everything.
func makeTree(t *testing.T, root string) *tree {
	t.Helper()
	tr := &tree{root: root, files: map[string][32]byte{}}
	rng := mrand.New(mrand.NewPCG(1, 2))
	put := func(rel string, data []byte, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
		tr.files[rel] = sha256.Sum256(data)
		tr.bytes += int64(len(data))
	}
	put("a/b/c/deep.txt", []byte("three folders down\n"), 0o644)
	put("a/b/notes.md", []byte("# notes\n"), 0o644)
	put("run.sh", []byte("#!/bin/sh\necho run\n"), 0o755)
	put("with spaces — ünïcødé ✓ 日本.txt", []byte("a name with spaces and unicode\n"), 0o644)
	for i := range 300 {
		size := rng.IntN(8 << 10)
		if i == 0 {
			size = 0
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		put(fmt.Sprintf("many/f%03d.dat", i), data, 0o644)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Times last: files first, then folders deepest first.
	base := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	k := 0
	var dirs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			dirs = append(dirs, rel)
			return nil
		}
		k++
		mt := base.Add(time.Duration(k)*time.Hour + time.Duration(k)*time.Microsecond)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		k++
		mt := base.Add(time.Duration(k)*time.Hour + 17*time.Nanosecond)
		if err := os.Chtimes(filepath.Join(root, dirs[i]), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	tr.dirs = dirs
	return tr
}

// check compares the tree with its copy at dst: every file byte-identical
// with the same executable bit and modification time, every folder there
// (with its time), nothing extra.
func (tr *tree) check(t *testing.T, dst string) {
	t.Helper()
	for rel, sum := range tr.files {
		src, got := filepath.Join(tr.root, rel), filepath.Join(dst, rel)
		si, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		gi, err := os.Stat(got)
		if err != nil {
			t.Errorf("%s did not arrive: %v", rel, err)
			continue
		}
		if fileSum(t, got) != sum {
			t.Errorf("%s differs", rel)
		}
		if se, ge := si.Mode().Perm()&0o100 != 0, gi.Mode().Perm()&0o100 != 0; se != ge {
			t.Errorf("%s: executable %v, want %v (mode %v)", rel, ge, se, gi.Mode())
		}
		if !gi.ModTime().Equal(si.ModTime()) {
			t.Errorf("%s: modified %v, want %v", rel, gi.ModTime(), si.ModTime())
		}
	}
	for _, rel := range tr.dirs {
		si, err := os.Stat(filepath.Join(tr.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		gi, err := os.Stat(filepath.Join(dst, rel))
		if err != nil || !gi.IsDir() {
			t.Errorf("folder %s did not arrive: %v", rel, err)
			continue
		}
		if !gi.ModTime().Equal(si.ModTime()) {
			t.Errorf("folder %s: modified %v, want %v", rel, gi.ModTime(), si.ModTime())
		}
	}
	n := 0
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dst {
			n++
		}
		return nil
	})
	if want := len(tr.files) + len(tr.dirs) - 1; n != want {
		t.Errorf("%s holds %d entries, want %d: %q", dst, n, want, listDir(t, dst))
	}
}

// TestBigFileAndTree sends a 256 MiB random file and a folder tree in one
// session and checks that everything arrives byte-identical with its
// executable bit and times, and that the receiver reports each file.
func TestBigFileAndTree(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	big, bigSum := sharedRandom(t, "big256.bin", bigSize)
	src := t.TempDir()
	tr := makeTree(t, filepath.Join(src, "tree"))
	in := t.TempDir()
	recv, port := rx.receive(in, 0, "all")

	base := rx.rxBytes()
	s := tx.run(3*time.Minute, nil, "send", "--to", rx.addr(port), big, tr.root)
	wire := rx.rxBytes() - base
	done := sendOK(t, s)
	nFiles := int64(len(tr.files) + 1)
	total := bigSize + tr.bytes
	if done.num("files") != nFiles || done.num("bytes") != total || done.num("bytes_sent") != total {
		t.Errorf("done event %v, want files=%d bytes=%d bytes_sent=%d", done, nFiles, total, total)
	}
	s.mustEvent("connected")
	s.mustEvent("accepted")

	end := recv.sessionsDone(1, 30*time.Second)[0]
	if end.num("files") != nFiles || end.num("bytes") != total {
		t.Errorf("session_done %v, want files=%d bytes=%d", end, nFiles, total)
	}
	sameFile(t, filepath.Join(in, "big256.bin"), bigSum)
	tr.check(t, filepath.Join(in, "tree"))
	if lo := leftovers(t, in); len(lo) > 0 {
		t.Errorf("partial or journal files left behind: %q", lo)
	}

	// One file event per file, with its final path, size and a hash.
	got := map[string]event{}
	for _, e := range recv.all("file") {
		p := e.str("path")
		if _, dup := got[p]; dup {
			t.Errorf("two file events for %s", p)
		}
		got[p] = e
	}
	want := map[string]int64{filepath.Join(in, "big256.bin"): bigSize}
	for rel := range tr.files {
		fi, err := os.Stat(filepath.Join(tr.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Join(in, "tree", rel)] = fi.Size()
	}
	for p, size := range want {
		e, ok := got[p]
		if !ok {
			t.Errorf("no file event for %s", p)
			continue
		}
		if e.num("size") != size {
			t.Errorf("file event for %s: size %d, want %d", p, e.num("size"), size)
		}
		if h, err := hex.DecodeString(e.str("hash")); err != nil || len(h) < 16 {
			t.Errorf("file event for %s: hash %q is not a hex digest", p, e.str("hash"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d file events, want %d", len(got), len(want))
	}

	took := s.duration()
	data := recv.when("session_done").Sub(recv.when("session"))
	bigDone := recv.whenFirst(func(e event) bool {
		return e.name() == "file" && e.str("path") == filepath.Join(in, "big256.bin")
	})
	bigTook := bigDone.Sub(recv.when("session"))
	recvRSS := recv.peakRSS()
	recv.cmd.Process.Signal(syscall.SIGINT)
	recv.wait(30 * time.Second)
	t.Logf("FIGURES transfer: %d MiB + %d files (%d KiB) in %v wall: %.0f MB/s of file data (wall); "+
		"receiver took %d wire bytes (%.2f%% over the file bytes) = %.0f MB/s on the wire; session→session_done %v = %.0f MB/s; "+
		"session→big file final %v = %.0f MB/s; CPU sender %v, receiver %v; receiver peak RSS %.0f MiB",
		bigSize>>20, len(tr.files), tr.bytes>>10, took.Round(time.Millisecond), mbps(total, took),
		wire, 100*float64(wire-total)/float64(total), mbps(wire, took), data.Round(time.Millisecond), mbps(total, data),
		bigTook.Round(time.Millisecond), mbps(bigSize, bigTook), s.cpuTime(), recv.cpuTime(), recvRSS)
}

// TestSenderKilledResumes kills the sender with SIGKILL once 40 % of the file
// is on the receiver's wire, runs it again, and checks that the second run
// sends only what is missing.
func TestSenderKilledResumes(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	big, bigSum := sharedRandom(t, "big256.bin", bigSize)
	in := t.TempDir()
	recv, port := rx.receive(in, 0, "all")
	args := []string{"send", "--to", rx.addr(port), big}

	base := rx.rxBytes()
	s1 := tx.start(nil, args...)
	at := rx.waitRx(base, bigSize*2/5, 2*time.Minute, s1)
	sendRSS := s1.peakRSS()
	s1.killAndWait()
	if _, err := os.Stat(filepath.Join(in, "big256.bin")); err == nil {
		t.Fatal("the file is final although the sender was killed at 40 %")
	}
	if len(leftovers(t, in)) == 0 {
		t.Error("no partial file after the sender was killed")
	}

	base2 := rx.rxBytes()
	s2 := tx.run(2*time.Minute, nil, args...)
	wire2 := rx.rxBytes() - base2
	done := sendOK(t, s2)
	sent := done.num("bytes_sent")
	if sent > bigSize*3/4 {
		t.Errorf("the resumed run sent %d of %d bytes (%.0f%%), want at most 75%%", sent, bigSize, 100*float64(sent)/bigSize)
	}
	if sent <= 0 {
		t.Errorf("the resumed run sent %d bytes: the first run cannot have finished", sent)
	}
	if wire2 > bigSize*4/5 {
		t.Errorf("the resumed run moved %d bytes on the wire for a %d-byte file", wire2, bigSize)
	}
	if r := s2.mustEvent("accepted").num("resumed"); r <= 0 {
		t.Errorf("accepted event says resumed=%d, want > 0", r)
	}
	if done.num("bytes") != bigSize || done.num("files") != 1 {
		t.Errorf("done event %v", done)
	}
	recv.waitEvent("session_done", 30*time.Second)
	sameFile(t, filepath.Join(in, "big256.bin"), bigSum)
	if names := listDir(t, in); len(names) != 1 {
		t.Errorf("receiving folder holds %q, want only big256.bin", names)
	}
	t.Logf("FIGURES sender kill: killed at %d wire bytes (%.0f%% of %d; sender peak RSS then %.0f MiB); rerun bytes_sent=%d (%.1f%%), wire=%d (%.1f%%), %v",
		at, 100*float64(at)/bigSize, bigSize, sendRSS, sent, 100*float64(sent)/bigSize, wire2, 100*float64(wire2)/bigSize, s2.duration().Round(time.Millisecond))
}

// TestReceiverKilledResumes kills the receiver with SIGKILL at 40 % and
// restarts it on the same port: the sender, still running, reconnects by
// itself and finishes.
func TestReceiverKilledResumes(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	big, bigSum := sharedRandom(t, "big256.bin", bigSize)
	in := t.TempDir()
	const port = 47311
	recv1, _ := rx.receive(in, port, "all")
	args := []string{"send", "--to", rx.addr(port), big}

	base := rx.rxBytes()
	s := tx.start(nil, args...)
	at := rx.waitRx(base, bigSize*2/5, 2*time.Minute, s)
	recv1.killAndWait()
	killed := time.Now()
	recv2, _ := rx.receive(in, port, "all")
	restarted := time.Since(killed)

	final := s
	code := s.wait(2 * time.Minute)
	switch code {
	case exitOK:
		if len(s.all("retry")) == 0 {
			t.Error("the sender finished without a retry event although its receiver was killed")
		}
	case exitInterrupted:
		t.Logf("the sender gave up with exit 5 (%v); running it again", s.last("error"))
		final = tx.run(2*time.Minute, nil, args...)
	default:
		t.Fatalf("the sender exited %d after its receiver was killed and restarted, want 0 or 5", code)
	}
	done := sendOK(t, final)
	wire := rx.rxBytes() - base
	recv2.sessionsDone(1, 30*time.Second)
	sameFile(t, filepath.Join(in, "big256.bin"), bigSum)
	if wire > bigSize*3/2 {
		t.Errorf("a receiver restart cost %d wire bytes for a %d-byte file (over 1.5×)", wire, bigSize)
	}
	if names := listDir(t, in); len(names) != 1 {
		t.Errorf("receiving folder holds %q, want only big256.bin", names)
	}
	resumed := recv2.mustEvent("session").num("resumed")
	t.Logf("FIGURES receiver kill: killed at %d wire bytes (%.0f%%); restarted in %v; sender exit %d with %d retry events, "+
		"done %v after the kill; restarted receiver resumed %d bytes; bytes_sent=%d (this run, the whole send); total wire %d (%.2f× the file)",
		at, 100*float64(at)/bigSize, restarted.Round(time.Millisecond), code, len(s.all("retry")),
		time.Since(killed).Round(time.Millisecond), resumed, done.num("bytes_sent"), wire, float64(wire)/bigSize)
}

// TestDeclinedOffer: a receiver that accepts only trusted devices declines
// a stranger; the sender exits 3 and nothing is written. Over IPv6.
func TestDeclinedOffer(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello\n"), 0o644)
	in := t.TempDir()
	recv, port := rx.receive(in, 0, "trusted")

	s := tx.run(time.Minute, nil, "send", "--to", rx.addr6(port), src)
	if code := s.exitCode(); code != exitDeclined {
		t.Fatalf("declined offer: exit %d, want 3", code)
	}
	msg := s.mustEvent("error").str("message")
	if !strings.Contains(strings.ToLower(msg), "declined") {
		t.Errorf("error message %q does not say the offer was declined", msg)
	}
	if len(s.all("accepted")) > 0 {
		t.Error("the sender printed an accepted event for a declined offer")
	}
	d := recv.waitEvent("declined", 10*time.Second)
	if d.str("id") == "" || d.str("from") != tx.name {
		t.Errorf("declined event %v, want from=%q and an id", d, tx.name)
	}
	if names := listDir(t, in); len(names) > 0 {
		t.Errorf("a declined offer wrote into the folder: %q", names)
	}
	if recv.hasExited() {
		t.Error("the receiver exited after declining an offer")
	}
}

// TestUnreachable: nobody listening at the address (a host without a
// receiver, and an address no host has) ends the sender with exit 4 soon.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	tx := l.h(2)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello\n"), 0o644)
	tx.identity() // two first uses of one home at once race: TestIdentityFirstUseRace

	noRecv := tx.start(nil, "send", "--to", l.h(1).addr(47999), src)
	noHost := tx.start(nil, "send", "--to", fmt.Sprintf("10.240.%d.77:47100", l.num), src)
	for _, s := range []*proc{noRecv, noHost} {
		code := s.wait(time.Minute)
		if code != exitUnreachable {
			t.Errorf("%s: exit %d, want 4", s.label, code)
		}
		if d := s.duration(); d > 20*time.Second {
			t.Errorf("%s took %v to give up, want about 15 s", s.label, d)
		}
		if msg := s.mustEvent("error").str("message"); !strings.Contains(msg, "unreachable") {
			t.Errorf("%s: error message %q does not say unreachable", s.label, msg)
		}
		t.Logf("FIGURES unreachable: %s gave up after %v", s.label, s.duration().Round(time.Millisecond))
	}
}

// TestDiskFullBeforeStart: a 64 MiB file offered to a 24 MiB tmpfs fails
// cleanly with a clear message and leaves no file.
func TestDiskFullBeforeStart(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	f, _ := sharedRandom(t, "mid64.bin", midSize)
	small := tmpfs(t, "24m")
	recv, port := rx.receive(small, 0, "all")

	s := tx.run(time.Minute, nil, "send", "--to", rx.addr(port), f)
	if code := s.exitCode(); code == exitOK {
		t.Fatal("a 64 MiB file into a 24 MiB disk reported success")
	}
	msg := s.mustEvent("error").str("message")
	if !strings.Contains(msg, "space") && !strings.Contains(msg, "disk") {
		t.Errorf("error message %q does not say the disk is full", msg)
	}
	if _, err := os.Stat(filepath.Join(small, "mid64.bin")); err == nil {
		t.Error("a final mid64.bin exists on the full disk")
	}
	if names := listDir(t, small); len(names) > 0 {
		t.Logf("left on the small disk: %q", names)
	}
	if recv.hasExited() {
		t.Errorf("the receiver exited (code %d) after a full-disk refusal", recv.exitCode())
	}
	t.Logf("sender exit %d: %q; receiver: %v %v", s.exitCode(), msg, recv.last("declined"), recv.last("session_error"))
}

// TestDiskFullMidTransfer fills the receiving disk while data flows: both
// sides report it, no final file appears, the verified part is kept, and
// once space is freed the same send resumes.
func TestDiskFullMidTransfer(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	const size = 30 << 20
	src := filepath.Join(t.TempDir(), "thirty.bin")
	sum := writeRandom(t, src, size, seedOf(t, "thirty"))
	small := tmpfs(t, "40m")
	recv, port := rx.receive(small, 0, "all")
	args := []string{"send", "--to", rx.addr(port), src}

	lift := rx.shape("80mbit") // 30 MiB take about 3 s: time to fill the disk part-way
	base := rx.rxBytes()
	s1 := tx.start(nil, args...)
	recv.waitEvent("session", 30*time.Second)
	at := rx.waitRx(base, 8<<20, time.Minute, s1)
	filler := filepath.Join(small, "filler")
	filled := fillDisk(t, filler)

	code := s1.wait(time.Minute)
	if code == exitOK {
		t.Fatal("the send succeeded although the receiving disk was filled during the transfer")
	}
	msg := s1.mustEvent("error").str("message")
	if !strings.Contains(msg, "disk full") && !strings.Contains(msg, "space") {
		t.Errorf("sender's error message %q does not say the disk is full", msg)
	}
	se := recv.waitEvent("session_error", 30*time.Second).str("message")
	if !strings.Contains(se, "disk full") && !strings.Contains(se, "space") {
		t.Errorf("receiver's session_error %q does not say the disk is full", se)
	}
	if _, err := os.Stat(filepath.Join(small, "thirty.bin")); err == nil {
		t.Error("a final thirty.bin exists after the disk filled")
	}
	if len(leftovers(t, small)) == 0 {
		t.Error("the partial data was not kept for a resume")
	}
	t.Logf("disk filled (%d MiB filler) at %d wire bytes; sender exit %d: %q (after retry events %v); receiver: %q",
		filled>>20, at, code, msg, s1.all("retry"), se)

	// Free the space; the same command resumes.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	lift()
	s2 := tx.run(time.Minute, nil, args...)
	done := sendOK(t, s2)
	sent := done.num("bytes_sent")
	if sent >= size || sent <= 0 {
		t.Errorf("after freeing space the send moved %d of %d bytes; want a resume (0 < bytes_sent < size)", sent, size)
	}
	sameFile(t, filepath.Join(small, "thirty.bin"), sum)
	if lo := leftovers(t, small); len(lo) > 0 {
		t.Errorf("partial or journal files left after the resume: %q", lo)
	}
	if names := listDir(t, small); len(names) != 1 {
		t.Errorf("small disk holds %q, want only thirty.bin", names)
	}
	t.Logf("FIGURES disk full mid-transfer: resumed with bytes_sent=%d of %d (%.0f%%)", sent, size, 100*float64(sent)/size)
}

// fillDisk writes path until the disk is full and returns how much it wrote.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0xa5}, 1<<20)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []int{64 << 10, 4 << 10, 512, 1} { // the last pages
		for {
			if _, err := f.Write(buf[:k]); err != nil {
				break
			}
			n += int64(k)
		}
	}
	return n
}

// TestSendTwice: the same send run again creates no duplicates and moves
// no file bytes.
func TestSendTwice(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	src := t.TempDir()
	photo := filepath.Join(src, "photo.jpg")
	writeRandom(t, photo, 8<<20, seedOf(t, "photo"))
	docs := filepath.Join(src, "docs")
	os.MkdirAll(filepath.Join(docs, "sub"), 0o755)
	os.WriteFile(filepath.Join(docs, "a.txt"), []byte("alpha\n"), 0o644)
	os.WriteFile(filepath.Join(docs, "sub", "b.txt"), []byte("beta\n"), 0o644)
	os.WriteFile(filepath.Join(docs, "empty.txt"), nil, 0o644)
	in := t.TempDir()
	_, port := rx.receive(in, 0, "all")
	args := []string{"send", "--to", rx.addr(port), photo, docs}

	d1 := sendOK(t, tx.run(time.Minute, nil, args...))
	before := listDir(t, in)
	args[2] = rx.addr6(port) // the same send, over IPv6 this time
	s2 := tx.run(time.Minute, nil, args...)
	d2 := sendOK(t, s2)
	if d2.num("bytes_sent") != 0 {
		t.Errorf("the second identical send put %d bytes on the wire, want 0", d2.num("bytes_sent"))
	}
	if d2.num("files") != d1.num("files") || d2.num("bytes") != d1.num("bytes") {
		t.Errorf("second done event %v, first %v", d2, d1)
	}
	after := listDir(t, in)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("the second send changed the folder:\nbefore %q\nafter  %q", before, after)
	}
	for _, n := range after {
		if strings.Contains(n, " (1)") {
			t.Errorf("duplicate %q", n)
		}
	}
}

// TestExistingFileKeepsBoth: a different file of the same name is never
// overwritten; the new one arrives as "name (1).ext", then "name (2).ext".
func TestExistingFileKeepsBoth(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	in := t.TempDir()
	old := filepath.Join(in, "report.pdf")
	os.WriteFile(old, []byte("the old report\n"), 0o644)
	oldTime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(old, oldTime, oldTime)
	src := filepath.Join(t.TempDir(), "report.pdf")
	_, port := rx.receive(in, 0, "all")

	for i, want := range []string{"report (1).pdf", "report (2).pdf"} {
		sum := writeRandom(t, src, 100<<10+int64(i), seedOf(t, want))
		s := tx.run(time.Minute, nil, "send", "--to", rx.addr(port), src)
		sendOK(t, s)
		sameFile(t, filepath.Join(in, want), sum)
		if ev := s.last("file"); ev == nil || ev.str("name") != want {
			t.Errorf("sender's file event %v, want name %q", ev, want)
		}
	}
	if b, _ := os.ReadFile(old); string(b) != "the old report\n" {
		t.Errorf("the old report.pdf was changed: %q", b)
	}
	if fi, _ := os.Stat(old); !fi.ModTime().Equal(oldTime) {
		t.Errorf("the old report.pdf's time changed to %v", fi.ModTime())
	}
	if names := listDir(t, in); len(names) != 3 {
		t.Errorf("folder holds %q, want report.pdf and two numbered copies", names)
	}
}

// TestLossyLink: with 1 % of the receiver's UDP packets dropped, a 64 MiB
// file still arrives identical.
func TestLossyLink(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	f, sum := sharedRandom(t, "mid64.bin", midSize)
	counts := rx.lossy(1)
	tx.noGSO() // one wire packet at a time, so 1 % means 1 % of the packets
	in := t.TempDir()
	_, port := rx.receive(in, 0, "all")

	s := tx.run(3*time.Minute, nil, "send", "--to", rx.addr(port), f)
	done := sendOK(t, s)
	sameFile(t, filepath.Join(in, "mid64.bin"), sum)
	seen, dropped := counts()
	if seen < midSize/1500 || dropped < seen/200 {
		t.Errorf("nftables saw %d UDP packets and dropped %d: the link was not 1 %% lossy", seen, dropped)
	}
	t.Logf("FIGURES 1%% loss: %d MiB in %v = %.1f MB/s; %d of %d UDP packets dropped (%.2f%%); bytes_sent=%d, %d retry events",
		midSize>>20, s.duration().Round(time.Millisecond), mbps(midSize, s.duration()), dropped, seen,
		100*float64(dropped)/float64(seen), done.num("bytes_sent"), len(s.all("retry")))
}

// TestStdin sends standard input as a named file to a receiver on its
// defaults (port 47100, the download folder under HOME) that exits after
// one session (--once); the sender names it by address alone.
func TestStdin(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	data := make([]byte, 5<<20+12345)
	mrand.NewChaCha8([32]byte{7}).Read(data)
	recv, port := rx.receive("", -1, "all", "--once")
	if port != 47100 {
		t.Errorf("default port %d, want 47100 (documented)", port)
	}
	in := filepath.Join(rx.user, "Downloads", "ferry")
	if d := recv.mustEvent("listening").str("dir"); d != in {
		t.Errorf("listening in %q, want the default %q", d, in)
	}
	const name = "from stdin ✓.txt"

	if s := tx.run(time.Minute, nil, "send", "--to", rx.v4, "-"); s.exitCode() != exitUsage {
		t.Errorf("send - without --as: exit %d, want 2", s.exitCode())
	}
	s := tx.run(time.Minute, bytes.NewReader(data), "send", "--to", rx.v4, "-", "--as", name)
	done := sendOK(t, s)
	if done.num("bytes_sent") != int64(len(data)) || done.num("files") != 1 {
		t.Errorf("done event %v, want files=1 bytes_sent=%d", done, len(data))
	}
	got, err := os.ReadFile(filepath.Join(in, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("standard input arrived as %d different bytes (sent %d)", len(got), len(data))
	}
	if ev := recv.waitEvent("file", 10*time.Second); ev.num("size") != int64(len(data)) || ev.str("path") != filepath.Join(in, name) {
		t.Errorf("receiver's file event %v", ev)
	}
	recv.sessionsDone(1, 10*time.Second) // see TestEverySessionEndsDone
	if code := recv.wait(15 * time.Second); code != exitOK {
		t.Errorf("receive --once exited %d after its session, want 0", code)
	}
}

// TestSenderInterrupted: SIGINT part-way ends the sender with exit 5 and a
// message to run again; running again resumes.
func TestSenderInterrupted(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	f, sum := sharedRandom(t, "mid64.bin", midSize)
	in := t.TempDir()
	recv, port := rx.receive(in, 0, "all")
	args := []string{"send", "--to", rx.addr(port), f}

	base := rx.rxBytes()
	s1 := tx.start(nil, args...)
	rx.waitRx(base, midSize*2/5, time.Minute, s1)
	s1.cmd.Process.Signal(syscall.SIGINT)
	if code := s1.wait(30 * time.Second); code != exitInterrupted {
		t.Fatalf("SIGINT: exit %d, want 5", code)
	}
	msg := s1.mustEvent("error").str("message")
	if !strings.Contains(msg, "again") {
		t.Errorf("interrupted sender says %q: no hint to run it again", msg)
	}
	s2 := tx.run(time.Minute, nil, args...)
	sent := sendOK(t, s2).num("bytes_sent")
	if sent <= 0 || sent > midSize*3/4 {
		t.Errorf("the resumed run sent %d of %d bytes", sent, midSize)
	}
	sameFile(t, filepath.Join(in, "mid64.bin"), sum)

	recv.cmd.Process.Signal(syscall.SIGINT)
	t.Logf("interrupted sender: %q; rerun bytes_sent=%d of %d; receiver exit on SIGINT: %d",
		msg, sent, midSize, recv.wait(30*time.Second))
}

// TestTwoSendersAtOnce: two devices send to one receiver at the same time.
func TestTwoSendersAtOnce(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 3)
	rx := l.h(1)
	in := t.TempDir()
	recv, port := rx.receive(in, 0, "all")
	var sends []*proc
	sums := map[string][32]byte{}
	for _, h := range l.hosts[1:] {
		name := fmt.Sprintf("from-h%d.bin", h.i)
		p := filepath.Join(t.TempDir(), name)
		sums[name] = writeRandom(t, p, 16<<20, seedOf(t, name))
		sends = append(sends, h.start(nil, "send", "--to", rx.addr(port), p))
	}
	for _, s := range sends {
		s.wait(2 * time.Minute)
		sendOK(t, s)
	}
	for name, sum := range sums {
		sameFile(t, filepath.Join(in, name), sum)
	}
	from := map[string]bool{}
	for _, e := range recv.sessionsDone(2, 10*time.Second) {
		from[e.str("from")] = true
	}
	if !from[l.h(2).name] || !from[l.h(3).name] {
		t.Errorf("session_done events from %v, want both senders", from)
	}
}

// TestEverySessionEndsDone: whenever a sender reports done, the receiver
// reports that session as session_done, never as an error (a receiver with
// --once depends on it to exit). Many short sessions, one receiver.
func TestEverySessionEndsDone(t *testing.T) {
	t.Parallel()
	l := newLAN(t, 2)
	rx, tx := l.h(1), l.h(2)
	in := t.TempDir()
	recv, port := rx.receive(in, 0, "all")
	src := t.TempDir()
	const n = 20
	for i := range n {
		p := filepath.Join(src, fmt.Sprintf("note%02d.txt", i))
		os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 64<<10), 0o644)
		sendOK(t, tx.run(time.Minute, nil, "send", "--to", rx.addr(port), p))
	}
	recv.sessionsDone(n, 30*time.Second)
}
