//go:build !unix

package identity

// lockHome is a no-op where flock is not available; the key and the
// certificate are still each written atomically.
func lockHome(home string) (unlock func(), err error) { return func() {}, nil }
