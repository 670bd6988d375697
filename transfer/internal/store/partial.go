package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// open makes the partial file of f, or reopens the one Resume kept chunks
// of, and writes a new journal with those chunks. It runs once per file,
// under f.opening; f.mu is taken only to read the chunk table.
//
// A local user who can write the receiving folder can predict the names
// of partial files and journals (they come from the sender's ID and the
// path), so ferry never opens what is at those names for writing: it
// removes the name and creates its own file, exclusively and owner-only
// (createExcl), or reopens exactly the file whose chunks Resume checked.
// Nobody else can write to a partial, so the bytes verified in it are the
// bytes that get their final name (see place).
//
// A file of one chunk has no journal (an interrupted one is sent again
// whole), so it needs no name until it is complete either: where the file
// system can, it is an unnamed file (O_TMPFILE) that is linked under its
// final name when done and vanishes with the process otherwise. That saves
// creating, renaming and, on failure, deleting a partial name.
func (f *File) open() error {
	f.opening.Lock()
	defer f.opening.Unlock()
	if f.f != nil {
		return nil
	}
	p := f.snapshot()
	in := f.in
	err := in.openOnce(f, p)
	// The folder was removed during the session (not the receiving folder:
	// the caller checks that one). Make it again. While a removal is
	// still under way (rm -r empties a folder before it removes it), the
	// folder's name may still lead to the dying folder, so this is tried
	// again a few times, a little later each time (about 0.5 s in all). A
	// file that kept chunks from an earlier attempt lost them with it: that
	// one fails, and is sent again whole next time.
	wait := time.Millisecond
	for try := 0; try < 8 && err != nil && len(p.kept) == 0 && (errors.Is(err, errFolderGone) || errors.Is(err, fs.ErrNotExist)); try++ {
		in.forgetDir(f.parent)
		if try > 0 {
			time.Sleep(wait)
			wait *= 2
		}
		err = in.openOnce(f, p)
	}
	return err
}

// partialState is what open needs of a file's chunk table.
type partialState struct {
	header journalHeader
	kept   []int64
	hashes [][wire.HashLen]byte
	keptFI os.FileInfo
}

func (f *File) snapshot() partialState {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := partialState{keptFI: f.kept}
	if f.nHave > 0 {
		for i, s := range f.state {
			if s == verified {
				p.kept = append(p.kept, int64(i))
				p.hashes = append(p.hashes, f.hashes[i])
			}
		}
	}
	if f.j.path != "" {
		p.header = f.in.header(f)
	}
	return p
}

func (in *Incoming) openOnce(f *File, p partialState) error {
	if err := in.mkdirAll(f.parent); err != nil {
		return fmt.Errorf("create folder for %q: %w", f.e.Path, err)
	}
	dir, release, err := in.openDir(f.parent)
	if err != nil {
		return fmt.Errorf("create partial file for %q: %w", f.e.Path, err)
	}
	defer release()
	if f.j.path == "" && !f.e.Stream && !in.opt.Overwrite && !in.tmpUnsupported() {
		t, err := openTmp(dir, 0o600)
		if err == nil {
			f.f, f.tmp = t, true
			in.dropStalePart(dir, f)
			return nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			if in.folderMoved(dir, f.parent) {
				err = fmt.Errorf("%w: %w", errFolderGone, err)
			}
			return fmt.Errorf("create partial file for %q: %w", f.e.Path, err)
		}
		in.mu.Lock()
		in.noTmp = true
		in.mu.Unlock()
	}
	// mkdirAll checked the folders; O_NOFOLLOW refuses a link at the
	// partial's own name. Only a failure pays for the full check, which
	// says what is in the way.
	var pf *os.File
	if len(p.kept) > 0 {
		pf, err = in.reopenKept(dir, f.part, p.keptFI)
	} else {
		pf, err = in.createExcl(dir, f.part)
	}
	if err != nil {
		if in.folderMoved(dir, f.parent) {
			return fmt.Errorf("create partial file for %q: %w: %w", f.e.Path, errFolderGone, err)
		}
		if cerr := safepath.CheckParents(in.root, f.part); cerr != nil {
			return fmt.Errorf("write %q: %w", f.e.Path, cerr)
		}
		return fmt.Errorf("create partial file for %q: %w", f.e.Path, err)
	}
	if f.j.path != "" {
		if err := f.j.create(in, dir, p.header, p.kept, p.hashes); err != nil {
			pf.Close()
			return err
		}
	}
	f.f = pf
	return nil
}

// createExcl creates a new, empty file at rel inside the open folder dir
// (rel's folder), readable and writable by the receiving user only.
// Whatever had that name goes first: a partial that is not resumed, or a
// file or hard link planted there. Only the name is removed, nothing is
// written through it; O_EXCL then refuses anything that appears in
// between. A symlink there can only have been planted: it stays, and the
// caller's check names it in the error.
func (in *Incoming) createExcl(dir *os.File, rel string) (*os.File, error) {
	if fi, err := in.root.Lstat(rel); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		removeIn(in.root, dir, rel)
	}
	return openIn(in.root, dir, rel, os.O_RDWR|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
}

// reopenKept opens for writing the partial file at rel whose chunks Resume
// kept (kept), and only that file: if its name was given to another since,
// the kept chunks are gone and the file fails.
func (in *Incoming) reopenKept(dir *os.File, rel string, kept os.FileInfo) (*os.File, error) {
	f, err := openIn(in.root, dir, rel, os.O_RDWR|oNoFollow|oNonBlock, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkOwn(fi)
	}
	if err == nil && (kept == nil || !os.SameFile(fi, kept)) {
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
func (in *Incoming) dropStalePart(dir *os.File, f *File) {
	base := path.Base(f.part)
	if names := in.listing(f.parent); names != nil && !names[foldName(base)] {
		return
	}
	removeIn(in.root, dir, f.part)
}

func (in *Incoming) tmpUnsupported() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.tmpChecked {
		in.tmpChecked = true
		in.noTmp = !tmpLinkable()
	}
	return in.noTmp
}
