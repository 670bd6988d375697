//go:build unix

package transfer

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-lan/ferry/transfer/internal/store"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// A local user who can write the receiving folder knows where ferry will
// put its partial files and journals: the names come from the sender's ID
// and the path. These tests plant things at those names.

// partialNames returns the paths of the partial file and the journal the
// receiver r uses for path p sent by s (computed as the store does).
func partialNames(r *testReceiver, s *testSender, p string) (part, journal string) {
	part = filepath.Join(r.Dir(), filepath.FromSlash(store.PartialPath(s.dev.ID, p)))
	return part, strings.TrimSuffix(part, ".part") + ".journal"
}

// namedPartials makes the receiver name every partial file, as where the
// file system has no unnamed files.
func namedPartials(on bool) recvOption {
	return func(_ *ReceiverConfig, r *Receiver) {
		if r != nil {
			r.noTmpFiles = on
		}
	}
}

// plantFile writes data to name with mode perm (whatever the umask).
func plantFile(t testing.TB, name string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}

// A hard link planted at the partial's (and the journal's) name to a file
// outside the receiving folder is not written through: the outside file
// keeps its bytes and the received file is right.
func TestPlantedHardLinkNotWrittenThrough(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		named bool // one chunk, but a named partial
	}{
		{"chunks", 3*mib + 5, false},
		{"one-chunk-named", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t, namedPartials(tc.named))
			s := newSender(t)
			src := t.TempDir()
			writeFile(t, src, "f.bin", tc.size)
			part, journal := partialNames(r, s, "f.bin")
			victims := make(map[string][]byte)
			for i, at := range []string{part, journal} {
				v := filepath.Join(r.base, "victim"+filepath.Ext(at))
				victims[v] = []byte("a file outside the receiving folder " + filepath.Ext(at))
				plantFile(t, v, victims[v], 0o644)
				if i == 1 && tc.named {
					continue // a one-chunk file has no journal
				}
				if err := os.Link(v, at); err != nil {
					t.Fatal(err)
				}
			}
			s.mustSend(t, r, []string{filepath.Join(src, "f.bin")})
			sameFile(t, filepath.Join(src, "f.bin"), filepath.Join(r.Dir(), "f.bin"))
			for v, want := range victims {
				if got, err := os.ReadFile(v); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s outside the receiving folder changed: %d bytes, want %d (%v)", filepath.Base(v), len(got), len(want), err)
				}
			}
			noLeftovers(t, r.Dir())
		})
	}
}

// A partial file and journal that ferry would otherwise resume are not
// trusted when something else could have written them: writable by
// others, owned by another user, or with a second name. The file is sent
// whole again, and nothing is written through the extra name.
func TestUntrustedPartialNotResumed(t *testing.T) {
	const size = 4*mib + 3
	for _, tc := range []struct {
		name   string
		root   bool
		tamper func(t *testing.T, part, journal, spare string)
	}{
		{"writable-by-others", false, func(t *testing.T, part, journal, _ string) {
			for _, p := range []string{part, journal} {
				if err := os.Chmod(p, 0o666); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"group-writable-journal", false, func(t *testing.T, _, journal, _ string) {
			if err := os.Chmod(journal, 0o620); err != nil {
				t.Fatal(err)
			}
		}},
		{"other-owner", true, func(t *testing.T, part, journal, _ string) {
			for _, p := range []string{part, journal} {
				if err := os.Chown(p, 4242, 4242); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"second-link", false, func(t *testing.T, part, _, spare string) {
			if err := os.Link(part, spare); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("changing a file's owner needs root")
			}
			r := startReceiver(t)
			s := newSender(t)
			p, _ := bigSource(t, size)
			partialUpload(t, r, s, p, 0, 1, 2)
			part, journal := partialNames(r, s, "big.bin")
			spare := filepath.Join(r.base, "spare")
			tc.tamper(t, part, journal, spare)
			spareBefore, _ := os.ReadFile(spare)

			res := s.mustSend(t, r, []string{p})
			if res.BytesSent != size {
				t.Errorf("BytesSent %d, want the whole file (%d): the planted partial was trusted", res.BytesSent, size)
			}
			sameFile(t, p, filepath.Join(r.Dir(), "big.bin"))
			if spareBefore != nil {
				if got, _ := os.ReadFile(spare); !bytes.Equal(got, spareBefore) {
					t.Error("the partial's second name outside the receiving folder was written through")
				}
			}
			noLeftovers(t, r.Dir())
		})
	}
}

// A partial that ferry keeps (here, of an interrupted send, trusted on
// the next attempt) is still resumed: the checks refuse only what ferry
// did not make.
func TestOwnPartialResumed(t *testing.T) {
	const size = 4*mib + 3
	r := startReceiver(t)
	s := newSender(t)
	p, _ := bigSource(t, size)
	partialUpload(t, r, s, p, 0, 1, 2)
	res := s.mustSend(t, r, []string{p})
	if res.BytesSent != size-3*mib {
		t.Errorf("BytesSent %d, want %d", res.BytesSent, size-3*mib)
	}
	sameFile(t, p, filepath.Join(r.Dir(), "big.bin"))
}

// A file planted at the partial's name, open in the planting process, lets
// that process neither read the verified bytes nor change them before the
// file is named: ferry writes to a file of its own, owner-only, with one
// name.
func TestPlantedPartialNeitherReadNorTampered(t *testing.T) {
	r := startReceiver(t)
	s := newSender(t)
	data := randBytes(3 * kc)
	e := file("f.bin", int64(len(data)))
	part, journal := partialNames(r, s, e.Path)
	plantFile(t, part, nil, 0o666)
	plantFile(t, journal, nil, 0o666)
	spy, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()

	h := dialHostile(t, s.dev, r) // an honest sender, paced by the test
	h.accepted(e)
	h.plan(wire.Plan{})
	str := h.dataStream(h.dec.Token)
	h.chunk(str, 0, 0, data[:kc])
	prog := h.progress()
	waitUntil(t, "chunk 0 verified", func() bool { return prog.Done.Load() >= kc })

	got := make([]byte, kc)
	if n, _ := spy.ReadAt(got, 0); n > 0 && bytes.Equal(got[:n], data[:n]) {
		t.Error("the planted file holds the received bytes")
	}
	spy.WriteAt(bytes.Repeat([]byte{'X'}, kc), 0) // tamper with verified chunk 0
	planted, _ := spy.Stat()
	for _, name := range []string{part, journal} {
		fi, err := os.Lstat(name)
		if err != nil {
			t.Fatalf("partial file: %v", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != 0o600 || st.Nlink != 1 || os.SameFile(fi, planted) {
			t.Errorf("%s: mode %v, %d links, the planted file: %v; want a new file, mode 0600, one link",
				path.Ext(name), fi.Mode(), st.Nlink, os.SameFile(fi, planted))
		}
	}

	h.chunk(str, 0, 1, data[kc:2*kc])
	h.chunk(str, 0, 2, data[2*kc:])
	h.fileEnd(0, e.Size, fileHashOf(data))
	h.expectDelivered(1)
	if b, err := os.ReadFile(filepath.Join(r.Dir(), e.Path)); err != nil || !bytes.Equal(b, data) {
		t.Errorf("the received file is not what was sent (%v)", err)
	}
}
