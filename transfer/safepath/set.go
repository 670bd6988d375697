package safepath

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// DefaultMaxFolders is how many folders a Set from [NewSet] holds: as many
// as an offer may have entries. Real trees have far fewer folders than
// files; an offer that names more is built to exhaust the receiver.
const DefaultMaxFolders = 250_000

// ErrTooManyFolders is wrapped by the error of an Add that would take a Set
// past its folder limit. It wraps [ErrUnsafePath].
var ErrTooManyFolders = fmt.Errorf("too many folders: %w", ErrUnsafePath)

// Set holds the names of one transfer and refuses a name that would refer to
// the same file as an earlier one on some file system. Names are compared by
// a key made of NFC and full Unicode case folding (see appendFold), so that
// names a case- or normalization-insensitive file system (NTFS, APFS, HFS+,
// ext4 casefold) would treat as one collide.
//
// Every parent of an added name is a directory of the set, whether or not it
// was added itself, and counts against the set's folder limit.
//
// Cost: an Add takes time linear in the length of its name. A set keeps at
// most 128 bytes for each name and each folder (a 48-byte map slot, in a
// table at least 7/16 full), and a folded copy of each name that folding
// changes (at most twice as long; a lowercase ASCII name needs none). So
// with the default limit, a set of 250,000 names keeps at most 64 MB (for
// 500,000 slots) besides those copies, and refusing the offer built to make
// the most folders costs about 29 MB kept and 59 MB allocated
// (TestSetHostileChains). A Set is not safe for concurrent use.
type Set struct {
	nodes      map[node]entry
	folders    int // how many entries are directories
	maxFolders int
	fold       cases.Caser
	// dirFold caches the keys of non-ASCII directory components, which
	// repeat in the names of a large tree and are slow to fold.
	dirFold map[string]string
	buf     []byte // scratch for the key of a name
}

// A node is one component of a name under its parent directory, which makes
// each lookup of an Add hash one component rather than a whole prefix.
type node struct {
	parent uint32 // id of the parent directory; 0 for the top level
	key    string // folded component, a substring of the key of a name
}

type entry struct {
	// name is the name as added, or for an implied directory the added name
	// that implied it, of which the directory's own name is name[:n].
	name string
	n    uint16 // Check limits names to maxPathBytes
	dir  bool
	id   uint32 // for a directory, the parent of its children's nodes
}

func (e entry) own() string    { return e.name[:e.n] }
func (e entry) explicit() bool { return int(e.n) == len(e.name) }

// NewSet returns an empty Set that holds at most [DefaultMaxFolders]
// folders.
func NewSet() *Set {
	return NewSetMaxFolders(DefaultMaxFolders)
}

