package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exitPartial: a send to several receivers reached some and not others.
const exitPartial = 6

// TestSendToAll: `ferry send --all` finds the three receivers of the LAN
// and delivers a folder and a file to each, with its own verification code
// and a receiver field on every event, and a summary.
func TestSendToAll(t *testing.T) {
	t.Parallel()
	l := newLANOpts(t, 4, lanOpts{family: "fswm"})
	tx := l.h(1)
	file, sum := sharedRandom(t, "many3.bin", 3<<20)
	dir := filepath.Join(t.TempDir(), "docs")
	tr := makeTree(t, dir)
	var recvs []*proc
	var ins []string
	for i := 2; i <= 4; i++ {
		in := t.TempDir()
		p, _ := l.h(i).receive(in, 0, "all")
		recvs, ins = append(recvs, p), append(ins, in)
	}
	s := tx.run(2*time.Minute, nil, "send", "--all", file, dir)
	if code := s.exitCode(); code != exitOK {
		t.Fatalf("send --all exited %d, want 0: %v\n%s", code, s.last("error"), s.dump())
	}
	sum3 := s.mustEvent("summary")
	if sum3.num("receivers") != 3 || sum3.num("complete") != 3 || sum3.num("failed") != 0 {
		t.Errorf("summary %v, want 3 receivers, 3 complete", sum3)
	}
	codes := map[string]string{}
	for _, ev := range s.all("connected") {
		codes[ev.str("receiver")] = ev.str("code")
	}
	if len(codes) != 3 {
		t.Errorf("connected events for %d receivers, want 3: %v", len(codes), codes)
	}
	if dones := s.all("done"); len(dones) != 3 {
		t.Errorf("%d done events, want 3", len(dones))
	}
	for _, ev := range s.snapshot() {
		if ev.name() != "summary" && ev.str("receiver") == "" {
			t.Errorf("event without a receiver field: %v", ev)
		}
	}
	for k, p := range recvs {
		p.sessionsDone(1, 30*time.Second)
		if c := p.mustEvent("session").str("code"); !containsValue(codes, c) {
			t.Errorf("receiver %d shows code %s, which the sender showed for none: %v", k+2, c, codes)
		}
		sameFile(t, filepath.Join(ins[k], "many3.bin"), sum)
		tr.check(t, filepath.Join(ins[k], "docs"))
	}
	t.Logf("FIGURES send --all to 3: %v", s.duration().Round(time.Millisecond))
}

func containsValue(m map[string]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}

// TestSendManyPartialResumes: three --to receivers, one of which accepts
// paired devices only. The sender is killed part way; the rerun resumes
// the two that accept from where each stopped, and exits 6 (partial)
// because the third declined.
func TestSendManyPartialResumes(t *testing.T) {
	t.Parallel()
	l := newLANOpts(t, 4, lanOpts{family: "fswm"})
	tx := l.h(1)
	const size = 24 << 20
	file, sum := sharedRandom(t, "many24.bin", size)
	var ins []string
	var args = []string{"send"}
	accept := []string{"all", "all", "trusted"}
	var recvs []*proc
	for i := 2; i <= 4; i++ {
		h := l.h(i)
		if err := l.sw.Shape(t.Context(), h.port, "60mbit"); err != nil {
			t.Fatalf("shape: %v", err)
		}
		in := t.TempDir()
		p, port := h.receive(in, 0, accept[i-2])
		recvs, ins = append(recvs, p), append(ins, in)
		args = append(args, "--to", h.addr(port))
	}
	args = append(args, file)

	base := l.h(2).rxBytes()
	s1 := tx.start(nil, args...)
	l.h(2).waitRx(base, size*2/5, 2*time.Minute, s1)
	s1.killAndWait()
	if _, err := os.Stat(filepath.Join(ins[0], "many24.bin")); err == nil {
		t.Fatal("the file is final on receiver 2 although the sender was killed at 40 %")
	}

	s2 := tx.run(2*time.Minute, nil, args...)
	if code := s2.exitCode(); code != exitPartial {
		t.Fatalf("rerun exited %d, want %d (partial): %v\n%s", code, exitPartial, s2.last("error"), s2.dump())
	}
	summary := s2.mustEvent("summary")
	if summary.num("complete") != 2 || summary.num("failed") != 1 {
		t.Errorf("summary %v, want 2 complete, 1 failed", summary)
	}
	resumed := 0
	for _, ev := range s2.all("accepted") {
		if ev.num("resumed") > 0 {
			resumed++
		}
	}
	if resumed == 0 {
		t.Errorf("no receiver resumed on the rerun: %v", s2.all("accepted"))
	}
	var sent int64
	for _, ev := range s2.all("done") {
		sent += ev.num("bytes_sent")
	}
	if sent >= 2*size {
		t.Errorf("the rerun sent %d bytes to the two receivers, want less than %d (resume)", sent, 2*size)
	}
	failed := s2.all("failed")
	if len(failed) != 1 || failed[0].num("exit") != exitDeclined || !strings.Contains(failed[0].str("message"), "declined") {
		t.Errorf("failed events %v, want one declined (exit 3)", failed)
	}
	if !strings.Contains(s2.mustEvent("error").str("message"), "2 of 3") {
		t.Errorf("error event %v does not say 2 of 3", s2.last("error"))
	}
	for k := range 2 {
		recvs[k].waitEvent("session_done", 30*time.Second)
		sameFile(t, filepath.Join(ins[k], "many24.bin"), sum)
	}
	if names := listDir(t, ins[2]); len(names) > 0 {
		t.Errorf("the declining receiver's folder holds %q", names)
	}
	t.Logf("FIGURES partial: rerun %v, %d of 2 resumed, bytes_sent %d for 2×%d", s2.duration().Round(time.Millisecond), resumed, sent, size)
}
