package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	tushandler "github.com/tus/tusd/v2/pkg/handler"
)

// uploadLocker is tusd's Locker: one request at a time per upload. A new
// request for an upload that a stalled one holds (a phone whose Wi-Fi
// dropped mid-chunk) makes the holder let go at once, as tusd's own
// memory locker does (tusd#234), but by ending the holder's body read
// (its connection's read deadline set to now) rather than through tusd's
// request-release callback, whose context watcher races with the body's
// setup in tusd v2.9.1 (seen under -race).
type uploadLocker struct {
	mu   sync.Mutex
	held map[string]*heldUpload
}

type heldUpload struct {
	release func()        // makes the holder's body read fail now
	done    chan struct{} // closed by Unlock
}

type releaseKey struct{}

// withRelease gives a request's lock the means to end the request's body
// read early: what a later request calls to take the lock over.
func withRelease(ctx context.Context, w http.ResponseWriter) context.Context {
	rc := http.NewResponseController(w)
	return context.WithValue(ctx, releaseKey{}, func() { rc.SetReadDeadline(time.Now()) })
}

func newUploadLocker() *uploadLocker { return &uploadLocker{held: make(map[string]*heldUpload)} }

func (l *uploadLocker) NewLock(id string) (tushandler.Lock, error) {
	return &uploadLock{l: l, id: id}, nil
}

type uploadLock struct {
	l  *uploadLocker
	id string
	h  *heldUpload
}

// Lock takes the upload, asking its holder to let go (again every 100 ms:
// a read that completes just then pushes its deadline out again) until it
// does or ctx ends.
func (k *uploadLock) Lock(ctx context.Context, _ func()) error {
	release, _ := ctx.Value(releaseKey{}).(func())
	if release == nil {
		release = func() {}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		k.l.mu.Lock()
		h := k.l.held[k.id]
		if h == nil {
			k.h = &heldUpload{release: release, done: make(chan struct{})}
			k.l.held[k.id] = k.h
			k.l.mu.Unlock()
			return nil
		}
		k.l.mu.Unlock()
		h.release()
		select {
		case <-h.done:
		case <-tick.C:
		case <-ctx.Done():
			return tushandler.ErrLockTimeout
		}
	}
}

func (k *uploadLock) Unlock() error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	if k.h != nil && k.l.held[k.id] == k.h {
		delete(k.l.held, k.id)
		close(k.h.done)
		k.h = nil
	}
	return nil
}
