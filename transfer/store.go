package transfer

import (
	"bufio"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/text/unicode/norm"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// store writes one session's files into the receiving folder. Every path it
// touches came through safepath and every file operation goes through an
// os.Root, so nothing is created outside the folder or through a symlink.
type store struct {
	renameMu   sync.Mutex // one rename of a named partial at a time (see place)
	mu         sync.Mutex
	made       map[string]bool    // folders this session created or checked
	dirs       map[string]*dirRef // open folders, by path relative to the root
	tick       uint64             // for the folders' last use
	noTmp      bool               // no unnamed files here (see open)
	tmpChecked bool
	noLink     bool                       // no hard links here: named partials are renamed (see place)
	perDir     map[string]int             // files of the offer, by folder
	listed     map[string]map[string]bool // names in a folder at the start, for existing
	root       *os.Root
	dir        string // absolute path of the receiving folder
	overwrite  bool
	sender     identity.DeviceID
}

// maxOpenDirs bounds the folders a session keeps open.
const maxOpenDirs = 64

// dirRef is an open folder inside the root and its users.
type dirRef struct {
	f       *os.File
	refs    int
	used    uint64
	evicted bool // out of the cache: closed by its last user
}

// recvFile is the receiving side of one file entry.
type recvFile struct {
	idx     int
	e       wire.Entry
	parent  string // folder of the final path, relative to the root ("." for top level)
	base    string // final base name as offered
	part    string // partial file, relative to the root
	journal string // journal, relative to the root ("" when the file has one chunk)
	tmp     bool   // f is an unnamed file (O_TMPFILE), linked under its final name when done

	mu       sync.Mutex
	f        *os.File
	j        *os.File
	have     []bool
	inflight []bool
	hashes   [][wire.HashLen]byte
	lens     []int64 // chunk lengths of a streamed entry
	fp       *FileProgress
	existing []byte      // file hash of an identical-looking file under the final name
	kept     os.FileInfo // the partial file resume kept chunks of, to reopen
	skip     bool        // the sender agreed it is identical: nothing to receive
	nHave    int64
	haveLen  int64 // bytes verified
	end      *wire.FileEnd
	finalizing,
	done bool
}

func partialKey(sender identity.DeviceID, p string) string {
	h := blake3.New()
	h.Write([]byte("ferry partial v1\x00"))
	h.Write(sender[:])
	h.Write([]byte(p))
	sum := h.Sum(nil)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

func (s *store) newRecvFile(idx int, e wire.Entry) *recvFile {
	parent, base := path.Split(e.Path)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		parent = "."
	}
	key := partialKey(s.sender, e.Path)
	if s.perDir == nil {
		s.perDir = make(map[string]int)
	}
	s.perDir[parent]++
	rf := &recvFile{
		idx:    idx,
		e:      e,
		parent: parent,
		base:   base,
		part:   path.Join(parent, ".ferry-"+key+".part"),
	}
	if e.Stream || e.Chunks() > 1 {
		rf.journal = path.Join(parent, ".ferry-"+key+".journal")
	}
	n := e.Chunks()
	if e.Stream {
		n = 0 // grows as chunks arrive
	}
	rf.have = make([]bool, n)
	rf.inflight = make([]bool, n)
	rf.hashes = make([][wire.HashLen]byte, n)
	rf.lens = make([]int64, n)
	return rf
}

// mkdirAll creates dir (checking every component is a real folder) once per
// session: files of one folder do not walk it again each.
func (s *store) mkdirAll(dir string) error {
	s.mu.Lock()
	ok := s.made[dir]
	s.mu.Unlock()
	if ok {
		return nil
	}
	if err := safepath.MkdirAll(s.root, dir, 0o755); err != nil {
		return err
	}
	s.mu.Lock()
	if s.made == nil {
		s.made = make(map[string]bool)
	}
	s.made[dir] = true
	s.mu.Unlock()
	return nil
}

// mkdirs creates the folder entries of an offer.
func (s *store) mkdirs(entries []wire.Entry) error {
	for _, e := range entries {
		if !e.Dir {
			continue
		}
		if err := s.mkdirAll(e.Path); err != nil {
			return fmt.Errorf("create folder %q: %w", e.Path, err)
		}
	}
	return nil
}

// resume looks for a partial copy of rf from an earlier attempt and returns
// the chunks it holds that still hash to what the journal recorded. Anything
// that does not match is forgotten; the partial restarts.
func (s *store) resume(rf *recvFile) ([]int64, error) {
	if rf.e.Stream {
		return nil, nil
	}
	if h, ok := s.existing(rf); ok {
		rf.existing = h
		return nil, nil
	}
	if rf.journal == "" {
		return nil, nil
	}
	jf, err := s.openKept(rf.journal)
	if err != nil {
		s.dropUntrusted(rf, err)
		return nil, nil // missing, unsafe or not ours: nothing to resume
	}
	h, recs, err := readJournal(bufio.NewReader(jf), rf.e.Chunks())
	jf.Close()
	if err != nil || h != s.journalHeader(rf) {
		return nil, nil
	}
	pf, err := s.openKept(rf.part)
	if err != nil {
		s.dropUntrusted(rf, err)
		return nil, nil
	}
	defer pf.Close()
	if rf.kept, err = pf.Stat(); err != nil {
		return nil, nil
	}
	buf := make([]byte, 256<<10)
	var kept []int64
	for i := int64(0); i < rf.e.Chunks(); i++ {
		want, ok := recs[i]
		if !ok {
			continue
		}
		hasher := blake3.New()
		n, err := io.CopyBuffer(hasher, io.NewSectionReader(pf, i*rf.e.Chunk, rf.e.ChunkLen(i)), buf)
		if err != nil || n != rf.e.ChunkLen(i) {
			continue
		}
		var got [wire.HashLen]byte
		hasher.Sum(got[:0])
		if got != want {
			continue
		}
		rf.have[i] = true
		rf.hashes[i] = got
		rf.nHave++
		rf.haveLen += n
		kept = append(kept, i)
	}
	return kept, nil
}

// errNotOurs marks a partial file or journal that ferry did not make, or
// that others could have changed (see checkOwn).
var errNotOurs = errors.New("not a file of ferry's own")

// openKept opens, for reading, a partial file or journal that an earlier
// attempt left at rel. It fails unless the file passes checkOwn, which
// the journal must too: it says where to look. The bytes are hashed again
// anyway; the checks make sure no one else can change them in between.
func (s *store) openKept(rel string) (*os.File, error) {
	if err := safepath.CheckParents(s.root, rel); err != nil {
		return nil, err
	}
	f, err := s.root.OpenFile(rel, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkOwn(fi)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("partial file %s: %w", rel, err)
	}
	return f, nil
}

// dropUntrusted removes the partial file and journal of rf when err says
// one of them is not ferry's: only the names go (a hard link is unlinked,
// the file it shares is not touched), and the file restarts.
func (s *store) dropUntrusted(rf *recvFile, err error) {
	if errors.Is(err, errNotOurs) {
		s.root.Remove(rf.part)
		s.root.Remove(rf.journal)
	}
}

// existing hashes a file already under the entry's final name when its size
// and modification time match the offer: most likely an earlier, complete
// delivery of the same file, which the sender can then skip.
func (s *store) existing(rf *recvFile) ([]byte, bool) {
	if names := s.listing(rf.parent); names != nil && !names[foldName(rf.base)] {
		return nil, false
	}
	final := path.Join(rf.parent, rf.base)
	if safepath.CheckParents(s.root, final) != nil {
		return nil, false
	}
	fi, err := s.root.Lstat(final)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != rf.e.Size || fi.ModTime().UnixNano() != rf.e.MTime {
		return nil, false
	}
	f, err := s.root.OpenFile(final, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	hashes := make([][wire.HashLen]byte, rf.e.Chunks())
	for i := range hashes {
		h := blake3.New()
		n, err := io.CopyBuffer(h, io.NewSectionReader(f, int64(i)*rf.e.Chunk, rf.e.ChunkLen(int64(i))), buf)
		if err != nil || n != rf.e.ChunkLen(int64(i)) {
			return nil, false
		}
		h.Sum(hashes[i][:0])
	}
	sum := wire.FileHash(rf.e.Size, rf.e.Chunk, hashes)
	return sum[:], true
}

// foldName is the key of a name in a folder's listing: on a file system
// that ignores case or Unicode normalization (macOS, SMB, exFAT) another
// spelling is the same file. A hit only means "look it up".
func foldName(n string) string { return strings.ToLower(norm.NFC.String(n)) }

// listFrom is how many files of an offer must go into one folder before
// existing reads the folder's names once instead of looking up each.
const listFrom = 16

// listing returns the names in folder dir (empty when it does not exist),
// read once per session, or nil when existing should look names up one by
// one: for a folder with few of the offer's files, or one it cannot list.
func (s *store) listing(dir string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perDir[dir] < listFrom {
		return nil
	}
	if names, ok := s.listed[dir]; ok {
		return names
	}
	if s.listed == nil {
		s.listed = make(map[string]map[string]bool)
	}
	var names map[string]bool
	if err := safepath.CheckDir(s.root, dir); errors.Is(err, fs.ErrNotExist) {
		names = map[string]bool{}
	} else if err == nil {
		if f, err := s.root.Open(dir); err == nil {
			// A folder far fuller than the offer is cheaper to ask name by
			// name (and its listing could be large).
			limit := max(4*s.perDir[dir], 4096)
			names = make(map[string]bool)
			for {
				list, err := f.Readdirnames(1024)
				for _, n := range list {
					names[foldName(n)] = true
				}
				if errors.Is(err, io.EOF) || (err == nil && len(list) == 0) {
					break
				}
				if err != nil || len(names) > limit {
					names = nil
					break
				}
			}
			f.Close()
		}
	}
	s.listed[dir] = names
	return names
}

func (s *store) journalHeader(rf *recvFile) journalHeader {
	return journalHeader{Sender: s.sender.String(), Path: rf.e.Path, Size: rf.e.Size, MTime: rf.e.MTime, Chunk: rf.e.Chunk}
}

// forget drops the kept chunks of rf: the sender's source no longer matches.
func (s *store) forget(rf *recvFile) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for i := range rf.have {
		rf.have[i] = false
		rf.hashes[i] = [wire.HashLen]byte{}
	}
	rf.nHave, rf.haveLen = 0, 0
	rf.kept = nil
}

// open creates or reopens the partial file and rewrites the journal with the
// chunks kept so far. Called with rf.mu held.
//
// A local user who can write the receiving folder can predict the names
// of partial files and journals (they come from the sender's ID and the
// path), so ferry never opens what is at those names for writing: it
// removes the name and creates its own file, exclusively and owner-only
// (createExcl), or reopens exactly the file whose chunks resume checked.
// Nobody else can write to a partial, so the bytes verified in it are the
// bytes that get their final name (see place).
//
// A file of one chunk has no journal (an interrupted one is sent again
// whole), so it needs no name until it is complete either: where the file
// system can, it is an unnamed file (O_TMPFILE) that is linked under its
// final name when done and vanishes with the process otherwise. That saves
// creating, renaming and, on failure, deleting a partial name.
func (s *store) open(rf *recvFile) error {
	if rf.f != nil {
		return nil
	}
	err := s.openOnce(rf)
	// The folder was removed during the session (not the receiving folder:
	// the session checks that one). Make it again. While a removal is
	// still under way (rm -r empties a folder before it removes it), the
	// folder's name may still lead to the dying folder, so this is tried
	// again a few times, a little later each time (about 0.5 s in all). A
	// file that kept chunks from an earlier attempt lost them with it: that
	// one fails, and is sent again whole next time.
	wait := time.Millisecond
	for try := 0; try < 8 && err != nil && rf.nHave == 0 && (errors.Is(err, errFolderGone) || errors.Is(err, fs.ErrNotExist)); try++ {
		s.forgetDir(rf.parent)
		if try > 0 {
			time.Sleep(wait)
			wait *= 2
		}
		err = s.openOnce(rf)
	}
	return err
}

func (s *store) openOnce(rf *recvFile) error {
	if err := s.mkdirAll(rf.parent); err != nil {
		return fmt.Errorf("create folder for %q: %w", rf.e.Path, err)
	}
	dir, release, err := s.openDir(rf.parent)
	if err != nil {
		return fmt.Errorf("create partial file for %q: %w", rf.e.Path, err)
	}
	defer release()
	if rf.journal == "" && !rf.e.Stream && !s.overwrite && !s.tmpUnsupported() {
		f, err := openTmp(dir, 0o600)
		if err == nil {
			rf.f, rf.tmp = f, true
			s.dropStalePart(dir, rf)
			return nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			if s.folderMoved(dir, rf.parent) {
				err = fmt.Errorf("%w: %w", errFolderGone, err)
			}
			return fmt.Errorf("create partial file for %q: %w", rf.e.Path, err)
		}
		s.mu.Lock()
		s.noTmp = true
		s.mu.Unlock()
	}
	// mkdirAll checked the folders; O_NOFOLLOW refuses a link at the
	// partial's own name. Only a failure pays for the full check, which
	// says what is in the way.
	var f *os.File
	if rf.nHave > 0 {
		f, err = s.reopenKept(dir, rf)
	} else {
		f, err = s.createExcl(dir, rf.part)
	}
	if err != nil {
		if s.folderMoved(dir, rf.parent) {
			return fmt.Errorf("create partial file for %q: %w: %w", rf.e.Path, errFolderGone, err)
		}
		if cerr := safepath.CheckParents(s.root, rf.part); cerr != nil {
			return fmt.Errorf("write %q: %w", rf.e.Path, cerr)
		}
		return fmt.Errorf("create partial file for %q: %w", rf.e.Path, err)
	}
	if rf.journal != "" {
		if err := s.rewriteJournal(dir, rf); err != nil {
			f.Close()
			return err
		}
	}
	rf.f = f
	return nil
}

// createExcl creates a new, empty file at rel inside the open folder dir
// (rel's folder), readable and writable by the receiving user only.
// Whatever had that name goes first: a partial that is not resumed, or a
// file or hard link planted there. Only the name is removed, nothing is
// written through it; O_EXCL then refuses anything that appears in
// between. A symlink there can only have been planted: it stays, and the
// caller's check names it in the error.
func (s *store) createExcl(dir *os.File, rel string) (*os.File, error) {
	if fi, err := s.root.Lstat(rel); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		removeIn(s.root, dir, rel)
	}
	return openIn(s.root, dir, rel, os.O_RDWR|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
}

// reopenKept opens for writing the partial file whose chunks resume kept,
// and only that file: if its name was given to another since, the kept
// chunks are gone and the file fails.
func (s *store) reopenKept(dir *os.File, rf *recvFile) (*os.File, error) {
	f, err := openIn(s.root, dir, rf.part, os.O_RDWR|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkOwn(fi)
	}
	if err == nil && (rf.kept == nil || !os.SameFile(fi, rf.kept)) {
		err = fmt.Errorf("%w: replaced since its chunks were checked", errNotOurs)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// dropStalePart removes a named partial copy of a one-chunk file left by an
// earlier attempt that could not use an unnamed file: it would never be
// used again. Where the folder's names were read, only one that is there.
func (s *store) dropStalePart(dir *os.File, rf *recvFile) {
	base := path.Base(rf.part)
	if names := s.listing(rf.parent); names != nil && !names[foldName(base)] {
		return
	}
	removeIn(s.root, dir, rf.part)
}

func (s *store) tmpUnsupported() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tmpChecked {
		s.tmpChecked = true
		s.noTmp = !tmpLinkable()
	}
	return s.noTmp
}

// openDir returns the folder dir (relative to the root, made by mkdirAll)
// open, and a function to release it. Folders stay open for the session, up
// to maxOpenDirs (the least recently used is closed), so that the files in
// one cost no walk from the root each. Each is opened through the root after
// checking that no component is a symlink.
func (s *store) openDir(dir string) (*os.File, func(), error) {
	s.mu.Lock()
	d := s.dirs[dir]
	if d == nil {
		s.mu.Unlock()
		if err := safepath.CheckDir(s.root, dir); err != nil {
			return nil, nil, err
		}
		f, err := s.root.Open(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("open folder: %w", err)
		}
		s.mu.Lock()
		if d = s.dirs[dir]; d != nil { // opened meanwhile by another stream
			f.Close()
		} else {
			if s.dirs == nil {
				s.dirs = make(map[string]*dirRef)
			}
			if len(s.dirs) >= maxOpenDirs {
				s.evictDirLocked()
			}
			d = &dirRef{f: f}
			s.dirs[dir] = d
		}
	}
	d.refs++
	s.tick++
	d.used = s.tick
	s.mu.Unlock()
	return d.f, func() { s.releaseDir(d) }, nil
}

func (s *store) releaseDir(d *dirRef) {
	s.mu.Lock()
	d.refs--
	closeIt := d.refs == 0 && d.evicted
	s.mu.Unlock()
	if closeIt {
		d.f.Close()
	}
}

// errFolderGone marks a failure in a folder that was removed (or replaced)
// during the session.
var errFolderGone = errors.New("the folder was removed during the transfer")

// folderMoved reports whether dir, opened as folder rel, is no longer
// what rel names.
func (s *store) folderMoved(dir *os.File, rel string) bool {
	a, err := dir.Stat()
	if err != nil || unlinked(a) {
		// Unlinked: while a removal is under way, rel may still lead to
		// the dying folder itself.
		return true
	}
	b, err := s.root.Lstat(rel)
	return err != nil || !os.SameFile(a, b)
}

// evictDirLocked drops the least recently used folder from the cache; its
// last user closes it. Called with s.mu held.
func (s *store) evictDirLocked() {
	var oldest string
	var d *dirRef
	for name, c := range s.dirs {
		if d == nil || c.used < d.used {
			oldest, d = name, c
		}
	}
	if d == nil {
		return
	}
	delete(s.dirs, oldest)
	d.evicted = true
	if d.refs == 0 {
		d.f.Close()
	}
}

// close closes the open folders (those in use, when their users are done).
func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.dirs) > 0 {
		s.evictDirLocked()
	}
}

