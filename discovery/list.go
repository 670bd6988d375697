package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by Find when no peer matched in time.
var ErrNotFound = errors.New("no matching peer found")

// List browses for timeout and returns the peers up at its end, by name. If
// ctx ends first it returns the peers up then, with ctx's error.
func List(ctx context.Context, timeout time.Duration, opts Options) ([]Peer, error) {
	b, err := Browse(ctx, opts)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	closeErr := b.Close()
	return b.Peers(), cmp.Or(ctx.Err(), closeErr)
}

// Find browses until a peer for which match reports true is up, and returns
// it; or until ctx is done, and returns ErrNotFound together with ctx's
// error. match is called from Find's goroutine; a nil match takes the first
// peer. It does not wait to see whether a second peer would also match.
func Find(ctx context.Context, opts Options, match func(Peer) bool) (Peer, error) {
	b, err := Browse(ctx, opts)
	if err != nil {
		return Peer{}, err
	}
	defer b.Close()
	for ev := range b.Events() {
		if ev.Type != PeerDown && (match == nil || match(ev.Peer)) {
			return ev.Peer, b.Close()
		}
	}
	if err := b.Close(); err != nil {
		return Peer{}, err
	}
	return Peer{}, fmt.Errorf("%w: %w", ErrNotFound, ctx.Err())
}
