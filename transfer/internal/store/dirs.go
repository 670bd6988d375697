package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/ferry-lan/ferry/transfer/safepath"
)

// maxOpenDirs bounds the folders a session keeps open.
const maxOpenDirs = 64

// dirRef is an open folder inside the root and its users.
type dirRef struct {
	f       *os.File
	refs    int
	used    uint64
	evicted bool // out of the cache: closed by its last user
}

// mkdirAll creates dir (checking every component is a real folder) once per
// session: files of one folder do not walk it again each.
func (in *Incoming) mkdirAll(dir string) error {
	in.mu.Lock()
	ok := in.made[dir]
	in.mu.Unlock()
	if ok {
		return nil
	}
	if err := safepath.MkdirAll(in.root, dir, 0o755); err != nil {
		return err
	}
	in.mu.Lock()
	if in.made == nil {
		in.made = make(map[string]bool)
	}
	in.made[dir] = true
	in.mu.Unlock()
	return nil
}

// foldName is the key of a name in a folder's listing: on a file system
// that ignores case or Unicode normalization (macOS, SMB, exFAT) another
// spelling is the same file. A hit only means "look it up".
func foldName(n string) string { return strings.ToLower(norm.NFC.String(n)) }

// ListFrom is how many files of a set must go into one folder before
// existing reads the folder's names once instead of looking up each.
const ListFrom = 16

// listing returns the names in folder dir (empty when it does not exist),
// read once per session, or nil when existing should look names up one by
// one: for a folder with few of the offer's files, or one it cannot list.
func (in *Incoming) listing(dir string) map[string]bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.perDir[dir] < ListFrom {
		return nil
	}
	if names, ok := in.listed[dir]; ok {
		return names
	}
	if in.listed == nil {
		in.listed = make(map[string]map[string]bool)
	}
	var names map[string]bool
	if err := safepath.CheckDir(in.root, dir); errors.Is(err, fs.ErrNotExist) {
		names = map[string]bool{}
	} else if err == nil {
		if f, err := in.root.Open(dir); err == nil {
			// A folder far fuller than the offer is cheaper to ask name by
			// name (and its listing could be large).
			limit := max(4*in.perDir[dir], 4096)
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
	in.listed[dir] = names
	return names
}

// openDir returns the folder dir (relative to the root, made by mkdirAll)
// open, and a function to release it. Folders stay open for the session, up
// to maxOpenDirs (the least recently used is closed), so that the files in
// one cost no walk from the root each. Each is opened through the root after
// checking that no component is a symlink.
func (in *Incoming) openDir(dir string) (*os.File, func(), error) {
	in.mu.Lock()
	d := in.dirs[dir]
	if d == nil {
		in.mu.Unlock()
		if err := safepath.CheckDir(in.root, dir); err != nil {
			return nil, nil, err
		}
		f, err := in.root.Open(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("open folder: %w", err)
		}
		in.mu.Lock()
		if d = in.dirs[dir]; d != nil { // opened meanwhile by another stream
			f.Close()
		} else {
			if in.dirs == nil {
				in.dirs = make(map[string]*dirRef)
			}
			if len(in.dirs) >= maxOpenDirs {
				in.evictDirLocked()
			}
			d = &dirRef{f: f}
			in.dirs[dir] = d
		}
	}
	d.refs++
	in.tick++
	d.used = in.tick
	in.mu.Unlock()
	return d.f, func() { in.releaseDir(d) }, nil
}

func (in *Incoming) releaseDir(d *dirRef) {
	in.mu.Lock()
	d.refs--
	closeIt := d.refs == 0 && d.evicted
	in.mu.Unlock()
	if closeIt {
		d.f.Close()
	}
}

// folderMoved reports whether dir, opened as folder rel, is no longer
// what rel names.
func (in *Incoming) folderMoved(dir *os.File, rel string) bool {
	a, err := dir.Stat()
	if err != nil || unlinked(a) {
		// Unlinked: while a removal is under way, rel may still lead to
		// the dying folder itself.
		return true
	}
	b, err := in.root.Lstat(rel)
	return err != nil || !os.SameFile(a, b)
}

// evictDirLocked drops the least recently used folder from the cache; its
// last user closes it. Called with in.mu held.
func (in *Incoming) evictDirLocked() {
	var oldest string
	var d *dirRef
	for name, c := range in.dirs {
		if d == nil || c.used < d.used {
			oldest, d = name, c
		}
	}
	if d == nil {
		return
	}
	delete(in.dirs, oldest)
	d.evicted = true
	if d.refs == 0 {
		d.f.Close()
	}
}

// forgetDir drops what the session knows of folder dir and the folders
// below it, which were removed: they are made and opened again when used.
func (in *Incoming) forgetDir(dir string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	below := func(d string) bool { return d == dir || dir == "." || strings.HasPrefix(d, dir+"/") }
	for d := range in.made {
		if below(d) {
			delete(in.made, d)
		}
	}
	for d, ref := range in.dirs {
		if below(d) {
			delete(in.dirs, d)
			ref.evicted = true
			if ref.refs == 0 {
				ref.f.Close()
			}
		}
	}
}