// rewriteJournal writes a new journal for rf, in the open folder dir, with
// the chunks kept so far.
func (s *store) rewriteJournal(dir *os.File, rf *recvFile) error {
	b, err := encodeJournalHeader(s.journalHeader(rf))
	if err != nil {
		return err
	}
	for i := range rf.have {
		if rf.have[i] {
			b = encodeJournalRecord(b, int64(i), rf.hashes[i])
		}
	}
	j, err := s.createExcl(dir, rf.journal)
	if err != nil {
		if cerr := safepath.CheckParents(s.root, rf.journal); cerr != nil {
			return fmt.Errorf("write journal for %q: %w", rf.e.Path, cerr)
		}
		return fmt.Errorf("create journal for %q: %w", rf.e.Path, err)
	}
	if _, err := j.Write(b); err != nil {
		j.Close()
		return fmt.Errorf("write journal for %q: %w", rf.e.Path, err)
	}
	rf.j = j
	return nil
}

// record appends a verified chunk to the journal. Called with rf.mu held.
func (rf *recvFile) record(idx int64, sum [wire.HashLen]byte) error {
	if rf.j == nil {
		return nil
	}
	var b [journalRecordLen]byte
	if _, err := rf.j.Write(encodeJournalRecord(b[:0], idx, sum)); err != nil {
		return fmt.Errorf("write journal for %q: %w", rf.e.Path, err)
	}
	return nil
}

