package transfer

import (
	"slices"
	"sync"

	"github.com/ferry-lan/ferry/transfer/internal/wire"
)

// readCache lets the sessions of one SendMany share their reads: the first
// session to send a chunk reads and hashes it, and keeps the bytes and the
// hash for the others, which send them as they are. Receivers that move
// at about the same pace then cost one read and one hash of each chunk,
// not one per receiver. The cache holds at most budget bytes, oldest chunk
// evicted first: a session that falls far behind reads for itself again.
//
// A chunk is kept only while some session has yet to take it; the bytes
// are never written to, so sessions may send them concurrently.
type readCache struct {
	readers int   // sessions sharing the cache
	budget  int64 // bytes kept at most

	mu    sync.Mutex
	used  int64
	m     map[chunkKey]*cachedChunk
	order []chunkKey // insertion order, for eviction (may name chunks already gone)
}

type chunkKey struct {
	src   *source
	chunk int64
}

// cachedChunk is a chunk being read, or read: ready is closed once data,
// sum and err are set.
type cachedChunk struct {
	ready chan struct{}
	data  []byte
	sum   [wire.HashLen]byte
	err   error
	left  int // sessions that may still take it
	size  int64
}

// maxCachedChunk is the largest chunk the cache keeps; larger ones are
// read by each session (files of over 64 GiB have chunks this large).
const maxCachedChunk = 4 << 20

func newReadCache(readers int, budget int64) *readCache {
	return &readCache{readers: readers, budget: budget, m: make(map[chunkKey]*cachedChunk)}
}

// get returns a chunk's bytes and hash: read by another session, or by
// read (which must return a new buffer) now.
func (c *readCache) get(k chunkKey, size int64, read func() ([]byte, [wire.HashLen]byte, error)) ([]byte, [wire.HashLen]byte, error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		if e.left--; e.left <= 0 {
			c.dropLocked(k, e)
		}
		c.mu.Unlock()
		<-e.ready
		return e.data, e.sum, e.err
	}
	e := &cachedChunk{ready: make(chan struct{}), left: c.readers - 1, size: size}
	keep := e.left > 0 && size <= c.budget
	if keep {
		for c.used+size > c.budget && len(c.order) > 0 {
			old := c.order[0]
			c.order = c.order[1:]
			if oe, ok := c.m[old]; ok {
				c.dropLocked(old, oe)
			}
		}
		c.m[k] = e
		c.used += size
		if len(c.order) > 2*len(c.m)+64 { // most of it names chunks already taken
			c.order = slices.DeleteFunc(c.order, func(o chunkKey) bool { _, ok := c.m[o]; return !ok })
		}
		c.order = append(c.order, k)
	}
	c.mu.Unlock()
	e.data, e.sum, e.err = read()
	close(e.ready)
	if e.err != nil && keep {
		c.mu.Lock()
		if c.m[k] == e {
			c.dropLocked(k, e)
		}
		c.mu.Unlock()
	}
	return e.data, e.sum, e.err
}

func (c *readCache) dropLocked(k chunkKey, e *cachedChunk) {
	delete(c.m, k)
	c.used -= e.size
	if len(c.m) == 0 {
		c.order = c.order[:0]
	}
}
