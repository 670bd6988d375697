package safepath

import (
	"fmt"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Set holds the names of one transfer and refuses a name that would refer to
// the same file as an earlier one on some file system. Names are compared by
// a key made of NFC and full Unicode case folding (see foldComponent), so
// that names a case- or normalization-insensitive file system (NTFS, APFS,
// HFS+, ext4 casefold) would treat as one collide.
//
// Every parent of an added name is a directory of the set, whether or not it
// was added itself. A Set uses memory and time linear in the total length of
// its names. It is not safe for concurrent use.
type Set struct {
	byKey map[string]entry
	fold  cases.Caser
	// dirFold caches the keys of non-ASCII directory components, which
	// repeat in the names of a large tree and are slow to fold.
	dirFold map[string]string
}

type entry struct {
	name     string // as added, or the parent part of child for an implied directory
	child    string // for an implied directory, the name that implied it
	dir      bool
	explicit bool // added by Add, not only implied by a child
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{byKey: make(map[string]entry), fold: cases.Fold(), dirFold: make(map[string]string)}
}

// Add checks name with [Check] and adds it to the set as a directory if dir
// is true, or as a file. It returns an error wrapping [ErrPathCollision] if,
// after NFC and case folding, name
//   - was added before (exactly, or in another spelling);
//   - is a file and a directory of that name exists, or the reverse, where a
//     directory also exists if it is the parent of another entry;
//   - has a parent that is a file of the set;
//   - has a parent spelled differently from the same directory elsewhere in
//     the set ("a/x" and "A/y").
//
// A directory may be added after entries inside it, in the same spelling.
// A rejected name leaves the set unchanged.
func (s *Set) Add(name string, dir bool) error {
	if err := Check(name); err != nil {
		return err
	}
	if s.byKey == nil {
		*s = *NewSet()
	}

	// key is the folded name, built component by component; ends[i] is where
	// component i ends in name and keyEnds[i] where its key ends in key, so
	// key[:keyEnds[i]] is the key of the parent name[:ends[i]].
	var ends, keyEnds [maxComponents]int
	var kb strings.Builder
	kb.Grow(len(name))
	n, off := 0, 0
	for c := range strings.SplitSeq(name, "/") {
		if n > 0 {
			kb.WriteByte('/')
		}
		kb.WriteString(s.foldComponent(c, off+len(c) < len(name)))
		off += len(c)
		ends[n], keyEnds[n] = off, kb.Len()
		off++ // the '/'
		n++
	}
	key := kb.String()

	if e, ok := s.byKey[key]; ok {
		if err := conflict(e, name, dir); err != nil {
			return err
		}
		// An implied directory is now added explicitly in the same spelling.
		s.byKey[key] = entry{name: name, dir: true, explicit: true}
		return nil
	}

	// Look at parents from the deepest up. Once one is present, so are all of
	// its own parents, as directories spelled the same way: they were checked
	// or added together with it. So each Add looks at each component at most
	// once, and a set of n names costs O(total length).
	present := -1
	for i := n - 2; i >= 0; i-- {
		e, ok := s.byKey[key[:keyEnds[i]]]
		if !ok {
			continue
		}
		parent := name[:ends[i]]
		if !e.dir {
			return fmt.Errorf("%s is inside %s, which is a file: %w", quote(name), quote(e.name), ErrPathCollision)
		}
		if e.name != parent {
			return fmt.Errorf("directory %s of %s and directory %s differ only in case or Unicode normalization: %w",
				quote(parent), quote(name), quote(e.name), ErrPathCollision)
		}
		present = i
		break
	}
	for i := present + 1; i < n-1; i++ {
		s.byKey[key[:keyEnds[i]]] = entry{name: name[:ends[i]], child: name, dir: true}
	}
	s.byKey[key] = entry{name: name, dir: dir, explicit: true}
	return nil
}

// conflict explains why name cannot be added when e has the same key, or
// returns nil if name is a directory that e only implied, in the same
// spelling.
func conflict(e entry, name string, dir bool) error {
	switch {
	case !e.explicit && !dir:
		return fmt.Errorf("file %s is also the directory of %s: %w", quote(name), quote(e.child), ErrPathCollision)
	case e.dir != dir:
		return fmt.Errorf("%s %s and %s %s have the same name: %w", kind(e.dir), quote(e.name), kind(dir), quote(name), ErrPathCollision)
	case e.name != name:
		return fmt.Errorf("%s and %s differ only in case or Unicode normalization: %w", quote(e.name), quote(name), ErrPathCollision)
	case e.explicit:
		return fmt.Errorf("duplicate name %s: %w", quote(name), ErrPathCollision)
	}
	return nil
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "file"
}

// foldComponent returns the comparison key of one path component: NFC of
// the full case folding of its NFD form (Unicode canonical caseless match),
// with the corrections of foldFix. dir says the component is a directory,
// whose key is worth caching.
func (s *Set) foldComponent(c string, dir bool) string {
	if isASCII(c) {
		return strings.ToLower(c)
	}
	if k, ok := s.dirFold[c]; ok {
		return k
	}
	k := norm.NFC.String(strings.Map(foldFix, s.fold.String(norm.NFD.String(c))))
	if dir {
		s.dirFold[c] = k
	}
	return k
}

// foldFix corrects cases.Fold where it would let two names that some file
// system treats as one pass as different:
//   - cases.Fold swaps the case of Cherokee letters instead of folding
//     lowercase to uppercase as CaseFolding.txt says (golang/go#46101), so
//     "Ꭰ" and "ꭰ" fold to different strings; map both to the capital.
//   - dotless ı has no default case folding, but uppercases to I, as NTFS
//     compares names; map it to i.
func foldFix(r rune) rune {
	switch {
	case r == 'ı':
		return 'i'
	case 0xAB70 <= r && r <= 0xABBF: // CHEROKEE SMALL LETTER A .. YA
		return r - 0xAB70 + 0x13A0
	case 0x13F8 <= r && r <= 0x13FD: // CHEROKEE SMALL LETTER YE .. MV
		return r - 0x13F8 + 0x13F0
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