// complete reports whether every chunk is verified and the sender's end
// frame is in. Called with rf.mu held.
func (rf *recvFile) complete() bool {
	if rf.end == nil || rf.done || rf.finalizing {
		return false
	}
	return rf.nHave == int64(len(rf.have))
}

func (rf *recvFile) closeFiles() {
	if rf.f != nil {
		rf.f.Close()
		rf.f = nil
	}
	if rf.j != nil {
		rf.j.Close()
		rf.j = nil
	}
}

// prepareFinal checks the whole-file hash and sets mode and times on the
// partial file, before it is flushed and renamed.
func (s *store) prepareFinal(rf *recvFile) error {
	if err := s.open(rf); err != nil { // empty files have no chunk that opened them
		return err
	}
	size := rf.e.Size
	if rf.e.Stream {
		size = rf.end.Size
	}
	if rf.haveLen != size {
		return wire.Errorf("%q: received %d bytes, the sender says %d", rf.e.Path, rf.haveLen, size)
	}
	if got := wire.FileHash(size, rf.e.Chunk, rf.hashes); got != [wire.HashLen]byte(rf.end.Hash) {
		return fmt.Errorf("%w: %q: file hash mismatch", ErrIntegrity, rf.e.Path)
	}
	if rf.e.Stream {
		if err := rf.f.Truncate(size); err != nil {
			return fmt.Errorf("finish %q: %w", rf.e.Path, err)
		}
	}
	// The copy is no more readable than its source: one that granted
	// nothing to group or others stays owner-only.
	mode := os.FileMode(0o644)
	switch {
	case rf.e.Private && rf.e.Exec:
		mode = 0o700
	case rf.e.Private:
		mode = 0o600
	case rf.e.Exec:
		mode = 0o755
	}
	if err := rf.f.Chmod(mode); err != nil {
		return fmt.Errorf("finish %q: %w", rf.e.Path, err)
	}
	if rf.e.MTime != 0 {
		t := time.Unix(0, rf.e.MTime)
		err := setTimes(rf.f, t)
		if errors.Is(err, errors.ErrUnsupported) && !rf.tmp {
			err = s.root.Chtimes(rf.part, t, t)
		}
		if err != nil {
			return fmt.Errorf("finish %q: %w", rf.e.Path, err)
		}
	}
	return nil
}