// NewSetMaxFolders returns an empty Set that holds at most maxFolders
// folders, implied or added.
func NewSetMaxFolders(maxFolders int) *Set {
	return &Set{
		nodes:      make(map[node]entry),
		maxFolders: min(max(maxFolders, 0), math.MaxInt32), // ids are uint32,
		fold:       cases.Fold(),
		dirFold:    make(map[string]string),
	}
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
// It returns an error wrapping [ErrTooManyFolders] if name and the parents
// it implies would take the set past its folder limit.
//
// A directory may be added after entries inside it, in the same spelling.
// A rejected name leaves the set unchanged.
func (s *Set) Add(name string, dir bool) error {
	if err := Check(name); err != nil {
		return err
	}
	if s.nodes == nil {
		*s = *NewSet()
	}
	var ends, keyEnds [maxComponents]int
	key, n := s.key(name, &ends, &keyEnds)

	// Walk down the directories of name that the set has. Once one is
	// missing, so are all below it.
	parent, i := uint32(0), 0
	for ; i < n; i++ {
		k := node{parent, component(key, &keyEnds, i)}
		e, ok := s.nodes[k]
		if !ok {
			break
		}
		if i == n-1 {
			if err := conflict(e, name, dir); err != nil {
				return err
			}
			// An implied directory is now added explicitly in the same spelling.
			e.name, e.n = name, uint16(len(name))
			s.nodes[k] = e
			return nil
		}
		if !e.dir {
			return fmt.Errorf("%s is inside %s, which is a file: %w", quote(name), quote(e.own()), ErrPathCollision)
		}
		if own := name[:ends[i]]; e.own() != own {
			return fmt.Errorf("directory %s of %s and directory %s differ only in case or Unicode normalization: %w",
				quote(own), quote(name), quote(e.own()), ErrPathCollision)
		}
		parent = e.id
	}

	// Components i to n-2 are directories that name implies, n-1 is name.
	folders := s.folders + n - 1 - i
	if dir {
		folders++
	}
	if folders > s.maxFolders {
		return fmt.Errorf("name %s: %d folders in one set, the limit is %d: %w", quote(name), folders, s.maxFolders, ErrTooManyFolders)
	}
	for ; i < n-1; i++ {
		parent = s.insert(node{parent, component(key, &keyEnds, i)}, entry{name: name, n: uint16(ends[i]), dir: true})
	}
	s.insert(node{parent, component(key, &keyEnds, n-1)}, entry{name: name, n: uint16(len(name)), dir: dir})
	return nil
}

// insert adds e at k, with the next folder id if it is a directory, and
// returns that id.
func (s *Set) insert(k node, e entry) uint32 {
	if e.dir {
		s.folders++
		e.id = uint32(s.folders)
	}
	s.nodes[k] = e
	return e.id
}

// key returns the key of name, which passed Check, and its number of
// components; ends[i] is where component i ends in name and keyEnds[i] where
// its key ends in the key. The key is name itself if folding changes nothing,
// so that most names cost no copy.
func (s *Set) key(name string, ends, keyEnds *[maxComponents]int) (key string, n int) {
	b, off := s.buf[:0], 0
	for c := range strings.SplitSeq(name, "/") {
		if n > 0 {
			b = append(b, '/')
		}
		b = s.appendFold(b, c, off+len(c) < len(name))
		off += len(c)
		ends[n], keyEnds[n] = off, len(b)
		off++ // the '/'
		n++
	}
	s.buf = b
	if string(b) == name {
		return name, n
	}
	return string(b), n
}

// component returns the key of component i from a key made by Set.key.
func component(key string, keyEnds *[maxComponents]int, i int) string {
	start := 0
	if i > 0 {
		start = keyEnds[i-1] + 1
	}
	return key[start:keyEnds[i]]
}

// conflict explains why name cannot be added when e has the same key, or
// returns nil if name is a directory that e only implied, in the same
// spelling.
func conflict(e entry, name string, dir bool) error {
	switch {
	case !e.explicit() && !dir:
		return fmt.Errorf("file %s is also the directory of %s: %w", quote(name), quote(e.name), ErrPathCollision)
	case e.dir != dir:
		return fmt.Errorf("%s %s and %s %s have the same name: %w", kind(e.dir), quote(e.own()), kind(dir), quote(name), ErrPathCollision)
	case e.own() != name:
		return fmt.Errorf("%s and %s differ only in case or Unicode normalization: %w", quote(e.own()), quote(name), ErrPathCollision)
	case e.explicit():
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

// appendFold appends the comparison key of one path component to b: NFC of
// the full case folding of its NFD form (Unicode canonical caseless match),
// with the corrections of foldFix; for ASCII, its lowercase. dir says the
// component is a directory, whose key is worth caching.
func (s *Set) appendFold(b []byte, c string, dir bool) []byte {
	if !isASCII(c) {
		return append(b, s.foldComponent(c, dir)...)
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b = append(b, ch)
	}
	return b
}

// foldComponent returns the key of a component that is not ASCII. The cache
// holds no more components than the set may hold folders.
func (s *Set) foldComponent(c string, dir bool) string {
	if k, ok := s.dirFold[c]; ok {
		return k
	}
	k := norm.NFC.String(strings.Map(foldFix, s.fold.String(norm.NFD.String(c))))
	if dir && len(s.dirFold) < s.maxFolders {
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
