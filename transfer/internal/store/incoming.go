package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/ferry-lan/ferry/identity"
	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// Options configure an incoming set.
type Options struct {
	// Sender names the partial files: each sender resumes its own.
	Sender identity.DeviceID
	// Overwrite gives a file its final name even over an existing file,
	// instead of "name (1).ext" (a folder or a symlink under the name is
	// left alone: the file is numbered then).
	Overwrite bool
	// NoTmpFiles names every partial file, as where O_TMPFILE is missing
	// (tests).
	NoTmpFiles bool
	// Serve keeps complete files open (up to maxServed) so that their
	// chunks can be read back (File.ReadVerified) until Close.
	Serve bool
}

// Incoming is one set of files being received into a folder.
type Incoming struct {
	naming     sync.Mutex // one rename of a named partial at a time (see place)
	mu         sync.Mutex
	made       map[string]bool    // folders this set created or checked
	dirs       map[string]*dirRef // open folders, by path relative to the root
	tick       uint64             // for the folders' last use
	noTmp      bool               // no unnamed files here (see File.open)
	tmpChecked bool
	noLink     bool                       // no hard links here: named partials are renamed (see place)
	perDir     map[string]int             // files of the set, by folder
	served     int                        // complete files kept open to serve from (see keepServing)
	listed     map[string]map[string]bool // names in a folder at the start, for existing

	// hashers are the chunk hashers not in use: a BLAKE3 hasher is large
	// (several KiB), and a set of small files would take one per file.
	hashers sync.Pool

	root    *os.Root
	top     *os.File // the folder itself, for Flush
	dir     string   // absolute path of the receiving folder
	opt     Options
	entries []wire.Entry
	files   []*File
}

// Open opens the set of entries under the folder dir (an absolute path),
// which is created if missing. Nothing is written until chunks come.
func Open(dir string, c Checked, opt Options) (*Incoming, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil { // removed since the receiver started?
		return nil, fmt.Errorf("create receiving folder: %w", pathless(err))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open receiving folder: %w", pathless(err))
	}
	top, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("open receiving folder: %w", pathless(err))
	}
	in := &Incoming{
		root: root, top: top, dir: dir, opt: opt, entries: c.entries,
		noTmp: opt.NoTmpFiles, tmpChecked: opt.NoTmpFiles,
		perDir: make(map[string]int),
	}
	in.files = make([]*File, len(c.entries))
	for i, e := range c.entries {
		if !e.Dir {
			in.files[i] = in.newFile(i, e)
		}
	}
	return in, nil
}

// Files returns the set's files by entry index (nil for folders).
func (in *Incoming) Files() []*File { return in.files }

// Close closes every file and folder the set holds open. Partial files and
// journals stay for a later attempt.
func (in *Incoming) Close() {
	for _, f := range in.files {
		if f != nil {
			f.closeFiles()
			f.closeServed()
		}
	}
	in.mu.Lock()
	for len(in.dirs) > 0 {
		in.evictDirLocked()
	}
	in.mu.Unlock()
	in.top.Close()
	in.root.Close()
}

// FreeSpace returns the bytes available in the folder, and whether that is
// known.
func (in *Incoming) FreeSpace() (int64, bool) { return freeSpace(in.dir) }

// MakeFolders creates the folder entries of the set.
func (in *Incoming) MakeFolders() error {
	for _, e := range in.entries {
		if !e.Dir {
			continue
		}
		if err := in.mkdirAll(e.Path); err != nil {
			return in.storageErr(fmt.Errorf("create folder %q: %w", e.Path, err))
		}
	}
	return nil
}

// SetFolderTimes gives the folder entries their times, deepest first
// (creating files inside a folder changes its time): the last step of a
// complete set.
func (in *Incoming) SetFolderTimes() {
	dirs := slices.DeleteFunc(slices.Clone(in.entries), func(e wire.Entry) bool { return !e.Dir })
	slices.SortFunc(dirs, func(a, b wire.Entry) int { return len(b.Path) - len(a.Path) })
	for _, e := range dirs {
		if e.MTime != 0 {
			t := time.Unix(0, e.MTime)
			if err := safepath.CheckParents(in.root, e.Path); err == nil {
				in.root.Chtimes(e.Path, t, t)
			}
		}
	}
}

// StillThere checks that the receiving folder was not removed or replaced
// since Open: renaming into a deleted folder would lose the file.
func (in *Incoming) StillThere() error {
	gone := fmt.Errorf("%w: the receiving folder was removed or replaced during the transfer", ErrTargetGone)
	a, err := os.Stat(in.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return gone
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTargetGone, pathless(err))
	}
	b, err := in.root.Stat(".")
	if err != nil || !os.SameFile(a, b) {
		return gone
	}
	return nil
}

// Flush writes prepared files to disk: one syncfs for the lot (it costs
// about the same for 10 files as for 1,000), or an fsync each where there
// is no syncfs.
func (in *Incoming) Flush(files []*File) error {
	if err := in.StillThere(); err != nil {
		return err
	}
	if len(files) == 1 {
		if err := files[0].f.Sync(); err != nil {
			return in.storageErr(fmt.Errorf("flush %q: %w", files[0].e.Path, err))
		}
		return nil
	}
	if syncFS(in.top) == nil {
		return nil
	}
	for _, f := range files {
		if err := f.f.Sync(); err != nil {
			return in.storageErr(fmt.Errorf("flush %q: %w", f.e.Path, err))
		}
	}
	return nil
}

// OpenFileLimit is the process's limit on open files (0 if unknown): each
// complete file holds a descriptor until it is named.
func OpenFileLimit() int { return fdLimit() }

// hasher returns a chunk hasher, reset.
func (in *Incoming) hasher() *blake3.Hasher {
	if h, ok := in.hashers.Get().(*blake3.Hasher); ok {
		h.Reset()
		return h
	}
	return blake3.New()
}