// rename gives a flushed partial file a free final name in its folder and
// returns the final path relative to the root (see place). The caller
// closes the file afterwards.
//
// The folder comes from openDir, and linkat and renameat2 work on single
// names inside it and never follow a link at the new name.
func (s *store) rename(rf *recvFile) (string, error) {
	name, err := s.renameOnce(rf)
	if err != nil && rf.tmp && (errors.Is(err, errFolderGone) || errors.Is(err, fs.ErrNotExist)) {
		// Its folder was removed while the file was written: an unnamed
		// file can still be linked into the folder made again.
		s.forgetDir(rf.parent)
		if err := s.mkdirAll(rf.parent); err != nil {
			return "", fmt.Errorf("finish %q: create folder again: %w", rf.e.Path, err)
		}
		name, err = s.renameOnce(rf)
	}
	return name, err
}

// forgetDir drops what the session knows of folder dir and the folders
// below it, which were removed: they are made and opened again when used.
func (s *store) forgetDir(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	below := func(d string) bool { return d == dir || dir == "." || strings.HasPrefix(d, dir+"/") }
	for d := range s.made {
		if below(d) {
			delete(s.made, d)
		}
	}
	for d, ref := range s.dirs {
		if below(d) {
			delete(s.dirs, d)
			ref.evicted = true
			if ref.refs == 0 {
				ref.f.Close()
			}
		}
	}
}

