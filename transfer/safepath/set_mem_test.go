package safepath

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// The caps of one offer in package transfer (maxOfferFrame, maxEntries),
// which safepath cannot import.
const (
	offerBytes   = 32 << 20
	offerEntries = 250_000
)

// setMemoryBound is the most a Set may keep for either test below, a
// hostile offer that it refuses or a large real tree, and the most it may
// allocate for the hostile offer. Growing its map leaves about as much
// garbage as the map holds, so the real tree may allocate twice as much.
const setMemoryBound = 64 << 20

// slotBytes is what the Set's documentation says a name or folder costs at
// most, besides a folded copy of a name that folding changes.
const slotBytes = 128

// hostileChains returns the names of an offer built to make a Set hold the
// most folders: as many entries as fit in offerBytes of JSON, each a folder
// at the end of its own chain of 63 folders ("17/d/d/…/d", 64 components,
// the most Check allows), so that every entry brings 64 new folders. Each is
// sent as {"path":"…","dir":true}, the shortest entry a receiver accepts.
func hostileChains() []string {
	const entryBytes = len(`{"path":"","dir":true},`)
	tail := strings.Repeat("/d", maxComponents-1)
	size := len(`{"v":1,"name":"","session":"","entries":[]}`)
	var names []string
	for k := 0; len(names) < offerEntries; k++ {
		name := strconv.Itoa(k) + tail
		if size += entryBytes + len(name); size > offerBytes {
			break
		}
		names = append(names, name)
	}
	return names
}

// measure runs f and returns how many bytes it allocated in all and how many
// of them are still in use after a collection, with what f returns kept.
func measure(f func() any) (total, live int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return int64(after.TotalAlloc - before.TotalAlloc), int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// TestSetHostileChains adds the names of the offer that brings the most
// folders: the Set must refuse it with ErrTooManyFolders as soon as the
// names pass DefaultMaxFolders folders, within setMemoryBound. (Before the
// limit, a Set took all 13.9 million folders: 2.3 GB allocated, 1.1 GB
// kept, 11 s.)
func TestSetHostileChains(t *testing.T) {
	names := hostileChains()
	var err error
	added := 0
	start := time.Now()
	total, live := measure(func() any {
		s := NewSet()
		for _, name := range names {
			if err = s.Add(name, true); err != nil {
				break
			}
			added++
		}
		return s
	})
	runtime.KeepAlive(names)
	t.Logf("%d names (%d folders) in %d bytes of offer; accepted %d, then %v; allocated %d KiB, kept %d KiB, in %v",
		len(names), len(names)*maxComponents, offerBytes, added, err, total>>10, live>>10, time.Since(start))
	if !errors.Is(err, ErrTooManyFolders) || !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("after %d names: %v, want ErrTooManyFolders", added, err)
	}
	if want := DefaultMaxFolders / maxComponents; added != want {
		t.Errorf("accepted %d names of %d folders each, want %d", added, maxComponents, want)
	}
	if total > setMemoryBound {
		t.Errorf("allocated %d bytes, the bound is %d", total, setMemoryBound)
	}
	if folders := added * maxComponents; live > int64(folders*slotBytes) {
		t.Errorf("kept %d bytes for %d folders, more than %d bytes each", live, folders, slotBytes)
	}
}

// TestSetLargeTreeMemory adds a real-sized tree: 250,000 files in 10,101
// folders, each folder added before its files as a sender lists them.
func TestSetLargeTreeMemory(t *testing.T) {
	var names []manifestEntry
	for a := range 100 {
		album := fmt.Sprintf("Music/Album %03d", a)
		names = append(names, manifestEntry{album, true})
		for d := range 100 {
			disc := fmt.Sprintf("%s/Disc %02d", album, d)
			names = append(names, manifestEntry{disc, true})
			for f := range 25 {
				names = append(names, manifestEntry{fmt.Sprintf("%s/Track %06d.flac", disc, (a*100+d)*25+f), false})
			}
		}
	}
	start := time.Now()
	var err error
	total, live := measure(func() any {
		s := NewSet()
		for _, e := range names {
			if err = s.Add(e.name, e.dir); err != nil {
				break
			}
		}
		return s
	})
	runtime.KeepAlive(names)
	t.Logf("%d names: allocated %d KiB, kept %d KiB, in %v", len(names), total>>10, live>>10, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if total > 2*setMemoryBound || live > setMemoryBound {
		t.Errorf("allocated %d bytes, kept %d; the bounds are %d and %d", total, live, 2*setMemoryBound, setMemoryBound)
	}
}

// TestFoldExpansion backs the Set's documented cost: no key of a single
// rune is more than twice as long as the rune. (Longer names fold rune by
// rune, and NFC only shortens what folding gives.)
func TestFoldExpansion(t *testing.T) {
	s := NewSet()
	worst, at := 0.0, rune(0)
	for r := range rune(unicode.MaxRune + 1) {
		c := string(r)
		if !utf8.ValidRune(r) || Check(c) != nil {
			continue
		}
		if q := float64(len(s.appendFold(nil, c, false))) / float64(len(c)); q > worst {
			worst, at = q, r
		}
	}
	t.Logf("longest key: %U, %.2f times as long", at, worst)
	if worst > 2 {
		t.Errorf("the key of %U is %.2f times as long as the rune", at, worst)
	}
}
