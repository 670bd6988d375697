package transfer

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/zeebo/blake3"
	"golang.org/x/text/unicode/norm"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
	"github.com/ferry-lan/ferry/transfer/safepath"
)

// source is an offered entry and where its bytes come from.
type source struct {
	wire.Entry
	abs string // local file; "" for folders and standard input
}

// StdinPath is the path argument that stands for standard input.
const StdinPath = "-"

// stdinChunk is the chunk size of standard input: its size is unknown, so
// chunks are large enough for 512 GiB within maxChunksPerFile.
const stdinChunk = 4 << 20

// chunkFor picks the chunk size of a file: 1 MiB, larger for files so big
// that they would have more than 65536 chunks.
func chunkFor(size int64) int64 {
	c := int64(1 << 20)
	for size/c > 1<<16 && c < wire.MaxChunkSize {
		c <<= 1
	}
	return c
}

// buildManifest lists what paths name: files as they are, folders with
// everything below them (keeping empty folders). Each argument becomes a
// top-level entry named by its base name. Symbolic links inside folders are
// followed when they point at a file and skipped (with a warning) when they
// point at a folder, so a link loop cannot hang the walk.
func buildManifest(paths []string, stdinName string, log *slog.Logger) ([]source, error) {
	m := manifest{set: safepath.NewSet(), log: log}
	for _, p := range paths {
		var err error
		if p == StdinPath {
			err = m.addStdin(stdinName)
		} else {
			err = m.addPath(p)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(m.out) == 0 {
		return nil, fmt.Errorf("nothing to send")
	}
	return m.out, nil
}

// manifest is a list of sources being built.
type manifest struct {
	out []source
	set *safepath.Set // their names: no two the same once case is folded
	log *slog.Logger
}

func (m *manifest) add(s source) error {
	if err := m.set.Add(s.Path, s.Dir); err != nil {
		return fmt.Errorf("cannot send %s: %w", s.Path, err)
	}
	if len(m.out) >= wire.MaxEntries {
		return fmt.Errorf("more than %d files and folders in one session", wire.MaxEntries)
	}
	m.out = append(m.out, s)
	return nil
}

// addStdin adds standard input, sent as a file named name.
func (m *manifest) addStdin(name string) error {
	if name == "" {
		return fmt.Errorf("sending standard input needs a name: --as NAME")
	}
	return m.add(source{Entry: wire.Entry{Path: norm.NFC.String(name), Size: -1, Chunk: stdinChunk, Stream: true}})
}

// addPath adds the file or folder at p under its base name.
func (m *manifest) addPath(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return fmt.Errorf("cannot send %s: %w", p, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("cannot send %s: %w", p, err)
	}
	top := norm.NFC.String(filepath.Base(abs))
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("cannot send %s: not a regular file or folder", p)
		}
		return m.add(fileSource(top, abs, fi))
	}
	err = filepath.WalkDir(abs, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", full, err)
		}
		return m.addWalked(abs, top, full, d)
	})
	if err != nil {
		return fmt.Errorf("cannot send %s: %w", p, err)
	}
	return nil
}

// addWalked adds what the walk of the folder abs (sent as top) found at
// full.
func (m *manifest) addWalked(abs, top, full string, d fs.DirEntry) error {
	rel, err := filepath.Rel(abs, full)
	if err != nil {
		return err
	}
	name := top
	if rel != "." {
		name = top + "/" + norm.NFC.String(filepath.ToSlash(rel))
	}
	info, err := d.Info()
	if err != nil {
		return fmt.Errorf("read %s: %w", full, err)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Stat(full)
		switch {
		case err != nil:
			m.log.Warn("skipping a broken symbolic link", "path", full)
			return nil
		case target.IsDir():
			m.log.Warn("skipping a symbolic link to a folder", "path", full)
			return nil
		case !target.Mode().IsRegular():
			m.log.Warn("skipping a link to something that is not a file", "path", full)
			return nil
		}
		info = target
	}
	switch {
	case info.IsDir():
		return m.add(source{Entry: wire.Entry{Path: name, Dir: true, MTime: info.ModTime().UnixNano()}})
	case info.Mode().IsRegular():
		return m.add(fileSource(name, full, info))
	}
	m.log.Warn("skipping something that is not a file or folder", "path", full)
	return nil
}

func fileSource(name, abs string, fi fs.FileInfo) source {
	return source{
		Entry: wire.Entry{
			Path:    name,
			Size:    fi.Size(),
			Chunk:   chunkFor(fi.Size()),
			Exec:    fi.Mode().Perm()&0o100 != 0,
			Private: fi.Mode().Perm()&0o077 == 0,
			MTime:   fi.ModTime().UnixNano(),
		},
		abs: abs,
	}
}

// sessionID names an offer: the same paths with the same contents give the
// same ID, so a receiver recognises a retry.
func sessionID(entries []wire.Entry) string {
	h := blake3.New()
	enc := json.NewEncoder(h)
	for i := range entries {
		enc.Encode(&entries[i])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// pathsOf lists the offered file paths (for display).
func pathsOf(src []source) []string {
	var out []string
	for _, s := range src {
		if !s.Dir {
			out = append(out, s.Path)
		}
	}
	return out
}