func (s *store) renameOnce(rf *recvFile) (string, error) {
	dir, release, err := s.openDir(rf.parent)
	if err != nil {
		return "", fmt.Errorf("finish %q: %w", rf.e.Path, err)
	}
	defer release()
	if s.overwrite {
		if fi, err := s.root.Lstat(path.Join(rf.parent, rf.base)); err == nil && !fi.Mode().IsRegular() {
			return "", fmt.Errorf("finish %q: %w: something other than a file has that name", rf.e.Path, fs.ErrExist)
		}
		if err := renameReplace(dir, path.Base(rf.part), rf.base); err != nil {
			return "", fmt.Errorf("finish %q: %w", rf.e.Path, err)
		}
		if err := s.checkNamed(rf, rf.base); err != nil {
			return "", fmt.Errorf("finish %q: %w", rf.e.Path, err)
		}
		return path.Join(rf.parent, rf.base), nil
	}
	for n := 0; n < 10000; n++ {
		name := numbered(rf.base, n)
		err := s.place(rf, dir, name)
		if err == nil {
			return path.Join(rf.parent, name), nil
		}
		if !errors.Is(err, fs.ErrExist) {
			if s.folderMoved(dir, rf.parent) {
				err = fmt.Errorf("%w: %w", errFolderGone, err)
			}
			return "", fmt.Errorf("finish %q: %w", rf.e.Path, err)
		}
	}
	return "", fmt.Errorf("finish %q: no free name", rf.e.Path)
}

