package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// Prepare checks a file that became ready (see Chunk.Commit) against the
// sender's file hash and gives the partial file its mode and time, before
// it is flushed and named. A file that fails the check is discarded.
// Files prepare in parallel: the caller that saw a file become ready
// prepares it.
func (in *Incoming) Prepare(f *File) error {
	err := in.prepare(f)
	if errors.Is(err, ErrIntegrity) || errors.Is(err, wire.ErrProtocol) {
		in.Discard(f)
	}
	return in.storageErr(err)
}

func (in *Incoming) prepare(f *File) error {
	if err := f.open(); err != nil { // empty files have no chunk that opened them
		return err
	}
	size := f.end.size
	if f.haveLen != size {
		return wire.Errorf("%q: received %d bytes, the sender says %d", f.e.Path, f.haveLen, size)
	}
	if got := wire.FileHash(size, f.e.Chunk, f.hashes); got != [wire.HashLen]byte(f.end.hash) {
		return fmt.Errorf("%w: %q: file hash mismatch", ErrIntegrity, f.e.Path)
	}
	if f.e.Stream {
		if err := f.f.Truncate(size); err != nil {
			return fmt.Errorf("finish %q: %w", f.e.Path, err)
		}
	}
	// The copy is no more readable than its source: one that granted
	// nothing to group or others stays owner-only.
	mode := os.FileMode(0o644)
	switch {
	case f.e.Private && f.e.Exec:
		mode = 0o700
	case f.e.Private:
		mode = 0o600
	case f.e.Exec:
		mode = 0o755
	}
	if err := f.f.Chmod(mode); err != nil {
		return fmt.Errorf("finish %q: %w", f.e.Path, err)
	}
	if f.e.MTime != 0 {
		t := time.Unix(0, f.e.MTime)
		err := setTimes(f.f, t)
		if errors.Is(err, errors.ErrUnsupported) && !f.tmp {
			err = in.root.Chtimes(f.part, t, t)
		}
		if err != nil {
			return fmt.Errorf("finish %q: %w", f.e.Path, err)
		}
	}
	return nil
}

// Name gives a flushed file its final name and returns it, relative to
// the folder: the offered name if it is free, else "name (1).ext" and so
// on, or over the existing file with Options.Overwrite (over a file only:
// a folder or a symlink under the name is never replaced). The file's
// descriptors are closed and its journal removed, whatever the outcome.
func (in *Incoming) Name(f *File) (string, error) {
	name, err := in.rename(f)
	if err == nil {
		f.keepServing()
	}
	f.closeFiles()
	if err != nil {
		return "", in.storageErr(err)
	}
	f.j.remove(in.root)
	f.mu.Lock()
	f.done = true
	f.mu.Unlock()
	return name, nil
}

// rename gives a flushed partial file a free final name in its folder and
// returns the final path relative to the root (see place). The caller
// closes the file afterwards.
//
// The folder comes from openDir, and linkat and renameat2 work on single
// names inside it and never follow a link at the new name.
func (in *Incoming) rename(f *File) (string, error) {
	name, err := in.renameOnce(f)
	if err != nil && f.tmp && (errors.Is(err, errFolderGone) || errors.Is(err, fs.ErrNotExist)) {
		// Its folder was removed while the file was written: an unnamed
		// file can still be linked into the folder made again.
		in.forgetDir(f.parent)
		if err := in.mkdirAll(f.parent); err != nil {
			return "", fmt.Errorf("finish %q: create folder again: %w", f.e.Path, err)
		}
		name, err = in.renameOnce(f)
	}
	return name, err
}

func (in *Incoming) renameOnce(f *File) (string, error) {
	dir, release, err := in.openDir(f.parent)
	if err != nil {
		return "", fmt.Errorf("finish %q: %w", f.e.Path, err)
	}
	defer release()
	first := 0
	if in.opt.Overwrite {
		// Overwrite replaces a file. A folder or a symlink under the name
		// is left alone and the file is numbered as without Overwrite.
		fi, err := in.root.Lstat(path.Join(f.parent, f.base))
		if err == nil && !fi.Mode().IsRegular() {
			first = 1
		} else {
			if err := renameReplace(dir, path.Base(f.part), f.base); err != nil {
				return "", fmt.Errorf("finish %q: %w", f.e.Path, err)
			}
			if err := in.checkNamed(f, f.base); err != nil {
				return "", fmt.Errorf("finish %q: %w", f.e.Path, err)
			}
			return path.Join(f.parent, f.base), nil
		}
	}
	for n := first; n < 10000; n++ {
		name := numbered(f.base, n)
		err := in.place(f, dir, name)
		if err == nil {
			return path.Join(f.parent, name), nil
		}
		if !errors.Is(err, fs.ErrExist) {
			if in.folderMoved(dir, f.parent) {
				err = fmt.Errorf("%w: %w", errFolderGone, err)
			}
			return "", fmt.Errorf("finish %q: %w", f.e.Path, err)
		}
	}
	return "", fmt.Errorf("finish %q: no free name", f.e.Path)
}

// place gives the complete file f the name name in its open folder dir,
// failing with fs.ErrExist if the name is taken.
//
// The open file itself is linked (linkFile): the name goes to the file
// ferry wrote and verified even if someone who can write the folder gave
// the partial's name to another file meanwhile. Then the partial's name is
// removed. Linking never replaces, so files are named in parallel. Where
// the file system has no hard links, the partial is renamed, and checked.
func (in *Incoming) place(f *File, dir *os.File, name string) error {
	if f.tmp {
		return linkFile(f.f, dir, name)
	}
	in.mu.Lock()
	noLink := in.noLink
	in.mu.Unlock()
	if !noLink {
		err := linkFile(f.f, dir, name)
		if !errors.Is(err, errors.ErrUnsupported) {
			if err == nil {
				removeIn(in.root, dir, f.part)
			}
			return err
		}
		in.mu.Lock()
		in.noLink = true
		in.mu.Unlock()
	}
	// Where the OS has no atomic no-replace rename, the fallback checks
	// and then renames: two at once could both pass the check.
	in.naming.Lock()
	defer in.naming.Unlock()
	if err := renameNoReplace(dir, path.Base(f.part), name); err != nil {
		return err
	}
	return in.checkNamed(f, name)
}

// checkNamed makes sure that what is now called name in f's folder is
// the file ferry wrote: a rename moves whatever has the partial's name.
func (in *Incoming) checkNamed(f *File, name string) error {
	a, err := f.f.Stat()
	if err != nil {
		return err
	}
	b, err := in.root.Lstat(path.Join(f.parent, name))
	if err != nil {
		return err
	}
	if !os.SameFile(a, b) {
		return fmt.Errorf("%w: its partial file was replaced by another before it was named %q", ErrIntegrity, name)
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

// Discard deletes the partial data of a file: one that cannot be
// completed, or a stale copy beside a file that was skipped.
func (in *Incoming) Discard(f *File) {
	f.closeFiles()
	if !f.tmp {
		in.root.Remove(f.part)
	}
	f.j.remove(in.root)
}