// place gives the complete file rf the name name in its open folder dir,
// failing with fs.ErrExist if the name is taken.
//
// The open file itself is linked (linkFile): the name goes to the file
// ferry wrote and verified even if someone who can write the folder gave
// the partial's name to another file meanwhile. Then the partial's name is
// removed. Linking never replaces, so files are named in parallel. Where
// the file system has no hard links, the partial is renamed, and checked.
func (s *store) place(rf *recvFile, dir *os.File, name string) error {
	if rf.tmp {
		return linkFile(rf.f, dir, name)
	}
	s.mu.Lock()
	noLink := s.noLink
	s.mu.Unlock()
	if !noLink {
		err := linkFile(rf.f, dir, name)
		if !errors.Is(err, errors.ErrUnsupported) {
			if err == nil {
				removeIn(s.root, dir, rf.part)
			}
			return err
		}
		s.mu.Lock()
		s.noLink = true
		s.mu.Unlock()
	}
	// Where the OS has no atomic no-replace rename, the fallback checks
	// and then renames: two at once could both pass the check.
	s.renameMu.Lock()
	defer s.renameMu.Unlock()
	if err := renameNoReplace(dir, path.Base(rf.part), name); err != nil {
		return err
	}
	return s.checkNamed(rf, name)
}

// checkNamed makes sure that what is now called name in rf's folder is
// the file ferry wrote: a rename moves whatever has the partial's name.
func (s *store) checkNamed(rf *recvFile, name string) error {
	a, err := rf.f.Stat()
	if err != nil {
		return err
	}
	b, err := s.root.Lstat(path.Join(rf.parent, name))
	if err != nil {
		return err
	}
	if !os.SameFile(a, b) {
		return fmt.Errorf("%w: its partial file was replaced by another before it was named %q", ErrIntegrity, name)
	}
	return nil
}

// stillThere checks that the receiving folder was not removed or replaced
// while the session ran: renaming into a deleted folder would lose the file.
func (s *store) stillThere() error {
	gone := fmt.Errorf("%w: the receiving folder was removed or replaced during the transfer", ErrTargetGone)
	a, err := os.Stat(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return gone
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTargetGone, pathless(err))
	}
	b, err := s.root.Stat(".")
	if err != nil || !os.SameFile(a, b) {
		return gone
	}
	return nil
}

// nameMax is the longest file name ferry makes, in bytes: NAME_MAX on
// Linux and the BSDs (macOS and Windows count 255 UTF-16 units, which a
// name of 255 UTF-8 bytes never exceeds).
const nameMax = 255

// numbered returns the n-th candidate name: "report.pdf", "report (1).pdf",
// … The stem is shortened where the name would be too long; the extension
// is kept if a stem still fits before it.
func numbered(base string, n int) string {
	if n == 0 {
		return base
	}
	stem, ext := splitExt(base)
	suffix := fmt.Sprintf(" (%d)", n)
	if len(suffix)+len(ext) >= nameMax {
		stem, ext = base, "" // no room for a stem: the extension is cut with it
	}
	return cutName(stem, nameMax-len(suffix)-len(ext)) + suffix + ext
}

// cutName shortens s (NFC) to at most n bytes. It cuts between
// characters with their combining marks (Unicode normalization segments),
// so the result is valid UTF-8, stays NFC and does not end in a mark torn
// from its letter.
func cutName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	var it norm.Iter
	it.InitString(norm.NFC, s)
	end := 0
	for !it.Done() {
		it.Next()
		if it.Pos() > n {
			break
		}
		end = it.Pos()
	}
	return s[:end]
}

func splitExt(base string) (string, string) {
	if strings.HasPrefix(base, ".") && strings.Count(base, ".") == 1 {
		return base, "" // ".bashrc"
	}
	lower := strings.ToLower(base)
	for _, double := range []string{".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"} {
		if strings.HasSuffix(lower, double) && len(base) > len(double) {
			return base[:len(base)-len(double)], base[len(base)-len(double):]
		}
	}
	ext := path.Ext(base)
	if ext == base {
		return base, ""
	}
	return base[:len(base)-len(ext)], ext
}

// removeJournal deletes the journal of a finalized file.
func (s *store) removeJournal(rf *recvFile) {
	if rf.journal != "" {
		s.root.Remove(rf.journal)
	}
}

// discard deletes the partial data of a file that cannot be completed.
func (s *store) discard(rf *recvFile) {
	tmp := rf.tmp
	rf.closeFiles()
	if !tmp {
		s.root.Remove(rf.part)
	}
	if rf.journal != "" {
		s.root.Remove(rf.journal)
	}
}
